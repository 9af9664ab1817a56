// The example guests and the hosts' free capacity, for the seed form after a change elsewhere.
import type { NextRequest } from 'next/server';
import { readRoute } from '../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

export function GET(req: NextRequest) {
  return readRoute(req, async (c) => ({ guests: await c.dashboard.guests.query(), hosts: await c.state.hosts.query() }));
}
