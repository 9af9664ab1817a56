// Seeds a new cluster from the form (cluster.seed, recorded as done by admin). sfmd checks the config
// with its schema again: this route only passes it on.
import type { NextRequest } from 'next/server';
import { z } from 'zod';
import { writeRoute } from '../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

// The shape is sfmd's to judge (and it answers field by field); here it only has to be an object.
const body = z.object({ config: z.record(z.string(), z.unknown()) });

export function POST(req: NextRequest) {
  // The config's shape was not checked here on purpose: sfmd's schema does it and says what is wrong.
  return writeRoute(req, body, (c, input) => c.cluster.seed.mutate({ config: input.config as never }));
}
