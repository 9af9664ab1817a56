// The dashboard's JSON routes in one shape: the session's token or 401, a same-origin check for
// changes (the cookie is same-site already; this also stops cross-site form posts on old browsers),
// input checked with zod, sfmd's errors answered with their code, HTTP status and message.
import { NextResponse, type NextRequest } from 'next/server';
import type { z } from 'zod';
import { httpStatusFor } from '@snowflock/daemon/errors';
import { SESSION_COOKIE } from './session.ts';
import { sfmdClient, sfmdError, type SfmdClient } from './sfmd.ts';

export function errorResponse(status: number, code: string, message: string): NextResponse {
  return NextResponse.json({ error: { code, message } }, { status, headers: { 'cache-control': 'no-store' } });
}

/** What a call to sfmd threw, answered with its code, HTTP status and message. */
export function sfmdErrorResponse(err: unknown): NextResponse {
  const e = sfmdError(err);
  return errorResponse(httpStatusFor(e.code), e.code, e.message);
}

export function tokenOf(req: NextRequest): string | null {
  return req.cookies.get(SESSION_COOKIE)?.value || null;
}

export function sameOrigin(req: NextRequest): boolean {
  const origin = req.headers.get('origin');
  if (!origin) return true; // same-origin fetches of old browsers and non-browser clients send none
  try {
    return new URL(origin).host === req.headers.get('host');
  } catch {
    return false;
  }
}

const NOT_SIGNED_IN = 'not signed in: sign in at /signin with a token (sf token create, or the admin token in $SNOWFLOCK_HOME/admin.token)';

/** A GET answered from sfmd. */
export async function readRoute<T>(req: NextRequest, call: (c: SfmdClient) => Promise<T>): Promise<NextResponse> {
  const token = tokenOf(req);
  if (!token) return errorResponse(401, 'UNAUTHORIZED', NOT_SIGNED_IN);
  try {
    return NextResponse.json(await call(sfmdClient(token)), { headers: { 'cache-control': 'no-store' } });
  } catch (err) {
    return sfmdErrorResponse(err);
  }
}

/** A POST whose JSON body must match `schema`, answered from sfmd. */
export async function writeRoute<S extends z.ZodType, T>(
  req: NextRequest,
  schema: S,
  call: (c: SfmdClient, input: z.infer<S>) => Promise<T>,
): Promise<NextResponse> {
  const token = tokenOf(req);
  if (!token) return errorResponse(401, 'UNAUTHORIZED', NOT_SIGNED_IN);
  if (!sameOrigin(req)) return errorResponse(403, 'FORBIDDEN', 'this request came from another site: use the dashboard itself');
  let body: unknown;
  try {
    body = await req.json();
  } catch {
    return errorResponse(400, 'BAD_INPUT', 'the request body must be JSON');
  }
  const parsed = schema.safeParse(body);
  if (!parsed.success) {
    return errorResponse(
      400,
      'BAD_INPUT',
      `invalid request: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
    );
  }
  try {
    return NextResponse.json(await call(sfmdClient(token), parsed.data), { headers: { 'cache-control': 'no-store' } });
  } catch (err) {
    return sfmdErrorResponse(err);
  }
}
