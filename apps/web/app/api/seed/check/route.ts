// Checks the seed form as the user types, with cluster.seed's own schema (dashboard.checkSeed), so the
// messages are the API's.
import type { NextRequest } from 'next/server';
import { z } from 'zod';
import { writeRoute } from '../../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

const body = z.object({ config: z.unknown() });

export function POST(req: NextRequest) {
  return writeRoute(req, body, (c, input) => c.dashboard.checkSeed.query({ config: input.config }));
}
