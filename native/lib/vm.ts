// VirtualMachine: one KVM flat-guest VM driven from JS (create, boot, pause, resume, destroy, console, guest calls).
// Boundary: argument checks, TS types mirroring the guest ABI (guest/include/snowflock/abi.h), event plumbing and
// the guest-call answer discipline. The VMM itself is C++ (src/core/vmm); the N-API glue is src/binding/vm_binding.cc.
import { EventEmitter } from 'node:events';
import { stat } from 'node:fs/promises';

import { loadAddon } from './addon.ts';
import { makeVmErrorFromStatus, VmError } from './errors.ts';
import { inspectDescriptor, parseMemtapStats, VmSnapshot, type MemtapStats, type NativeSnapshotHandle } from './fork.ts';
import { remoteSourceStats, type RemoteSourceStats } from './memserver.ts';

// ---- The guest ABI, mirrored from native/guest/include/snowflock/abi.h (vm.test.ts checks they agree) ----

/** Hypercall numbers (`enum sf_hypercall`). */
export const SfHypercall = {
  NOP: 0,
  EXIT: 1,
  CONSOLE_WRITE: 2,
  FRESH_PAGES: 3,
  VCPU_START: 4,
  PANIC: 5,
  TIME_NS: 6,
  TICKET_REQUEST: 16,
  TICKET_LIST: 17,
  TICKET_INFO: 18,
  TICKET_DISPOSE: 19,
  CLONE_MASTER: 20,
  CLONE_MERGE: 21,
  CLONE_JOIN: 22,
  CLONE_EXIT: 23,
  CLUSTER_SHUTDOWN: 24,
} as const;
export type SfHypercallName = keyof typeof SfHypercall;
export type SfHypercallNumber = (typeof SfHypercall)[SfHypercallName];

/** Status codes (`enum sf_status`). A reply's `status` is SF_OK (0) or the *negated* code, e.g. `-SfStatus.ETICKET`. */
export const SfStatus = {
  OK: 0,
  EFAULT: 1,
  EINVAL: 2,
  ENOSYS: 3,
  ENORES: 4,
  ENOTMASTER: 5,
  ENOTCLONE: 6,
  ETICKET: 7,
  ESTATE: 8,
  EHOSTLOST: 9,
  ETIMEDOUT: 10,
  EUNAVAIL: 11,
  EPERM: 12,
  EINTERNAL: 13,
  ECLONE: 14,
} as const;
export type SfStatusName = keyof typeof SfStatus;

/** How a clone ended, in clone.join's exit records (`enum sf_exit_how`). */
export const SfExitHow = { EXITED: 0, CRASHED: 1, KILLED: 2 } as const;

/** One clone.join record (`struct sf_hc_exit`). */
export interface GuestExitRecord {
  vmid: number;
  /** The clone's IC_EXIT status (int32) when it exited by itself, else 0. */
  status: number;
  /** SfExitHow. */
  how: number;
}

/** Sizes and flags of the request/reply block and the boot layout. */
export const SfAbi = {
  ABI_VERSION: 1,
  HC_PORT: 0x0f10,
  SERIAL_PORT: 0x3f8,
  MAX_VCPUS: 32,
  CMDLINE_MAX: 4096,
  CONSOLE_WRITE_MAX: 65536,
  RAM_MAX: 64 * 1024 * 1024 * 1024,
  TICKET_LEN: 36,
  MAX_TICKETS: 64,
  MAX_ALLOC: 256,
  ERRMSG_LEN: 240,
  REQ_PROCS: 1,
  REQ_BLOCK: 2,
} as const;

const hypercallNames = new Map<number, SfHypercallName>(
  Object.entries(SfHypercall).map(([name, nr]) => [nr, name as SfHypercallName]),
);
const statusNumbers = new Set<number>(Object.values(SfStatus));

/** The guest's `struct sf_hc_request`, decoded. Every field is guest-controlled: treat it as untrusted input. */
export interface GuestRequest {
  /** Repeats the hypercall number (the VMM has checked it matches). */
  nr: number;
  /** Raw SF_REQ_* bits. */
  flags: number;
  /** flags & SF_REQ_PROCS */
  procs: boolean;
  /** flags & SF_REQ_BLOCK */
  block: boolean;
  nclones: number;
  min: number;
  /** clone.exit's status. */
  status: number;
  /** 0 = default. */
  timeoutMs: number;
  /** Up to 36 characters; '' = none. */
  ticket: string;
}

/** One pending seed-API hypercall. The vCPU that made it waits until it is answered. */
export interface GuestCall {
  /** Native call id (unique per VM). */
  id: bigint;
  /** The hypercall number (SfHypercall.*). */
  nr: number;
  /** SfHypercall name, or `UNKNOWN_<nr>`. */
  name: SfHypercallName | `UNKNOWN_${number}`;
  /** The vCPU that is waiting. */
  vcpu: number;
  request: GuestRequest;
}

/** The answer to a guest call (`struct sf_hc_reply`); omitted fields are zero / empty. */
export interface GuestReply {
  /** SfStatus.OK (0) or a negated SfStatus code, e.g. `-SfStatus.ENORES`. */
  status: number;
  /** Granted clones/processors, nclones, tickets or allocations (uint32). */
  count?: number;
  /** clone.master: this VM's answer, 0 = master (int32). */
  vmid?: number;
  nunused?: number;
  noutstanding?: number;
  /** At most 36 bytes (UTF-8), no NUL. */
  ticket?: string;
  /** Human message for status < 0; truncated to 239 UTF-8 bytes. */
  errmsg?: string;
  /** ticket.list: at most 64 tickets of at most 36 bytes each. */
  tickets?: readonly string[];
  /** ticket.info: at most 256 allocations. */
  alloc?: readonly { vmid: number; processors: number }[];
  /** clone.join: at most 256 exit records, in vmid order. */
  exits?: readonly GuestExitRecord[];
}

/** Answers a guest call. May be async; the vCPU waits for the promise. */
export type GuestCallHandler = (call: GuestCall) => GuestReply | Promise<GuestReply>;

// ---- VM state, events, statistics ----

export const vmStates = ['created', 'running', 'paused', 'halted', 'exited', 'crashed', 'destroyed'] as const;
export type VmStateName = (typeof vmStates)[number];
/** States a VM never leaves on its own (waitForExit resolves on these). */
export const finalVmStates: readonly VmStateName[] = ['halted', 'exited', 'crashed', 'destroyed'];

export interface VmStateEvent {
  state: VmStateName;
  /** The guest's exit code (SF_HC_EXIT); meaningful for 'exited'. */
  exitCode: number;
  /** Why the state changed (crash reason, panic message, ...); may be ''. */
  reason: string;
}

export interface VmStats {
  exits: { io: number; mmio: number; hlt: number; other: number };
  /** Port accesses no device owns (reads see 0xff). */
  ioUnhandled: number;
  hypercalls: number;
  /** Bytes the guest wrote to its console (serial port and SF_HC_CONSOLE_WRITE). */
  consoleBytes: number;
  /** Console bytes the binding dropped because JS fell more than 8 MiB behind. */
  consoleBytesDropped: number;
  freshPageHints: number;
  /** Wall time all vCPU threads spent inside KVM_RUN, in nanoseconds. A JS number: exact up to ~104 days. */
  vcpuTimeNs: number;
  /** Resident guest RAM pages (4 KiB); 0 after destroy(). */
  pagesTouched: number;
}

export interface VirtualMachineEvents {
  /** Console output, in order, in chunks of any size. */
  console: [chunk: Buffer];
  /** Every state change the VMM reports (including the final 'destroyed'). */
  state: [event: VmStateEvent];
  /** Once, when the VM first reaches a final state (halted, exited, crashed, destroyed). */
  exit: [event: VmStateEvent];
  /** A guest call's handler threw or returned an invalid reply (the guest got -SF_EINTERNAL), or the answer failed. */
  guestCallError: [error: Error, call: GuestCall];
}

export interface VirtualMachineOptions {
  /** 1..SfAbi.MAX_VCPUS (32, the ABI's limit); default 1. */
  vcpus?: number;
  /** Guest RAM in MiB, 16..65536 (64 GiB). */
  memoryMiB: number;
  /** Path of the guest ELF. */
  image: string;
  /** Boot arguments, at most 4095 UTF-8 bytes (SF_CMDLINE_MAX with its NUL), no NUL inside; default ''. */
  cmdline?: string;
  /** uint32; default 0. */
  clusterid?: number;
  /** uint32 (0 = master); default 0. */
  vmid?: number;
  /**
   * CPU privilege at entry. 'user' (default): ring 3 under the VMM's small supervisor — native speed
   * and SSE on software-virtualised KVM (kvm_pvm), where ring-0 code is emulated (~1 µs/instruction).
   * 'kernel': ring 0, for guests that set up their own descriptor tables.
   */
  privilege?: 'user' | 'kernel';
}

// ---- The addon's VM surface (untyped until checked here) ----

interface NativeVmConfig {
  vcpus: number;
  ramBytes: number;
  cmdline: string;
  clusterid: number;
  vmid: number;
  imagePath: string;
  privilege: 'user' | 'kernel';
}

/** A checked GuestReply with every field present: what crosses into the binding (see normalizeGuestReply). */
export interface NormalizedGuestReply {
  status: number;
  count: number;
  vmid: number;
  nunused: number;
  noutstanding: number;
  ticket: string;
  errmsg: string;
  tickets: string[];
  alloc: { vmid: number; processors: number }[];
  exits: GuestExitRecord[];
}
type NativeReply = NormalizedGuestReply;

/** The native handle (src/binding/vm_binding.cc). Its hooks are plain properties so GC can collect the pair. */
interface NativeVmHandle {
  onConsole: (chunk: Buffer) => void;
  onState: (state: string, exitCode: number, reason: string) => void;
  onGuestCall: (call: unknown) => void;
  makeError: (statusCode: number, message: string, operation: string) => Error;
  create(config: NativeVmConfig): Promise<void>;
  createClone(snapshot: NativeSnapshotHandle, options: { vmid: number; lazy: boolean; cloneReply: NativeReply | null }): Promise<void>;
  fork(): Promise<NativeSnapshotHandle>;
  prepareClone(shape: { ramBytes: number; vcpus: number; privilege: 'user' | 'kernel' }): Promise<void>;
  createRemoteClone(descriptor: Buffer, options: { vmid: number; lazy: boolean; cloneReply: NativeReply | null } & RemoteCloneNetwork): Promise<void>;
  becomeClone(snapshot: NativeSnapshotHandle, options: { vmid: number; lazy: boolean; cloneReply: NativeReply | null }): Promise<void>;
  memtapStats(): unknown;
  prefetch(gpa: number, npages: number): void;
  boot(): Promise<void>;
  pause(): Promise<void>;
  resume(): Promise<void>;
  destroy(): Promise<void>;
  answerCall(id: bigint, reply: NativeReply): void;
  consoleInput(bytes: Uint8Array): void;
  stats(): unknown;
  state(): string;
  exitCode(): number;
  reason(): string;
}

interface NativeVmAddon {
  NativeVm: new () => NativeVmHandle;
}

function vmAddon(): NativeVmAddon {
  const addon = loadAddon() as unknown as Partial<NativeVmAddon>;
  if (typeof addon.NativeVm !== 'function') {
    throw new VmError('INTERNAL', 'The native addon has no NativeVm export; rebuild it (`npm run build -w native`).');
  }
  return addon as NativeVmAddon;
}

// ---- argument checks (all before native code runs) ----

const MiB = 1024 * 1024;
const utf8 = new TextEncoder();

/** createRemoteClone's network options as the binding takes them. */
interface RemoteCloneNetwork {
  server: string;
  bind?: string;
  group?: string;
  interface?: string;
  dropForTest?: number;
}

/** A lazy clone's memtap counters; `remote`: a remote clone's page source on this host (null: a local clone). */
export type CloneMemtapStats = MemtapStats & { remote: RemoteSourceStats | null };

const ipv4Address = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function checkEndpoint(name: string, value: unknown): string {
  const m = typeof value === 'string' ? /^([^:]+):(\d{1,5})$/.exec(value) : null;
  if (!m || !ipv4Address.test(m[1]!) || Number(m[2]) > 65535) badInput(`${name} must be 'a.b.c.d:port', got ${describe(value)}.`);
  return value as string;
}

function isMulticastAddress(address: string): boolean {
  const first = Number(address.split('.')[0]);
  return first >= 224 && first <= 239;
}

function badInput(message: string): never {
  throw new VmError('BAD_INPUT', message);
}

function describe(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'bigint') return `${value}n`;
  if (value === null || typeof value !== 'object') return String(value);
  return Array.isArray(value) ? 'an array' : 'an object';
}

function intInRange(name: string, value: unknown, min: number, max: number, unit = ''): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    badInput(`${name} must be an integer from ${min} to ${max}${unit}, got ${describe(value)}.`);
  }
  return value;
}

async function checkOptions(options: VirtualMachineOptions): Promise<NativeVmConfig> {
  if (typeof options !== 'object' || options === null) badInput('VirtualMachine.create() needs an options object.');
  const vcpus = intInRange('vcpus', options.vcpus ?? 1, 1, SfAbi.MAX_VCPUS);
  const memoryMiB = intInRange('memoryMiB', options.memoryMiB, 16, SfAbi.RAM_MAX / MiB, ' (16 MiB to 64 GiB)');
  const cmdline = options.cmdline ?? '';
  if (typeof cmdline !== 'string') badInput(`cmdline must be a string, got ${describe(cmdline)}.`);
  if (cmdline.includes('\0')) badInput('cmdline must not contain NUL characters.');
  // The guest gets it NUL-terminated in an SF_CMDLINE_MAX-byte area, so the text itself is one byte shorter.
  const cmdlineBytes = utf8.encode(cmdline).length;
  if (cmdlineBytes > SfAbi.CMDLINE_MAX - 1) {
    badInput(`cmdline is ${cmdlineBytes} bytes (UTF-8); the limit is ${SfAbi.CMDLINE_MAX - 1}.`);
  }
  const clusterid = intInRange('clusterid', options.clusterid ?? 0, 0, 0xffff_ffff);
  const vmid = intInRange('vmid', options.vmid ?? 0, 0, 0xffff_ffff);
  const image = options.image;
  if (typeof image !== 'string' || image === '') badInput(`image must be a file path, got ${describe(image)}.`);
  if (image.includes('\0')) badInput('image path must not contain NUL characters.');
  let info;
  try {
    info = await stat(image);
  } catch (error) {
    const why = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    badInput(`image ${image} cannot be used: ${why === 'ENOENT' ? 'it does not exist' : why}.`);
  }
  if (!info.isFile()) badInput(`image ${image} is not a regular file.`);
  const privilege = options.privilege ?? 'user';
  if (privilege !== 'user' && privilege !== 'kernel') badInput(`privilege must be 'user' or 'kernel', got ${describe(privilege)}.`);
  return { vcpus, ramBytes: memoryMiB * MiB, cmdline, clusterid, vmid, imagePath: image, privilege };
}

// ---- guest-call conversion ----

function nameOf(nr: number): GuestCall['name'] {
  return hypercallNames.get(nr) ?? `UNKNOWN_${nr}`;
}

function shapeError(what: string, value: unknown): never {
  throw new TypeError(`native VM: ${what} has an unexpected shape (${describe(value)}); rebuild the native addon.`);
}

function parseGuestCall(value: unknown): GuestCall {
  const o = value as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) shapeError('guest call', value);
  const r = o['request'] as Record<string, unknown> | null;
  if (typeof o['id'] !== 'bigint' || typeof o['nr'] !== 'number' || typeof o['vcpu'] !== 'number') {
    shapeError('guest call', value);
  }
  if (typeof r !== 'object' || r === null) shapeError('guest call request', r);
  const num = (key: string): number => {
    const v = r[key];
    if (typeof v !== 'number') shapeError(`guest call request.${key}`, v);
    return v;
  };
  const ticket = r['ticket'];
  if (typeof ticket !== 'string') shapeError('guest call request.ticket', ticket);
  const flags = num('flags');
  return {
    id: o['id'],
    nr: o['nr'],
    name: nameOf(o['nr']),
    vcpu: o['vcpu'],
    request: {
      nr: num('nr'),
      flags,
      procs: (flags & SfAbi.REQ_PROCS) !== 0,
      block: (flags & SfAbi.REQ_BLOCK) !== 0,
      nclones: num('nclones'),
      min: num('min'),
      status: num('status'),
      timeoutMs: num('timeoutMs'),
      ticket,
    },
  };
}

/** Cuts a string to at most `maxBytes` UTF-8 bytes without splitting a character. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (utf8.encode(text).length <= maxBytes) return text;
  let out = '';
  let used = 0;
  for (const ch of text) {
    const n = utf8.encode(ch).length;
    if (used + n > maxBytes) break;
    out += ch;
    used += n;
  }
  return out;
}

function replyError(message: string): never {
  throw new TypeError(`invalid guest-call reply: ${message}`);
}

function uint32(name: string, value: unknown): number {
  if (value === undefined) return 0;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff_ffff) {
    replyError(`${name} must be a uint32, got ${describe(value)}`);
  }
  return value;
}

function ticketText(name: string, value: unknown): string {
  if (value === undefined) return '';
  if (typeof value !== 'string') replyError(`${name} must be a string, got ${describe(value)}`);
  if (value.includes('\0')) replyError(`${name} must not contain NUL`);
  if (utf8.encode(value).length > SfAbi.TICKET_LEN) {
    replyError(`${name} is longer than ${SfAbi.TICKET_LEN} bytes: ${JSON.stringify(value)}`);
  }
  return value;
}

/** Checks a handler's reply and fills defaults. Throws TypeError (with a message fit for errmsg) when invalid. */
export function normalizeGuestReply(reply: unknown): NativeReply {
  if (typeof reply !== 'object' || reply === null) replyError(`expected an object, got ${describe(reply)}`);
  const r = reply as Record<string, unknown>;
  const status = r['status'];
  if (typeof status !== 'number' || !Number.isInteger(status) || status > 0 || !statusNumbers.has(-status)) {
    replyError(`status must be 0 or a negated SfStatus code (-1..-${SfStatus.ECLONE}), got ${describe(status)}`);
  }
  const vmid = r['vmid'] ?? 0;
  if (typeof vmid !== 'number' || !Number.isInteger(vmid) || vmid < -0x8000_0000 || vmid > 0x7fff_ffff) {
    replyError(`vmid must be an int32, got ${describe(vmid)}`);
  }
  const errmsg = r['errmsg'] ?? '';
  if (typeof errmsg !== 'string') replyError(`errmsg must be a string, got ${describe(errmsg)}`);
  const tickets = r['tickets'] ?? [];
  if (!Array.isArray(tickets)) replyError(`tickets must be an array, got ${describe(tickets)}`);
  if (tickets.length > SfAbi.MAX_TICKETS) replyError(`at most ${SfAbi.MAX_TICKETS} tickets, got ${tickets.length}`);
  const alloc = r['alloc'] ?? [];
  if (!Array.isArray(alloc)) replyError(`alloc must be an array, got ${describe(alloc)}`);
  if (alloc.length > SfAbi.MAX_ALLOC) replyError(`at most ${SfAbi.MAX_ALLOC} allocations, got ${alloc.length}`);
  const exits = r['exits'] ?? [];
  if (!Array.isArray(exits)) replyError(`exits must be an array, got ${describe(exits)}`);
  if (exits.length > SfAbi.MAX_ALLOC) replyError(`at most ${SfAbi.MAX_ALLOC} exit records, got ${exits.length}`);
  return {
    status,
    count: uint32('count', r['count']),
    vmid,
    nunused: uint32('nunused', r['nunused']),
    noutstanding: uint32('noutstanding', r['noutstanding']),
    ticket: ticketText('ticket', r['ticket']),
    errmsg: truncateUtf8(errmsg.replaceAll('\0', ' '), SfAbi.ERRMSG_LEN - 1),
    tickets: tickets.map((t: unknown, i) => ticketText(`tickets[${i}]`, t)),
    alloc: alloc.map((a: unknown, i) => {
      if (typeof a !== 'object' || a === null) replyError(`alloc[${i}] must be an object, got ${describe(a)}`);
      const entry = a as Record<string, unknown>;
      return {
        vmid: uint32(`alloc[${i}].vmid`, entry['vmid']),
        processors: uint32(`alloc[${i}].processors`, entry['processors']),
      };
    }),
    exits: exits.map((e: unknown, i) => {
      if (typeof e !== 'object' || e === null) replyError(`exits[${i}] must be an object, got ${describe(e)}`);
      const entry = e as Record<string, unknown>;
      const status = entry['status'] ?? 0;
      if (typeof status !== 'number' || !Number.isInteger(status) || status < -0x8000_0000 || status > 0x7fff_ffff) {
        replyError(`exits[${i}].status must be an int32, got ${describe(status)}`);
      }
      const how = uint32(`exits[${i}].how`, entry['how']);
      if (how > SfExitHow.KILLED) replyError(`exits[${i}].how must be an SfExitHow value, got ${how}`);
      return { vmid: uint32(`exits[${i}].vmid`, entry['vmid']), status, how };
    }),
  };
}

function checkCloneOptions(
  operation: string,
  snapshot: VmSnapshot,
  options: { vmid: number; lazy?: boolean; cloneReply?: GuestReply },
): { vmid: number; lazy: boolean; cloneReply: NativeReply | null } {
  if (!(snapshot instanceof VmSnapshot)) badInput(`${operation}() needs a VmSnapshot from fork(), got ${describe(snapshot)}.`);
  if (snapshot.released) throw new VmError('BAD_STATE', `${operation}(): the snapshot was released.`);
  const vmid = intInRange('vmid', options.vmid, 0, 0xffff_ffff);
  if (options.lazy !== undefined && typeof options.lazy !== 'boolean') badInput(`lazy must be a boolean, got ${describe(options.lazy)}.`);
  return { vmid, lazy: options.lazy ?? false, cloneReply: checkCloneReply(options.cloneReply) };
}

/** A clone's answer to its pending sf_clone, checked like any reply; null when none is given. */
function checkCloneReply(reply: GuestReply | undefined): NativeReply | null {
  if (reply === undefined) return null;
  try {
    return normalizeGuestReply(reply);
  } catch (error) {
    badInput(`cloneReply: ${error instanceof Error ? error.message : String(error)}`);
  }
}

function failureReply(status: number, message: string): NativeReply {
  return normalizeGuestReply({ status: -status, errmsg: message });
}

function parseState(value: unknown): VmStateName {
  const match = vmStates.find((s) => s === value);
  if (match === undefined) shapeError('VM state', value);
  return match;
}

function parseStats(value: unknown): VmStats {
  const o = value as Record<string, unknown> | null;
  if (typeof o !== 'object' || o === null) shapeError('stats', value);
  const n = (key: string): number => {
    const v = o[key];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) shapeError(`stats.${key}`, v);
    return v;
  };
  return {
    exits: { io: n('exitsIo'), mmio: n('exitsMmio'), hlt: n('exitsHlt'), other: n('exitsOther') },
    ioUnhandled: n('ioUnhandled'),
    hypercalls: n('hypercalls'),
    consoleBytes: n('serialBytes'),
    consoleBytesDropped: n('consoleBytesDropped'),
    freshPageHints: n('freshPageHints'),
    vcpuTimeNs: n('vcpuRunNs'),
    pagesTouched: n('pagesTouched'),
  };
}

// Exceptions thrown by user listeners must not unwind into the binding's dispatch loop: report them the way
// Node reports a throwing listener of any native event (as an uncaught exception), just one tick later.
function rethrowLater(error: unknown): void {
  process.nextTick(() => {
    throw error;
  });
}

/**
 * A flat-guest VM. Create with `await VirtualMachine.create({...})`, listen for 'console' / 'state' / 'exit',
 * set `onGuestCall`, then `boot()`. Lifecycle calls are serialised: each waits for the previous one.
 * A booted VM keeps Node's event loop alive until it reaches a final state or is destroyed.
 */
export class VirtualMachine extends EventEmitter<VirtualMachineEvents> {
  /**
   * Answers the guest's seed-API hypercalls. Unset: every call is answered -SF_ENOSYS. If it throws (or its
   * promise rejects, or the reply is invalid), the guest gets -SF_EINTERNAL with the message in errmsg and
   * 'guestCallError' is emitted. Every call is answered exactly once, so no vCPU is left waiting.
   */
  onGuestCall: GuestCallHandler | undefined = undefined;

  readonly #native: NativeVmHandle;
  #lastEvent: VmStateEvent = { state: 'created', exitCode: 0, reason: '' };
  #exitEvent: VmStateEvent | undefined;
  #ops: Promise<unknown> = Promise.resolve();
  #destroying: Promise<void> | undefined;
  #destroyed = false;
  #remoteSnapshot: string | undefined;  // a remote clone's snapshot id: its page source's stats are the host's

  private constructor(native: NativeVmHandle) {
    super();
    this.#native = native;
    native.makeError = makeVmErrorFromStatus;
    native.onConsole = (chunk) => {
      if (this.#destroyed) return;
      try {
        this.emit('console', chunk);
      } catch (error) {
        rethrowLater(error);
      }
    };
    native.onState = (state, exitCode, reason) => {
      if (this.#destroyed) return;
      try {
        this.#deliverState({ state: parseState(state), exitCode, reason });
      } catch (error) {
        rethrowLater(error);
      }
    };
    native.onGuestCall = (raw) => this.#dispatchGuestCall(raw);
  }

  /**
   * Validates the options (VmError 'BAD_INPUT' before any native code runs), then creates the VM and loads the
   * image on a worker thread. Rejects with VmError ('KVM_UNAVAILABLE', 'BAD_IMAGE', 'NO_RESOURCES', ...).
   */
  static async create(options: VirtualMachineOptions): Promise<VirtualMachine> {
    const config = await checkOptions(options);
    const native = new (vmAddon().NativeVm)();
    const vm = new VirtualMachine(native);
    await native.create(config);
    return vm;
  }

  /**
   * A clone of `snapshot` (see fork()), created paused at the fork instant with its own `vmid`; resume() lets it
   * run. A vCPU forked inside sf_clone returns from it with `cloneReply` (normally `{status: 0, vmid, count,
   * ticket}`); without one that call fails with -SF_EUNAVAIL in the clone. `lazy`: memory arrives page by page on
   * first touch (userfaultfd memtap) instead of being mapped copy-on-write all at once.
   */
  static async createClone(
    snapshot: VmSnapshot,
    options: { vmid: number; lazy?: boolean; cloneReply?: GuestReply },
  ): Promise<VirtualMachine> {
    const checked = checkCloneOptions('createClone', snapshot, options);
    const native = new (vmAddon().NativeVm)();
    const vm = new VirtualMachine(native);
    await native.createClone(snapshot.handle, checked);
    return vm;
  }

  /**
   * A lazy clone on this host of a VM forked on another: `descriptor` is the fork's (VmSnapshot.descriptor()),
   * pages come from the memserver at `server` ('address:port', see startMemserver) through this host's mirror,
   * shared by every clone of that snapshot here; `bind` is the local UDP address to use ('127.0.0.1:0' by
   * default). `group` (the memserver's Memserver.group; null/absent: unicast replies) is joined on the
   * interface that owns `interface` (default: the bind address, or 127.0.0.1). The first clone of a
   * snapshot on this host decides these; a later one asking for another group is refused (BAD_INPUT).
   * Created paused. If the memserver stops answering while the clone needs a page, the clone ends as
   * crashed with the reason.
   */
  static async createRemoteClone(
    descriptor: Buffer,
    options: {
      vmid: number;
      server: string;
      bind?: string;
      cloneReply?: GuestReply;
      group?: string | null;
      interface?: string;
      /** Test only: this fraction (0 to 0.5) of received page datagrams is discarded unread. */
      dropForTest?: number;
    },
  ): Promise<VirtualMachine> {
    if (!Buffer.isBuffer(descriptor)) badInput(`createRemoteClone() needs the descriptor as a Buffer, got ${describe(descriptor)}.`);
    const vmid = intInRange('vmid', options.vmid, 0, 0xffff_ffff);
    const network: RemoteCloneNetwork = { server: checkEndpoint('server', options.server) };
    if (options.bind !== undefined) network.bind = checkEndpoint('bind', options.bind);
    if (options.group !== undefined && options.group !== null) {
      network.group = checkEndpoint('group', options.group);
      if (!isMulticastAddress(network.group)) badInput(`group must be a multicast address (224.0.0.0/4), got '${network.group}'.`);
    }
    if (options.interface !== undefined) {
      if (typeof options.interface !== 'string' || !ipv4Address.test(options.interface) || options.interface === '0.0.0.0' || isMulticastAddress(options.interface)) {
        badInput(`interface must be a unicast IPv4 address of this host (no port), got ${describe(options.interface)}.`);
      }
      network.interface = options.interface;
    }
    if (options.dropForTest !== undefined) {
      if (typeof options.dropForTest !== 'number' || !(options.dropForTest >= 0 && options.dropForTest <= 0.5)) {
        badInput(`dropForTest must be a fraction from 0 to 0.5, got ${describe(options.dropForTest)}.`);
      }
      network.dropForTest = options.dropForTest;
    }
    const cloneReply = checkCloneReply(options.cloneReply);
    const snapshotId = inspectDescriptor(descriptor).snapshotId;
    if (!snapshotId) badInput('createRemoteClone(): the descriptor has no snapshot identity (not from a fork).');
    const native = new (vmAddon().NativeVm)();
    const vm = new VirtualMachine(native);
    try {
      await native.createRemoteClone(descriptor, { vmid, lazy: true, cloneReply, ...network });
    } catch (error) {
      // EINVAL here is about what the caller passed (the descriptor, a group that disagrees with this
      // host's earlier clones of the snapshot), whatever the generic table says.
      if (error instanceof VmError && error.errno === 'EINVAL') {
        throw new VmError('BAD_INPUT', error.message, { statusCode: error.statusCode, operation: error.operation, errno: error.errno });
      }
      throw error;
    }
    vm.#remoteSnapshot = snapshotId;
    return vm;
  }

  /**
   * A clone shell: the parts of a lazy clone that do not depend on the snapshot (KVM VM, vCPUs, empty RAM),
   * made ahead of a fork (e.g. when a ticket is granted) so that becomeClone() after the fork only restores
   * state. `memoryMiB`, `vcpus` and `privilege` must match the master's. Never runs until becomeClone().
   */
  static async prepareClone(shape: { memoryMiB: number; vcpus?: number; privilege?: 'user' | 'kernel' }): Promise<VirtualMachine> {
    const memoryMiB = intInRange('memoryMiB', shape.memoryMiB, 16, SfAbi.RAM_MAX / MiB, ' (16 MiB to 64 GiB)');
    const vcpus = intInRange('vcpus', shape.vcpus ?? 1, 1, SfAbi.MAX_VCPUS);
    const privilege = shape.privilege ?? 'user';
    if (privilege !== 'user' && privilege !== 'kernel') badInput(`privilege must be 'user' or 'kernel', got ${describe(privilege)}.`);
    const native = new (vmAddon().NativeVm)();
    const vm = new VirtualMachine(native);
    await native.prepareClone({ ramBytes: memoryMiB * MiB, vcpus, privilege });
    return vm;
  }

  /**
   * Makes this clone shell (prepareClone) a lazy clone of `snapshot`, parked at the fork instant like
   * createClone's; resume() lets it run. The snapshot must have the shell's shape. On failure the shell is gone.
   */
  becomeClone(snapshot: VmSnapshot, options: { vmid: number; cloneReply?: GuestReply }): Promise<void> {
    const checked = checkCloneOptions('becomeClone', snapshot, { ...options, lazy: true });
    return this.#lifecycle('becomeClone', () => this.#native.becomeClone(snapshot.handle, checked));
  }

  /**
   * Forks this VM (running or paused; it comes back in the same state): pauses it for the capture only
   * (≈1 ms whatever its memory size), makes its memory copy-on-write against a frozen snapshot and returns
   * that snapshot. A vCPU waiting inside sf_clone is captured there: answer the parent's call as usual.
   */
  fork(): Promise<VmSnapshot> {
    let snapshot: VmSnapshot | undefined;
    return this.#lifecycle('fork', async () => {
      snapshot = new VmSnapshot(await this.#native.fork());
    }).then(() => snapshot!);
  }

  /**
   * Lazy clones: memtap counters (pages fetched, fault service times) and, for remote clones, this host's
   * shared source of the snapshot's pages under `remote` (null for local clones); null for other VMs.
   */
  memtapStats(): CloneMemtapStats | null {
    if (this.#destroying) return null;
    const local = parseMemtapStats(this.#native.memtapStats());
    if (!local) return null;
    return { ...local, remote: this.#remoteSnapshot ? remoteSourceStats(this.#remoteSnapshot) : null };
  }

  /** Lazy clones: fetch [gpa, gpa + npages pages) before the guest touches them. No-op for other VMs. */
  prefetch(gpa: number, npages: number): void {
    if (this.#destroying) throw new VmError('BAD_STATE', 'prefetch(): the VM is destroyed.');
    this.#native.prefetch(intInRange('gpa', gpa, 0, SfAbi.RAM_MAX + 2 ** 32), intInRange('npages', npages, 0, SfAbi.RAM_MAX / 4096));
  }

  /**
   * Live VM state as the VMM sees it now ('destroyed' from the moment destroy() is called). 'state' events may
   * lag behind it; after any awaited lifecycle call they have caught up.
   */
  get state(): VmStateName {
    return parseState(this.#native.state());
  }

  /** The guest's exit code (0 unless it exited through SF_HC_EXIT); kept after destroy(). */
  get exitCode(): number {
    return this.#native.exitCode();
  }

  /** Why the VM stopped ('triple fault at rip=…', 'the guest exited with code 3', ...), or ''. */
  get reason(): string {
    return this.#native.reason();
  }

  /** Starts the vCPUs. */
  boot(): Promise<void> {
    return this.#lifecycle('boot', () => this.#native.boot());
  }

  /** Stops all vCPUs; resolves once every vCPU is parked. */
  pause(): Promise<void> {
    return this.#lifecycle('pause', () => this.#native.pause());
  }

  resume(): Promise<void> {
    return this.#lifecycle('resume', () => this.#native.resume());
  }

  /**
   * Stops the VM, answers nothing more, joins its threads and frees its memory. Idempotent: every call returns
   * the same promise. Waits for a lifecycle call already in progress. After it resolves no event is emitted,
   * `state` is 'destroyed' and `stats()` returns the final counters.
   */
  destroy(): Promise<void> {
    this.#destroying ??= this.#ops
      .catch(() => undefined)
      .then(() => this.#native.destroy())
      .then(() => {
        // Defensive: the VMM reports 'destroyed' itself (drained before native destroy() resolved).
        const final: VmStateEvent = { state: 'destroyed', exitCode: this.exitCode, reason: this.reason };
        if (this.#lastEvent.state !== 'destroyed') {
          try {
            this.#deliverState(final);
          } catch (error) {
            rethrowLater(error);
          }
        }
        this.#destroyed = true;
      });
    return this.#destroying;
  }

  /** Bytes for the guest's console input (the serial port's receive side). */
  consoleInput(data: string | Uint8Array): void {
    if (this.#destroying) throw new VmError('BAD_STATE', 'consoleInput(): the VM is destroyed.');
    let bytes: Uint8Array;
    if (typeof data === 'string') bytes = Buffer.from(data, 'utf8');
    else if (data instanceof Uint8Array) bytes = data;
    else badInput(`consoleInput() takes a string or a Uint8Array, got ${describe(data)}.`);
    if (bytes.length > 0) this.#native.consoleInput(bytes);
  }

  /** Counters since creation. Cheap (no vCPU is stopped). After destroy(), the final counters. */
  stats(): VmStats {
    return parseStats(this.#native.stats());
  }

  /**
   * Resolves with the first final state ('halted', 'exited', 'crashed' or 'destroyed') once its event has been
   * emitted, i.e. after all console output before it. Rejects with VmError 'TIMEOUT' after `timeoutMs` (if given).
   */
  waitForExit(timeoutMs?: number): Promise<VmStateEvent> {
    if (timeoutMs !== undefined) intInRange('timeoutMs', timeoutMs, 0, 0x7fff_ffff);
    if (this.#exitEvent) return Promise.resolve({ ...this.#exitEvent });
    return new Promise<VmStateEvent>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onExit = (event: VmStateEvent): void => {
        if (timer) clearTimeout(timer);
        resolve({ ...event });
      };
      this.once('exit', onExit);
      if (timeoutMs !== undefined) {
        timer = setTimeout(() => {
          this.off('exit', onExit);
          const message = `waitForExit(): the VM did not stop within ${timeoutMs} ms (state ${this.state}).`;
          reject(new VmError('TIMEOUT', message));
        }, timeoutMs);
      }
    });
  }

  // ---- internals ----

  #deliverState(event: VmStateEvent): void {
    this.#lastEvent = event;
    const first = !this.#exitEvent && finalVmStates.includes(event.state);
    if (first) this.#exitEvent = event;
    this.emit('state', { ...event });
    if (first) this.emit('exit', { ...event });
  }

  #lifecycle(name: string, op: () => Promise<void>): Promise<void> {
    if (this.#destroying) return Promise.reject(new VmError('BAD_STATE', `${name}(): the VM is destroyed.`));
    const run = this.#ops.catch(() => undefined).then(() => {
      if (this.#destroying) throw new VmError('BAD_STATE', `${name}(): the VM is destroyed.`);
      return op();
    });
    this.#ops = run;
    return run;
  }

  #dispatchGuestCall(raw: unknown): void {
    let call: GuestCall;
    try {
      call = parseGuestCall(raw);
    } catch (error) {
      // Without a usable id there is nothing to answer; the binding's checks make this unreachable.
      rethrowLater(error);
      return;
    }
    const handler = this.onGuestCall;
    if (handler === undefined) {
      this.#answer(call, failureReply(SfStatus.ENOSYS, `no guest-call handler for ${call.name}`));
      return;
    }
    let pending: GuestReply | Promise<GuestReply>;
    try {
      pending = handler(call);
    } catch (error) {
      this.#answerFailure(call, error);
      return;
    }
    Promise.resolve(pending).then(
      (reply) => {
        let checked: NativeReply;
        try {
          checked = normalizeGuestReply(reply);
        } catch (error) {
          this.#answerFailure(call, error);
          return;
        }
        this.#answer(call, checked);
      },
      (error: unknown) => this.#answerFailure(call, error),
    );
  }

  #answerFailure(call: GuestCall, error: unknown): void {
    const message = error instanceof Error ? error.message : String(error);
    this.#answer(call, failureReply(SfStatus.EINTERNAL, message));
    this.#reportCallError(error instanceof Error ? error : new Error(message), call);
  }

  #answer(call: GuestCall, reply: NativeReply): void {
    // After destroy() started, the VMM itself releases waiting vCPUs; a late answer has nowhere to go.
    if (this.#destroying) return;
    try {
      this.#native.answerCall(call.id, reply);
    } catch (error) {
      // The VM stopped (crash, exit from another vCPU) while the handler ran: nobody waits any more.
      if (finalVmStates.includes(this.state)) return;
      this.#reportCallError(error instanceof Error ? error : new Error(String(error)), call);
    }
  }

  #reportCallError(error: Error, call: GuestCall): void {
    if (this.listenerCount('guestCallError') === 0) return;
    try {
      this.emit('guestCallError', error, call);
    } catch (listenerError) {
      rethrowLater(listenerError);
    }
  }
}
