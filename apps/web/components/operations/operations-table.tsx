'use client';
// Operations as a table: when, what, on what, who asked, status (with progress while running), how
// long, and why it failed. A row opens to show the recorded detail (e.g. per-clone results).
import Link from 'next/link';
import { Fragment, useState } from 'react';
import type { Operation } from '../../lib/api-types.ts';
import { formatDuration } from '../../lib/format.ts';
import { clusterOf, kindLabel, requesterLabel, targetLabel } from '../../lib/operations.ts';
import { Time } from '../time-zone.tsx';
import { StateBadge } from '../ui.tsx';

export function OperationsTable({ operations, showCluster = true }: { operations: Operation[]; showCluster?: boolean }) {
  const [open, setOpen] = useState<string | null>(null);
  return (
    <div className="table-wrap">
      <table className="table ops-table" data-testid="operations-table">
        <thead>
          <tr>
            <th>started</th>
            <th>operation</th>
            <th>target</th>
            <th>by</th>
            <th>status</th>
            <th>took</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {operations.map((op) => {
            const cluster = showCluster ? clusterOf(op) : null;
            const took = op.finishedAt ? Date.parse(op.finishedAt) - Date.parse(op.startedAt) : null;
            const hasDetail = Object.keys(op.detail).length > 0;
            return (
              <Fragment key={op.id}>
                <tr data-testid={`op-${op.id}`} data-kind={op.kind} data-status={op.status} data-requester={op.requester}>
                  <td className="ops-when">
                    <Time iso={op.startedAt} />
                  </td>
                  <td>
                    <span className="ops-kind">{kindLabel(op.kind)}</span>
                  </td>
                  <td className="ops-target">
                    {cluster !== null ? <Link href={`/clusters/${cluster}`}>{targetLabel(op.target)}</Link> : targetLabel(op.target)}
                  </td>
                  <td>{requesterLabel(op.requester)}</td>
                  <td>
                    <StateBadge state={op.status} />
                    {op.status === 'running' && (
                      <span className="progress" title={`${Math.round(op.progress * 100)} %`}>
                        <span style={{ width: `${Math.round(op.progress * 100)}%` }} />
                      </span>
                    )}
                    {op.error && <div className="ops-error">{op.error}</div>}
                  </td>
                  <td className="ops-when">{took === null ? '…' : formatDuration(took)}</td>
                  <td>
                    {hasDetail && (
                      <button
                        type="button"
                        className="button button--small"
                        aria-expanded={open === op.id}
                        onClick={() => setOpen(open === op.id ? null : op.id)}
                      >
                        {open === op.id ? 'hide' : 'detail'}
                      </button>
                    )}
                  </td>
                </tr>
                {open === op.id && (
                  <tr>
                    <td colSpan={7}>
                      <pre className="ops-detail">{JSON.stringify(op.detail, null, 2)}</pre>
                    </td>
                  </tr>
                )}
              </Fragment>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
