// Tickets: reservations of host resources for up to n clones (REQUEST_CLONE_TICKET and friends).
// Placement happens under the placement lock so two requests can never overcommit a host.
import { SfError } from '../common/errors.ts';
import { guestRequester } from './acting-for.ts';
import { freeCapacity } from './capacity.ts';
import { placedAmount, type AllocationRequest } from './allocator/index.ts';
import { requireMaster, waitFor, type LiveDomain } from './domains.ts';
import { runOperation } from './operations.ts';
import type { MasterServices } from './services.ts';
import { prepareTicketShells, releaseRemoteShells } from './remote-shells.ts';
import { tellTicketsEnded, type CallActor } from './ticket-ended.ts';
import { assertTicketTransition, type TicketState } from './store/states.ts';
import { freeVmids, takenVmids } from './vmids.ts';
import { clusterSubnet } from '../common/cluster-addresses.ts';
import { VM_LIMITS } from '../common/wire.ts';
import { stillWaiting, waitWindow } from './wait-window.ts';

export interface TicketRequest {
  nclones: number;
  procs: boolean;
  min: number;
  block: boolean;
  /** With block: give up after this long; absent: wait as long as it takes (seed: blocking requests block). */
  timeoutMs?: number | undefined;
  /** With block: answer STILL_WAITING after this long, and the client asks again (wait-window.ts). */
  pollMs?: number | undefined;
}

/** Aborts when the caller disconnects (tRPC's signal): a blocking request it made stops waiting. */
type CallSignal = AbortSignal | undefined;

/** The log's requester of a guest call: the domain, or the token that acted for it (acting-for.ts). */
function requester(domain: LiveDomain): string {
  return guestRequester(domain);
}

/**
 * What of `request` fits now, with the vmids its VMs would get: placements past the cluster's free vmids
 * (its subnet's room, less what live VMs and open tickets hold) are dropped like those past a full host.
 */
async function plan(svc: MasterServices, db: Db | Tx, domain: LiveDomain, request: AllocationRequest) {
  // Any online host: a cluster with a disk too, whose clones elsewhere read its blocks through the memserver.
  const hosts = await freeCapacity(db);
  const placed = svc.allocator.allocate(hosts, request);
  const limit = clusterSubnet(svc.config.clusterNetwork, domain.cluster.clusterid).maxVms;
  const vmids = freeVmids(await takenVmids(db, domain.clusterId), placed.length, limit);
  const placements = placed.slice(0, vmids.length).map((p, i) => ({ ...p, vmid: vmids[i]! }));
  return { placements, amount: placedAmount(request, placements), vmidBound: vmids.length < placed.length };
}

/** Places what fits now; null when less than `min` fits. */
async function tryPlace(svc: MasterServices, domain: LiveDomain, request: AllocationRequest) {
  return svc.placementLock.run(async () => {
    const { placements, amount, vmidBound } = await plan(svc, svc.db, domain, request);
    if (placements.length === 0 || amount < request.min) return { ticket: null, available: amount, vmidBound };
    const ticket = await svc.db.ticket.create({
      data: {
        clusterId: domain.clusterId,
        requested: request.amount,
        granted: amount,
        procs: request.procs,
        min: request.min,
        state: 'unused',
        allocations: {
          create: placements.map((p) => ({ hostId: p.hostId, vmid: p.vmid, processors: p.processors, memory: BigInt(p.memory) })),
        },
      },
    });
    return { ticket, available: amount, vmidBound };
  });
}

/**
 * Refuses at once what no wait could ever grant, naming the limit: more clones per ticket than the guest ABI
 * carries (SF_MAX_ALLOC), or more than the cluster's subnet has addresses for.
 */
function assertWithinLimits(svc: MasterServices, domain: LiveDomain, input: TicketRequest): void {
  // In procs mode the fewest VMs that could hold the processors asked for.
  const vms = input.procs ? Math.ceil(input.nclones / domain.vcpus) : input.nclones;
  const maxVms = VM_LIMITS.maxClonesPerTicket;
  if (vms > maxVms) {
    throw new SfError(
      'BAD_INPUT',
      `${vms} clones asked for in one ticket, over the limit of ${maxVms} clones per ticket (the guest ABI's SF_MAX_ALLOC): ` +
        'ask for fewer, or use several tickets',
    );
  }
  const room = clusterSubnet(svc.config.clusterNetwork, domain.cluster.clusterid).maxVms - 1;
  if (vms > room) {
    throw new SfError(
      'BAD_INPUT',
      `${vms} clones asked for, but cluster ${domain.cluster.clusterid}'s /${svc.config.clusterNetwork.prefix} subnet holds ` +
        `${room} clones at most (sfmd.cfg cluster_prefix): ask for fewer, or have the admin choose a smaller cluster_prefix`,
    );
  }
}

/** How a batch scheduler (master/scheduler/) takes over REQUEST_CLONE_TICKET: it answers as ticketDetail does. */
export type SchedulerTicketRequest = (svc: MasterServices, domain: LiveDomain, input: TicketRequest) => Promise<TicketDetail>;
const schedulerRequests = new WeakMap<MasterServices, SchedulerTicketRequest>();

/** From now on this sfmd's tickets are placed by the batch scheduler behind `request`. */
export function placeTicketsWith(svc: MasterServices, request: SchedulerTicketRequest): void {
  schedulerRequests.set(svc, request);
}

export async function requestTicket(
  svc: MasterServices,
  domain: LiveDomain,
  input: TicketRequest,
  signal?: CallSignal,
): Promise<TicketDetail> {
  requireMaster(domain, 'ticket.request');
  if (input.min > input.nclones) {
    throw new SfError('BAD_INPUT', `min (${input.min}) is larger than the amount requested (${input.nclones})`);
  }
  // A ticket for nothing is of no use to anyone: min 0 means "at least one".
  const min = Math.max(1, input.min);
  assertWithinLimits(svc, domain, input);
  const viaScheduler = schedulerRequests.get(svc);
  const granted = await (viaScheduler ? viaScheduler(svc, domain, input) : placeTicket(svc, domain, input, min, signal));
  // While the master goes on computing, the clones' hosts make their shells and taps.
  prepareTicketShells(svc, domain, granted);
  return granted;
}

/** The built-in allocator's placement of a ticket request: now, or once it fits (block). */
async function placeTicket(
  svc: MasterServices,
  domain: LiveDomain,
  input: TicketRequest,
  min: number,
  signal: CallSignal,
): Promise<TicketDetail> {
  const unit = input.procs ? 'processors' : 'clones';
  const request: AllocationRequest = {
    amount: input.nclones,
    procs: input.procs,
    min,
    masterVcpus: domain.vcpus,
    memory: Number(domain.memory),
  };
  const window = waitWindow({
    timeoutMs: input.timeoutMs === undefined ? undefined : Math.min(input.timeoutMs, svc.timing.maxWaitMs),
    pollMs: input.pollMs,
  });
  const started = Date.now();
  if (input.block) {
    // Waiting changes nothing, so it leaves no operation row: only the attempt that places (or finally
    // gives up) does. A poll window that ends first answers "still waiting" and the client asks again.
    const fits = await waitFor(
      svc,
      'capacity',
      window.limitMs,
      `${min} ${unit}`,
      async () => ((await plan(svc, svc.db, domain, request)).amount >= min ? true : null),
      signal,
    ).catch((err: unknown) => {
      if (err instanceof SfError && err.code === 'TIMEOUT') return false;
      throw err;
    });
    if (!fits && window.pollOnly) throw stillWaiting(`${min} ${unit} to fit`);
  }
  const remaining = Math.max(0, window.limitMs - (Date.now() - started));
  return runOperation(
    svc,
    {
      kind: 'ticket.request',
      target: `cluster:${domain.cluster.clusterid}`,
      requester: requester(domain),
      detail: { ...input },
    },
    async () => {
      let last = { available: 0, vmidBound: false };
      const ticket = await waitFor(
        svc,
        'capacity',
        input.block ? remaining : 0,
        `${min} ${unit}`,
        async () => {
          const attempt = await tryPlace(svc, domain, request);
          last = attempt;
          return attempt.ticket;
        },
        signal,
      ).catch((err: unknown) => {
        if (!(err instanceof SfError && err.code === 'TIMEOUT')) throw err;
        // Another request took what had just fitted, and this round's window is over: the client asks again.
        if (input.block && window.pollOnly) throw stillWaiting(`${min} ${unit} to fit`);
        const where = last.vmidBound
          ? `cluster ${domain.cluster.clusterid}'s subnet (its free vmids: merge tickets to free theirs)`
          : 'the online hosts';
        if (!input.block) {
          throw new SfError(
            'NO_RESOURCES',
            `asked for ${input.nclones} ${unit} (at least ${min}) but only ${last.available} fit on ${where} now: ` +
              'ask for fewer, lower min, or pass block to wait',
          );
        }
        throw new SfError(
          'NO_RESOURCES',
          `waited ${Number.isFinite(window.limitMs) ? window.limitMs : Date.now() - started} ms for ${min} ${unit} but at most ${last.available} became available on ${where}: ` +
            'free resources (merge or shut down other clusters) or ask for fewer',
        );
      });
      return ticketDetail(svc, ticket.id);
    },
  );
}

async function ownTicket(svc: MasterServices, domain: LiveDomain, ticketId: string, db: Db | Tx = svc.db) {
  const ticket = await db.ticket.findUnique({ where: { id: ticketId } });
  // Another cluster's ticket is reported as unknown: a guest learns nothing about other clusters.
  if (!ticket || ticket.clusterId !== domain.clusterId) {
    throw new SfError(
      'TICKET_UNKNOWN',
      `ticket ${ticketId} does not exist in cluster ${domain.cluster.clusterid}: list tickets with sf tickets`,
    );
  }
  return ticket;
}

export async function ticketDetail(svc: MasterServices, ticketId: string) {
  const ticket = await svc.db.ticket.findUniqueOrThrow({
    where: { id: ticketId },
    include: { allocations: { include: { host: true }, orderBy: { vmid: 'asc' } }, cluster: true },
  });
  return {
    ticket: ticket.id,
    clusterid: ticket.cluster.clusterid,
    state: ticket.state,
    requested: ticket.requested,
    granted: ticket.granted,
    procs: ticket.procs,
    min: ticket.min,
    createdAt: ticket.createdAt.toISOString(),
    /** When it was merged or disposed; null while unused or outstanding. */
    endedAt: ticket.endedAt?.toISOString() ?? null,
    allocations: ticket.allocations.map((a) => ({
      vmid: a.vmid,
      host: a.host.name,
      processors: a.processors,
      memory: Number(a.memory),
    })),
  };
}

export type TicketDetail = Awaited<ReturnType<typeof ticketDetail>>;

export async function ticketInfo(svc: MasterServices, domain: LiveDomain, ticketId: string) {
  requireMaster(domain, 'ticket.info');
  await ownTicket(svc, domain, ticketId);
  return ticketDetail(svc, ticketId);
}

export async function listTickets(svc: MasterServices, domain: LiveDomain) {
  requireMaster(domain, 'ticket.list');
  const tickets = await svc.db.ticket.findMany({
    where: { clusterId: domain.clusterId, state: { in: ['unused', 'outstanding'] } },
    orderBy: { createdAt: 'asc' },
  });
  return {
    unused: tickets.filter((t) => t.state === 'unused').map((t) => t.id),
    outstanding: tickets.filter((t) => t.state === 'outstanding').map((t) => t.id),
  };
}

/** DISPOSE_TICKET. The master's own call releases its shells on its sfld; the admin's tells that sfld. */
export async function disposeTicket(svc: MasterServices, domain: LiveDomain, ticketId: string, by: CallActor = 'guest') {
  requireMaster(domain, 'ticket.dispose');
  return runOperation(svc, { kind: 'ticket.dispose', target: `ticket:${ticketId}`, requester: requester(domain) }, async () => {
    await ownTicket(svc, domain, ticketId);
    await transitionTicket(svc.db, ticketId, 'disposed');
    if (by === 'admin') tellTicketsEnded(svc, domain.host.name, [ticketId]);
    await releaseRemoteShells(svc, domain.host.name, [ticketId]);
    svc.events.emit('capacity');
    return ticketDetail(svc, ticketId);
  });
}

type Db = MasterServices['db'];
type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

/**
 * Moves a ticket to `to` if its lifecycle allows it. The update is conditional on the state read,
 * so two racing calls cannot both win: the loser gets TICKET_STATE.
 */
export async function transitionTicket(db: Db | Tx, ticketId: string, to: TicketState): Promise<void> {
  const ticket = await db.ticket.findUniqueOrThrow({ where: { id: ticketId } });
  assertTicketTransition(ticketId, ticket.state, to);
  const ended = to === 'merged' || to === 'disposed' ? { endedAt: new Date() } : {};
  const { count } = await db.ticket.updateMany({ where: { id: ticketId, state: ticket.state }, data: { state: to, ...ended } });
  if (count === 0) {
    const now = await db.ticket.findUniqueOrThrow({ where: { id: ticketId } });
    assertTicketTransition(ticketId, now.state, to);
  }
}

export { ownTicket, requester };
