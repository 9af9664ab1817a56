// sfmd's tRPC API as the dashboard's server code calls it: the daemon's client carrying the session's
// token, and every failure turned into the daemon's SfError with sfmd's code and a message that says what to do.
import { clientError, createSfmdClient, type ClientAdvice, type SfmdClient } from '@snowflock/daemon/client';
import type { SfError } from '@snowflock/daemon/errors';
import { sfmdTrust, sfmdUrl } from './sfmd-health.ts';

export type { SfmdClient };

const REQUEST_TIMEOUT_MS = 60_000;

const DASHBOARD_ADVICE: ClientAdvice = { unreachable: 'start it with npm start (or sfmd start)', client: 'the dashboard' };

export function sfmdClient(token: string): SfmdClient {
  return createSfmdClient({ url: sfmdUrl(), token, timeoutMs: REQUEST_TIMEOUT_MS, trust: sfmdTrust() });
}

/** What a call to sfmd threw, as an SfError in the dashboard's words. */
export function sfmdError(err: unknown): SfError {
  return clientError(err, sfmdUrl(), DASHBOARD_ADVICE);
}

/** One call with the session's token; a failure comes back as a value, so pages can show it. */
export async function trySfmd<T>(
  token: string,
  call: (c: SfmdClient) => Promise<T>,
): Promise<{ ok: true; value: T } | { ok: false; error: SfError }> {
  try {
    return { ok: true, value: await call(sfmdClient(token)) };
  } catch (err) {
    return { ok: false, error: sfmdError(err) };
  }
}
