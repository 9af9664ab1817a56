'use client';
// Every cluster at a glance: running ones as cards (name, state, its live master and clones with their
// hosts), ended ones folded away below. Seeding, cloning and shutdowns show up here without a reload.
import Link from 'next/link';
import type { ClusterSummary, DomainRow } from '../../lib/api-types.ts';
import { Time } from '../time-zone.tsx';
import { useLive } from '../live-feed.tsx';
import { useResource } from '../use-resource.ts';
import { EmptyState, ErrorBanner, StateBadge } from '../ui.tsx';

interface ClusterListData {
  clusters: ClusterSummary[];
  domains: DomainRow[];
}

export function ClusterList({ initial }: { initial: ClusterListData }) {
  const {
    data: { clusters: data, domains },
    error,
    refresh,
  } = useResource<ClusterListData>('/api/clusters', initial);
  useLive('domain:state', refresh);
  useLive('feed:status', (s) => s.state === 'live' && refresh());
  const running = data.filter((c) => c.state === 'running').reverse();
  const ended = data.filter((c) => c.state !== 'running').reverse();
  return (
    <>
      {error && <ErrorBanner title="Could not refresh the clusters." message={error} />}
      {running.length === 0 ? (
        <EmptyState title="No cluster is running">
          <p>
            Seed one: pick an example guest on the <Link href="/seed">Seed</Link> page (or run{' '}
            <code>npx sfseed native/guest/examples/hello/hello.cfg</code>). Guests started with <code>clones=N</code> clone themselves and
            show up here as a tree.
          </p>
        </EmptyState>
      ) : (
        <div className="cluster-list" data-testid="cluster-list">
          {running.map((c) => (
            <ClusterCard key={c.clusterid} cluster={c} domains={domains.filter((d) => d.clusterid === c.clusterid)} />
          ))}
        </div>
      )}
      {ended.length > 0 && (
        <details className="ended-clusters">
          <summary>{ended.length} ended cluster(s)</summary>
          <div className="cluster-list">
            {ended.map((c) => (
              <ClusterCard key={c.clusterid} cluster={c} domains={[]} />
            ))}
          </div>
        </details>
      )}
    </>
  );
}

function ClusterCard({ cluster: c, domains }: { cluster: ClusterSummary; domains: DomainRow[] }) {
  const master = domains.find((d) => d.vmid === 0);
  const clones = domains.filter((d) => d.vmid !== 0);
  return (
    <Link
      href={`/clusters/${c.clusterid}`}
      className={`card cluster-card${c.state === 'running' ? '' : ' cluster-card--ended'}`}
      data-testid={`cluster-card-${c.clusterid}`}
    >
      <div className="cluster-card__head">
        <h2>
          Cluster {c.clusterid}
          {c.name ? ` · ${c.name}` : ''}
        </h2>
        <StateBadge state={c.state} />
      </div>
      <div className="cluster-card__meta">
        <span>{c.liveDomains} live domain(s)</span>
        <span>
          <Time iso={c.createdAt} prefix="seeded " />
        </span>
        {c.endedAt && (
          <span>
            <Time iso={c.endedAt} prefix="ended " />
          </span>
        )}
      </div>
      {master && (
        <ul className="mini-tree" aria-label="live domains">
          <li>
            <span className="chip__id">⌂ {master.domain}</span> on {master.host} <StateBadge state={master.state} />
          </li>
          {clones.length > 0 && (
            <li className="mini-tree__clones">
              {clones.map((d) => (
                <span key={d.domain} className="chip">
                  <span className="chip__id">{d.vmid}</span> {d.host} <StateBadge state={d.state} />
                </span>
              ))}
            </li>
          )}
        </ul>
      )}
    </Link>
  );
}
