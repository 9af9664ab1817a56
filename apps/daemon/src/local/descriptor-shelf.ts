// Descriptor hand-off between sflds (DESIGN §4.4 step 3), the master host's side: a target asks for a fork's
// hand-off key (sfmd named it, and sent the clone request with the fork) and is held until the fork is served.
// Boundary: storage and the HTTP handler; descriptor-fetch.ts is the target's side, native code says what a descriptor means.
import { timingSafeEqual } from 'node:crypto';
import type http from 'node:http';
import type { ServedFork } from '../common/wire.ts';

/** A descriptor is a few KiB (≤ 64 KiB by design); anything past this is not one. */
export const MAX_DESCRIPTOR_BYTES = 1 << 20;
/** How long a request for a key nobody announced yet waits (the fork command may arrive after the clone request). */
const EARLY_WAIT_MS = 10_000;
/** How long a fork that failed keeps answering with its reason (targets that ask later learn why). */
const REFUSAL_KEPT_MS = 60_000;
/** Requests held at once (announced or not): past this the shelf answers 503 instead of holding more. */
const MAX_WAITING = 1024;
/** How long a target waits for the hand-off: as long as sfmd waits for the fork itself. */
export const HANDOFF_TIMEOUT_MS = 30_000;
const PATH = /^\/handoffs\/([0-9a-f]{16})$/;
/** The response header with where the fork's pages are served (the body is the descriptor). */
export const SERVED_HEADER = 'x-snowflock-served';

/** Where a target sfld gets a fork's descriptor: the master host's sfld, the fork's hand-off key and its secret. */
export interface DescriptorLocation {
  host: string;
  port: number;
  key: string;
  token: string;
}

/** What a target receives: the descriptor, checked to be the served snapshot's, and where its pages are. */
export interface Handoff extends ServedFork {
  descriptor: Buffer;
}

interface Waiter {
  token: string | undefined;
  res: http.ServerResponse;
  timer: NodeJS.Timeout | null;
  /** Counted in the shelf's held requests. */
  held: boolean;
  /** Takes it off whichever list holds it (its client went away). */
  detach: () => void;
}

type Entry =
  | { state: 'expected'; token: Buffer; owner: string; waiters: Waiter[] }
  | { state: 'served'; token: Buffer; owner: string; handoff: Handoff }
  | { state: 'refused'; token: Buffer; owner: string; reason: string; timer: NodeJS.Timeout };

function reply(res: http.ServerResponse, status: number, error: string): void {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify({ ok: false, error }));
}

export class DescriptorShelf {
  readonly #entries = new Map<string, Entry>();
  /** Requests for keys not announced yet, by key. */
  readonly #early = new Map<string, Waiter[]>();
  #waiting = 0;
  readonly #earlyWaitMs: number;
  readonly #maxWaiting: number;

  constructor(limits: { earlyWaitMs?: number; maxWaiting?: number } = {}) {
    this.#earlyWaitMs = limits.earlyWaitMs ?? EARLY_WAIT_MS;
    this.#maxWaiting = limits.maxWaiting ?? MAX_WAITING;
  }

  /** The master's sfld got a fork that targets will ask for under `key`: their requests wait for offer or refuse. */
  expect(key: string, token: string, owner: string): void {
    const early = this.#early.get(key) ?? [];
    this.#early.delete(key);
    const waiters: Waiter[] = [];
    const entry: Entry = { state: 'expected', token: Buffer.from(token, 'hex'), owner, waiters };
    this.#entries.set(key, entry);
    for (const w of early) {
      if (w.timer) clearTimeout(w.timer);
      w.timer = null;
      if (!this.#admit(entry, w)) {
        this.#release(w);
        continue;
      }
      waiters.push(w);
      w.detach = () => remove(waiters, w);
    }
  }

  /** The fork is captured and served: every waiting target gets it, and so does any that asks until withdrawn. */
  offer(key: string, handoff: Handoff): void {
    const entry = this.#entries.get(key);
    if (entry?.state !== 'expected') return;
    this.#entries.set(key, { state: 'served', token: entry.token, owner: entry.owner, handoff });
    for (const w of entry.waiters) {
      send(w.res, handoff);
      this.#release(w);
    }
  }

  /** The fork failed (or was not served): targets get `reason` (HTTP 410) for a minute, then the key is forgotten. */
  refuse(key: string, reason: string): void {
    const entry = this.#entries.get(key);
    if (entry?.state !== 'expected') return;
    const timer = setTimeout(() => {
      if (this.#entries.get(key)?.state === 'refused') this.#entries.delete(key);
    }, REFUSAL_KEPT_MS);
    timer.unref();
    this.#entries.set(key, { state: 'refused', token: entry.token, owner: entry.owner, reason, timer });
    for (const w of entry.waiters) {
      reply(w.res, 410, reason);
      this.#release(w);
    }
  }

  /** Drops one snapshot's descriptor (its memserver stopped: no clone could fetch its pages). */
  withdraw(snapshotId: string): void {
    for (const [key, entry] of this.#entries) {
      if (entry.state === 'served' && entry.handoff.snapshotId === snapshotId) this.#entries.delete(key);
    }
  }

  /** Drops everything of `owner` (a master domain that ended: its memservers are gone too). */
  withdrawOwner(owner: string): void {
    for (const [key, entry] of this.#entries) {
      if (entry.owner !== owner) continue;
      if (entry.state === 'expected') this.refuse(key, `the master ${owner} ended before its fork was served`);
      const now = this.#entries.get(key);
      if (now?.state === 'refused') clearTimeout(now.timer);
      this.#entries.delete(key);
    }
  }

  /** Keys known (expected, served or refused). */
  get size(): number {
    return this.#entries.size;
  }

  /** Requests held now (for an announced fork or an unknown key). */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Answers `GET /handoffs/<key>` with `authorization: Bearer <token>`; returns false for any other path (the
   * caller answers those). Served: 200, the descriptor, where its pages are in a header. Not served yet: held
   * until it is, or until the fork fails (410 with the reason). Unknown key: held (EARLY_WAIT_MS) for sfmd's fork
   * command to announce it, then 404. Wrong or missing token: 403. Past MAX_WAITING held requests: 503.
   */
  handle(req: http.IncomingMessage, res: http.ServerResponse): boolean {
    const match = PATH.exec(req.url ?? '');
    if (!match) return false;
    if (req.method !== 'GET') {
      reply(res, 405, 'descriptors are fetched with GET');
      return true;
    }
    const key = match[1]!;
    const token = /^Bearer ([0-9a-f]{64})$/.exec(req.headers.authorization ?? '')?.[1];
    const w: Waiter = { token, res, timer: null, held: false, detach: () => {} };
    const entry = this.#entries.get(key);
    if (entry) {
      if (!this.#admit(entry, w)) return true;
      if (entry.state === 'served') send(res, entry.handoff);
      else if (entry.state === 'refused') reply(res, 410, entry.reason);
      else if (this.#hold(w)) {
        entry.waiters.push(w);
        w.detach = () => remove(entry.waiters, w);
      }
      return true;
    }
    if (!this.#hold(w)) return true;
    const early = this.#early.get(key) ?? [];
    this.#early.set(key, early);
    early.push(w);
    w.detach = () => {
      remove(early, w);
      if (early.length === 0 && this.#early.get(key) === early) this.#early.delete(key);
    };
    w.timer = setTimeout(() => {
      reply(res, 404, `no fork with hand-off ${key} reached this host within ${this.#earlyWaitMs} ms (did the fork fail?)`);
      w.detach();
      this.#release(w);
    }, this.#earlyWaitMs);
    return true;
  }

  /** Checks the token; a wrong or missing one is answered 403. */
  #admit(entry: Entry, w: Waiter): boolean {
    if (w.token && timingSafeEqual(Buffer.from(w.token, 'hex'), entry.token)) return true;
    reply(w.res, 403, 'the descriptor needs the token sfmd gave with the clone request');
    return false;
  }

  /** Counts a request as held, or answers 503 when MAX_WAITING are held already. */
  #hold(w: Waiter): boolean {
    if (this.#waiting >= this.#maxWaiting) {
      reply(w.res, 503, `${this.#maxWaiting} descriptor requests are waiting here already: try again`);
      return false;
    }
    this.#waiting++;
    w.held = true;
    // A client that gives up (its timeout, its sfld gone) frees its place.
    w.res.on('close', () => {
      w.detach();
      this.#release(w);
    });
    return true;
  }

  /** A held request was answered or went away: uncounted, once. */
  #release(w: Waiter): void {
    if (w.timer) clearTimeout(w.timer);
    w.timer = null;
    if (!w.held) return;
    w.held = false;
    this.#waiting--;
  }
}

function remove<T>(list: T[], item: T): void {
  const at = list.indexOf(item);
  if (at >= 0) list.splice(at, 1);
}

function send(res: http.ServerResponse, h: Handoff): void {
  if (res.headersSent || res.destroyed) return;
  const served: ServedFork = { snapshotId: h.snapshotId, memserverPort: h.memserverPort, group: h.group };
  res.writeHead(200, {
    'content-type': 'application/octet-stream',
    'content-length': h.descriptor.length,
    [SERVED_HEADER]: JSON.stringify(served),
  });
  res.end(h.descriptor);
}
