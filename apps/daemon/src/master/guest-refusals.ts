// Refused guest calls: a guest may ask for what it may not have (a clone calling a master-only
// procedure, an unknown ticket, no room) as often as it likes. Each refusal is counted per error code
// and sampled in the log (the first per domain, then at most one per interval with the number left
// out); none is stored as an Operation row, so a looping guest cannot grow the database.
import type { ErrorCode } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

/** Codes that mean "the caller may not have this": answered, counted, never recorded as an operation. */
export const REFUSAL_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>([
  'BAD_INPUT',
  'TOO_LARGE',
  'UNAUTHORIZED',
  'FORBIDDEN',
  'NOT_MASTER',
  'NOT_CLONE',
  'NO_RESOURCES',
  'TICKET_UNKNOWN',
  'TICKET_STATE',
  'CLUSTER_UNKNOWN',
  'DOMAIN_UNKNOWN',
]);

export const isRefusal = (code: ErrorCode): boolean => REFUSAL_CODES.has(code);

/** At most one log line per domain in this time (after its first refusal). */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;
/** Domains whose sampling state is kept (oldest forgotten first): bounded like everything else. */
const MAX_SAMPLED_DOMAINS = 1024;

export interface GuestRefusalStats {
  total: number;
  byCode: Partial<Record<ErrorCode, number>>;
}

interface Sample {
  lastLoggedAt: number;
  suppressed: number;
}

export class GuestRefusals {
  #total = 0;
  readonly #byCode = new Map<ErrorCode, number>();
  readonly #samples = new Map<string, Sample>();

  constructor(
    private readonly intervalMs = REFUSAL_LOG_INTERVAL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  /** Counts one refusal of a call made for `domain` (CLUSTER:VMID as sent) and maybe logs it. */
  note(log: Logger, domain: string, procedure: string, code: ErrorCode, message: string): void {
    this.#total++;
    this.#byCode.set(code, (this.#byCode.get(code) ?? 0) + 1);
    const now = this.now();
    const sample = this.#samples.get(domain);
    if (sample && now - sample.lastLoggedAt < this.intervalMs) {
      sample.suppressed++;
      return;
    }
    const suppressed = sample?.suppressed ?? 0;
    this.#samples.delete(domain); // re-inserted last: the map stays oldest first
    this.#samples.set(domain, { lastLoggedAt: now, suppressed: 0 });
    while (this.#samples.size > MAX_SAMPLED_DOMAINS) this.#samples.delete(this.#samples.keys().next().value!);
    log.warn({ domain, procedure, code, refusedSinceLastLine: suppressed, refusedTotal: this.#total }, `guest call refused: ${message}`);
  }

  stats(): GuestRefusalStats {
    return { total: this.#total, byCode: Object.fromEntries(this.#byCode) };
  }
}
