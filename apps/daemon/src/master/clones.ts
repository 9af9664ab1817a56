// The clone calls of a cluster: clone.master (a ticket's reservations become clone domains),
// clone.merge (= ic_kill), clone.join (wait for the clones to exit) and clone.exit (a clone ends).
// They record state and reservations; fork.ts has the master's sfld make the clones real.
import { randomUUID } from 'node:crypto';
import { messageOf, SfError } from '../common/errors.ts';
import { stopwatch } from '../common/stopwatch.ts';
import { tellClusterHosts, vmIdentity } from './cluster-net.ts';
import { announceDomain, requireClone, requireMaster, waitFor, type LiveDomain } from './domains.ts';
import { destroyDomainVm } from './domain-lifecycle.ts';
import { forkClones, liveOthers } from './fork.ts';
import { runOperation } from './operations.ts';
import type { MasterServices } from './services.ts';
import { assertTicketTransition, LIVE_DOMAIN_STATES, type DomainState } from './store/states.ts';
import { ownTicket, requester, transitionTicket } from './tickets.ts';
import { releaseRemoteShells } from './remote-shells.ts';
import { tellTicketsEnded, type CallActor } from './ticket-ended.ts';
import { stillWaiting, waitWindow, type WaitInput } from './wait-window.ts';

/**
 * CLONE_MASTER: the master's answer is vmid 0; each clone's own answer comes from the data plane. Before the
 * fork command the record is one transaction: the ticket outstanding, its allocations read, every clone row
 * written (one statement), other tickets' live clones read. If any of it fails none of it stays (the
 * operation row, written before, records the failure).
 */
export async function cloneMaster(svc: MasterServices, domain: LiveDomain, ticketId: string) {
  requireMaster(domain, 'clone.master');
  const watch = stopwatch(); // the stages of the operation's detail count from the call's arrival
  return runOperation(
    svc,
    { kind: 'clone.master', target: `ticket:${ticketId}`, requester: requester(domain), clusterid: domain.cluster.clusterid },
    async (op) => {
      // Other tickets' clones may be out meanwhile (seed: several tickets at once); their vmids never clash
      // with this one's, which were set aside when it was granted (vmids.ts).
      const { clones, others } = await svc.db.$transaction(async (tx) => {
        const ticket = await ownTicket(svc, domain, ticketId, tx);
        assertTicketTransition(ticketId, ticket.state, 'outstanding'); // its own state is the better message
        await transitionTicket(tx, ticketId, 'outstanding');
        const allocations = await tx.allocation.findMany({ where: { ticketId }, include: { host: true }, orderBy: { vmid: 'asc' } });
        const lost = allocations.filter((a) => a.host.state !== 'online');
        if (lost.length > 0) {
          throw new SfError(
            'HOST_LOST',
            `host ${lost[0]!.host.name} of ticket ${ticketId} is offline: dispose of the ticket and request a new one`,
          );
        }
        // Ids made here (the schema's default is a client-side uuid too): one INSERT for all, no read back.
        const records = allocations.map((a) => ({ id: randomUUID(), vmid: a.vmid, hostId: a.hostId, host: a.host, vcpus: a.processors }));
        await tx.domain.createMany({
          data: allocations.map((a, i) => ({
            id: records[i]!.id,
            clusterId: domain.clusterId,
            vmid: a.vmid,
            hostId: a.hostId,
            vcpus: a.processors,
            memory: a.memory,
            state: 'defined' as const,
            ticketId,
            ...vmIdentity(svc, domain.cluster.clusterid, a.vmid),
          })),
        });
        return { clones: records, others: await liveOthers(tx, domain, ticketId) };
      });
      const txMs = watch.lap();
      for (const a of clones) announceDomain(svc, domain.cluster.clusterid, a.vmid, a.host.name, 'defined');
      await forkClones(svc, domain, ticketId, clones, others, op, watch, txMs);
      return { ticket: ticketId, nclones: clones.length, vmid: 0 };
    },
  );
}

/** Ends the live clones of a ticket: each VM destroyed on its host, each record `state` with `reason`. */
async function endClones(svc: MasterServices, ticketId: string, state: 'merged' | 'stopped', reason: string) {
  const clones = await svc.db.domain.findMany({
    where: { ticketId, state: { in: [...LIVE_DOMAIN_STATES] } },
    include: { host: true, cluster: true },
  });
  for (const c of clones) await destroyDomainVm(svc, c);
  await svc.db.domain.updateMany({
    where: { id: { in: clones.map((c) => c.id) } },
    data: { state, endedAt: new Date(), endReason: reason },
  });
  for (const c of clones) announceDomain(svc, c.cluster.clusterid, c.vmid, c.host.name, state);
  return clones.length;
}

/**
 * MERGE_MASTER / IC_KILL: ends the clones of one outstanding ticket, or of all when ticket is null. The
 * master's sfld learns of the merged tickets from the call itself only when it names one.
 */
export async function mergeClones(svc: MasterServices, domain: LiveDomain, ticketId: string | null, by: CallActor = 'guest') {
  requireMaster(domain, 'clone.merge');
  return runOperation(
    svc,
    {
      kind: 'clone.merge',
      target: ticketId ? `ticket:${ticketId}` : `cluster:${domain.cluster.clusterid}`,
      requester: requester(domain),
      clusterid: domain.cluster.clusterid,
    },
    async () => {
      let tickets: string[];
      if (ticketId) {
        await ownTicket(svc, domain, ticketId);
        tickets = [ticketId];
      } else {
        tickets = (await svc.db.ticket.findMany({ where: { clusterId: domain.clusterId, state: 'outstanding' } })).map((t) => t.id);
      }
      let clones = 0;
      for (const id of tickets) {
        await transitionTicket(svc.db, id, 'merged');
        clones += await endClones(svc, id, 'merged', `merged by ${requester(domain)} (ticket ${id})`);
      }
      if (by === 'admin' || ticketId === null) tellTicketsEnded(svc, domain.host.name, tickets);
      await releaseRemoteShells(svc, domain.host.name, tickets); // an unused ticket merged: its other hosts' shells
      if (clones > 0) await tellClusterHosts(svc, domain.clusterId);
      svc.events.emit('capacity');
      return { merged: tickets, clones };
    },
  );
}

/**
 * IC_JOIN: waits until every clone of the ticket has exited, then the ticket is merged. Like waitpid it waits
 * as long as it takes unless the caller gives `timeoutMs`; with `pollMs` it answers STILL_WAITING when that much
 * has passed, and the client asks again (no HTTP timeout on the way can cut the wait).
 */
export async function joinClones(svc: MasterServices, domain: LiveDomain, ticketId: string, wait: WaitInput = {}, by: CallActor = 'guest') {
  requireMaster(domain, 'clone.join');
  const ticket = await ownTicket(svc, domain, ticketId);
  if (ticket.state !== 'outstanding') {
    throw new SfError('TICKET_STATE', `ticket ${ticketId} is ${ticket.state}: only a ticket whose clones are out can be joined`);
  }
  const window = waitWindow({
    ...wait,
    timeoutMs: wait.timeoutMs === undefined ? undefined : Math.min(wait.timeoutMs, svc.timing.maxWaitMs),
  });
  const what = `the clones of ticket ${ticketId} to exit`;
  const spec = { kind: 'clone.join', target: `ticket:${ticketId}`, requester: requester(domain), clusterid: domain.cluster.clusterid };
  // The wait changes nothing and leaves no operation row; the merge after it does, and so does a wait
  // that ran out of the caller's own time.
  const done = await waitFor(
    svc,
    'domain:state',
    window.limitMs,
    what,
    async () => ((await svc.db.domain.count({ where: { ticketId, state: { in: [...LIVE_DOMAIN_STATES] } } })) === 0 ? true : null),
    wait.signal,
  ).catch(async (err: unknown) => {
    if (!(err instanceof SfError && err.code === 'TIMEOUT')) throw err;
    if (window.pollOnly) return false;
    return runOperation(svc, spec, () => Promise.reject(err));
  });
  if (!done) throw stillWaiting(what);
  return runOperation(svc, spec, async () => {
    const total = await svc.db.domain.count({ where: { ticketId } });
    await transitionTicket(svc.db, ticketId, 'merged');
    if (by === 'admin') tellTicketsEnded(svc, domain.host.name, [ticketId]);
    if (total > 0) await tellClusterHosts(svc, domain.clusterId);
    svc.events.emit('capacity');
    const ended = await svc.db.domain.findMany({ where: { ticketId }, orderBy: { vmid: 'asc' } });
    return { ticket: ticketId, clones: total, exits: ended.map(exitRecord) };
  });
}

/** How a clone ended, for the master's join: its exit status travels back as its small result. */
function exitRecord(d: { vmid: number; state: DomainState; exitCode: number | null; endReason: string | null }) {
  // A clone lost with its host did not end by itself: to its master that is a crash, with the reason.
  const how = d.state === 'exited' ? 'exited' : ['crashed', 'halted', 'lost'].includes(d.state) ? 'crashed' : 'killed';
  return { vmid: d.vmid, how, status: how === 'exited' ? (d.exitCode ?? 0) : 0, reason: d.endReason } as const;
}

/** Who ends a clone with clone.exit: the guest itself (through its sfld), or the admin acting for it. */
export type ExitActor = CallActor;

/**
 * IC_EXIT: a clone is done; its resources go back to the pool.
 * A guest's own call comes from inside its VM, which ends by itself right after. The admin's call
 * (`sf exit --domain C:V`) comes from outside while the VM runs on, so its VM is destroyed on its host.
 * The record goes first, as for the dashboard's merge and kill: the sfld's report of the destroyed VM
 * (`stopped`) then finds the clone ended and cannot make a master's join see it as killed. If the host
 * cannot destroy the VM the call is refused and the record put back as it was: a record saying "exited"
 * over a VM that runs would let its CPUs be promised twice.
 */
export async function exitClone(svc: MasterServices, domain: LiveDomain, status: number, by: ExitActor = 'guest') {
  requireClone(domain, 'clone.exit');
  const address = `${domain.cluster.clusterid}:${domain.vmid}`;
  return runOperation(
    svc,
    { kind: 'clone.exit', target: `domain:${address}`, requester: requester(domain), detail: { status, by } },
    async () => {
      const reason =
        by === 'admin'
          ? `ended by the admin with clone.exit (status ${status}): its VM was destroyed on host ${domain.host.name}`
          : `the clone called clone.exit (status ${status})`;
      const { count } = await svc.db.domain.updateMany({
        where: { id: domain.id, state: domain.state },
        data: { state: 'exited', exitCode: status, endedAt: new Date(), endReason: reason },
      });
      if (count === 0) {
        const now = await svc.db.domain.findUniqueOrThrow({ where: { id: domain.id } });
        throw new SfError(
          'DOMAIN_UNKNOWN',
          `domain ${address} is ${now.state} now (${now.endReason ?? 'no reason recorded'}): it has ended already`,
        );
      }
      if (by === 'admin') {
        try {
          await svc.links.command(domain.host.name, 'domain:destroy', { clusterid: domain.cluster.clusterid, vmid: domain.vmid });
        } catch (err) {
          await svc.db.domain.updateMany({
            where: { id: domain.id, state: 'exited', endReason: reason },
            data: { state: domain.state, exitCode: domain.exitCode, endedAt: domain.endedAt, endReason: domain.endReason },
          });
          throw new SfError(
            'UNAVAILABLE',
            `could not destroy the VM of clone ${address} on host ${domain.host.name} (${messageOf(err)}): ` +
              'it is still recorded as running; try again when the host answers, or merge its ticket from the master',
          );
        }
      }
      announceDomain(svc, domain.cluster.clusterid, domain.vmid, domain.host.name, 'exited');
      svc.events.emit('capacity');
      return { clusterid: domain.cluster.clusterid, vmid: domain.vmid, status };
    },
  );
}

export { endClones };
