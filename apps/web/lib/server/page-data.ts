// What a dashboard page does first: take the session's token (or go to sign in), call sfmd, and turn a
// failure into plain data the page can show. A token sfmd no longer accepts also sends people to sign in.
import { redirect } from 'next/navigation';
import { requireToken } from './session.ts';
import { trySfmd, type SfmdClient } from './sfmd.ts';

export type Loaded<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string } };

export async function loadForPage<T>(from: string, call: (c: SfmdClient) => Promise<T>): Promise<Loaded<T>> {
  const token = await requireToken(from);
  const result = await trySfmd(token, call);
  if (result.ok) return result;
  if (result.error.code === 'UNAUTHORIZED') redirect(`/signin?expired=1&next=${encodeURIComponent(from)}`);
  return { ok: false, error: { code: result.error.code, message: result.error.message } };
}
