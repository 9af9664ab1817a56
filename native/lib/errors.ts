// VmError: the one error class the VM API throws, and the one table that turns a C++ Status into it.
// Boundary: error types and the status-code mapping only. The binding never throws C++ exceptions; it hands
// (status code, message, operation) to makeVmErrorFromStatus() below, the only place that interprets them.
import { constants } from 'node:os';

/** What went wrong, independent of the C++ status numbering. */
export type VmErrorCode =
  /** An argument was rejected before any native code ran (or by the binding's own checks). */
  | 'BAD_INPUT'
  /** /dev/kvm is missing, not accessible, or lacks a capability the VMM needs. */
  | 'KVM_UNAVAILABLE'
  /** The guest image could not be read or is not a loadable ELF for this VMM. */
  | 'BAD_IMAGE'
  /** The operation is not valid in the VM's current state (boot twice, pause a stopped VM, use after destroy). */
  | 'BAD_STATE'
  /** The host could not provide the memory, threads or descriptors the VM needs. */
  | 'NO_RESOURCES'
  /** waitForExit() ran out of time. */
  | 'TIMEOUT'
  /** Anything else: a bug or an unexpected host failure. The message says more. */
  | 'INTERNAL';

export const vmErrorCodes: readonly VmErrorCode[] = [
  'BAD_INPUT',
  'KVM_UNAVAILABLE',
  'BAD_IMAGE',
  'BAD_STATE',
  'NO_RESOURCES',
  'TIMEOUT',
  'INTERNAL',
];

export interface VmErrorOptions {
  cause?: unknown;
  /** The C++ Status code (an errno value) this error was made from, when it came from native code. */
  statusCode?: number;
  /** The native operation that failed ('create', 'load', 'boot', ...). */
  operation?: string;
  /** Symbolic name of statusCode, e.g. 'ENOEXEC'. */
  errno?: string;
}

export class VmError extends Error {
  /** The C++ status code (an errno value), or undefined when the error was raised in TypeScript. */
  readonly statusCode: number | undefined;
  /** The native operation that failed, or undefined when the error was raised in TypeScript. */
  readonly operation: string | undefined;
  /** Symbolic errno of statusCode ('ENOEXEC', ...), or undefined. */
  readonly errno: string | undefined;

  constructor(
    readonly code: VmErrorCode,
    message: string,
    options: VmErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'VmError';
    this.statusCode = options.statusCode;
    this.operation = options.operation;
    this.errno = options.errno;
  }
}

// ---- C++ Status -> VmError: the mapping, in one place ----------------------------------------------
// The VMM reports failures as sf::vmm::Status{code, message} where code is an errno value (status.h). An errno
// alone is ambiguous (EINVAL is a bad config in create, a wrong state in pause), so the binding also says which
// operation failed, and the table below is keyed by both. Anything not listed is INTERNAL.

/** The native operations that can fail. 'load' is reading and loading the image during create(). */
export type NativeOperation =
  | 'create'
  | 'load'
  | 'boot'
  | 'pause'
  | 'resume'
  | 'destroy'
  | 'answerCall'
  | 'consoleInput'
  | 'createClone'
  | 'becomeClone'
  | 'createRemoteClone';

type ErrnoName = keyof typeof constants.errno;
type ErrnoTable = Partial<Record<ErrnoName, VmErrorCode>>;

/** Meaning of an errno whatever the operation. */
const anyOperation: ErrnoTable = {
  ENOMEM: 'NO_RESOURCES',
  EMFILE: 'NO_RESOURCES',
  ENFILE: 'NO_RESOURCES',
  EAGAIN: 'NO_RESOURCES',
  ENOSPC: 'NO_RESOURCES',
  // The binding's own refusals: another call in flight, destroyed, already created.
  EBUSY: 'BAD_STATE',
  ESRCH: 'BAD_STATE',
  EALREADY: 'BAD_STATE',
  // RunControl::pause(): the VM stopped (exit, crash, destroy) while the pause waited for the vCPUs.
  ECANCELED: 'BAD_STATE',
};

/** Meaning of an errno in one operation (checked before anyOperation). */
const byOperation: Record<NativeOperation, ErrnoTable> = {
  // Vm::create: open /dev/kvm, version and capability checks, KVM ioctls; EINVAL = a config the VMM rejects.
  create: {
    ENOENT: 'KVM_UNAVAILABLE',
    EACCES: 'KVM_UNAVAILABLE',
    EPERM: 'KVM_UNAVAILABLE',
    ENXIO: 'KVM_UNAVAILABLE',
    ENODEV: 'KVM_UNAVAILABLE',
    ENOTSUP: 'KVM_UNAVAILABLE',
    EOPNOTSUPP: 'KVM_UNAVAILABLE',
    EINVAL: 'BAD_INPUT',
    E2BIG: 'BAD_INPUT',
    ERANGE: 'BAD_INPUT',
  },
  // Vm::load_elf_file: the file cannot be read, or is not a valid flat-guest ELF (ENOEXEC).
  load: {
    ENOENT: 'BAD_IMAGE',
    EACCES: 'BAD_IMAGE',
    EPERM: 'BAD_IMAGE',
    EISDIR: 'BAD_IMAGE',
    ENOEXEC: 'BAD_IMAGE',
    EINVAL: 'BAD_IMAGE',
    EFBIG: 'BAD_IMAGE',
    E2BIG: 'BAD_IMAGE',
    EFAULT: 'BAD_IMAGE',
    EIO: 'BAD_IMAGE',
    ERANGE: 'BAD_IMAGE',
    EOVERFLOW: 'BAD_IMAGE',
  },
  // RunControl: "cannot boot/pause/resume a VM that is <state>".
  boot: { EINVAL: 'BAD_STATE' },
  pause: { EINVAL: 'BAD_STATE' },
  resume: { EINVAL: 'BAD_STATE' },
  destroy: {},
  // ENOENT: no vCPU waits for that id (answered already, or the VM stopped); EINVAL: a malformed reply.
  answerCall: { ENOENT: 'BAD_STATE', EINVAL: 'BAD_INPUT' },
  consoleInput: { EINVAL: 'BAD_INPUT' },
  // Clones: EINVAL = options or a descriptor the VMM refuses (a missing or unusable tap for the clone's NIC, a
  // parent with a NIC and no net for the clone, a malformed descriptor).
  createClone: { EINVAL: 'BAD_INPUT' },
  becomeClone: { EINVAL: 'BAD_INPUT' },
  createRemoteClone: { EINVAL: 'BAD_INPUT' },
};

const errnoNames = new Map<number, ErrnoName>();
for (const [name, value] of Object.entries(constants.errno) as [ErrnoName, number][]) {
  // Aliases share a number (EWOULDBLOCK = EAGAIN, ENOTSUP = EOPNOTSUPP on Linux): the first name wins for
  // display; lookups below try every alias.
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}

function aliasesOf(errno: number): ErrnoName[] {
  return (Object.entries(constants.errno) as [ErrnoName, number][]).filter(([, v]) => v === errno).map(([n]) => n);
}

/** The VmErrorCode for a C++ status code (an errno) raised by `operation`. */
export function vmErrorCodeFor(statusCode: number, operation: string): VmErrorCode {
  const table = (byOperation as Record<string, ErrnoTable | undefined>)[operation];
  for (const name of aliasesOf(statusCode)) {
    const specific = table?.[name];
    if (specific) return specific;
  }
  for (const name of aliasesOf(statusCode)) {
    const general = anyOperation[name];
    if (general) return general;
  }
  return 'INTERNAL';
}

/**
 * Builds the VmError for a failed C++ Status. The binding calls this (through the `makeError` hook vm.ts installs)
 * for every failure it reports, so callers only ever see VmError.
 */
export function makeVmErrorFromStatus(statusCode: number, message: string, operation: string): VmError {
  const code = vmErrorCodeFor(statusCode, operation);
  const errno = errnoNames.get(statusCode) ?? `errno ${statusCode}`;
  return new VmError(code, message || `${operation} failed (${errno})`, { statusCode, operation, errno });
}
