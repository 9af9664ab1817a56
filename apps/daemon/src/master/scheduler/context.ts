// What the scheduler allocator's parts share for one sfmd: the scheduler, its settings, this installation's
// job-name tag and the tickets being granted right now (whose jobs the sync must leave alone).
import type { SchedulerSettings } from '../../common/config/index.ts';
import type { BatchScheduler } from './types.ts';

export interface SchedulerContext {
  scheduler: BatchScheduler;
  settings: SchedulerSettings;
  tag: string;
  granting: Set<string>;
  /** How often a waiting request looks at the queue again. */
  pollMs: number;
  /** Blocking requests whose client was told STILL_WAITING: their job stays queued for the next call. */
  parked: Map<string, ParkedRequest>;
}

export interface ParkedRequest {
  ticketId: string;
  jobId: string;
  lastAsked: number;
}
