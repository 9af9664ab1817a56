// REQUEST_CLONE_TICKET under a batch scheduler: one placeholder array job per ticket, named after it, one task
// per clone (or per processor); the ticket is granted where the tasks run. A blocking request waits for all of
// them (until its time limit), a non-blocking one takes what runs once the scheduler has looked; the rest is
// cancelled, and less than `min` cancels everything. A blocking request whose client polls (STILL_WAITING)
// keeps its job queued between the polls; one nobody asks about again is cancelled.
import { randomUUID } from 'node:crypto';
import { messageOf, SfError } from '../../common/errors.ts';
import { nodeNameOf } from '../../common/config/index.ts';
import type { Placement } from '../allocator/index.ts';
import type { LiveDomain } from '../domains.ts';
import { runOperation } from '../operations.ts';
import type { MasterServices } from '../services.ts';
import { clusterSubnet } from '../../common/cluster-addresses.ts';
import { requester, ticketDetail, type TicketRequest } from '../tickets.ts';
import { freeVmids, takenVmids } from '../vmids.ts';
import { stillWaiting, waitWindow } from '../wait-window.ts';
import type { SchedulerContext } from './context.ts';
import { jobName } from './naming.ts';
import type { HeldTask, QueuedJob } from './types.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A polling client asks again within its poll window (≤ 60 s); a request not asked about for this long is abandoned. */
const PARKED_ABANDONED_MS = 180_000;

/** The same blocking request asked again after STILL_WAITING: same master, same shape. */
const parkKey = (domain: LiveDomain, input: TicketRequest) => `${domain.id}|${input.nclones}|${input.procs}|${input.min}`;

/** Cancels the jobs of parked requests whose client stopped asking (it gave up or went away). */
export async function dropAbandonedRequests(svc: MasterServices, ctx: SchedulerContext, now = Date.now()): Promise<void> {
  for (const [key, parked] of ctx.parked) {
    if (now - parked.lastAsked < PARKED_ABANDONED_MS) continue;
    ctx.parked.delete(key);
    ctx.granting.delete(parked.ticketId);
    await ctx.scheduler.cancel(parked.jobId).catch((err: unknown) => {
      svc.log.warn({ job: parked.jobId, err: messageOf(err) }, 'could not cancel an abandoned request’s job: the next sync does');
    });
  }
}

export async function requestSchedulerTicket(svc: MasterServices, ctx: SchedulerContext, domain: LiveDomain, input: TicketRequest) {
  const unit = input.procs ? 'processors' : 'clones';
  // As with the default allocator, a ticket for nothing is of no use: min 0 means "at least one".
  const min = Math.max(1, input.min);
  const window = waitWindow({
    timeoutMs: input.timeoutMs === undefined ? undefined : Math.min(input.timeoutMs, svc.timing.maxWaitMs),
    pollMs: input.pollMs,
  });
  await dropAbandonedRequests(svc, ctx);
  const key = parkKey(domain, input);
  const resumed = input.block ? ctx.parked.get(key) : undefined;
  if (resumed) ctx.parked.delete(key);
  return runOperation(
    svc,
    {
      kind: 'ticket.request',
      target: `cluster:${domain.cluster.clusterid}`,
      requester: requester(domain),
      detail: { ...input, allocator: ctx.scheduler.kind },
    },
    async () => {
      // Any online host: a cluster with a disk too, whose clones elsewhere read its blocks through the memserver.
      const hosts = await svc.db.host.findMany({ where: { state: 'online' } });
      const hostOfNode = new Map(hosts.map((h) => [nodeNameOf(ctx.settings, h.name), h]));
      const ticketId = resumed?.ticketId ?? randomUUID();
      const name = jobName(ctx.tag, ticketId);
      ctx.granting.add(ticketId);
      let jobId: string | null = resumed?.jobId ?? null;
      let parked = false;
      try {
        jobId ??= await ctx.scheduler.submit({
          name,
          tasks: input.nclones,
          cpusPerTask: input.procs ? 1 : domain.vcpus,
          nodes: [...hostOfNode.keys()],
        });
        const job = await tasksStarted(ctx, name, jobId, input, input.block ? window.limitMs : ctx.scheduler.settleMs);
        if (input.block && window.pollOnly && job.running.length < input.nclones) {
          // The client's poll window ended first: the job stays queued for its next call.
          ctx.parked.set(key, { ticketId, jobId, lastAsked: Date.now() });
          parked = true;
          throw stillWaiting(`the ${ctx.scheduler.kind} scheduler to start ${input.nclones} ${unit}`);
        }
        const timeoutMs = window.limitMs;
        const held = job.running.filter((t) => hostOfNode.has(t.node));
        const granted = input.procs ? held.reduce((n, t) => n + t.cpus, 0) : held.length;
        if (granted < min) {
          throw new SfError(
            'NO_RESOURCES',
            `asked for ${input.nclones} ${unit} (at least ${min}) but the ${ctx.scheduler.kind} scheduler started ` +
              `${granted} ${input.block ? `within ${timeoutMs} ms` : 'at once'} on Snowflock hosts: ` +
              `ask for fewer, lower min${input.block ? ', or wait for the site’s other jobs to end' : ', or pass block to wait'}`,
          );
        }
        const keep = new Set(held.map((t) => t.task));
        await ctx.scheduler.cancel(jobId, [...job.pending, ...job.running.map((t) => t.task).filter((t) => !keep.has(t))]);
        const placements = await withClusterVmids(svc, domain, placementsOf(held, domain, input.procs));
        await svc.db.ticket.create({
          data: {
            id: ticketId,
            clusterId: domain.clusterId,
            requested: input.nclones,
            granted,
            procs: input.procs,
            min,
            state: 'unused',
            allocations: {
              create: placements.map((p) => ({
                hostId: hostOfNode.get(p.hostId)!.id,
                vmid: p.vmid,
                processors: p.processors,
                memory: BigInt(p.memory),
              })),
            },
          },
        });
        svc.log.info({ ticket: ticketId, job: jobId, scheduler: ctx.scheduler.kind, granted }, 'ticket granted by the batch scheduler');
        return ticketDetail(svc, ticketId);
      } catch (err) {
        if (jobId && !parked) {
          await ctx.scheduler.cancel(jobId).catch((e: unknown) => {
            svc.log.warn(
              { job: jobId, err: messageOf(e) },
              'could not cancel the placeholder job of a refused ticket: sfmd cancels it at its next sync',
            );
          });
        }
        throw err;
      } finally {
        if (!parked) ctx.granting.delete(ticketId);
      }
    },
  );
}

/**
 * The placements renumbered with vmids free in the cluster (several tickets may be open at once). The
 * placement lock keeps two grants from taking the same ones; the scheduler already started at most what
 * the subnet holds (tickets.ts refuses larger requests).
 */
async function withClusterVmids(svc: MasterServices, domain: LiveDomain, placements: Placement[]): Promise<Placement[]> {
  const limit = clusterSubnet(svc.config.clusterNetwork, domain.cluster.clusterid).maxVms;
  const vmids = freeVmids(await takenVmids(svc.db, domain.clusterId), placements.length, limit);
  if (vmids.length < placements.length) {
    throw new SfError(
      'NO_RESOURCES',
      `cluster ${domain.cluster.clusterid}'s subnet has no free vmids left for this ticket: merge tickets first`,
    );
  }
  return placements.map((p, i) => ({ ...p, vmid: vmids[i]! }));
}

/** Waits until every task runs, the scheduler has looked at the pending ones (non-blocking), or `waitMs` passed. */
async function tasksStarted(ctx: SchedulerContext, name: string, jobId: string, input: TicketRequest, waitMs: number): Promise<QueuedJob> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const job = (await ctx.scheduler.jobs(name, jobId)).find((j) => j.id === jobId);
    if (!job) {
      throw new SfError(
        'NO_RESOURCES',
        `placeholder job ${jobId} (${name}) left the ${ctx.scheduler.kind} queue before it started (cancelled by an admin, or refused): request again`,
      );
    }
    if (job.running.length >= input.nclones) return job;
    if (!input.block && job.settled) return job;
    if (Date.now() >= deadline) return job;
    await sleep(ctx.pollMs);
  }
}

/**
 * Clone mode: one VM per task, with the master's vcpus. Procs mode: each node's processors split into VMs
 * of at most the master's vcpus. `hostId` here is the scheduler's node name; the caller maps it to the host.
 */
function placementsOf(held: readonly HeldTask[], domain: LiveDomain, procs: boolean): Placement[] {
  const memory = Number(domain.memory);
  const out: Placement[] = [];
  if (!procs) {
    for (const t of held) out.push({ vmid: out.length + 1, hostId: t.node, processors: domain.vcpus, memory });
    return out;
  }
  const perNode = new Map<string, number>();
  for (const t of held) perNode.set(t.node, (perNode.get(t.node) ?? 0) + t.cpus);
  for (const [node, cpus] of perNode) {
    for (let left = cpus; left > 0; left -= domain.vcpus) {
      out.push({ vmid: out.length + 1, hostId: node, processors: Math.min(domain.vcpus, left), memory });
    }
  }
  return out;
}
