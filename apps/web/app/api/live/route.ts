// The live feed for open pages, as server-sent events: this server subscribes to sfmd's /dash hub
// with the session's token and forwards host metrics, host and domain states, operation progress and
// data-plane figures unchanged, plus `feed:status` when its link to sfmd goes down or comes back and
// `session:ended` when sfmd ends the feed because the token was revoked or expired.
import type { NextRequest } from 'next/server';
import { errorResponse, tokenOf } from '../../../lib/server/api-route.ts';
import { connectDash, describeConnectError } from '../../../lib/server/feed.ts';
import { sseResponse } from '../../../lib/server/sse.ts';

export const dynamic = 'force-dynamic';

const RELAYED = ['host:metrics-batch', 'host:state', 'domain:state', 'operation:progress', 'domain:figures'] as const;

export function GET(req: NextRequest): Response {
  const token = tokenOf(req);
  if (!token) return errorResponse(401, 'UNAUTHORIZED', 'not signed in: sign in at /signin');
  return sseResponse(req.signal, (send) => {
    const socket = connectDash(token);
    for (const event of RELAYED) socket.on(event, (payload: unknown) => send(event, payload));
    socket.on('connect', () => send('feed:status', { state: 'live', message: null }));
    // sfmd closes the feed of a revoked or expired token, saying why: the page signs in again.
    socket.on('session:ended', (event) => send('session:ended', event));
    socket.on('connect_error', (err) => send('feed:status', { state: 'sfmd-down', message: describeConnectError(err) }));
    socket.on('disconnect', (reason) => {
      if (reason !== 'io client disconnect') send('feed:status', { state: 'sfmd-down', message: `lost sfmd (${reason}); reconnecting` });
    });
    return () => socket.close();
  });
}
