// Heartbeats in memory, off the database: when each host was last heard, the gaps between its beats,
// and sfmd's own event-loop stalls, so that a host is judged silent only for time sfmd was awake to hear it.
import type { Logger } from '../common/logger.ts';
import type { MasterServices, Timing } from './services.ts';

/** What an operator sees of a host's heartbeats since sfmd started (admin host view). */
export interface HeartbeatFigures {
  /** When sfmd last read a beat or a registration from the host. */
  lastAt: string;
  /** Time between the last two receipts, as sfmd read them (its own stalls included). */
  lastGapMs: number | null;
  maxGapMs: number;
  beats: number;
  /** Beats read more than LATE_FACTOR heartbeat intervals after the previous receipt. */
  late: number;
  /** Of the late ones, those whose wait spanned a stall of sfmd's own event loop (sfmd was busy, not the host). */
  lateWhileSfmdStalled: number;
  /**
   * Beats the sfld itself sent late: by its own clock (sentAt, so no skew between hosts) more than LATE_FACTOR
   * intervals after its previous one (the host was busy or stalled, not sfmd).
   */
  sentLate: number;
}

/** sfmd's own event loop, as the lane saw it since sfmd started (the /healthz figures). */
export interface LoopFigures {
  loopStallMaxMs: number;
  loopStalls: number;
}

/** A host's silence as the sweeper judges it. */
export interface Silence {
  silent: boolean;
  /** Awake time counted against the host: since max(last receipt, sfmd's grace, sfmd's last resume after a stall). */
  countedMs: number;
  /** When the host was last heard (in memory, or the database's lastSeen after an sfmd restart); null if never. */
  heardAt: number | null;
}

/** A beat is late when it comes more than this many heartbeat intervals after the previous receipt. */
export const LATE_FACTOR = 1.5;
/** How often the loop monitor ticks, at most. */
const MAX_TICK_MS = 100;
/** Stalls are warned about at most this often (the warning counts those it folded in). */
const WARN_EVERY_MS = 10_000;

interface HostBeats {
  lastAt: number;
  lastGapMs: number | null;
  maxGapMs: number;
  beats: number;
  late: number;
  lateWhileSfmdStalled: number;
  sentLate: number;
  /** The previous beat's sentAt (sfld's clock); null after a registration. */
  lastSentAt: number | null;
  /** As the database has it; null until sfmd learns it (a host first heard after an sfmd restart). */
  state: 'online' | 'offline' | 'removed' | null;
  persistedAt: number;
  heardBeforeRelease: number | null;
}

export interface LaneOptions {
  timing: Pick<Timing, 'heartbeatMs' | 'offlineAfterMs'>;
  log: Logger;
  /** ms since epoch; injected by unit tests. */
  now?: () => number;
}

export class HeartbeatLane {
  readonly tickMs: number;
  /** A lag of the loop over this counts as a stall: hosts get a fresh offlineAfterMs after it. */
  readonly stallMs: number;
  readonly persistEveryMs: number;
  readonly now: () => number;
  private readonly hosts = new Map<string, HostBeats>();
  private readonly timing: LaneOptions['timing'];
  private readonly log: Logger;
  private lastObserved: number;
  private resumedAt = Number.NEGATIVE_INFINITY;
  private graceFrom = Number.NEGATIVE_INFINITY;
  private stallMax = 0;
  private stalls = 0;
  private warnedAt = Number.NEGATIVE_INFINITY;
  private unwarned = { count: 0, longestMs: 0 };
  private ticker: NodeJS.Timeout | null = null;
  private watching = false;

  constructor(options: LaneOptions) {
    this.timing = options.timing;
    this.log = options.log;
    this.now = options.now ?? Date.now;
    this.tickMs = Math.max(1, Math.min(MAX_TICK_MS, Math.floor(options.timing.heartbeatMs / 10)));
    this.stallMs = options.timing.heartbeatMs / 4;
    this.persistEveryMs = options.timing.offlineAfterMs / 3;
    this.lastObserved = this.now();
  }

  /**
   * Starts the loop monitor: a tick every tickMs (unref'd: it never keeps sfmd alive). Unit tests drive the
   * ticks themselves ('manual') with their clock. Unwatched, a gap between observations says nothing.
   */
  watchLoop(ticks: 'timer' | 'manual' = 'timer'): void {
    if (this.watching) return;
    this.watching = true;
    this.lastObserved = this.now();
    if (ticks === 'manual') return;
    this.ticker = setInterval(() => this.observeLoop(), this.tickMs);
    this.ticker.unref();
  }

  stopWatching(): void {
    if (this.ticker) clearInterval(this.ticker);
    this.ticker = null;
    this.watching = false;
  }

  /**
   * Notes how long since the loop last ran. Called by the monitor's tick, and before every judgement and
   * receipt: after a stall Node runs expired timers before it reads sockets, so the sweeper may run before
   * the monitor ticked and before the beats waiting in the kernel were read — it must see the stall itself.
   */
  observeLoop(at = this.now()): void {
    const lagMs = at - this.lastObserved - this.tickMs;
    this.lastObserved = at;
    if (!this.watching) return;
    if (lagMs > this.stallMs) {
      this.resumedAt = at;
      this.stalls++;
      this.stallMax = Math.max(this.stallMax, lagMs);
      this.unwarned.count++;
      this.unwarned.longestMs = Math.max(this.unwarned.longestMs, lagMs);
    }
    // Sampled: a stall is warned about at once, then those that follow within WARN_EVERY_MS in one line.
    if (this.unwarned.count === 0 || at - this.warnedAt < WARN_EVERY_MS) return;
    const { count, longestMs } = this.unwarned;
    this.warnedAt = at;
    this.unwarned = { count: 0, longestMs: 0 };
    this.log.warn(
      { stalls: count, longestMs: Math.round(longestMs) },
      `sfmd's event loop stalled ${count === 1 ? '' : `${count} times, longest `}${Math.round(longestMs)} ms: ` +
        `no host is judged silent for it (each got a fresh ${this.timing.offlineAfterMs} ms to beat); ` +
        'a long API call or a flood of them is the usual cause',
    );
  }

  /**
   * Records a beat the moment it is read. Returns when, when the host was heard before (null if never since
   * sfmd started), its state as the lane knows it, and whether lastSeen is due to be written to the database.
   */
  beat(name: string, sentAt?: number): { at: number; previousAt: number | null; state: HostBeats['state']; persist: boolean } {
    const at = this.now();
    this.observeLoop(at);
    const host = this.hosts.get(name);
    if (!host) {
      this.hosts.set(name, {
        lastAt: at,
        lastGapMs: null,
        maxGapMs: 0,
        beats: 1,
        late: 0,
        lateWhileSfmdStalled: 0,
        sentLate: 0,
        lastSentAt: sentAt ?? null,
        state: null,
        persistedAt: at,
        heardBeforeRelease: null,
      });
      return { at, previousAt: null, state: null, persist: true };
    }
    const previousAt = host.lastAt;
    const gap = at - previousAt;
    host.lastAt = at;
    host.lastGapMs = gap;
    host.maxGapMs = Math.max(host.maxGapMs, gap);
    host.beats++;
    if (gap > LATE_FACTOR * this.timing.heartbeatMs) {
      host.late++;
      if (this.resumedAt > previousAt) host.lateWhileSfmdStalled++;
    }
    if (sentAt !== undefined && host.lastSentAt !== null && sentAt - host.lastSentAt > LATE_FACTOR * this.timing.heartbeatMs) {
      host.sentLate++;
    }
    host.lastSentAt = sentAt ?? null;
    const persist = at - host.persistedAt >= this.persistEveryMs;
    if (persist) host.persistedAt = at;
    return { at, previousAt, state: host.state, persist };
  }

  /** A registration is a receipt too (the next beat's gap is measured from it) and makes the host online. */
  registered(name: string, at = this.now()): void {
    const host = this.hosts.get(name);
    if (host) Object.assign(host, { lastAt: at, lastSentAt: null, state: 'online', persistedAt: at, heardBeforeRelease: null });
    else
      this.hosts.set(name, {
        lastAt: at,
        lastGapMs: null,
        maxGapMs: 0,
        beats: 0,
        late: 0,
        lateWhileSfmdStalled: 0,
        sentLate: 0,
        lastSentAt: null,
        state: 'online',
        persistedAt: at,
        heardBeforeRelease: null,
      });
  }

  /** The host's state as the database has it (learnt when a beat's write found it so, e.g. after an sfmd restart). */
  known(name: string, state: 'online' | 'offline'): void {
    const host = this.hosts.get(name);
    if (host) host.state = state;
  }

  /** sfmd took the host out of service: its beats are evidence now, measured from the last one before. */
  released(name: string, state: 'offline' | 'removed'): void {
    const host = this.hosts.get(name);
    if (!host) return;
    host.state = state;
    host.heardBeforeRelease = host.lastAt;
  }

  /** When sfmd last heard the host before it declared it offline (null if not since sfmd started). */
  heardBeforeRelease(name: string): number | null {
    return this.hosts.get(name)?.heardBeforeRelease ?? null;
  }

  /** After an sfmd (re)start every host online in the record gets a full offlineAfterMs from `at`. */
  grace(at = this.now()): void {
    this.graceFrom = at;
  }

  /**
   * Judges a host online in the record: silent when the awake time since it was last heard (in memory, or
   * `lastSeen` from the database when sfmd has not heard it since it started) is over offlineAfterMs.
   * Time before sfmd's last resume from a stall, or before its start-up grace, does not count.
   */
  silence(name: string, lastSeen: Date | null, at = this.now()): Silence {
    this.observeLoop(at);
    const heardAt = this.hosts.get(name)?.lastAt ?? lastSeen?.getTime() ?? null;
    const from = Math.max(heardAt ?? Number.NEGATIVE_INFINITY, this.resumedAt, this.graceFrom);
    const countedMs = at - from;
    return { silent: countedMs > this.timing.offlineAfterMs, countedMs, heardAt };
  }

  lastAt(name: string): number | null {
    return this.hosts.get(name)?.lastAt ?? null;
  }

  figures(name: string): HeartbeatFigures | null {
    const host = this.hosts.get(name);
    if (!host) return null;
    return {
      lastAt: new Date(host.lastAt).toISOString(),
      lastGapMs: host.lastGapMs,
      maxGapMs: host.maxGapMs,
      beats: host.beats,
      late: host.late,
      lateWhileSfmdStalled: host.lateWhileSfmdStalled,
      sentLate: host.sentLate,
    };
  }

  loop(): LoopFigures {
    return { loopStallMaxMs: Math.round(this.stallMax), loopStalls: this.stalls };
  }
}

const lanes = new WeakMap<MasterServices, HeartbeatLane>();

/** The lane of this sfmd (one per services object; made on first use). */
export function heartbeatLane(svc: MasterServices): HeartbeatLane {
  let lane = lanes.get(svc);
  if (!lane) {
    lane = new HeartbeatLane({ timing: svc.timing, log: svc.log });
    lanes.set(svc, lane);
  }
  return lane;
}
