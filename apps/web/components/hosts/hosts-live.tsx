'use client';
// The Host View kept live: metrics samples extend the charts as they arrive; a host or domain changing
// state (or the feed coming back) fetches the overview again. No reload is ever needed.
import { useState } from 'react';
import type { HostMetrics, Overview } from '../../lib/api-types.ts';
import { appendSample } from '../../lib/series.ts';
import { useLive } from '../live-feed.tsx';
import { useResource } from '../use-resource.ts';
import { EmptyState, ErrorBanner } from '../ui.tsx';
import { HostCard } from './host-card.tsx';

export function HostsLive({ initial }: { initial: Overview }) {
  const { data, error, refresh } = useResource<Overview>('/api/overview', initial);
  const [history, setHistory] = useState<Record<string, HostMetrics[]>>(initial.history);
  const [now, setNow] = useState(() => Date.parse(initial.at));
  useLive('host:metrics-batch', (batch) => {
    setHistory((h) => {
      const next = { ...h };
      for (const { host, ...sample } of batch) next[host] = appendSample(next[host] ?? [], sample);
      return next;
    });
    setNow(Date.now());
  });
  useLive('host:state', () => {
    setNow(Date.now());
    refresh();
  });
  useLive('domain:state', refresh);
  useLive('feed:status', (s) => s.state === 'live' && refresh());

  const online = data.hosts.filter((h) => h.state === 'online').length;
  return (
    <>
      {error && <ErrorBanner title="Could not refresh the hosts." message={error} />}
      <p className="summary" data-testid="hosts-summary">
        {data.hosts.length === 0
          ? 'No hosts configured.'
          : `${online} of ${data.hosts.length} host(s) online · ${data.domains.length} domain(s) running · clones placed by ${placedBy(data.hosts[0]!.allocator)}`}
      </p>
      {data.hosts.length === 0 ? (
        <EmptyState title="No hosts yet">
          <p>
            List your machines in <code>cluster_hosts</code> of <code>$SNOWFLOCK_HOME/sfmd.cfg</code>, restart sfmd, and run{' '}
            <code>sfld start</code> on each. <code>npm start</code> does this for this machine.
          </p>
        </EmptyState>
      ) : (
        <div className="host-grid">
          {data.hosts.map((h) => (
            <HostCard
              key={h.name}
              host={h}
              now={now}
              samples={history[h.name] ?? []}
              domains={data.domains.filter((d) => d.host === h.name)}
            />
          ))}
        </div>
      )}
    </>
  );
}

/** Who is in charge of clone placement, as sfmd.cfg's allocator says. */
function placedBy(allocator: string): string {
  return allocator === 'slurm' ? 'Slurm' : allocator === 'sge' ? 'Grid Engine' : 'Snowflock';
}
