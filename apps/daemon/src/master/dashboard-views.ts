// Read-only views shaped for the dashboard's pages, one call per page: the hosts with their domains
// and recent metrics, and one cluster with every domain, ticket (allocation map), figure and operation.
import { clusterDetail } from './clusters.ts';
import { figureRelay } from './dashboard-figures.ts';
import { metricHistory } from './dashboard-metric-history.ts';
import { pageOperations } from './operation-pages.ts';
import { listDomains, listHosts } from './queries.ts';
import type { MasterServices } from './services.ts';
import { ticketDetail } from './tickets.ts';

/** Host View: hosts (capacity, reservations, state, KVM, latest metrics), their live domains, chart history. */
export async function dashboardOverview(svc: MasterServices) {
  const [hosts, domains] = await Promise.all([listHosts(svc), listDomains(svc, { all: false })]);
  return { hosts, domains, history: metricHistory(svc).all(), at: new Date().toISOString() };
}

/** A cluster page opens with its newest operations; operations.page has the rest. */
const CLUSTER_PAGE_OPERATIONS = 50;

/** Cluster View of one cluster: the record, each domain with its address, tickets with allocations, figures, operations. */
export async function dashboardCluster(svc: MasterServices, clusterid: number) {
  const cluster = await clusterDetail(svc, clusterid);
  const [domains, tickets, ops] = await Promise.all([
    listDomains(svc, { all: true, clusterid }),
    Promise.all(cluster.tickets.map((t) => ticketDetail(svc, t.ticket))),
    pageOperations(svc, { clusterid, limit: CLUSTER_PAGE_OPERATIONS }),
  ]);
  return {
    ...cluster,
    domains,
    tickets,
    figures: figureRelay(svc)?.ofCluster(clusterid) ?? {},
    operations: ops.operations,
    operationsNext: ops.nextCursor,
  };
}
