// Per-VM rate limit on seed-API hypercalls: a token bucket in front of answerGuestCall, so a guest that
// loops hypercalls reaches sfmd at most `ratePerSec` times a second once its burst is spent.
// Over the rate a call waits (its vCPU simply stays in the hypercall, nothing is dropped); only a backlog
// longer than maxDelayMs (many vCPUs calling at once, non-stop) is refused with EUNAVAIL.
import { SfStatus, type GuestReply } from '@snowflock/native';
import { DEFAULT_GUEST_CALL_RATE } from '../common/config/index.ts';
import type { Logger } from '../common/logger.ts';

export interface GuestCallLimits {
  /** Calls a second one VM may make to sfmd, sustained. */
  ratePerSec: number;
  /** Calls it may make at once after being quiet (the bucket's size). */
  burst: number;
  /** Longest a call is held back; a call that would wait longer is refused. */
  maxDelayMs: number;
}

/** Calls of one VM that may wait at once before more are refused: a single vCPU never has more than one. */
export const MAX_WAITING_CALLS = 25;

/** A VM allowed `ratePerSec` (sfld.cfg guest_call_rate): a burst of two seconds' worth, a backlog of 25 calls. */
export function guestCallLimits(ratePerSec: number): GuestCallLimits {
  return { ratePerSec, burst: 2 * ratePerSec, maxDelayMs: (MAX_WAITING_CALLS * 1000) / ratePerSec };
}

/**
 * 20/s: measured on the 2-core build machines, a guest looping ticket request/dispose unlimited gets 40-65
 * calls/s through the daemons and costs sfmd about 10 ms of CPU a call (50 % of a core at 50/s); at 20/s
 * one VM takes at most about a fifth. A master's fork cycle is four or five seed calls (request, clone,
 * join or merge, maybe info), so 20/s is still four forks a second, sustained, per VM.
 * Burst 40: two seconds' worth, so a master that lists, asks for and inspects tickets at once is not slowed.
 * Backlog 25 calls (1.25 s at 20/s): a single-vCPU guest waits 50 ms a call at the rate and is never
 * refused; refusals need most of 32 vCPUs calling non-stop at once.
 */
export const DEFAULT_GUEST_CALL_LIMITS: GuestCallLimits = guestCallLimits(DEFAULT_GUEST_CALL_RATE);

/** This host's guest calls since sfld started, over all VMs (reported with the host's metrics). */
export interface GuestCallCounts {
  /** Calls that went on to sfmd. */
  calls: number;
  /** Of those, calls held back by the limit first. */
  delayed: number;
  /** Calls refused with EUNAVAIL (never reached sfmd). */
  refused: number;
}

export const newGuestCallCounts = (): GuestCallCounts => ({ calls: 0, delayed: 0, refused: 0 });

/** What to do with one call: go after `waitMs`, or refuse it after holding it `waitMs` (so refusals do not spin). */
export type Admission = { go: boolean; waitMs: number };

/** Each kind of limiting is logged at most this often per VM: the counters carry the rest. */
const LOG_EVERY_MS = 10_000;

export class GuestCallLimit {
  /** May go below zero: calls admitted and still waiting for their token. */
  #tokens: number;
  #at: number;
  readonly #loggedAt = { delayed: Number.NEGATIVE_INFINITY, refused: Number.NEGATIVE_INFINITY };

  constructor(
    private readonly domain: string,
    private readonly counts: GuestCallCounts,
    private readonly log: Logger,
    private readonly limits: GuestCallLimits = DEFAULT_GUEST_CALL_LIMITS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.#tokens = limits.burst;
    this.#at = now();
  }

  /** Takes a token for one call (or owes one, to be repaid by waiting). */
  admit(): Admission {
    const { ratePerSec, burst, maxDelayMs } = this.limits;
    const now = this.now();
    this.#tokens = Math.min(burst, this.#tokens + ((now - this.#at) * ratePerSec) / 1000);
    this.#at = now;
    const waitMs = this.#tokens >= 1 ? 0 : ((1 - this.#tokens) * 1000) / ratePerSec;
    if (waitMs > maxDelayMs) return { go: false, waitMs: maxDelayMs };
    this.#tokens -= 1;
    return { go: true, waitMs };
  }

  /** Runs `work` (the call to sfmd) when the limit allows; a refused call is answered EUNAVAIL without it. */
  async run(work: () => Promise<GuestReply>): Promise<GuestReply> {
    const { go, waitMs } = this.admit();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    if (!go) {
      this.counts.refused++;
      this.#note('refused');
      return {
        status: -SfStatus.EUNAVAIL,
        errmsg: `UNAVAILABLE: this VM calls the seed API faster than ${this.limits.ratePerSec}/s from many vCPUs at once: call not made, slow down`,
      };
    }
    this.counts.calls++;
    if (waitMs > 0) {
      this.counts.delayed++;
      this.#note('delayed');
    }
    return work();
  }

  /** Sampled: a looping guest must not become a log flood. */
  #note(kind: 'delayed' | 'refused'): void {
    const now = this.now();
    if (now - this.#loggedAt[kind] < LOG_EVERY_MS) return;
    this.#loggedAt[kind] = now;
    const { ratePerSec, burst, maxDelayMs } = this.limits;
    this.log.warn(
      { domain: this.domain, ratePerSec, burst, maxDelayMs, hostGuestCalls: { ...this.counts } },
      kind === 'delayed'
        ? 'guest calls slowed: this VM spent its burst of seed API calls and now waits for its rate'
        : 'guest calls refused (EUNAVAIL): this VM has more calls waiting than the limit lets wait',
    );
  }
}
