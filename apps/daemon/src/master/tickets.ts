// Tickets: reservations of host resources for up to n clones (REQUEST_CLONE_TICKET and friends).
// Placement happens under the placement lock so two requests can never overcommit a host.
import { SfError } from '../common/errors.ts';
import { freeCapacity } from './capacity.ts';
import { placedAmount, type AllocationRequest, type HostCapacity } from './allocator/index.ts';
import { requireMaster, waitFor, type LiveDomain } from './domains.ts';
import { runOperation } from './operations.ts';
import type { SeedConfig } from './seed-config.ts';
import type { MasterServices } from './services.ts';
import { tellTicketsEnded, type CallActor } from './ticket-ended.ts';
import { assertTicketTransition, type TicketState } from './store/states.ts';

export interface TicketRequest {
  nclones: number;
  procs: boolean;
  min: number;
  block: boolean;
  timeoutMs?: number;
}

export const DEFAULT_BLOCK_TIMEOUT_MS = 60_000;

function requester(domain: LiveDomain): string {
  return `domain:${domain.cluster.clusterid}:${domain.vmid}`;
}

/**
 * The hosts a cluster's clones may go to. A cluster with a disk keeps its clones on the master's host: clones
 * elsewhere would need the fork's disk blocks over the memserver, which the VMM does not serve yet (DESIGN §4.7).
 */
function onlyHostsFor(domain: LiveDomain, hosts: HostCapacity[]): HostCapacity[] {
  return diskBound(domain) ? hosts.filter((h) => h.hostId === domain.hostId) : hosts;
}

function diskBound(domain: LiveDomain): boolean {
  return Boolean((JSON.parse(domain.cluster.seedConfig) as SeedConfig).diskImage);
}

/** Places what fits now; null when less than `min` fits. */
async function tryPlace(svc: MasterServices, domain: LiveDomain, request: AllocationRequest) {
  return svc.placementLock.run(async () => {
    const hosts = onlyHostsFor(domain, await freeCapacity(svc.db));
    const placements = svc.allocator.allocate(hosts, request);
    const amount = placedAmount(request, placements);
    if (placements.length === 0 || amount < request.min) return { ticket: null, available: amount };
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
    return { ticket, available: amount };
  });
}

export async function requestTicket(svc: MasterServices, domain: LiveDomain, input: TicketRequest) {
  requireMaster(domain, 'ticket.request');
  if (input.min > input.nclones) {
    throw new SfError('BAD_INPUT', `min (${input.min}) is larger than the amount requested (${input.nclones})`);
  }
  const unit = input.procs ? 'processors' : 'clones';
  const request: AllocationRequest = {
    amount: input.nclones,
    procs: input.procs,
    // A ticket for nothing is of no use to anyone: min 0 means "at least one".
    min: Math.max(1, input.min),
    masterVcpus: domain.vcpus,
    memory: Number(domain.memory),
  };
  const timeoutMs = Math.min(input.timeoutMs ?? DEFAULT_BLOCK_TIMEOUT_MS, svc.timing.maxWaitMs);
  return runOperation(
    svc,
    {
      kind: 'ticket.request',
      target: `cluster:${domain.cluster.clusterid}`,
      requester: requester(domain),
      detail: { ...input },
    },
    async () => {
      let lastAvailable = 0;
      const ticket = await waitFor(svc, 'capacity', input.block ? timeoutMs : 0, `${request.min} ${unit}`, async () => {
        const attempt = await tryPlace(svc, domain, request);
        lastAvailable = attempt.available;
        if (attempt.ticket) return attempt.ticket;
        if (!input.block) {
          throw new SfError(
            'NO_RESOURCES',
            `asked for ${input.nclones} ${unit} (at least ${request.min}) but only ` +
              `${lastAvailable} fit on ${diskBound(domain) ? `the master's host (a cluster with a disk clones only there)` : 'the online hosts'} now: ` +
              'ask for fewer, lower min, or pass block to wait',
          );
        }
        return null;
      }).catch((err: unknown) => {
        if (err instanceof SfError && err.code === 'TIMEOUT') {
          throw new SfError(
            'NO_RESOURCES',
            `waited ${timeoutMs} ms for ${request.min} ${unit} but at most ` +
              `${lastAvailable} became available: free resources (merge or shut down other clusters) or ask for fewer`,
          );
        }
        throw err;
      });
      return ticketDetail(svc, ticket.id);
    },
  );
}

async function ownTicket(svc: MasterServices, domain: LiveDomain, ticketId: string) {
  const ticket = await svc.db.ticket.findUnique({ where: { id: ticketId } });
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
  const { count } = await db.ticket.updateMany({ where: { id: ticketId, state: ticket.state }, data: { state: to } });
  if (count === 0) {
    const now = await db.ticket.findUniqueOrThrow({ where: { id: ticketId } });
    assertTicketTransition(ticketId, now.state, to);
  }
}

export { ownTicket, requester };
