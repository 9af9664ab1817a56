// SFDashBoard placeholder: says what is coming and shows whether the master daemon answers. Rendered
// on every request (no caching) so a reload always reflects sfmd's current state.
import { fetchSfmdHealth, type SfmdHealth } from './sfmd-health';

export const dynamic = 'force-dynamic';

export default async function HomePage() {
  const health = await fetchSfmdHealth();
  const checkedAt = new Date().toISOString().slice(11, 19);
  return (
    <main className="shell">
      <header className="masthead">
        <span className="mark" aria-hidden="true">❄</span>
        <h1>SFDashBoard — Snowflock</h1>
      </header>
      <p className="lede">
        This is a placeholder. The Host View, Cluster View, seed form, live metrics and consoles arrive in the next
        issues.
      </p>
      <section className={`card card--${health.state}`} aria-labelledby="sfmd-card-title">
        <h2 id="sfmd-card-title">Master daemon</h2>
        <p className="status" data-testid="sfmd-status" data-state={health.state}>
          <span className="dot" aria-hidden="true" />
          <StatusText health={health} />
        </p>
        <p className="meta">
          {health.state !== 'online' && <>Reason: {health.reason} · </>}
          Checked at {checkedAt} UTC · <a href="/">Refresh</a>
        </p>
      </section>
    </main>
  );
}

function StatusText({ health }: { health: SfmdHealth }) {
  switch (health.state) {
    case 'online':
      return (
        <span>
          sfmd: online (version {health.version}, {health.hostsOnline} of {health.hostsTotal} hosts online)
        </span>
      );
    case 'unhealthy':
      return (
        <span>
          sfmd: not healthy at <code>{health.url}</code> — see its log
        </span>
      );
    case 'unreachable':
      return (
        <span>
          sfmd: unreachable at <code>{health.url}</code> — start it with <code>npm start</code>
        </span>
      );
  }
}
