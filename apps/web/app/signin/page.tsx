// Sign in: which tokens work and where the admin one is, whether sfmd answers, and the form. Nothing else of the
// dashboard is visible from here.
import type { Metadata } from 'next';
import { fetchSfmdHealth } from '../../lib/server/sfmd-health.ts';
import { SignInForm } from './signin-form.tsx';

export const dynamic = 'force-dynamic';
export const metadata: Metadata = { title: 'Sign in — SFDashBoard' };

/** Only a path on this site may follow sign-in (no open redirect to another site). */
function safeNext(next: string | string[] | undefined): string {
  return typeof next === 'string' && /^\/(?!\/)[\w\-./:?=&%]*$/.test(next) ? next : '/hosts';
}

export default async function SignInPage({ searchParams }: { searchParams: Promise<Record<string, string | string[] | undefined>> }) {
  const params = await searchParams;
  const health = await fetchSfmdHealth();
  return (
    <main className="signin">
      <div className="signin__card card">
        <h1 className="signin__brand">
          <span aria-hidden="true">❄</span> SFDashBoard
        </h1>
        <p className="muted">The Snowflock dashboard: hosts, impromptu clusters and their clones.</p>
        {params.expired && (
          <div className="banner banner--warn" role="status">
            Your session ended or sfmd no longer accepts the token: sign in again.
          </div>
        )}
        <p className={`sfmd-line sfmd-line--${health.state}`} data-testid="sfmd-status" data-state={health.state}>
          <span className="feed__dot" aria-hidden="true" />
          <span>
            {health.state === 'online' && (
              <>
                sfmd {health.version} is online at <code>{health.url}</code> · {health.hostsOnline} of {health.hostsTotal} hosts online
              </>
            )}
            {health.state === 'unhealthy' && (
              <>
                sfmd at <code>{health.url}</code> is not healthy ({health.reason}): see its log
              </>
            )}
            {health.state === 'unreachable' && (
              <>
                sfmd is unreachable at <code>{health.url}</code> ({health.reason}): start it with <code>npm start</code>
              </>
            )}
          </span>
        </p>
        <SignInForm next={safeNext(params.next)} />
        <p className="muted small">
          Any token works: a read token shows the dashboard read-only, operate and admin tokens may seed, merge, kill and shut down. Make
          one with <code>sf token create NAME --role operate</code>; the admin token is in <code>$SNOWFLOCK_HOME/admin.token</code> on the
          master host (default <code>~/.snowflock/admin.token</code>); <code>npm start</code> prints where. It is kept in an http-only
          cookie, never shown to page scripts.
        </p>
      </div>
    </main>
  );
}
