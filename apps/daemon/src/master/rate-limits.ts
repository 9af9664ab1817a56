// Token buckets: one per caller key (a credential, an address, a socket), refilled lazily from a monotonic
// clock when the key is next seen, O(1) per check. A limiter keeps a bounded number of keys, forgetting the
// least recently seen first, so a caller cycling through addresses or names cannot grow sfmd's memory.

/** A sustained rate and the burst above it that passes at once. */
export interface Rate {
  perSecond: number;
  burst: number;
}

/** The rate sfmd.cfg gives (per second, or null for none) with its burst of twice that. */
export const rateOf = (perSecond: number | null): Rate | null => (perSecond === null ? null : { perSecond, burst: 2 * perSecond });

export type Clock = () => number;
/** Milliseconds that never go back (the wall clock may). */
export const monotonicMs: Clock = () => performance.now();

export class TokenBucket {
  #tokens: number;
  #at: number;

  constructor(
    readonly rate: Rate,
    now: number,
  ) {
    this.#tokens = rate.burst;
    this.#at = now;
  }

  #refill(now: number): void {
    if (now > this.#at) {
      this.#tokens = Math.min(this.rate.burst, this.#tokens + ((now - this.#at) * this.rate.perSecond) / 1000);
      this.#at = now;
    }
  }

  /**
   * Takes `cost` tokens if there are that many: 0 then; otherwise nothing is taken and the answer is the
   * milliseconds until they would be there. A cost above the burst is charged as the burst (it could
   * never pass otherwise).
   */
  take(now: number, cost = 1): number {
    this.#refill(now);
    const need = Math.min(cost, this.rate.burst);
    if (this.#tokens >= need) {
      this.#tokens -= need;
      return 0;
    }
    return this.#msFor(need);
  }

  /** Like take, without taking. */
  wait(now: number, cost = 1): number {
    this.#refill(now);
    const need = Math.min(cost, this.rate.burst);
    return this.#tokens >= need ? 0 : this.#msFor(need);
  }

  /** Whole milliseconds until `need` tokens are there (the nanoseconds of float error rounded away). */
  #msFor(need: number): number {
    return Math.max(1, Math.ceil(((need - this.#tokens) * 1000) / this.rate.perSecond - 1e-6));
  }
}

/** Keys kept per limiter by default: every address of a busy network, a few MiB at most. */
export const DEFAULT_MAX_KEYS = 10_000;

export class RateLimiter {
  // A Map iterates in insertion order: re-inserting a key on every use keeps the least recent first.
  readonly #buckets = new Map<string, TokenBucket>();

  constructor(
    readonly rate: Rate,
    readonly maxKeys = DEFAULT_MAX_KEYS,
    readonly clock: Clock = monotonicMs,
  ) {}

  /** 0 if `key` may spend `cost` now (and it is spent), else the milliseconds to wait. */
  take(key: string, cost = 1): number {
    const now = this.clock();
    let bucket = this.#buckets.get(key);
    if (bucket) {
      this.#buckets.delete(key);
    } else {
      bucket = new TokenBucket(this.rate, now);
      if (this.#buckets.size >= this.maxKeys) this.#evictOldest();
    }
    this.#buckets.set(key, bucket);
    return bucket.take(now, cost);
  }

  /** The milliseconds `key` would wait for `cost`, spending nothing; a key never seen waits for nothing. */
  wait(key: string, cost = 1): number {
    return this.#buckets.get(key)?.wait(this.clock(), cost) ?? 0;
  }

  get size(): number {
    return this.#buckets.size;
  }

  /**
   * Forgets the least recently seen key. It is usually idle, its bucket full again (forgetting it loses
   * nothing); when all are busy it still goes, since memory is the bound that must hold: the key that
   * comes back starts with one burst, no more.
   */
  #evictOldest(): void {
    const oldest = this.#buckets.keys().next();
    if (!oldest.done) this.#buckets.delete(oldest.value);
  }
}
