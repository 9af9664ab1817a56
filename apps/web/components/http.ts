// The browser's calls to this dashboard's JSON routes: one result shape for success and failure, and
// a lost session sends the page to sign in instead of showing a confusing error.
export type ApiResult<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string } };

async function call<T>(url: string, init?: RequestInit): Promise<ApiResult<T>> {
  let res: Response;
  try {
    res = await fetch(url, { cache: 'no-store', ...init });
  } catch {
    return {
      ok: false,
      error: { code: 'UNAVAILABLE', message: 'the dashboard server did not answer: is it still running? (sf web status)' },
    };
  }
  const body = (await res.json().catch(() => null)) as { error?: { code: string; message: string } } | null;
  if (res.ok && body !== null) return { ok: true, value: body as T };
  // A lost session sends the page to sign in; the sign-in call itself reports a wrong token instead.
  if (res.status === 401 && typeof window !== 'undefined' && url !== '/api/session') {
    window.location.assign(`/signin?expired=1&next=${encodeURIComponent(window.location.pathname)}`);
  }
  return { ok: false, error: body?.error ?? { code: 'INTERNAL', message: `the dashboard server answered HTTP ${res.status}` } };
}

export const getJson = <T>(url: string) => call<T>(url);

export const postJson = <T>(url: string, body: unknown) =>
  call<T>(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
