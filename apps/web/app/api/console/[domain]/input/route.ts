// Keystrokes for a domain's serial port: the terminal posts what was typed, sfmd hands it to the
// domain's sfld (dashboard.consoleInput). Refused, with the reason, for a domain that has ended.
import type { NextRequest } from 'next/server';
import { z } from 'zod';
import { tryParseDomainRef } from '@snowflock/daemon/domain-ref';
import { errorResponse, writeRoute } from '../../../../../lib/server/api-route.ts';

export const dynamic = 'force-dynamic';

const body = z.object({ text: z.string().min(1).max(4096) });

export async function POST(req: NextRequest, ctx: { params: Promise<{ domain: string }> }) {
  const { domain } = await ctx.params;
  const ref = tryParseDomainRef(decodeURIComponent(domain));
  if (!ref) return errorResponse(400, 'BAD_INPUT', `'${domain}' is not a domain: name it CLUSTER:VMID, e.g. 1:0`);
  return writeRoute(req, body, (c, input) => c.dashboard.consoleInput.mutate({ ...ref, text: input.text }));
}
