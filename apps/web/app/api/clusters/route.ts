// Every cluster with its state and live domain count, and the live domains, for the cluster list.
import type { NextRequest } from 'next/server';
import { readRoute } from '../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

export function GET(req: NextRequest) {
  return readRoute(req, async (c) => ({ clusters: await c.cluster.list.query(), domains: await c.state.domains.query({ all: false }) }));
}
