// The batch-scheduler allocators ('slurm', 'sge'): sfmd hands clone placement to the site's scheduler, syncs
// its placeholder jobs with the tickets at start and whenever resources are released, and every few seconds.
import type { AllocatorName, SchedulerSettings } from '../../common/config/index.ts';
import type { MasterServices } from '../services.ts';
import { placeTicketsWith } from '../tickets.ts';
import type { SchedulerContext } from './context.ts';
import { requestSchedulerTicket } from './grant.ts';
import { installationTag } from './naming.ts';
import { sgeScheduler } from './sge.ts';
import { slurmScheduler } from './slurm.ts';
import { syncRunner } from './sync.ts';
import type { BatchScheduler } from './types.ts';

export type { BatchScheduler } from './types.ts';
export { syncWithScheduler } from './sync.ts';
export { jobName, jobPrefix, installationTag } from './naming.ts';

/** A scheduler notices a job cancelled from outside within this: the sync looks at the queue this often. */
export const SYNC_EVERY_MS = 5000;

export function batchScheduler(kind: Exclude<AllocatorName, 'default'>, settings: SchedulerSettings): BatchScheduler {
  return kind === 'slurm' ? slurmScheduler(settings) : sgeScheduler(settings);
}

export interface SchedulerAllocation {
  ctx: SchedulerContext;
  /** Syncs now (after any sync under way) and resolves when done; errors are logged, not thrown. */
  sync(): Promise<void>;
  stop(): void;
}

/**
 * Puts the scheduler in charge of this sfmd's tickets and reconciles once before returning (a scheduler down at
 * start is logged; requests then fail UNAVAILABLE until it answers, and the periodic sync catches up).
 */
export async function startSchedulerAllocation(
  svc: MasterServices,
  scheduler: BatchScheduler,
  settings: SchedulerSettings,
  home: string,
  opts: { syncEveryMs?: number; pollMs?: number } = {},
): Promise<SchedulerAllocation> {
  const ctx: SchedulerContext = {
    scheduler,
    settings,
    tag: installationTag(home),
    granting: new Set(),
    parked: new Map(),
    pollMs: opts.pollMs ?? 200,
  };
  placeTicketsWith(svc, (s, domain, input) => requestSchedulerTicket(s, ctx, domain, input));
  const runner = syncRunner(svc, ctx);
  const onRelease = () => void runner.request();
  svc.events.on('capacity', onRelease);
  const timer = setInterval(onRelease, opts.syncEveryMs ?? SYNC_EVERY_MS);
  timer.unref();
  await runner.request();
  return {
    ctx,
    sync: () => runner.request().then(() => runner.request()),
    stop() {
      clearInterval(timer);
      svc.events.off('capacity', onRelease);
    },
  };
}
