// Who may make sfmd work, and how fast: each /trpc request and socket.io handshake is given its caller
// and its rate limit before any procedure or database read. Callers with good credentials are limited per
// credential (so a flood from their address does not touch them), everyone else per address; failed
// credential checks have a strict limit of their own, past which credentials are not even checked.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIPv4, isIPv6 } from 'node:net';
import type { RateLimits } from '../common/config/index.ts';
import { formatDomainRef, tryParseDomainRef } from '../common/domain-ref.ts';
import { parseAuthorization } from './auth.ts';
import { DOMAIN_HEADER, tokenCaller } from './api/context.ts';
import type { Caller } from './api/trpc.ts';
import { HostCredentials } from './host-credentials.ts';
import { type Rate, RateLimiter, rateOf } from './rate-limits.ts';
import { TurnBudget } from './turn-budget.ts';
import type { MasterServices } from './services.ts';
import { type TokenRegistry, tokenRegistry } from './tokens.ts';

/** What a RATE_LIMITED answer says, and when to come back (the retry-after header, in whole seconds). */
export interface RateRefusal {
  message: string;
  retryAfterS: number;
}

export type Admission = { caller: Caller } | { refusal: RateRefusal };

/**
 * Procedures that wait for something else (clones to end, capacity to free up) rather than work: they do not
 * count as calls in progress, or a few waiting joins would shut their caller out.
 */
const WAITING_PROCEDURES = new Set(['clone.join', 'ticket.request']);

/** The procedures a /trpc URL names (several for a batch). */
function proceduresIn(url: string): string[] {
  const query = url.indexOf('?');
  const path = (query < 0 ? url : url.slice(0, query)).slice('/trpc/'.length);
  try {
    return decodeURIComponent(path).split(',');
  } catch {
    return [path]; // tRPC refuses it; it counts as work until then
  }
}

/** Tokens rate-limited at once, each in its own bucket (more than any site makes; the oldest idle go first). */
const MAX_TOKEN_BUCKETS = 1024;

/** All anonymous callers together may make this many times what one address may. */
export const ANONYMOUS_TOTAL_FACTOR = 10;

/**
 * The key an address is limited under. IPv6 hosts are given a /64 each (a whole /64 is one customer's,
 * and cycling through it must not buy fresh buckets); IPv4-mapped IPv6 is the IPv4 address.
 */
export function addressKey(remote: string | undefined): string {
  if (!remote) return 'unknown';
  const plain = remote.replace(/%.*$/, '');
  if (plain.startsWith('::ffff:') && isIPv4(plain.slice(7))) return plain.slice(7);
  if (!isIPv6(plain)) return plain;
  const [head = '', tail] = plain.split('::');
  const front = head ? head.split(':') : [];
  const back = tail === undefined ? [] : tail ? tail.split(':') : [];
  // An embedded IPv4 tail (a.b.c.d) fills two groups; only the first four groups matter here.
  const width = back.some((g) => g.includes('.')) ? back.length + 1 : back.length;
  const groups = tail === undefined ? front : [...front, ...Array(Math.max(0, 8 - front.length - width)).fill('0'), ...back];
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g || '0', 16).toString(16))
    .join(':')}::/64`;
}

const seconds = (ms: number) => Math.max(1, Math.ceil(ms / 1000));

function describeRate(rate: Rate, per: string): string {
  return `${rate.perSecond} a second ${per} at most, bursts of ${rate.burst}`;
}

/** One limiter per kind of caller, so one kind cycling keys cannot evict another's buckets. */
function limiter(perSecond: number | null, maxKeys?: number): RateLimiter | null {
  const rate = rateOf(perSecond);
  return rate ? new RateLimiter(rate, maxKeys) : null;
}

export class EdgeLimits {
  readonly hosts: HostCredentials;
  readonly #admin: RateLimiter | null;
  readonly #host: RateLimiter | null;
  readonly #guest: RateLimiter | null;
  readonly #anonymous: RateLimiter | null;
  readonly #anonymousTotal: RateLimiter | null;
  readonly #failedAuth: RateLimiter | null;
  readonly #handshake: RateLimiter | null;
  readonly tokens: TokenRegistry;
  /** Calls in progress per in-flight key (`token:NAME`, or an anonymous caller's address). */
  readonly #inFlight = new Map<string, number>();

  constructor(
    svc: Pick<MasterServices, 'db' | 'log'>,
    readonly settings: RateLimits,
    /** Admin and anonymous calls past a loop turn's budget are refused (hosts' never are). */
    private readonly turn: Pick<TurnBudget, 'spent' | 'elapsed' | 'budgetMs'> = new TurnBudget(),
  ) {
    this.hosts = new HostCredentials(svc);
    this.tokens = tokenRegistry(svc);
    this.#admin = limiter(settings.admin, MAX_TOKEN_BUCKETS);
    this.#host = limiter(settings.host);
    this.#guest = limiter(settings.guest);
    this.#anonymous = limiter(settings.anonymous);
    this.#anonymousTotal = limiter(settings.anonymous === null ? null : settings.anonymous * ANONYMOUS_TOTAL_FACTOR, 1);
    this.#failedAuth = limiter(settings.failedAuth);
    this.#handshake = limiter(settings.handshake);
  }

  /**
   * The caller of a /trpc request making `calls` calls (a batch is charged per call), or why it is refused.
   * Costs a hash compare for credentials and, at most once per few seconds, one read of the hosts.
   */
  async admitCall(req: IncomingMessage, res: ServerResponse, calls: number): Promise<Admission> {
    const address = addressKey(req.socket.remoteAddress);
    const credentials = parseAuthorization(req.headers.authorization);
    let reason = 'no Authorization header was sent';
    if (credentials.kind === 'bearer') {
      const locked = this.failedAuthRefusal(address);
      if (locked) return { refusal: locked };
      const check = await this.tokens.check(credentials.token);
      if ('token' in check) {
        const key = `token:${check.token.name}`;
        const what = `calls with token '${check.token.name}'`;
        const refusal =
          this.#spend(this.#admin, key, calls, { what, per: 'per credential', setting: 'admin' }) ?? this.#hold(req, res, key, what);
        return refusal ? { refusal } : { caller: tokenCaller(check.token) };
      }
      this.noteFailedAuth(address);
      reason = check.reason;
    } else if (credentials.kind === 'host') {
      const locked = this.failedAuthRefusal(address);
      if (locked) return { refusal: locked };
      try {
        const host = await this.hosts.verify(credentials.name, credentials.secret);
        if (host) return this.#admitHost(host.hostId, host.name, req, calls);
        this.noteFailedAuth(address);
        reason = `host credentials for '${credentials.name}' were rejected`;
      } catch {
        reason = `sfmd could not check the credentials of host '${credentials.name}' (its database did not answer)`;
      }
    }
    const refusal =
      this.#spend(this.#anonymous, address, calls, {
        what: `calls without credentials from ${address}`,
        per: 'per address',
        setting: 'anonymous',
        advice: ', or call with an API token or a host secret',
      }) ??
      this.#spend(this.#anonymousTotal, '*', calls, {
        what: 'calls without credentials from all addresses together',
        per: 'in all',
        setting: 'anonymous',
      }) ??
      this.#hold(req, res, address, `calls without credentials from ${address}`);
    return refusal ? { refusal } : { caller: { kind: 'anonymous', reason } };
  }

  #admitHost(hostId: string, name: string, req: IncomingMessage, calls: number): Admission {
    this.turn.spent(); // a host's call is never refused for the turn's budget, but it spends it

    // A guest's calls are limited per domain too, so one guest cannot spend its host's whole budget. Only
    // well-formed names are keys (a header of any length must not become one).
    const header = req.headers[DOMAIN_HEADER];
    const domain = typeof header === 'string' ? tryParseDomainRef(header) : null;
    const refusal =
      (domain &&
        this.#spend(this.#guest, `${name}/${formatDomainRef(domain)}`, calls, {
          what: `calls for domain ${formatDomainRef(domain)}`,
          per: 'per domain',
          setting: 'guest',
        })) ||
      this.#spend(this.#host, name, calls, { what: `calls with host ${name}'s secret`, per: 'per credential', setting: 'host' });
    return refusal ? { refusal } : { caller: { kind: 'host', hostId, name } };
  }

  /**
   * Counts the request as a call in progress under `key` until its response is done (or its connection
   * gone); refused if `in_flight` are in progress already, or if this turn of the loop has spent its budget
   * (turn-budget.ts). Waiting procedures are neither counted nor refused.
   */
  #hold(req: IncomingMessage, res: ServerResponse, key: string, what: string): RateRefusal | null {
    if (proceduresIn(req.url ?? '').every((p) => WAITING_PROCEDURES.has(p))) return null;
    if (this.turn.spent()) {
      return {
        message:
          `sfmd is busy: it has served calls for ${Math.round(this.turn.elapsed())} ms without a pause (${this.turn.budgetMs} ms ` +
          'at most, so that its health, hosts and new connections are not kept waiting): retry in 1 s',
        retryAfterS: 1,
      };
    }
    const limit = this.settings.inFlight;
    if (limit === null) return null;
    const now = this.#inFlight.get(key) ?? 0;
    if (now >= limit) {
      return {
        message:
          `too many ${what} in progress together (${limit} at most): wait for their answers, or retry in 1 s` +
          ` (the limit is rate_limits['in_flight'] in sfmd.cfg)`,
        retryAfterS: 1,
      };
    }
    this.#inFlight.set(key, now + 1);
    res.once('close', () => {
      const left = (this.#inFlight.get(key) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(key, left);
      else this.#inFlight.delete(key);
    });
    return null;
  }

  /** Refused if failed credential checks from this address are over their limit: then none is checked. */
  failedAuthRefusal(address: string): RateRefusal | null {
    const wait = this.#failedAuth?.wait(address) ?? 0;
    if (wait === 0 || !this.#failedAuth) return null;
    return {
      message:
        `too many failed credential checks from ${address} (${describeRate(this.#failedAuth.rate, 'per address')}): ` +
        `credentials from this address are not checked for ${seconds(wait)} s; then retry with the right ones` +
        ` (the limit is rate_limits['failed_auth'] in sfmd.cfg)`,
      retryAfterS: seconds(wait),
    };
  }

  noteFailedAuth(address: string): void {
    this.#failedAuth?.take(address);
  }

  /** A new socket.io connection from this address, or why not. */
  handshakeRefusal(address: string): RateRefusal | null {
    return this.#spend(this.#handshake, address, 1, {
      what: `socket.io handshakes from ${address}`,
      per: 'per address',
      setting: 'handshake',
    });
  }

  #spend(
    limiter: RateLimiter | null,
    key: string,
    cost: number,
    text: { what: string; per: string; setting: string; advice?: string },
  ): RateRefusal | null {
    const wait = limiter?.take(key, cost) ?? 0;
    if (wait === 0 || !limiter) return null;
    return {
      message:
        `too many ${text.what} (${describeRate(limiter.rate, text.per)}): retry in ${seconds(wait)} s${text.advice ?? ''}` +
        ` (the limit is rate_limits['${text.setting}'] in sfmd.cfg)`,
      retryAfterS: seconds(wait),
    };
  }
}
