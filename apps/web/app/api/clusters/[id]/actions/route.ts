// The Cluster View's actions: merge a ticket's clones (or all), kill a clone, shut the cluster down.
// Each answers with one result per domain, so a partial success shows as such.
import type { NextRequest } from 'next/server';
import { z } from 'zod';
import { errorResponse, writeRoute } from '../../../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

const action = z.discriminatedUnion('action', [
  z.object({ action: z.literal('merge'), ticket: z.string().uuid().nullable() }),
  z.object({ action: z.literal('kill'), vmid: z.number().int().min(1) }),
  // force: stop clones and end tickets too (sfmd refuses a plain shutdown while any are out).
  z.object({ action: z.literal('shutdown'), force: z.boolean().default(false) }),
]);

export async function POST(req: NextRequest, ctx: { params: Promise<{ id: string }> }) {
  const { id } = await ctx.params;
  if (!/^\d{1,9}$/.test(id)) return errorResponse(400, 'BAD_INPUT', `'${id}' is not a cluster id: cluster ids are whole numbers`);
  const clusterid = Number(id);
  return writeRoute(req, action, (c, input) => {
    switch (input.action) {
      case 'merge':
        return c.dashboard.merge.mutate({ clusterid, ticket: input.ticket });
      case 'kill':
        return c.dashboard.kill.mutate({ clusterid, vmid: input.vmid });
      case 'shutdown':
        return c.dashboard.shutdown.mutate({ clusterid, force: input.force });
    }
  });
}
