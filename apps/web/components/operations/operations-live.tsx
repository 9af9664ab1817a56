'use client';
// An operations panel: sfmd's operation log (all clusters, or one), newest first, a page at a time with
// "older" to go further back, filtered by kind and outcome on the server, live through operation:progress.
import { useCallback, useEffect, useRef, useState, type ReactNode } from 'react';
import type { OperationPage } from '../../lib/api-types.ts';
import { applyProgress, kindLabel, mergeNewest, OPERATION_KINDS, operationsUrl, OUTCOMES } from '../../lib/operations.ts';
import { getJson } from '../http.ts';
import { useLive } from '../live-feed.tsx';
import { EmptyState, ErrorBanner } from '../ui.tsx';
import { OperationsTable } from './operations-table.tsx';

const DEBOUNCE_MS = 250;

export function OperationsLive({
  initial,
  clusterid,
  showCluster = true,
  empty,
}: {
  initial: OperationPage;
  clusterid?: number;
  showCluster?: boolean;
  /** What to say when there are none at all (not merely none matching the filters). */
  empty: { title: string; body: ReactNode };
}) {
  const [page, setPage] = useState<OperationPage>(initial);
  const [kind, setKind] = useState('');
  const [outcome, setOutcome] = useState('');
  const [olderLoaded, setOlderLoaded] = useState(false);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  // Several events can arrive before React renders again: each builds on the list the last one made.
  const latest = useRef({ page, olderLoaded });
  latest.current = { page, olderLoaded };
  const seq = useRef(0);
  // Which filters the list is for: an older page fetched for other filters is dropped.
  const filterKey = useRef('');
  filterKey.current = operationsUrl({ clusterid, kind, outcome });
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);

  /** The newest page for the current filters, over what is shown (a filter change starts again from it). */
  const fetchNewest = useCallback(
    async (fresh: boolean) => {
      const mine = ++seq.current;
      const result = await getJson<OperationPage>(operationsUrl({ clusterid, kind, outcome }));
      if (mine !== seq.current) return; // a newer request (another filter) was made meanwhile: its answer wins
      if (!result.ok) return setError(result.error.message);
      setError(null);
      if (fresh) setOlderLoaded(false);
      const { page: shown, olderLoaded: keep } = latest.current;
      setPage(mergeNewest(shown, result.value, !fresh && keep));
    },
    [clusterid, kind, outcome],
  );
  const refresh = useCallback(() => {
    clearTimeout(timer.current);
    timer.current = setTimeout(() => void fetchNewest(false), DEBOUNCE_MS);
  }, [fetchNewest]);
  // The filters changed (and once after mount, for what happened between the server render and the live feed).
  const first = useRef(true);
  useEffect(() => {
    if (first.current) {
      first.current = false;
      refresh();
    } else {
      void fetchNewest(true);
    }
    return () => clearTimeout(timer.current);
  }, [fetchNewest, refresh]);

  useLive('operation:progress', (event) => {
    const { page: shown } = latest.current;
    const next = applyProgress(shown.operations, event);
    // One shown here moves at once; a new one is fetched, as only sfmd knows whether it matches this panel.
    if (!next.unknown) setPage({ ...shown, operations: next.list });
    if (next.unknown || event.status !== 'running') refresh();
  });
  useLive('feed:status', (s) => s.state === 'live' && refresh());

  async function loadOlder() {
    if (!page.nextCursor) return;
    setLoading(true);
    const key = filterKey.current;
    const result = await getJson<OperationPage>(operationsUrl({ clusterid, kind, outcome, cursor: page.nextCursor }));
    setLoading(false);
    if (key !== filterKey.current) return; // the filters changed meanwhile: this page belongs to the old ones
    if (!result.ok) return setError(result.error.message);
    setError(null);
    setOlderLoaded(true);
    const older = result.value;
    setPage((shown) => {
      const ids = new Set(shown.operations.map((o) => o.id));
      return { operations: [...shown.operations, ...older.operations.filter((o) => !ids.has(o.id))], nextCursor: older.nextCursor };
    });
  }

  const filtered = kind !== '' || outcome !== '';
  const idPrefix = `ops${clusterid === undefined ? '' : `-${clusterid}`}`;
  return (
    <section className="ops-panel" aria-label={clusterid === undefined ? 'operations' : `operations of cluster ${clusterid}`}>
      {error && <ErrorBanner title="Could not load the operations." message={error} />}
      <fieldset className="filters">
        <legend className="visually-hidden">Filter operations</legend>
        <div className="field">
          <label className="field__label" htmlFor={`${idPrefix}-kind`}>
            Kind
          </label>
          <select id={`${idPrefix}-kind`} data-testid="ops-kind" value={kind} onChange={(e) => setKind(e.target.value)}>
            <option value="">all kinds</option>
            {OPERATION_KINDS.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </div>
        <div className="field">
          <label className="field__label" htmlFor={`${idPrefix}-outcome`}>
            Outcome
          </label>
          <select id={`${idPrefix}-outcome`} data-testid="ops-outcome" value={outcome} onChange={(e) => setOutcome(e.target.value)}>
            <option value="">any outcome</option>
            {OUTCOMES.map((o) => (
              <option key={o} value={o}>
                {o}
              </option>
            ))}
          </select>
        </div>
      </fieldset>
      {page.operations.length === 0 ? (
        <EmptyState title={filtered ? 'Nothing matches these filters' : empty.title}>
          {filtered ? <p>Choose “all kinds” and “any outcome” to see the rest.</p> : empty.body}
        </EmptyState>
      ) : (
        <>
          <OperationsTable operations={page.operations} showCluster={showCluster} />
          <div className="ops-more">
            <span className="muted small" data-testid="ops-shown" role="status">
              {page.operations.length} shown{page.nextCursor ? '' : ', all there are'}
            </span>
            {page.nextCursor && (
              <button
                type="button"
                className="button button--small"
                data-testid="ops-older"
                disabled={loading}
                onClick={() => void loadOlder()}
              >
                {loading ? 'Loading…' : 'Older operations'}
              </button>
            )}
          </div>
        </>
      )}
    </section>
  );
}
