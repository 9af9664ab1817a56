// The memserver from JS: serves one fork's snapshot pages over UDP to clones on other hosts (they fetch
// with VirtualMachine.createRemoteClone), by unicast or to the snapshot's multicast group (mcdist), and
// streams the snapshot's working set to clients in bulk (REAP). Boundary: types and checks; the
// protocol is C++ (src/core/memserver).
import { loadAddon, type MemserverStats, type NativeMemserverHandle, type RemoteSourceStats, type WorkingSet } from './addon.ts';
import { malformedAnswer, readCounters } from './addon-results.ts';
import { badInput, checkEndpoint, checkInterfaceAddress, checkTestFraction, isMulticastAddress } from './argument-checks.ts';
import { VmError } from './errors.ts';
import { checkLiveSnapshot, type VmSnapshot } from './fork.ts';
import { messageOf } from './message.ts';

export type { MemserverStats, RemoteSourceStats, WorkingSet } from './addon.ts';

export interface MemserverOptions {
  /** 'a.b.c.d:port' requests come to; port 0 = any free port. */
  bind: string;
  /** How replies go out: 'unicast' (to the requester, the default) or 'multicast' (to the snapshot's group). */
  mode?: 'multicast' | 'unicast';
  /** Multicast mode: 'a.b.c.d:port' in 224.0.0.0/4; default: derived from the snapshot id, port = the server's. */
  group?: string;
  /** The local address multicast leaves by; default: the bind address (127.0.0.1 if bind is 0.0.0.0). */
  interface?: string;
  /** UDP payload bytes per reply datagram; 0 = from the interface MTU; default 1472 (a 1500-byte path). */
  maxDatagram?: number;
  /**
   * Pages to stream to each new client in bulk when it first asks (e.g. the previous fork's workingSet());
   * pages past this snapshot or in its holes are left out, whatever `reap` says.
   */
  workingSet?: WorkingSet | null;
  /**
   * Stream the pages earlier clients of this snapshot asked for to each new client (a client's first
   * request starts its stream, sent behind request replies); default true. The pages asked for are
   * recorded either way (workingSet()).
   */
  reap?: boolean;
  /** Test only: this fraction (0 to 0.5) of reply datagrams is not sent, as if the network lost it. */
  lossForTest?: number;
}

export class Memserver {
  readonly #native: NativeMemserverHandle;
  /** 'address:port' clones send their page requests to. */
  readonly endpoint: string;
  readonly mode: 'multicast' | 'unicast';
  /** Multicast mode: 'a.b.c.d:port' replies go to (clones pass it to createRemoteClone); unicast: null. */
  readonly group: string | null;

  constructor(native: NativeMemserverHandle) {
    this.#native = native;
    this.endpoint = native.endpoint();
    this.mode = native.mode();
    this.group = native.group();
  }

  /** Counters since the start; still readable after stop(). */
  stats(): MemserverStats {
    return this.#native.stats();
  }

  /**
   * The pages this snapshot's clients asked for so far, plus the workingSet it was started with (those in
   * range and holding data); still readable after stop(). Pass it to the next fork's startMemserver.
   */
  workingSet(): WorkingSet {
    return this.#native.workingSet();
  }

  /** Test only: while stalled the server reads requests and answers none, as a paused (SIGSTOPped) host would. */
  stallForTest(stalled: boolean): void {
    this.#native.stallForTest(stalled === true);
  }

  /** Stops serving: clones still missing pages time out and end as crashed with the reason. Idempotent. */
  stop(): void {
    this.#native.stop();
  }
}

const where = 'startMemserver()';

/** Checks and normalises startMemserver's options (a string is the bind address). */
export function checkMemserverOptions(options: unknown): MemserverOptions {
  const o = (typeof options === 'string' ? { bind: options } : options) as MemserverOptions;
  if (typeof o !== 'object' || o === null) badInput(`options must be 'a.b.c.d:port' or an object, got ${String(options)}.`, where);
  const out: MemserverOptions = { bind: checkEndpoint('bind', o.bind, where) };
  if (isMulticastAddress(out.bind.split(':')[0]!)) badInput(`bind must be a unicast address of this host, got '${out.bind}'.`, where);
  if (o.mode !== undefined) {
    if (o.mode !== 'multicast' && o.mode !== 'unicast')
      badInput(`mode must be 'multicast' or 'unicast', got ${JSON.stringify(o.mode)}.`, where);
    out.mode = o.mode;
  }
  if (o.group !== undefined) {
    out.group = checkEndpoint('group', o.group, where);
    if (!isMulticastAddress(out.group.split(':')[0]!))
      badInput(`group must be a multicast address (224.0.0.0/4), got '${out.group}'.`, where);
  }
  if (o.interface !== undefined) out.interface = checkInterfaceAddress('interface', o.interface, where);
  if (o.maxDatagram !== undefined) {
    if (!Number.isInteger(o.maxDatagram) || o.maxDatagram < 0 || o.maxDatagram > 65507) {
      badInput(`maxDatagram must be 0 (from the interface MTU) or a UDP payload size up to 65507, got ${String(o.maxDatagram)}.`, where);
    }
    out.maxDatagram = o.maxDatagram;
  }
  if (o.reap !== undefined) {
    if (typeof o.reap !== 'boolean') badInput(`reap must be a boolean, got ${String(o.reap)}.`, where);
    out.reap = o.reap;
  }
  if (o.workingSet !== undefined && o.workingSet !== null) out.workingSet = checkWorkingSet(o.workingSet);
  if (o.lossForTest !== undefined) out.lossForTest = checkTestFraction('lossForTest', o.lossForTest, where);
  return out;
}

function checkWorkingSet(ws: unknown): WorkingSet {
  const w = ws as WorkingSet;
  if (typeof w !== 'object' || w === null) badInput('workingSet must be {ramBytes, pages} (from Memserver.workingSet()).', where);
  if (!Number.isSafeInteger(w.ramBytes) || w.ramBytes < 0)
    badInput(`workingSet.ramBytes must be a byte count, got ${String(w.ramBytes)}.`, where);
  // Page numbers outside this snapshot (another size of VM) are clipped by the server, not refused.
  const pages: unknown = w.pages;
  if (pages instanceof Uint32Array) return { ramBytes: w.ramBytes, pages };
  if (Array.isArray(pages) && pages.every((p: unknown) => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 0xffff_ffff)) {
    return { ramBytes: w.ramBytes, pages: Uint32Array.from(pages as number[]) };
  }
  return badInput('workingSet.pages must be a Uint32Array (or an array) of page numbers.', where);
}

/**
 * Serves `snapshot`'s pages on UDP, authenticated with its key. `options` is the bind address
 * ('a.b.c.d:port'; port 0 = any) or MemserverOptions (mode, multicast group and interface, datagram size).
 */
export function startMemserver(snapshot: VmSnapshot, options: string | MemserverOptions): Memserver {
  const { handle } = checkLiveSnapshot('startMemserver', snapshot);
  const checked = checkMemserverOptions(options);
  try {
    return new Memserver(loadAddon().startMemserver(handle, checked));
  } catch (error) {
    throw new VmError('BAD_INPUT', messageOf(error));
  }
}

const remoteKeys = [
  'requestsSent',
  'pagesRequested',
  'sendErrors',
  'mirrorHits',
  'mirrorMisses',
  'datagramsReceived',
  'groupDatagrams',
  'bytesReceived',
  'groupBytesReceived',
  'pagesInstalled',
  'zeroPagesInstalled',
  'duplicates',
  'outOfRange',
  'dropped',
  'timeouts',
  'testDrops',
  'receiveRate',
  'diskRequestsSent',
  'diskBlocksInstalled',
  'diskTimeouts',
] as const;

/** This host's shared remote source for snapshot `snapshotId` (16 hex digits), or null if none lives. */
export function remoteSourceStats(snapshotId: string): RemoteSourceStats | null {
  const value = loadAddon().remoteSourceStats(snapshotId);
  if (value === null) return null;
  return readCounters(value, remoteKeys, (k, v) => malformedAnswer(`remote source stat ${k}`, v));
}
