// The session: the token (any API token: read, operate or admin) lives only in an http-only, same-site
// cookie that page scripts cannot read; server code takes it from there to call sfmd. Pages without it go
// to the sign-in page; a page asks sfmd who the token is, so a revoked one is sent to sign in at once.
import { cookies } from 'next/headers';
import { redirect } from 'next/navigation';
import type { SessionView } from '../../components/session.tsx';
import { SESSION_COOKIE } from '../session-cookie.ts';
import { trySfmd } from './sfmd.ts';

export { SESSION_COOKIE };

/** A browser stays signed in for half a day at most (the token may expire or be revoked sooner: sfmd decides). */
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

/**
 * For the signed-in shell: who the session's token is, from sfmd (whoami). A token sfmd no longer takes
 * (revoked, expired) goes to sign in; an sfmd that does not answer leaves the page read-only until it does.
 */
export async function sessionIdentity(from: string): Promise<SessionView> {
  const token = await requireToken(from);
  const who = await trySfmd(token, (c) => c.whoami.query());
  if (!who.ok) return { name: null, role: 'read' };
  if (who.value.caller !== 'token' || !who.value.role) redirect(`/signin?expired=1&next=${encodeURIComponent(from)}`);
  return { name: who.value.token, role: who.value.role };
}
