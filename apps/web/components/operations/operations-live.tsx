'use client';
// The operations panel: sfmd's operation log, newest first, with live progress from operation:progress
// events. Finished operations stay. A filter narrows it to one kind of operation or to failures.
import { useMemo, useRef, useState } from 'react';
import type { Operation } from '../../lib/api-types.ts';
import { applyProgress, kindLabel } from '../../lib/operations.ts';
import { useLive } from '../live-feed.tsx';
import { useResource } from '../use-resource.ts';
import { EmptyState, ErrorBanner } from '../ui.tsx';
import { OperationsTable } from './operations-table.tsx';

export function OperationsLive({ initial }: { initial: Operation[] }) {
  const { data, setData, error, refresh } = useResource<Operation[]>('/api/operations', initial);
  const [filter, setFilter] = useState('all');
  // Several events can arrive before React renders again: each builds on the list the last one made.
  const latest = useRef(data);
  latest.current = data;
  useLive('operation:progress', (event) => {
    const next = applyProgress(latest.current, event);
    latest.current = next.list;
    setData(next.list);
    // A new operation arrives without who asked for it, a finished one without its detail: the log has both.
    if (next.unknown || event.status !== 'running') refresh();
  });
  useLive('feed:status', (s) => s.state === 'live' && refresh());
  const kinds = useMemo(() => [...new Set(data.map((o) => o.kind))].sort(), [data]);
  const shown = data.filter((o) => filter === 'all' || (filter === 'failed' ? o.status === 'failed' : o.kind === filter));
  return (
    <>
      {error && <ErrorBanner title="Could not refresh the operations." message={error} />}
      <fieldset className="filters" aria-label="filter operations">
        <label className="field" style={{ width: 'min(18rem, 100%)' }}>
          <span className="field__label">Show</span>
          <select value={filter} onChange={(e) => setFilter(e.target.value)}>
            <option value="all">all operations ({data.length})</option>
            <option value="failed">failed only</option>
            {kinds.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </label>
      </fieldset>
      {shown.length === 0 ? (
        <EmptyState title={data.length === 0 ? 'No operations yet' : 'Nothing matches this filter'}>
          {data.length === 0 ? (
            <p>
              Every change — seeding a cluster, cloning, merging, a host coming online — is recorded here with who did it. Seed a cluster to
              see the first ones.
            </p>
          ) : (
            <p>Choose “all operations” to see the rest.</p>
          )}
        </EmptyState>
      ) : (
        <OperationsTable operations={shown} />
      )}
    </>
  );
}
