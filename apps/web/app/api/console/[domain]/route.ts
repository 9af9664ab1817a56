// One domain's serial console as server-sent events: `replay` (the recent output sfld keeps), then
// `output` chunks as they come, both base64 (console bytes need not be UTF-8); `console:error` when
// sfmd cannot attach. Subscribes through this server's own link to sfmd's /dash hub.
import type { NextRequest } from 'next/server';
import { tryParseDomainRef } from '@snowflock/daemon/domain-ref';
import { errorResponse, tokenOf } from '../../../../lib/server/api-route.ts';
import { connectDash, describeConnectError } from '../../../../lib/server/feed.ts';
import { sseResponse } from '../../../../lib/server/sse.ts';

export const dynamic = 'force-dynamic';

const SUBSCRIBE_TIMEOUT_MS = 30_000;

export async function GET(req: NextRequest, ctx: { params: Promise<{ domain: string }> }): Promise<Response> {
  const token = tokenOf(req);
  if (!token) return errorResponse(401, 'UNAUTHORIZED', 'not signed in: sign in at /signin');
  const { domain } = await ctx.params;
  const ref = tryParseDomainRef(decodeURIComponent(domain));
  if (!ref) return errorResponse(400, 'BAD_INPUT', `'${domain}' is not a domain: name it CLUSTER:VMID, e.g. 1:0`);
  return sseResponse(req.signal, (send, close) => {
    const socket = connectDash(token);
    const mine = (c: { clusterid: number; vmid: number }) => c.clusterid === ref.clusterid && c.vmid === ref.vmid;
    socket.on('domain:console', (chunk) => {
      if (mine(chunk)) send('output', Buffer.from(chunk.data).toString('base64'));
    });
    socket.on('domain:state', (e) => {
      if (mine(e)) send('domain:state', e);
    });
    // Every (re)connection subscribes again; the replay then repaints the terminal from scratch.
    socket.on('connect', async () => {
      try {
        const result = await socket.timeout(SUBSCRIBE_TIMEOUT_MS).emitWithAck('console:subscribe', ref);
        if (result.ok) send('replay', Buffer.from(result.value.replay).toString('base64'));
        else {
          send('console:error', result.error);
          close();
        }
      } catch {
        send('console:error', {
          code: 'TIMEOUT',
          message: `sfmd did not attach the console within ${SUBSCRIBE_TIMEOUT_MS / 1000} s: is the domain's host online?`,
        });
      }
    });
    socket.on('connect_error', (err) => send('console:error', { code: 'UNAVAILABLE', message: describeConnectError(err) }));
    socket.on('disconnect', (reason) => {
      if (reason !== 'io client disconnect') send('console:error', { code: 'UNAVAILABLE', message: `lost sfmd (${reason}); reconnecting` });
    });
    return () => socket.close();
  });
}
