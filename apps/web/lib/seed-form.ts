// The seed form's logic: its text fields → the config cluster.seed takes, the limits the online hosts
// can give now, and every issue (the API schema's, sent back by sfmd, plus capacity) sorted by field. Pure.
import type { HostState } from '@snowflock/daemon/states';

export interface SeedFormValues {
  kernel: string;
  name: string;
  vcpus: string;
  memoryMiB: string;
  args: string;
}

/** The config as cluster.seed takes it. Numbers that do not parse stay text, so the schema names the field. */
export interface SeedConfigDraft {
  name: string | null;
  diskImage: null;
  kernel: string | null;
  args: string | null;
  vcpus: number | string;
  memoryMiB: number | string;
}

export interface SeedIssue {
  field: string;
  message: string;
}

export function toSeedConfig(v: SeedFormValues): SeedConfigDraft {
  const num = (s: string) => (/^\s*-?\d+(\.\d+)?\s*$/.test(s) ? Number(s) : s);
  return {
    name: v.name.trim() === '' ? null : v.name.trim(),
    diskImage: null,
    kernel: v.kernel.trim() === '' ? null : v.kernel.trim(),
    args: v.args.trim() === '' ? null : v.args.trim(),
    vcpus: num(v.vcpus),
    memoryMiB: num(v.memoryMiB),
  };
}

/** What a host offers for a new master VM: only online hosts count. */
export interface HostCapacity {
  name: string;
  state: HostState;
  cpus: number;
  cpusUsed: number;
  ram: number;
  ramUsed: number;
}

export interface SeedLimits {
  onlineHosts: number;
  /** The most any single online host can give now (a VM runs on one host). */
  maxVcpus: number;
  maxMemoryMiB: number;
}

const MiB = 1024 * 1024;

export function seedLimits(hosts: readonly HostCapacity[]): SeedLimits {
  const online = hosts.filter((h) => h.state === 'online');
  return {
    onlineHosts: online.length,
    maxVcpus: Math.max(0, ...online.map((h) => h.cpus - h.cpusUsed)),
    maxMemoryMiB: Math.max(0, ...online.map((h) => Math.floor((h.ram - h.ramUsed) / MiB))),
  };
}

/** Issues the schema cannot know: nothing to boot, or more than any online host can give now. */
export function formIssues(config: SeedConfigDraft, limits: SeedLimits, hosts: readonly HostCapacity[]): SeedIssue[] {
  const issues: SeedIssue[] = [];
  if (!config.kernel) issues.push({ field: 'kernel', message: 'choose an example guest or give the path of a guest ELF on the hosts' });
  if (limits.onlineHosts === 0) {
    issues.push({ field: 'form', message: 'no host is online: start sfld on a host listed in sfmd.cfg (sfld start), then come back' });
    return issues;
  }
  const vcpus = typeof config.vcpus === 'number' ? config.vcpus : null;
  const memory = typeof config.memoryMiB === 'number' ? config.memoryMiB : null;
  if (vcpus !== null && vcpus > limits.maxVcpus) {
    issues.push({ field: 'vcpus', message: `at most ${limits.maxVcpus} vCPU(s) are free on any online host now` });
  }
  if (memory !== null && memory > limits.maxMemoryMiB) {
    issues.push({ field: 'memoryMiB', message: `at most ${limits.maxMemoryMiB} MiB are free on any online host now` });
  }
  if (vcpus !== null && memory !== null && vcpus <= limits.maxVcpus && memory <= limits.maxMemoryMiB) {
    const fits = hosts.some((h) => h.state === 'online' && h.cpus - h.cpusUsed >= vcpus && (h.ram - h.ramUsed) / MiB >= memory);
    if (!fits)
      issues.push({ field: 'form', message: `no single online host has ${vcpus} vCPU(s) and ${memory} MiB free together: ask for less` });
  }
  return issues;
}

/** Issues by field; an issue about no particular field goes under "form". */
export function byField(issues: readonly SeedIssue[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const { field, message } of issues) {
    const key = field === '' ? 'form' : field;
    const messages = out[key] ?? [];
    out[key] = messages;
    if (!messages.includes(message)) messages.push(message);
  }
  return out;
}
