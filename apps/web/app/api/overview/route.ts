// The Host View's data, fetched again when a host or domain changes state.
import type { NextRequest } from 'next/server';
import { readRoute } from '../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

export function GET(req: NextRequest) {
  return readRoute(req, (c) => c.dashboard.overview.query());
}
