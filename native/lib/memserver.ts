// The memserver from JS: serves one fork's snapshot pages over UDP to clones on other hosts (they fetch
// with VirtualMachine.createRemoteClone), by unicast or to the snapshot's multicast group (mcdist), and
// streams the snapshot's working set to clients in bulk (REAP). Boundary: types and checks; the
// protocol is C++ (src/core/memserver).
import { loadAddon } from './addon.ts';
import { VmError } from './errors.ts';
import { VmSnapshot } from './fork.ts';

/**
 * The pages clients of a snapshot asked for (and were streamed): sorted, distinct page numbers of a
 * guest RAM of `ramBytes`. Plain data: it can be kept, copied and passed to the next fork's memserver.
 */
export interface WorkingSet {
  ramBytes: number;
  pages: Uint32Array;
}

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

export interface MemserverStats {
  /** Authentic requests answered (or found already on their way: lockstep). */
  requests: number;
  /** Pages sent (data + zero). */
  pagesServed: number;
  /** Of which answered as zero (snapshot hole or all-zero page). */
  zeroPages: number;
  datagramsSent: number;
  /** UDP payload bytes. */
  bytesSent: number;
  /** Datagrams the kernel refused (the client retries). */
  sendErrors: number;
  /** Authentic requests for pages past the snapshot: dropped. */
  outOfRange: number;
  /** Malformed, foreign or forged datagrams dropped. */
  dropped: number;
  /** Of datagramsSent: to the multicast group. */
  multicastDatagrams: number;
  /** Of datagramsSent: to one requester. */
  unicastDatagrams: number;
  /** Requested pages not sent: multicast moments ago or already queued. */
  lockstepSuppressed: number;
  /** Requested pages already queued by unicast for the same requester. */
  queuedDuplicates: number;
  /** Retransmissions answered by unicast in the end game. */
  endgameUnicastPages: number;
  /** The end game has begun (most data pages multicast at least once). */
  endgame: boolean;
  /** The snapshot's data (non-hole) pages. */
  dataPages: number;
  /** Of which multicast at least once. */
  dataPagesMulticast: number;
  /** Requests that carried a receive rate. */
  rateReports: number;
  /** Weighted average of the clients' reported receive rates, bytes/s. */
  clientRate: number;
  /** The group's send pace, bytes/s (0: unpaced; always in unicast mode). */
  pace: number;
  /** Times sending paused to keep the pace. */
  pacedWaits: number;
  /** Pages queued for sending now. */
  backlogPages: number;
  /** Requests dropped because the send queue was full (clients retry). */
  backlogFull: number;
  /** Datagrams the test-only loss knob did not send. */
  testSendDrops: number;
  /** Pages in workingSet(): the seed (in range, holding data) plus the pages clients asked for. */
  workingSetPages: number;
  /** Of the workingSet option's pages, those in range and holding data. */
  workingSetSeeded: number;
  /** Pages clients asked for. */
  workingSetRecorded: number;
  /** New clients a working-set stream began for. */
  streamsStarted: number;
  /** New clients that got none (too many streams at once). */
  streamsRefused: number;
  streamsActive: number;
  /** Pages sent by working-set streams (data + zero). */
  streamedPages: number;
  streamedDatagrams: number;
  /** Working-set pages a stream left out: its client asked for them itself, or had them through the group. */
  streamSkipped: number;
}

interface NativeMemserverHandle {
  endpoint(): string;
  mode(): 'multicast' | 'unicast';
  group(): string | null;
  stats(): MemserverStats;
  workingSet(): WorkingSet;
  stop(): void;
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

  /** Stops serving: clones still missing pages time out and end as crashed with the reason. Idempotent. */
  stop(): void {
    this.#native.stop();
  }
}

function badInput(message: string): never {
  throw new VmError('BAD_INPUT', `startMemserver(): ${message}`);
}

const ipv4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

function checkEndpoint(name: string, value: unknown): string {
  const m = typeof value === 'string' ? /^([^:]+):(\d{1,5})$/.exec(value) : null;
  if (!m || !ipv4.test(m[1]!) || Number(m[2]) > 65535) badInput(`${name} must be 'a.b.c.d:port', got ${JSON.stringify(value)}.`);
  return value as string;
}

function isMulticast(address: string): boolean {
  const first = Number(address.split('.')[0]);
  return first >= 224 && first <= 239;
}

/** Checks and normalises startMemserver's options (a string is the bind address). */
export function checkMemserverOptions(options: unknown): MemserverOptions {
  const o = (typeof options === 'string' ? { bind: options } : options) as MemserverOptions;
  if (typeof o !== 'object' || o === null) badInput(`options must be 'a.b.c.d:port' or an object, got ${String(options)}.`);
  const out: MemserverOptions = { bind: checkEndpoint('bind', o.bind) };
  if (isMulticast(out.bind.split(':')[0]!)) badInput(`bind must be a unicast address of this host, got '${out.bind}'.`);
  if (o.mode !== undefined) {
    if (o.mode !== 'multicast' && o.mode !== 'unicast') badInput(`mode must be 'multicast' or 'unicast', got ${JSON.stringify(o.mode)}.`);
    out.mode = o.mode;
  }
  if (o.group !== undefined) {
    out.group = checkEndpoint('group', o.group);
    if (!isMulticast(out.group.split(':')[0]!)) badInput(`group must be a multicast address (224.0.0.0/4), got '${out.group}'.`);
  }
  if (o.interface !== undefined) {
    if (typeof o.interface !== 'string' || !ipv4.test(o.interface) || o.interface === '0.0.0.0' || isMulticast(o.interface)) {
      badInput(`interface must be a unicast IPv4 address of this host (no port), got ${JSON.stringify(o.interface)}.`);
    }
    out.interface = o.interface;
  }
  if (o.maxDatagram !== undefined) {
    if (!Number.isInteger(o.maxDatagram) || o.maxDatagram < 0 || o.maxDatagram > 65507) {
      badInput(`maxDatagram must be 0 (from the interface MTU) or a UDP payload size up to 65507, got ${String(o.maxDatagram)}.`);
    }
    out.maxDatagram = o.maxDatagram;
  }
  if (o.reap !== undefined) {
    if (typeof o.reap !== 'boolean') badInput(`reap must be a boolean, got ${String(o.reap)}.`);
    out.reap = o.reap;
  }
  if (o.workingSet !== undefined && o.workingSet !== null) out.workingSet = checkWorkingSet(o.workingSet);
  if (o.lossForTest !== undefined) {
    if (typeof o.lossForTest !== 'number' || !(o.lossForTest >= 0 && o.lossForTest <= 0.5)) {
      badInput(`lossForTest must be a fraction from 0 to 0.5, got ${String(o.lossForTest)}.`);
    }
    out.lossForTest = o.lossForTest;
  }
  return out;
}

function checkWorkingSet(ws: unknown): WorkingSet {
  const w = ws as WorkingSet;
  if (typeof w !== 'object' || w === null) badInput('workingSet must be {ramBytes, pages} (from Memserver.workingSet()).');
  if (!Number.isSafeInteger(w.ramBytes) || w.ramBytes < 0) badInput(`workingSet.ramBytes must be a byte count, got ${String(w.ramBytes)}.`);
  // Page numbers outside this snapshot (another size of VM) are clipped by the server, not refused.
  const pages: unknown = w.pages;
  if (pages instanceof Uint32Array) return { ramBytes: w.ramBytes, pages };
  if (Array.isArray(pages) && pages.every((p: unknown) => Number.isInteger(p) && (p as number) >= 0 && (p as number) <= 0xffff_ffff)) {
    return { ramBytes: w.ramBytes, pages: Uint32Array.from(pages as number[]) };
  }
  return badInput('workingSet.pages must be a Uint32Array (or an array) of page numbers.');
}

/**
 * Serves `snapshot`'s pages on UDP, authenticated with its key. `options` is the bind address
 * ('a.b.c.d:port'; port 0 = any) or MemserverOptions (mode, multicast group and interface, datagram size).
 */
export function startMemserver(snapshot: VmSnapshot, options: string | MemserverOptions): Memserver {
  if (!(snapshot instanceof VmSnapshot)) throw new VmError('BAD_INPUT', 'startMemserver() needs a VmSnapshot from fork().');
  if (snapshot.released) throw new VmError('BAD_STATE', 'startMemserver(): the snapshot was released.');
  const checked = checkMemserverOptions(options);
  const addon = loadAddon() as unknown as { startMemserver(s: unknown, options: MemserverOptions): NativeMemserverHandle };
  try {
    return new Memserver(addon.startMemserver(snapshot.handle, checked));
  } catch (error) {
    throw new VmError('BAD_INPUT', error instanceof Error ? error.message : String(error));
  }
}

/**
 * A remote clone's page source on this host (shared by every clone of the snapshot here, so the figures
 * are the host's for that snapshot, not one clone's).
 */
export interface RemoteSourceStats {
  /** Page requests sent to the memserver (retries included). */
  requestsSent: number;
  pagesRequested: number;
  sendErrors: number;
  /** Pages found in this host's mirror: no request. */
  mirrorHits: number;
  mirrorMisses: number;
  datagramsReceived: number;
  /** Of datagramsReceived: through the multicast group. */
  groupDatagrams: number;
  /** UDP payload bytes received. */
  bytesReceived: number;
  /** Of which through the multicast group. */
  groupBytesReceived: number;
  /** Data pages stored in the mirror. */
  pagesInstalled: number;
  zeroPagesInstalled: number;
  /** Valid datagrams for pages the mirror already held. */
  duplicates: number;
  outOfRange: number;
  /** Malformed, foreign or forged datagrams dropped. */
  dropped: number;
  /** Fetches that gave up. */
  timeouts: number;
  /** Datagrams the test-only loss knob discarded. */
  testDrops: number;
  /** Measured receive rate, bytes/s. */
  receiveRate: number;
}

const remoteKeys = [
  'requestsSent', 'pagesRequested', 'sendErrors', 'mirrorHits', 'mirrorMisses', 'datagramsReceived', 'groupDatagrams',
  'bytesReceived', 'groupBytesReceived', 'pagesInstalled', 'zeroPagesInstalled', 'duplicates', 'outOfRange', 'dropped',
  'timeouts', 'testDrops', 'receiveRate',
] as const satisfies readonly (keyof RemoteSourceStats)[];

/** This host's shared remote source for snapshot `snapshotId` (16 hex digits), or null if none lives. */
export function remoteSourceStats(snapshotId: string): RemoteSourceStats | null {
  const addon = loadAddon() as unknown as { remoteSourceStats(id: string): unknown };
  const value = addon.remoteSourceStats(snapshotId) as Record<string, unknown> | null;
  if (value === null) return null;
  const out = {} as RemoteSourceStats;
  for (const k of remoteKeys) {
    const v = value[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new VmError('INTERNAL', `The native addon returned a malformed remote source stat ${k} (${String(v)}).`);
    }
    out[k] = v;
  }
  return out;
}
