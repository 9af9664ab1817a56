'use client';
// The sign-in form: posts the token to /api/session, which asks sfmd whether it takes the token (any
// role) and sets the session cookie; on success, on to the page that sent us here.
import { useState, type FormEvent } from 'react';
import { postJson } from '../../components/http.ts';

export function SignInForm({ next }: { next: string }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  async function submit(e: FormEvent<HTMLFormElement>) {
    e.preventDefault();
    const token = String(new FormData(e.currentTarget).get('token') ?? '');
    setBusy(true);
    setError(null);
    const result = await postJson<{ ok: true }>('/api/session', { token });
    if (result.ok) {
      window.location.assign(next);
      return;
    }
    setBusy(false);
    setError(result.error.message);
  }
  return (
    <form className="form" onSubmit={submit} noValidate>
      <label className="field">
        <span className="field__label">Token</span>
        <input
          name="token"
          type="password"
          autoComplete="current-password"
          required
          // biome-ignore lint/a11y/noAutofocus: the token is the page's only field; typing straight away is the point
          autoFocus
          spellCheck={false}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'signin-error' : undefined}
        />
      </label>
      {error && (
        <p id="signin-error" className="field__error" role="alert" data-testid="signin-error">
          {error}
        </p>
      )}
      <button type="submit" className="button button--primary" disabled={busy}>
        {busy ? 'Checking…' : 'Sign in'}
      </button>
    </form>
  );
}
