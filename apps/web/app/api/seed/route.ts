// Seeds a new cluster from the form (cluster.seed, recorded as done by admin). Only the envelope is
// checked here: sfmd checks the config with its own schema and says, field by field, what is wrong.
import type { NextRequest } from 'next/server';
import { z } from 'zod';
import { writeRoute } from '../../../lib/server/api-route.ts';
import type { SfmdClient } from '../../../lib/server/sfmd.ts';

export const dynamic = 'force-dynamic';

type SeedConfig = Parameters<SfmdClient['cluster']['seed']['mutate']>[0]['config'];

const body = z.object({ config: z.record(z.string(), z.unknown()) });

export function POST(req: NextRequest) {
  // Passed on as it came: typing it here would only repeat the schema sfmd applies anyway.
  return writeRoute(req, body, (c, input) => c.cluster.seed.mutate({ config: input.config as SeedConfig }));
}
