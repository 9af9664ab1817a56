// Read-only views shaped for the dashboard's pages, one call per page: the hosts with their domains
// and recent metrics, and one cluster with every domain, ticket (allocation map), figure and operation.
import { clusterDetail } from './clusters.ts';
import { figureRelay } from './dashboard-figures.ts';
import { metricHistory } from './dashboard-metric-history.ts';
import { listDomains, listHosts } from './queries.ts';
import type { MasterServices } from './services.ts';
import { ticketDetail } from './tickets.ts';
import { operationView } from './views.ts';

/** Host View: hosts (capacity, reservations, state, KVM, latest metrics), their live domains, chart history. */
export async function dashboardOverview(svc: MasterServices) {
  const [hosts, domains] = await Promise.all([listHosts(svc), listDomains(svc, { all: false })]);
  return { hosts, domains, history: metricHistory(svc).all(), at: new Date().toISOString() };
}

/** How many recent operations a cluster page looks through for its own. */
const OPERATION_WINDOW = 500;

/** Cluster View of one cluster: the record, each domain with its address, tickets with allocations, figures, operations. */
export async function dashboardCluster(svc: MasterServices, clusterid: number) {
  const cluster = await clusterDetail(svc, clusterid);
  const [domains, tickets, recent] = await Promise.all([
    listDomains(svc, { all: true, clusterid }),
    Promise.all(cluster.tickets.map((t) => ticketDetail(svc, t.ticket))),
    svc.db.operation.findMany({ orderBy: { startedAt: 'desc' }, take: OPERATION_WINDOW }),
  ]);
  const ticketIds = new Set(tickets.map((t) => `ticket:${t.ticket}`));
  // Operations name their cluster in different ways (target, requester, ticket): any of them counts.
  const mine = recent.filter(
    (op) =>
      op.target === `cluster:${clusterid}` ||
      ticketIds.has(op.target) ||
      op.target.startsWith(`domain:${clusterid}:`) ||
      op.requester.startsWith(`domain:${clusterid}:`),
  );
  return {
    ...cluster,
    domains,
    tickets,
    figures: figureRelay(svc)?.ofCluster(clusterid) ?? {},
    operations: mine.slice(0, 50).map(operationView),
  };
}
