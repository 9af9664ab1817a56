// The operation log, newest first, for the operations panel.
import type { NextRequest } from 'next/server';
import { readRoute } from '../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

export function GET(req: NextRequest) {
  return readRoute(req, (c) => c.operations.list.query({ limit: 200 }));
}
