// What an admin does to running domains from the dashboard: merge a ticket's clones, kill one clone,
// shut a cluster down, type into a console. Each leaves an Operation by its caller's token and answers with one
// result per domain, so a partial success (a host that did not answer) is visible, not hidden.
import { SfError, toSfError } from '../common/errors.ts';
import { endCluster, refuseWhileOut } from './clusters.ts';
import { announceDomain, findLiveDomain } from './domains.ts';
import { setState } from './domain-lifecycle.ts';
import { jsonDetail, runOperation, type OperationHandle } from './operations.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES, type DomainState } from './store/states.ts';
import { transitionTicket } from './tickets.ts';
import { tellClusterTicketsEnded } from './ticket-ended.ts';

/** The requester when no caller is named (sfmd's own callers and tests): the first-start admin token. */
export const ADMIN = 'token:admin';

/** What became of one domain an action touched. */
export interface DomainActionResult {
  vmid: number;
  host: string;
  ok: boolean;
  /** The record's state after the action. */
  state: DomainState;
  error: string | null;
}

export interface ActionOutcome {
  operation: string;
  clusterid: number;
  results: DomainActionResult[];
  /** A line for people: what happened, and what to do if not everything did. */
  summary: string;
}

type Target = { vmid: number; host: { name: string }; cluster: { clusterid: number } };

/** Asks each domain's sfld to destroy its VM; a failure is that domain's result, not the action's. */
async function destroyEach(svc: MasterServices, domains: Target[], state: DomainState, op: OperationHandle): Promise<DomainActionResult[]> {
  const results: DomainActionResult[] = [];
  let done = 0;
  // One at a time per action: a slow host then delays only its own line, and progress moves steadily.
  for (const d of domains) {
    try {
      await svc.links.command(d.host.name, 'domain:destroy', { clusterid: d.cluster.clusterid, vmid: d.vmid });
      results.push({ vmid: d.vmid, host: d.host.name, ok: true, state, error: null });
    } catch (err) {
      const e = toSfError(err);
      results.push({
        vmid: d.vmid,
        host: d.host.name,
        ok: false,
        state,
        error: `${e.code}: ${e.message} — its VM may still run there; restarting that host's sfld clears it`,
      });
    }
    await op.progress(++done / Math.max(1, domains.length));
  }
  return results;
}

function summarize(verb: string, results: DomainActionResult[]): string {
  const failed = results.filter((r) => !r.ok);
  if (results.length === 0) return `nothing to ${verb}: no live domain was affected`;
  if (failed.length === 0) return `${results.length} of ${results.length} domain(s) ${verb === 'merge' ? 'merged' : 'stopped'}`;
  return `${results.length - failed.length} of ${results.length} domain(s) done; ${failed.map((f) => `vmid ${f.vmid} on ${f.host}`).join(', ')} did not answer`;
}

/** Records the per-domain results on the operation, so the operations panel keeps them after the fact. */
async function keepResults(svc: MasterServices, op: OperationHandle, detail: Record<string, unknown>, results: DomainActionResult[]) {
  await svc.db.operation.update({ where: { id: op.id }, data: { detail: jsonDetail({ ...detail, results }) } });
}

async function liveCluster(svc: MasterServices, clusterid: number) {
  const cluster = await svc.db.cluster.findUnique({ where: { clusterid } });
  if (!cluster) throw new SfError('CLUSTER_UNKNOWN', `there is no cluster ${clusterid}: it may have been removed; reload the cluster list`);
  if (cluster.state !== 'running') {
    throw new SfError('BAD_INPUT', `cluster ${clusterid} is ${cluster.state} already: there is nothing left to stop`);
  }
  return cluster;
}

/**
 * Merges the clones of one outstanding ticket (or of all, with null) for the cluster's master. The
 * record goes first (ticket merged, clones `merged`), so the sflds' reports of the destroyed VMs
 * cannot turn them into `stopped`; then each VM is destroyed and its outcome reported.
 */
export async function adminMerge(
  svc: MasterServices,
  clusterid: number,
  ticketId: string | null,
  requester = ADMIN,
): Promise<ActionOutcome> {
  const cluster = await liveCluster(svc, clusterid);
  const detail = { clusterid, ticket: ticketId };
  return runOperation(
    svc,
    { kind: 'clone.merge', target: ticketId ? `ticket:${ticketId}` : `cluster:${clusterid}`, requester, detail, clusterid },
    async (op) => {
      const tickets = ticketId
        ? [await svc.db.ticket.findUnique({ where: { id: ticketId } })].filter((t) => t?.clusterId === cluster.id)
        : await svc.db.ticket.findMany({ where: { clusterId: cluster.id, state: 'outstanding' } });
      if (ticketId && tickets.length === 0) {
        throw new SfError('TICKET_UNKNOWN', `ticket ${ticketId} does not belong to cluster ${clusterid}: reload the cluster view`);
      }
      const ids = tickets.map((t) => t!.id);
      for (const id of ids) await transitionTicket(svc.db, id, 'merged');
      await tellClusterTicketsEnded(svc, cluster.id, ids);
      const clones = await svc.db.domain.findMany({
        where: { ticketId: { in: ids }, state: { in: [...LIVE_DOMAIN_STATES] } },
        include: { host: true, cluster: true },
        orderBy: { vmid: 'asc' },
      });
      for (const id of ids) {
        const endReason = `merged by the admin from the dashboard (ticket ${id})`;
        const ofTicket = clones.filter((c) => c.ticketId === id).map((c) => c.id);
        await svc.db.domain.updateMany({ where: { id: { in: ofTicket } }, data: { state: 'merged', endedAt: new Date(), endReason } });
      }
      for (const c of clones) announceDomain(svc, clusterid, c.vmid, c.host.name, 'merged');
      svc.events.emit('capacity');
      const results = await destroyEach(svc, clones, 'merged', op);
      await keepResults(svc, op, { ...detail, merged: ids }, results);
      return { operation: op.id, clusterid, results, summary: summarize('merge', results) };
    },
  );
}

/** Kills one clone: recorded `stopped` (its master's join sees it as killed), then its VM destroyed. */
export async function adminKill(svc: MasterServices, clusterid: number, vmid: number, requester = ADMIN): Promise<ActionOutcome> {
  if (vmid === 0) {
    throw new SfError(
      'BAD_INPUT',
      `vmid 0 is cluster ${clusterid}'s master: without it the cluster cannot go on, so shut the cluster down instead`,
    );
  }
  const domain = await findLiveDomain(svc, { clusterid, vmid });
  const detail = { clusterid, vmid };
  return runOperation(svc, { kind: 'domain.kill', target: `domain:${clusterid}:${vmid}`, requester, detail }, async (op) => {
    await setState(svc, domain.id, 'stopped', { reason: 'killed by an admin from the dashboard' });
    const results = await destroyEach(svc, [domain], 'stopped', op);
    await keepResults(svc, op, detail, results);
    return { operation: op.id, clusterid, results, summary: summarize('kill', results) };
  });
}

/**
 * Shuts a cluster down: every live VM destroyed (clones first, the master last, each with its outcome),
 * then the record ended as the master's own shutdown would (tickets merged or disposed, hosts freed).
 * Like the master's own, refused while clones are out or tickets unmerged unless `force`.
 */
export async function adminShutdown(
  svc: MasterServices,
  clusterid: number,
  options: { force?: boolean; requester?: string } = {},
): Promise<ActionOutcome> {
  const cluster = await liveCluster(svc, clusterid);
  if (!options.force) await refuseWhileOut(svc, cluster.id, clusterid);
  const detail = { clusterid, force: options.force === true };
  return runOperation(
    svc,
    { kind: 'cluster.shutdown', target: `cluster:${clusterid}`, requester: options.requester ?? ADMIN, detail },
    async (op) => {
      const live = await svc.db.domain.findMany({
        where: { clusterId: cluster.id, state: { in: [...LIVE_DOMAIN_STATES] } },
        include: { host: true, cluster: true },
        orderBy: { vmid: 'desc' },
      });
      const results = await destroyEach(svc, live, 'stopped', op);
      await endCluster(svc, cluster.id, 'shutdown', 'shut down by the admin');
      await keepResults(svc, op, detail, results);
      return { operation: op.id, clusterid, results, summary: summarize('shut down', results) };
    },
  );
}

/** Keystrokes for a domain's serial port (not an Operation: typing is not a change to the system). */
export async function consoleInput(svc: MasterServices, clusterid: number, vmid: number, text: string) {
  const domain = await findLiveDomain(svc, { clusterid, vmid });
  return svc.links.command(domain.host.name, 'domain:input', { clusterid, vmid, data: Buffer.from(text, 'utf8') });
}
