// Sign in and out. POST checks the token against sfmd (whoami) and, if sfmd takes it (any role: read,
// operate or admin), keeps it in an http-only cookie; DELETE drops the cookie. The token never goes back to the page.
import { NextResponse, type NextRequest } from 'next/server';
import { z } from 'zod';
import { errorResponse, sameOrigin, sfmdErrorResponse } from '../../../lib/server/api-route.ts';
import { cookieOptions, SESSION_COOKIE } from '../../../lib/server/session.ts';
import { sfmdClient } from '../../../lib/server/sfmd.ts';

export const dynamic = 'force-dynamic';

const body = z.object({ token: z.string().trim().min(1, 'paste your token').max(512, 'that is too long for a token') });

export async function POST(req: NextRequest): Promise<NextResponse> {
  if (!sameOrigin(req)) return errorResponse(403, 'FORBIDDEN', 'sign in from the dashboard itself');
  const parsed = body.safeParse(await req.json().catch(() => null));
  if (!parsed.success) return errorResponse(400, 'BAD_INPUT', parsed.error.issues[0]?.message ?? 'send {token}');
  const { token } = parsed.data;
  let caller: string;
  try {
    caller = (await sfmdClient(token).whoami.query()).caller;
  } catch (err) {
    return sfmdErrorResponse(err);
  }
  if (caller !== 'token') {
    return errorResponse(
      401,
      'UNAUTHORIZED',
      'sfmd does not accept this token (unknown, revoked or expired): use one from sf token create, or the admin token in $SNOWFLOCK_HOME/admin.token on the master host',
    );
  }
  const res = NextResponse.json({ ok: true });
  res.cookies.set(SESSION_COOKIE, token, cookieOptions(req.nextUrl.protocol === 'https:'));
  return res;
}

/** Whether this browser has a session cookie (the live feed asks before it retries). */
export function GET(req: NextRequest): NextResponse {
  return NextResponse.json({ signedIn: Boolean(req.cookies.get(SESSION_COOKIE)?.value) }, { headers: { 'cache-control': 'no-store' } });
}

export async function DELETE(req: NextRequest): Promise<NextResponse> {
  if (!sameOrigin(req)) return errorResponse(403, 'FORBIDDEN', 'sign out from the dashboard itself');
  const res = NextResponse.json({ ok: true });
  res.cookies.set(SESSION_COOKIE, '', { ...cookieOptions(req.nextUrl.protocol === 'https:'), maxAge: 0 });
  return res;
}
