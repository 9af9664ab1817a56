// The Next server's own link to sfmd's socket.io hub (/dash), made with the session's token:
// the browser never talks to sfmd and never sees the token. One link per open page; it retries by itself.
import { io, type Socket } from 'socket.io-client';
import type { DashboardToSfmdEvents, SfmdToDashboardEvents } from '@snowflock/daemon/events';
import { sfmdSocketOptions } from '@snowflock/daemon/pinned-tls';
import { sfmdTrust, sfmdUrl } from './sfmd-health.ts';

export type DashSocket = Socket<SfmdToDashboardEvents, DashboardToSfmdEvents>;

export function connectDash(token: string): DashSocket {
  return io(`${sfmdUrl()}/dash`, {
    auth: { token },
    transports: ['websocket'],
    ...sfmdSocketOptions(sfmdUrl(), sfmdTrust()),
    forceNew: true,
    reconnectionDelay: 500,
    reconnectionDelayMax: 3000,
  });
}

/** Why the link failed, in words for the status line. */
export function describeConnectError(err: Error & { data?: { code?: unknown } }): string {
  // Over sfmd's handshake limits (rate_limits in sfmd.cfg): its message says which and when.
  if (err.data?.code === 'RATE_LIMITED') return `sfmd is refusing new links for now (${err.message}): reload the page then`;
  if (/API token/.test(err.message)) return `sfmd refused the session's token (${err.message}): sign in again`;
  return `cannot reach sfmd at ${sfmdUrl()} (${err.message}): is it running? (npm start)`;
}
