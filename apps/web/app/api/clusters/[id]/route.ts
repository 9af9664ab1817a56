// One cluster's page data: domains, tickets with allocation maps, figures, operations.
import type { NextRequest } from 'next/server';
import { errorResponse, readRoute } from '../../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

export async function GET(req: NextRequest, ctx: { params: Promise<{ id: string }> }) {
  const { id } = await ctx.params;
  if (!/^\d{1,9}$/.test(id)) return errorResponse(400, 'BAD_INPUT', `'${id}' is not a cluster id: cluster ids are whole numbers`);
  return readRoute(req, (c) => c.dashboard.cluster.query({ clusterid: Number(id) }));
}
