// The admin session: the token lives only in an http-only, same-site cookie that page scripts cannot
// read; server code takes it from there to call sfmd. Pages without it go to the sign-in page.
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import { SESSION_COOKIE } from '../session-cookie.ts';

export { SESSION_COOKIE };

/** A browser stays signed in for half a day; sfmd's token itself does not expire. */
export const SESSION_SECONDS = 12 * 60 * 60;

export async function sessionToken(): Promise<string | null> {
  const value = (await cookies()).get(SESSION_COOKIE)?.value;
  return value && value.length > 0 ? value : null;
}

/** For pages: the token, or off to the sign-in page (which comes back here afterwards). */
export async function requireToken(from: string): Promise<string> {
  const token = await sessionToken();
  if (!token) redirect(`/signin?next=${encodeURIComponent(from)}`);
  return token;
}

export function cookieOptions(secure: boolean) {
  return { httpOnly: true, sameSite: 'strict' as const, secure, path: '/', maxAge: SESSION_SECONDS };
}
