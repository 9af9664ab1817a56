// Every cluster with its state and live domain count, for the cluster list.
import type { NextRequest } from 'next/server';
import { readRoute } from '../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

export function GET(req: NextRequest) {
  return readRoute(req, (c) => c.cluster.list.query());
}
