// sfmd.cfg's `rate_limits`: how many calls (or socket events) per second each kind of caller may make, and
// how many calls at once, before sfmd answers RATE_LIMITED; bursts of twice a rate pass. None turns one off.
import { integer, nullable, optional, record, type Settings } from './schema.ts';

export interface RateLimits {
  /** tRPC calls per second with one API token (the CLI, the dashboard, scripts); each token has its own. */
  admin: number | null;
  /** tRPC calls per second with one host's secret (its sfld and the guest calls it relays). */
  host: number | null;
  /** tRPC calls per second an sfld makes for one of its domains (one guest). */
  guest: number | null;
  /** tRPC calls per second from one address without credentials (and with rejected ones). */
  anonymous: number | null;
  /** Failed credential checks per second from one address, HTTP and socket.io together. */
  failedAuth: number | null;
  /** New socket.io connections per second from one address. */
  handshake: number | null;
  /** Events per second on one sfld's socket (heartbeats, state reports and its own registration are never dropped). */
  hostEvents: number | null;
  /** Events per second on one dashboard socket (console subscriptions and input). */
  dashEvents: number | null;
  /**
   * Calls in progress at once with one API token, or from one address without credentials (waits such as
   * join and blocking ticket requests excepted). What keeps each turn of sfmd's event loop short: a rate alone
   * lets hundreds of calls be under way together, each turn then serves a step of every one, and sfmd's
   * answers to everyone else (its health, new connections) wait seconds behind them.
   */
  inFlight: number | null;
}

/**
 * Admin and host credentials get room for benchmarks' 1000 reads/s and a 32-clone fork's guest calls; one
 * address without credentials gets what a health probe or a curious client needs, not what it takes to
 * keep sfmd busy; wrong credentials get little (a real client has them right the first time).
 */
export const DEFAULT_RATE_LIMITS: RateLimits = {
  admin: 2000,
  host: 2000,
  guest: 500,
  anonymous: 100,
  failedAuth: 20,
  handshake: 50,
  hostEvents: 2000,
  dashEvents: 100,
  inFlight: 32,
};

const perSecond = nullable(integer({ min: 1, max: 1_000_000_000, what: 'a number per second (a positive integer) or None for no limit' }));
const d = DEFAULT_RATE_LIMITS;
const RATE_LIMIT_FIELDS = {
  admin: optional(perSecond, d.admin),
  host: optional(perSecond, d.host),
  guest: optional(perSecond, d.guest),
  anonymous: optional(perSecond, d.anonymous),
  failed_auth: optional(perSecond, d.failedAuth),
  handshake: optional(perSecond, d.handshake),
  host_events: optional(perSecond, d.hostEvents),
  dash_events: optional(perSecond, d.dashEvents),
  in_flight: optional(
    nullable(integer({ min: 1, max: 1_000_000, what: 'a number of calls in progress at once (a positive integer) or None for no limit' })),
    d.inFlight,
  ),
};

const checkRateLimits = record(RATE_LIMIT_FIELDS, "a dict of limits per second, e.g. {'anonymous': 100, 'admin': 2000}");

function fromSettings(s: Settings<typeof RATE_LIMIT_FIELDS>): RateLimits {
  return {
    admin: s.admin,
    host: s.host,
    guest: s.guest,
    anonymous: s.anonymous,
    failedAuth: s.failed_auth,
    handshake: s.handshake,
    hostEvents: s.host_events,
    dashEvents: s.dash_events,
    inFlight: s.in_flight,
  };
}

/** The sfmd.cfg field: an optional dict whose missing keys keep their defaults. */
export const rateLimitsField = optional<RateLimits>((value, at) => fromSettings(checkRateLimits(value, at)), { ...DEFAULT_RATE_LIMITS });
