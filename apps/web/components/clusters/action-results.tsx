// What an action did, domain by domain: a tick or a cross per domain with the reason, and a summary
// line. A partial success (some hosts did not answer) is shown as exactly that.
import type { ActionOutcome } from '../../lib/api-types.ts';

export interface ActionReport {
  title: string;
  outcome: ActionOutcome | null;
  error: { code: string; message: string } | null;
}

export function ActionResults({ report, onClose }: { report: ActionReport; onClose(): void }) {
  const { outcome, error } = report;
  const failed = outcome?.results.filter((r) => !r.ok).length ?? 0;
  const tone = error ? 'error' : failed > 0 ? 'warn' : 'ok';
  return (
    <section
      className={`banner banner--${tone} results`}
      role="status"
      aria-live="polite"
      data-testid="action-results"
      data-outcome={error ? 'failed' : failed > 0 ? 'partial' : 'ok'}
    >
      <div className="results__head">
        <strong>
          {report.title}: {error ? 'failed' : failed > 0 ? 'partly done' : 'done'}
        </strong>
        <button type="button" className="button button--small" onClick={onClose}>
          Dismiss
        </button>
      </div>
      {error && (
        <p style={{ margin: 0 }}>
          {error.code}: {error.message}
        </p>
      )}
      {outcome && <p style={{ margin: 0 }}>{outcome.summary}.</p>}
      {outcome && outcome.results.length > 0 && (
        <ul>
          {outcome.results.map((r) => (
            <li key={`${r.vmid}-${r.host}`} className={`result result--${r.ok ? 'ok' : 'fail'}`} data-testid={`result-${r.vmid}`}>
              <span className="result__mark" aria-hidden="true">
                {r.ok ? '✓' : '✗'}
              </span>
              <span>
                <b className="mono">vmid {r.vmid}</b> on {r.host}: {r.ok ? `${r.state}` : r.error}
              </span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
