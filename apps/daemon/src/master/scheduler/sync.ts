// Keeps the scheduler's placeholder jobs and sfmd's tickets in step. Run at start (reconcile after a restart)
// and whenever resources are released: tasks no live clone or unused reservation needs are cancelled (merge,
// kill, dispose, clone exit, host loss), jobs whose ticket is gone are cancelled, and a ticket whose job
// vanished from the queue gives up what it held.
import { dropAbandonedRequests } from './grant.ts';
import { messageOf } from '../../common/errors.ts';
import { nodeNameOf } from '../../common/config/index.ts';
import { endClones } from '../clones.ts';
import type { MasterServices } from '../services.ts';
import { LIVE_DOMAIN_STATES } from '../store/states.ts';
import { tellClusterTicketsEnded } from '../ticket-ended.ts';
import type { SchedulerContext } from './context.ts';
import { jobPrefix, ticketOfJob } from './naming.ts';
import { schedulerView, setSchedulerView, type SchedulerHostView } from './view.ts';

export interface SyncReport {
  /** Whole jobs cancelled: their ticket was over, unknown, or needed nothing any more. */
  cancelledJobs: string[];
  /** Tasks cancelled out of jobs whose ticket still holds some. */
  cancelledTasks: number;
  /** Live tickets whose job was gone from the queue: released. */
  releasedTickets: string[];
}

async function liveTickets(svc: MasterServices) {
  return svc.db.ticket.findMany({
    where: { state: { in: ['unused', 'outstanding'] } },
    include: {
      allocations: { include: { host: true } },
      domains: { where: { state: { in: [...LIVE_DOMAIN_STATES] } }, include: { host: true } },
    },
  });
}
type LiveTicket = Awaited<ReturnType<typeof liveTickets>>[number];

/** CPUs the ticket still needs per scheduler node: its reservations while unused, its live clones once used. */
function neededCpus(ctx: SchedulerContext, t: LiveTicket): Map<string, number> {
  const need = new Map<string, number>();
  const add = (host: { name: string; state: string }, cpus: number) => {
    if (host.state !== 'online') return; // a lost host's slots go back to the scheduler
    const node = nodeNameOf(ctx.settings, host.name);
    need.set(node, (need.get(node) ?? 0) + cpus);
  };
  if (t.state === 'unused') for (const a of t.allocations) add(a.host, a.processors);
  else for (const d of t.domains) add(d.host, d.vcpus);
  return need;
}

export async function syncWithScheduler(svc: MasterServices, ctx: SchedulerContext): Promise<SyncReport> {
  const report: SyncReport = { cancelledJobs: [], cancelledTasks: 0, releasedTickets: [] };
  // The queue first: a ticket granted after this listing has no job in it yet and is skipped below as granting.
  const jobs = await ctx.scheduler.jobs(jobPrefix(ctx.tag));
  const granting = new Set(ctx.granting);
  const tickets = new Map((await liveTickets(svc)).map((t) => [t.id, t]));
  const withJob = new Set<string>();
  const held = new Map<string, number>(); // CPUs per node this sfmd's tasks keep after this sync
  for (const job of jobs) {
    const ticketId = ticketOfJob(ctx.tag, job.name);
    if (ticketId === null || granting.has(ticketId) || ctx.granting.has(ticketId)) continue;
    withJob.add(ticketId);
    const ticket = tickets.get(ticketId);
    const need = ticket ? neededCpus(ctx, ticket) : new Map<string, number>();
    const extra = [...job.pending];
    for (const task of job.running) {
      const left = need.get(task.node) ?? 0;
      if (left >= task.cpus) {
        need.set(task.node, left - task.cpus);
        held.set(task.node, (held.get(task.node) ?? 0) + task.cpus);
      } else extra.push(task.task);
    }
    if (extra.length === 0) continue;
    if (extra.length === job.pending.length + job.running.length) {
      await ctx.scheduler.cancel(job.id);
      report.cancelledJobs.push(job.id);
    } else {
      await ctx.scheduler.cancel(job.id, extra);
      report.cancelledTasks += extra.length;
    }
  }
  for (const t of tickets.values()) {
    if (withJob.has(t.id) || granting.has(t.id) || ctx.granting.has(t.id) || neededCpus(ctx, t).size === 0) continue;
    await releaseVanished(svc, t);
    report.releasedTickets.push(t.id);
  }
  await recordView(svc, ctx, held);
  if (report.cancelledJobs.length || report.cancelledTasks || report.releasedTickets.length) {
    svc.log.info({ scheduler: ctx.scheduler.kind, ...report }, 'placeholder jobs and tickets reconciled');
  }
  return report;
}

/** What the Host View and sfstate show per host: the node's CPUs, Snowflock's share and everyone else's. */
async function recordView(svc: MasterServices, ctx: SchedulerContext, held: Map<string, number>): Promise<void> {
  const nodes = new Map((await ctx.scheduler.nodes()).map((n) => [n.node, n]));
  const hosts: Record<string, SchedulerHostView> = {};
  for (const h of await svc.db.host.findMany({ select: { name: true } })) {
    const node = nodeNameOf(ctx.settings, h.name);
    const usage = nodes.get(node);
    if (!usage) continue;
    const bySnowflock = held.get(node) ?? 0;
    hosts[h.name] = { node, cpus: usage.cpus, bySnowflock, byOthers: Math.max(0, usage.allocated - bySnowflock) };
  }
  setSchedulerView(svc, { kind: ctx.scheduler.kind, at: new Date().toISOString(), error: null, hosts });
}

/**
 * The scheduler no longer holds slots for this ticket (an admin cancelled its job, the scheduler lost it): an
 * unused ticket is disposed, an outstanding one's clones are stopped, since they would run on slots the
 * scheduler has given to someone else. The master's join or merge then ends the ticket as for lost clones.
 */
async function releaseVanished(svc: MasterServices, t: LiveTicket): Promise<void> {
  const reason = `the batch scheduler no longer holds the slots of ticket ${t.id} (its placeholder job left the queue)`;
  if (t.state === 'unused') {
    const { count } = await svc.db.ticket.updateMany({ where: { id: t.id, state: 'unused' }, data: { state: 'disposed' } });
    if (count > 0) await tellClusterTicketsEnded(svc, t.clusterId, [t.id]);
  } else {
    await endClones(svc, t.id, 'stopped', reason);
  }
  svc.log.warn({ ticket: t.id, state: t.state }, reason);
  svc.events.emit('capacity');
}

/** Runs syncs one at a time; a request during a run gets one more run after it. */
export function syncRunner(svc: MasterServices, ctx: SchedulerContext) {
  let running: Promise<void> | null = null;
  let again = false;
  let lastError: string | null = null;
  const once = async () => {
    try {
      await dropAbandonedRequests(svc, ctx);
      await syncWithScheduler(svc, ctx);
      if (lastError) svc.log.info({ scheduler: ctx.scheduler.kind }, 'the batch scheduler answers again');
      lastError = null;
    } catch (err) {
      // Said once per outage, not every few seconds: the next sync retries.
      if (messageOf(err) !== lastError) svc.log.error({ err: messageOf(err) }, 'cannot reconcile tickets with the batch scheduler');
      lastError = messageOf(err);
      const before = schedulerView(svc);
      setSchedulerView(svc, { kind: ctx.scheduler.kind, at: before?.at ?? null, error: lastError, hosts: before?.hosts ?? {} });
    }
  };
  const loop = async () => {
    do {
      again = false;
      await once();
    } while (again);
    running = null;
  };
  return {
    /** Starts a sync (or queues one after the current); resolves when the queue and the record agree. */
    request(): Promise<void> {
      if (running) {
        again = true;
        return running;
      }
      running = loop();
      return running;
    },
    get lastError() {
      return lastError;
    },
  };
}
