// A typed tRPC client for sfmd, as the CLI (admin token), an sfld (host secret) and the dashboard's server
// (the session's admin token) use it. Errors come back as SfErrors with the server's code; an sfmd that does
// not answer is UNAVAILABLE or TIMEOUT, with advice in the words of whoever reads it.
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '../master/api/client-types.ts';
import { SfError, isErrorCode, messageOf } from './errors.ts';
import { sfmdTransport, type TrustSource } from './pinned-tls.ts';

export interface ClientOptions {
  url: string;
  token?: string | null;
  host?: { name: string; secret: string } | null;
  /** CLUSTER:VMID that guest calls act for. */
  domain?: string | null;
  /** The guest call came over the cluster network (sfld's guest API on a router): sent as x-snowflock-via. */
  viaClusterNetwork?: boolean;
  /**
   * Gives up on one HTTP request after this long, as TIMEOUT; httpTimeoutMs() by default. Waiting calls
   * (a join, a blocking ticket request) are never cut by it: waitingCall asks for an answer well before it.
   */
  timeoutMs?: number | null;
  /** Times a call refused for a moment (429 with a short retry-after) is sent again; BUSY_RETRIES by default. */
  busyRetries?: number;
  /** Sends the requests; the global fetch, looked up per request, when absent (Next.js replaces it at run time). */
  fetch?: typeof fetch;
  /** For an https URL: the fingerprint of sfmd's certificate to pin (pinned-tls.ts); absent, the system's CAs decide. */
  trust?: TrustSource | null;
}

/** What the reader of a failure is told to do; the CLI's words unless the caller has its own. */
export interface ClientAdvice {
  /** What to do when nothing answers at the URL, after "sfmd is not reachable at URL: ". */
  unreachable: string;
  /** Who asked, named when an answer is not one of sfmd's errors (e.g. a proxy's page); without it, the bare message. */
  client?: string;
}

export const CLI_ADVICE: ClientAdvice = { unreachable: "start it with 'sfmd start' (or npm start), or pass --url" };

export type SfmdClient = ReturnType<typeof createTRPCClient<AppRouter>>;

export function createSfmdClient(options: ClientOptions): SfmdClient {
  const base = options.url.replace(/\/+$/, '');
  const timeoutMs = options.timeoutMs ?? httpTimeoutMs();
  const retries = options.busyRetries ?? BUSY_RETRIES;
  const pinned = options.trust && base.startsWith('https:') ? sfmdTransport(base, options.trust).fetch : null;
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${base}/trpc`,
        headers() {
          const headers: Record<string, string> = {};
          if (options.token) headers.authorization = `Bearer ${options.token}`;
          else if (options.host) headers.authorization = `SfHost ${options.host.name}:${options.host.secret}`;
          if (options.domain) headers['x-snowflock-domain'] = options.domain;
          if (options.viaClusterNetwork) headers['x-snowflock-via'] = 'cluster-network';
          return headers;
        },
        // Never from a cache (Next.js caches server-side fetches unless told not to): every answer is the
        // system's state now. tRPC always passes a signal of its own, so the time limit joins it.
        fetch: async (input, init) => {
          const signal = timeoutMs === null ? init?.signal : withTimeout(init?.signal, timeoutMs);
          const send = () => (options.fetch ?? pinned ?? fetch)(input, { ...init, cache: 'no-store', signal });
          let res = await send();
          // A busy sfmd refuses for a moment (retry-after: 1): try again a few times before giving up.
          for (let attempt = 0; res.status === 429 && attempt < retries; attempt++) {
            const waitMs = retryAfterMs(res);
            if (waitMs === null || waitMs > MAX_BUSY_WAIT_MS) break;
            await res.body?.cancel();
            await sleep(waitMs * (0.5 + Math.random()), signal);
            res = await send();
          }
          // sfmd's 429s are JSON that tRPC reads; one that is not (a proxy's page) would fail as unparsable.
          if (res.status === 429 && !res.headers.get('content-type')?.includes('json')) throw rateLimited(res, base);
          return res;
        },
      }),
    ],
  });
}

/**
 * The longest one HTTP request to sfmd may take: SNOWFLOCK_HTTP_TIMEOUT_MS, else 300 s (what Node's fetch
 * allows for an answer's headers anyway). Tests shorten it to prove long waits outlive it.
 */
export function httpTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SNOWFLOCK_HTTP_TIMEOUT_MS;
  if (raw === undefined || raw === '') return DEFAULT_HTTP_TIMEOUT_MS;
  const ms = Number(raw);
  if (!Number.isInteger(ms) || ms < 100) {
    throw new SfError('BAD_CONFIG', `SNOWFLOCK_HTTP_TIMEOUT_MS must be whole milliseconds of at least 100, got '${raw}'`);
  }
  return ms;
}

const DEFAULT_HTTP_TIMEOUT_MS = 300_000;
/** The longest one round of a waiting call: short enough for any proxy's idle limit, long enough to be cheap. */
const MAX_POLL_MS = 60_000;

/** One round of a waiting call lasts a third of the HTTP time limit (at most a minute): its answer always comes in time. */
export function pollWindowMs(httpMs: number = httpTimeoutMs()): number {
  return Math.max(10, Math.min(MAX_POLL_MS, Math.floor(httpMs / 3)));
}

/**
 * Runs a waiting call (clone.join, a blocking ticket.request) as long as it takes, like waitpid: each round asks
 * sfmd to answer within the poll window, and a STILL_WAITING answer is asked again. With `timeoutMs` the whole
 * wait ends after that long with sfmd's own TIMEOUT or NO_RESOURCES answer.
 */
export async function waitingCall<T>(
  send: (wait: { pollMs: number; timeoutMs?: number }) => Promise<T>,
  timeoutMs?: number,
  pollMs: number = pollWindowMs(),
): Promise<T> {
  const deadline = timeoutMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + timeoutMs;
  for (;;) {
    const remaining = Math.max(0, deadline - Date.now());
    try {
      return await send(timeoutMs === undefined ? { pollMs } : { pollMs, timeoutMs: Math.round(remaining) });
    } catch (err) {
      if (!isStillWaiting(err)) throw err;
    }
  }
}

function isStillWaiting(err: unknown): boolean {
  if (err instanceof SfError) return err.code === 'STILL_WAITING';
  return err instanceof TRPCClientError && (err.data as { sfCode?: unknown } | undefined)?.sfCode === 'STILL_WAITING';
}

/** How often a call refused for a moment (a busy sfmd, a limit that refills within MAX_BUSY_WAIT_MS) is sent again by default. */
const BUSY_RETRIES = 3;
const MAX_BUSY_WAIT_MS = 2000;

/** A 429's retry-after in ms; null when absent or not whole seconds. */
function retryAfterMs(res: Response): number | null {
  const after = Number(res.headers.get('retry-after'));
  return Number.isInteger(after) && after > 0 ? after * 1000 : null;
}

/** Waits `ms`, or less if the call is aborted meanwhile (the next attempt then fails with the abort). */
function sleep(ms: number, signal: AbortSignal | null | undefined): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

function withTimeout(signal: AbortSignal | null | undefined, ms: number): AbortSignal {
  const timer = AbortSignal.timeout(ms);
  return signal ? AbortSignal.any([signal, timer]) : timer;
}

/** A 429 that is not sfmd's own answer, with its retry-after. */
function rateLimited(res: Response, url: string): SfError {
  const after = Number(res.headers.get('retry-after'));
  const when = Number.isInteger(after) && after > 0 ? `retry in ${after} s` : 'retry in a while';
  return new SfError('RATE_LIMITED', `sfmd at ${url} (or a proxy before it) refused: too many requests; ${when}`);
}

/** Turns what a tRPC call threw into an SfError that says what to do. */
export function clientError(err: unknown, url: string, advice: ClientAdvice = CLI_ADVICE): SfError {
  if (err instanceof SfError) return err;
  if (err instanceof TRPCClientError) {
    const data = err.data as { sfCode?: unknown } | undefined;
    if (data && isErrorCode(data.sfCode)) return new SfError(data.sfCode, err.message);
    if (err.cause instanceof SfError) return err.cause;
    // A 429 without sfmd's error body (a proxy's JSON): still RATE_LIMITED.
    const response = (err.meta as { response?: Response } | undefined)?.response;
    if (response?.status === 429) return rateLimited(response, url);
    const cause = err.cause as { name?: string; code?: string; cause?: { code?: string } } | undefined;
    if (cause?.name === 'TimeoutError') {
      return new SfError('TIMEOUT', `sfmd at ${url} did not answer in time: see its log ($SNOWFLOCK_HOME/logs)`);
    }
    const netCode = cause?.code ?? cause?.cause?.code;
    if (err.message.includes('fetch failed') || netCode === 'ECONNREFUSED') {
      return new SfError('UNAVAILABLE', `sfmd is not reachable at ${url}: ${advice.unreachable}`);
    }
    return new SfError(
      'INTERNAL',
      advice.client ? `sfmd answered with an error ${advice.client} does not know: ${err.message}` : err.message,
    );
  }
  return new SfError('INTERNAL', messageOf(err));
}

/** Runs one call and converts its failure. */
export async function call<T>(url: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw clientError(err, url);
  }
}
