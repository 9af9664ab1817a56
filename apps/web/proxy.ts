// Nothing of the dashboard is served without a session: pages go to the sign-in page, API routes
// answer 401. This only checks that the cookie is there; sfmd judges the token on every call.
import { NextResponse, type NextRequest } from 'next/server';
import { SESSION_COOKIE } from './lib/session-cookie.ts';

const OPEN = ['/signin', '/api/session', '/api/health'];

export function proxy(req: NextRequest): NextResponse {
  const { pathname, search } = req.nextUrl;
  if (OPEN.some((p) => pathname === p || pathname.startsWith(`${p}/`))) return NextResponse.next();
  if (req.cookies.get(SESSION_COOKIE)?.value) return NextResponse.next();
  if (pathname.startsWith('/api/')) {
    return NextResponse.json(
      { error: { code: 'UNAUTHORIZED', message: 'not signed in: sign in with a token at /signin' } },
      { status: 401 },
    );
  }
  const signin = new URL('/signin', req.url);
  if (pathname !== '/') signin.searchParams.set('next', pathname + search);
  return NextResponse.redirect(signin);
}

export const config = {
  matcher: ['/((?!_next/static|_next/image|favicon.ico|icon.svg).*)'],
};
