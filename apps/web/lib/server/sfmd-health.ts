// Asks the master daemon (sfmd) for its /healthz and turns every outcome into a value the page can
// render: the dashboard must still load, and say why, when sfmd is down or slow.
import { messageOf } from '@snowflock/daemon/errors';
import { snowflockPaths } from '@snowflock/daemon/paths';
import { type SfmdTrust, sfmdTransport } from '@snowflock/daemon/pinned-tls';
import { resolveTrust } from '@snowflock/daemon/sfmd-trust';

export const DEFAULT_SFMD_URL = 'https://127.0.0.1:61708';
const TIMEOUT_MS = 1500;

export type SfmdHealth =
  | { state: 'online'; url: string; version: string; hostsOnline: number; hostsTotal: number }
  | { state: 'unhealthy'; url: string; reason: string }
  | { state: 'unreachable'; url: string; reason: string };

/** Read at request time (the page is dynamic), so `next start` picks up the variable without a rebuild. */
export function sfmdUrl(): string {
  return (process.env.SNOWFLOCK_SFMD_URL || DEFAULT_SFMD_URL).replace(/\/+$/, '');
}

/**
 * The fingerprint of sfmd's certificate the dashboard pins, read at each use like the CLI reads it:
 * $SNOWFLOCK_FINGERPRINT, else the data directory's (`sf web` passes SNOWFLOCK_HOME) sfld.cfg or sfmd.fingerprint.
 */
export function sfmdTrust(): SfmdTrust {
  return resolveTrust(snowflockPaths(), null);
}

export async function fetchSfmdHealth(url: string = sfmdUrl()): Promise<SfmdHealth> {
  let res: Response;
  try {
    const send = url.startsWith('https:') ? sfmdTransport(url, sfmdTrust()).fetch : fetch;
    res = await send(`${url}/healthz`, { cache: 'no-store', signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    return { state: 'unreachable', url, reason: describeFetchError(err) };
  }
  let body: unknown;
  try {
    body = await res.json();
  } catch {
    return { state: 'unhealthy', url, reason: `HTTP ${res.status} with a body that is not JSON` };
  }
  if (isHealthy(body)) {
    return { state: 'online', url, version: body.version, hostsOnline: body.hostsOnline, hostsTotal: body.hostsTotal };
  }
  const error = typeof (body as { error?: unknown } | null)?.error === 'string' ? (body as { error: string }).error : null;
  return { state: 'unhealthy', url, reason: error ?? `HTTP ${res.status} with an unexpected answer` };
}

function isHealthy(body: unknown): body is { ok: true; version: string; hostsOnline: number; hostsTotal: number } {
  if (typeof body !== 'object' || body === null) return false;
  const b = body as Record<string, unknown>;
  return b.ok === true && typeof b.version === 'string' && typeof b.hostsOnline === 'number' && typeof b.hostsTotal === 'number';
}

function describeFetchError(err: unknown): string {
  // A certificate that is not the pinned one: its message names both fingerprints and the fix.
  if (err instanceof Error && err.name === 'SfError') return err.message;
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within ${TIMEOUT_MS / 1000} s`;
  }
  // undici reports the socket error as the cause of a generic "fetch failed".
  const cause = err instanceof Error ? (err.cause as { code?: unknown; message?: unknown } | undefined) : undefined;
  if (cause?.code === 'ECONNREFUSED') return 'connection refused';
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return messageOf(err);
}
