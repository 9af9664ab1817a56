// The operation log a page at a time, newest first, for the operations panels: all clusters or one,
// narrowed by kind and outcome (?clusterid=&kind=&outcome=&cursor=&limit=, all optional).
import type { NextRequest } from 'next/server';
import { z } from 'zod';
import { errorResponse, readRoute } from '../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

const query = z
  .object({
    clusterid: z.coerce.number().int().min(0).optional(),
    cursor: z.string().max(200).optional(),
    limit: z.coerce.number().int().min(1).max(200).optional(),
    kind: z.string().max(64).optional(),
    outcome: z.enum(['running', 'succeeded', 'failed']).optional(),
  })
  .strict();

export function GET(req: NextRequest) {
  // Empty parameters (a filter set back to "all") mean absent.
  const params = Object.fromEntries([...req.nextUrl.searchParams].filter(([, v]) => v !== ''));
  const parsed = query.safeParse(params);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'query'}: ${i.message}`).join('; ');
    return errorResponse(400, 'BAD_INPUT', `invalid operations query: ${issues}`);
  }
  return readRoute(req, (c) => c.operations.page.query(parsed.data));
}
