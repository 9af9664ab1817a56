'use client';
// One cluster, live: its tree of domains with data-plane figures as they arrive, its tickets, the
// console of a chosen domain, its operations, and the admin actions (merge, kill, shut down) — each
// confirmed first, each answered domain by domain.
import Link from 'next/link';
import { useMemo, useState } from 'react';
import type { ClusterPage } from '../../lib/api-types.ts';
import { buildClusterTree, shutdownStops } from '../../lib/cluster-tree.ts';
import { foldDisks, type DiskMap } from '../../lib/disk-figures.ts';
import { foldFigures, foldNics, type FigureMap, type NicMap } from '../../lib/figures.ts';
import { formatMiB, shortId } from '../../lib/format.ts';
import { ConsoleTerminal } from '../console/console-terminal.tsx';
import { ConfirmDialog } from '../confirm-dialog.tsx';
import { postJson } from '../http.ts';
import { useLive } from '../live-feed.tsx';
import { OperationsLive } from '../operations/operations-live.tsx';
import { useCanOperate } from '../session.tsx';
import { Time } from '../time-zone.tsx';
import { useResource } from '../use-resource.ts';
import { EmptyState, ErrorBanner, PageHeading, StateBadge } from '../ui.tsx';
import { ActionResults, type ActionReport } from './action-results.tsx';
import { DomainTree } from './domain-tree.tsx';
import { TicketTable } from './ticket-table.tsx';

type Pending =
  | { kind: 'merge'; ticket: string | null; clones: number }
  | { kind: 'kill'; vmid: number }
  | { kind: 'shutdown'; live: number; stops: ReturnType<typeof shutdownStops> };

export function ClusterDetail({ initial, initialConsole }: { initial: ClusterPage; initialConsole: number | null }) {
  const id = initial.clusterid;
  const { data, error, refresh } = useResource<ClusterPage>(`/api/clusters/${id}`, initial);
  const [figures, setFigures] = useState<FigureMap>(initial.figures);
  const [nics, setNics] = useState<NicMap>({});
  const [disks, setDisks] = useState<DiskMap>({});
  const [pending, setPending] = useState<Pending | null>(null);
  const [busy, setBusy] = useState(false);
  const canOperate = useCanOperate();
  const [report, setReport] = useState<ActionReport | null>(null);
  const [consoleVmid, setConsoleVmid] = useState<number | null>(initialConsole);

  const ticketTargets = useMemo(() => new Set(data.tickets.map((t) => `ticket:${t.ticket}`)), [data.tickets]);
  useLive('domain:state', (e) => e.clusterid === id && refresh());
  useLive('domain:figures', (e) => {
    setFigures((f) => foldFigures(f, id, e));
    setNics((n) => foldNics(n, id, e));
    setDisks((d) => foldDisks(d, id, e));
  });
  useLive('operation:progress', (e) => {
    const mine =
      e.target === `cluster:${id}` || e.target.startsWith(`domain:${id}:`) || ticketTargets.has(e.target) || e.kind === 'ticket.request';
    if (mine) refresh();
  });
  useLive('feed:status', (s) => s.state === 'live' && refresh());

  const tree = useMemo(() => buildClusterTree(data.domains, data.tickets), [data.domains, data.tickets]);
  const running = data.state === 'running';

  function openConsole(vmid: number) {
    setConsoleVmid(vmid);
    // Shareable, and survives a reload; no navigation, so nothing else re-renders.
    window.history.replaceState(null, '', `/clusters/${id}?console=${vmid}`);
  }

  async function run(p: Pending) {
    setPending(null);
    setBusy(true);
    const body =
      p.kind === 'merge'
        ? { action: 'merge', ticket: p.ticket }
        : p.kind === 'kill'
          ? { action: 'kill', vmid: p.vmid }
          : { action: 'shutdown', force: p.stops.clones.length + p.stops.tickets.length > 0 };
    const title =
      p.kind === 'merge'
        ? `Merge of ticket ${p.ticket ? shortId(p.ticket) : '(all)'}`
        : p.kind === 'kill'
          ? `Kill of ${id}:${p.vmid}`
          : `Shutdown of cluster ${id}`;
    const result = await postJson<NonNullable<ActionReport['outcome']>>(`/api/clusters/${id}/actions`, body);
    setReport(result.ok ? { title, outcome: result.value, error: null } : { title, outcome: null, error: result.error });
    setBusy(false);
    refresh();
  }

  const seed = data.seedConfig;
  const consoleDomain = consoleVmid === null ? null : (data.domains.filter((d) => d.vmid === consoleVmid).at(-1) ?? null);
  return (
    <>
      <PageHeading
        title={`Cluster ${id}${data.name ? ` · ${data.name}` : ''}`}
        subtitle={
          <span className="cluster-sub">
            <StateBadge state={data.state} />{' '}
            {seed.kernel ? <code title={seed.kernel}>{seed.kernel.split('/').pop()}</code> : <code>{seed.diskImage}</code>}
            {seed.kernel && seed.diskImage ? (
              <>
                {' '}
                · disk <code title={seed.diskImage}>{seed.diskImage.split('/').pop()}</code>
              </>
            ) : null}{' '}
            · {seed.vcpus} vCPU(s) · {formatMiB(seed.memoryMiB)}
            {seed.args ? (
              <>
                {' '}
                · args <code>{seed.args}</code>
              </>
            ) : null}{' '}
            · seeded <Time iso={data.createdAt} />
            {data.endedAt ? <Time iso={data.endedAt} prefix=", ended " /> : null} · {tree.counts.live} live, {tree.counts.ended} ended
          </span>
        }
        actions={
          running &&
          canOperate && (
            <button
              type="button"
              className="button button--danger"
              disabled={busy}
              data-testid="shutdown-cluster"
              onClick={() => setPending({ kind: 'shutdown', live: tree.counts.live, stops: shutdownStops(tree) })}
            >
              Shut down cluster
            </button>
          )
        }
      />
      {error && <ErrorBanner title="Could not refresh this cluster." message={error} />}
      {report && <ActionResults report={report} onClose={() => setReport(null)} />}
      {busy && (
        <div className="banner banner--warn" role="status">
          Working… each domain's host is asked in turn.
        </div>
      )}

      <h2 className="section-title">
        Domains <span className="count">{data.domains.length}</span>
      </h2>
      {tree.master ? (
        <DomainTree
          tree={tree}
          figures={figures}
          nics={nics}
          disks={disks}
          busy={busy}
          consoleVmid={consoleVmid}
          intents={{
            console: openConsole,
            kill: (vmid) => setPending({ kind: 'kill', vmid }),
            merge: (ticket, clones) => setPending({ kind: 'merge', ticket, clones }),
          }}
        />
      ) : (
        <EmptyState title="No master VM recorded">
          <p>This cluster has no domain: it failed while being seeded. See its operations below.</p>
        </EmptyState>
      )}

      {consoleVmid !== null && (
        <section className="card console-card" style={{ marginTop: '1rem' }} aria-label="console">
          <ConsoleTerminal
            key={`${id}:${consoleVmid}`}
            clusterid={id}
            vmid={consoleVmid}
            state={consoleDomain?.state ?? null}
            actions={
              <>
                <Link href={`/console/${id}:${consoleVmid}`} className="button button--small" target="_blank">
                  Console only ↗
                </Link>
                <button
                  type="button"
                  className="button button--small"
                  onClick={() => {
                    setConsoleVmid(null);
                    window.history.replaceState(null, '', `/clusters/${id}`);
                  }}
                >
                  Close
                </button>
              </>
            }
          />
        </section>
      )}

      <h2 className="section-title">
        Tickets <span className="count">{data.tickets.length}</span>
      </h2>
      <TicketTable tickets={data.tickets} busy={busy} onMerge={(ticket, clones) => setPending({ kind: 'merge', ticket, clones })} />

      <h2 className="section-title">Operations</h2>
      <OperationsLive
        clusterid={id}
        initial={{ operations: initial.operations, nextCursor: initial.operationsNext }}
        showCluster={false}
        empty={{ title: 'No operations on this cluster yet', body: <p>Tickets, clones, merges and shutdowns will be listed here.</p> }}
      />

      {pending && <ConfirmDialog {...confirmText(pending, id)} onCancel={() => setPending(null)} onConfirm={() => void run(pending)} />}
    </>
  );
}

function confirmText(p: Pending, id: number) {
  switch (p.kind) {
    case 'merge':
      return {
        title: `Merge ${p.clones} clone(s)?`,
        body: (
          <p>
            The clones of ticket <code>{p.ticket ? shortId(p.ticket) : 'all'}</code> are stopped and their resources freed. Whatever they
            have not handed back to the master is lost; the master keeps running.
          </p>
        ),
        confirmLabel: 'Merge clones',
      };
    case 'kill':
      return {
        title: `Kill ${id}:${p.vmid}?`,
        body: <p>This clone's VM is destroyed at once. Its master learns that it was killed when it joins.</p>,
        confirmLabel: 'Kill clone',
      };
    case 'shutdown': {
      const { clones, tickets } = p.stops;
      if (clones.length === 0 && tickets.length === 0) {
        return {
          title: `Shut down cluster ${id}?`,
          body: <p>No clones are out and every ticket is merged: the master is shut down and its resources freed.</p>,
          confirmLabel: 'Shut down',
        };
      }
      // As the seed says, a plain shutdown does not proceed while clones are out: this one is forced.
      return {
        title: `Force the shutdown of cluster ${id}?`,
        body: (
          <>
            <p>
              Clones are still out or tickets unmerged, so a plain shutdown is refused. Forcing it stops all {p.live} live domain(s) and
              ends these:
            </p>
            <ul data-testid="shutdown-stops">
              {clones.map((c) => (
                <li key={c.key}>
                  clone{' '}
                  <code>
                    {id}:{c.vmid}
                  </code>{' '}
                  on {c.host} ({c.state}, ticket <code>{c.ticket ? shortId(c.ticket) : '?'}</code>)
                </li>
              ))}
              {tickets.map((t) => (
                <li key={t.ticket}>
                  ticket <code>{shortId(t.ticket)}</code> ({t.state === 'unused' ? 'unused: disposed' : 'outstanding: merged'})
                </li>
              ))}
            </ul>
            <p>This cannot be undone.</p>
          </>
        ),
        confirmLabel: 'Force shutdown',
      };
    }
  }
}
