// hostCapabilities(): typed, shape-checked view of what this host offers (CPUs, RAM, KVM, userfaultfd).
// Boundary: validation of the addon's answer (its types are addon.ts's); the probing itself is C++ (src/core/base/capabilities.cc).
import { loadAddon, type HostCapabilities, type KvmCapabilities, type UffdOpenPath, type UserfaultfdCapabilities } from './addon.ts';

export type { HostCapabilities, KvmCapabilities, UffdOpenPath, UserfaultfdCapabilities } from './addon.ts';

/** Probes the host. Synchronous and cheap (a few syscalls); opens and closes /dev/kvm and a userfaultfd. */
export function hostCapabilities(): HostCapabilities {
  return parseHostCapabilities(loadAddon().hostCapabilities());
}

// ---- shape checks: a stale or mismatched binary must fail loudly here, not as `undefined` far away ----

type Fields = Record<string, unknown>;

function bad(path: string, expected: string, value: unknown): never {
  const got = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
  throw new TypeError(`hostCapabilities(): ${path} should be ${expected} but is ${got}; rebuild the native addon.`);
}

function object(value: unknown, path: string): Fields {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) bad(path, 'an object', value);
  return value as Fields;
}

function count(o: Fields, key: string, path: string): number {
  const v = o[key];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) bad(`${path}.${key}`, 'a non-negative integer', v);
  return v;
}

function flag(o: Fields, key: string, path: string): boolean {
  const v = o[key];
  if (typeof v !== 'boolean') bad(`${path}.${key}`, 'a boolean', v);
  return v;
}

function text(o: Fields, key: string, path: string): string {
  const v = o[key];
  if (typeof v !== 'string') bad(`${path}.${key}`, 'a string', v);
  return v;
}

function errorText(o: Fields, key: string, path: string): string | null {
  const v = o[key];
  if (v !== null && typeof v !== 'string') bad(`${path}.${key}`, 'a string or null', v);
  return v;
}

function texts(o: Fields, key: string, path: string): string[] {
  const v = o[key];
  if (!Array.isArray(v) || !v.every((item) => typeof item === 'string')) bad(`${path}.${key}`, 'an array of strings', v);
  return [...(v as string[])];
}

const openPaths: readonly UffdOpenPath[] = ['syscall-user-mode-only', 'syscall', 'dev-userfaultfd', 'none'];

function openPath(o: Fields, key: string, path: string): UffdOpenPath {
  const v = o[key];
  const match = openPaths.find((p) => p === v);
  if (match === undefined) bad(`${path}.${key}`, `one of ${openPaths.join(', ')}`, v);
  return match;
}

function parseKvm(value: unknown, path: string): KvmCapabilities {
  const o = object(value, path);
  return {
    available: flag(o, 'available', path),
    apiVersion: count(o, 'apiVersion', path),
    error: errorText(o, 'error', path),
    maxVcpus: count(o, 'maxVcpus', path),
    nrVcpus: count(o, 'nrVcpus', path),
    nrMemslots: count(o, 'nrMemslots', path),
    vcpuMmapSize: count(o, 'vcpuMmapSize', path),
    xsave2Size: count(o, 'xsave2Size', path),
    hasUserMemory: flag(o, 'hasUserMemory', path),
    hasSyncMmu: flag(o, 'hasSyncMmu', path),
    hasIrqchip: flag(o, 'hasIrqchip', path),
    hasSplitIrqchip: flag(o, 'hasSplitIrqchip', path),
    hasPit2: flag(o, 'hasPit2', path),
    hasIrqfd: flag(o, 'hasIrqfd', path),
    hasIoeventfd: flag(o, 'hasIoeventfd', path),
    hasImmediateExit: flag(o, 'hasImmediateExit', path),
  };
}

function parseUffd(value: unknown, path: string): UserfaultfdCapabilities {
  const o = object(value, path);
  return {
    available: flag(o, 'available', path),
    api: count(o, 'api', path),
    featureMask: count(o, 'featureMask', path),
    features: texts(o, 'features', path),
    ioctls: texts(o, 'ioctls', path),
    openedVia: openPath(o, 'openedVia', path),
    kernelFaults: flag(o, 'kernelFaults', path),
    error: errorText(o, 'error', path),
  };
}

/** Checks an untyped addon answer and returns a fresh, fully typed copy. Throws TypeError on any mismatch. */
export function parseHostCapabilities(value: unknown): HostCapabilities {
  const o = object(value, 'result');
  return {
    cpus: count(o, 'cpus', 'result'),
    ramBytes: count(o, 'ramBytes', 'result'),
    kernelRelease: text(o, 'kernelRelease', 'result'),
    kvm: parseKvm(o.kvm, 'result.kvm'),
    userfaultfd: parseUffd(o.userfaultfd, 'result.userfaultfd'),
  };
}
