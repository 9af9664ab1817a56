// sfmd's tRPC API as the dashboard's server code calls it: a typed client carrying the session's admin
// token, and every failure turned into an SfmdFailure with sfmd's error code and a message that says what to do.
import { createTRPCClient, httpLink, TRPCClientError } from '@trpc/client';
import type { AppRouter } from '@snowflock/daemon/api';
import { ERROR_TABLE, isErrorCode, type ErrorCode } from '@snowflock/daemon/errors';
import { sfmdUrl } from './sfmd-health.ts';

export type SfmdClient = ReturnType<typeof createTRPCClient<AppRouter>>;

export function sfmdClient(token: string): SfmdClient {
  return createTRPCClient<AppRouter>({
    links: [httpLink({
      url: `${sfmdUrl()}/trpc`,
      headers: () => ({ authorization: `Bearer ${token}` }),
      // Never cached: every answer is the system's state now.
      fetch: (input, init) => fetch(input, { ...init, cache: 'no-store', signal: init?.signal ?? AbortSignal.timeout(60_000) }),
    })],
  });
}

export class SfmdFailure extends Error {
  constructor(readonly code: ErrorCode, message: string) {
    super(message);
    this.name = 'SfmdFailure';
  }

  get status(): number {
    return ERROR_TABLE[this.code].http;
  }
}

export function toFailure(err: unknown): SfmdFailure {
  if (err instanceof SfmdFailure) return err;
  if (err instanceof TRPCClientError) {
    const code = (err.data as { sfCode?: unknown } | undefined)?.sfCode;
    if (isErrorCode(code)) return new SfmdFailure(code, err.message);
    const cause = err.cause as { name?: string; code?: string; cause?: { code?: string } } | undefined;
    const net = cause?.code ?? cause?.cause?.code;
    if (cause?.name === 'TimeoutError') return new SfmdFailure('TIMEOUT', `sfmd at ${sfmdUrl()} did not answer in time: see its log ($SNOWFLOCK_HOME/logs)`);
    if (err.message.includes('fetch failed') || net === 'ECONNREFUSED') {
      return new SfmdFailure('UNAVAILABLE', `sfmd is not reachable at ${sfmdUrl()}: start it with npm start (or sfmd start)`);
    }
    return new SfmdFailure('INTERNAL', `sfmd answered with an error the dashboard does not know: ${err.message}`);
  }
  return new SfmdFailure('INTERNAL', err instanceof Error ? err.message : String(err));
}

/** One call with the session's token; a failure comes back as a value, so pages can show it. */
export async function trySfmd<T>(token: string, call: (c: SfmdClient) => Promise<T>): Promise<{ ok: true; value: T } | { ok: false; error: SfmdFailure }> {
  try {
    return { ok: true, value: await call(sfmdClient(token)) };
  } catch (err) {
    return { ok: false, error: toFailure(err) };
  }
}
