// The scheduler's view of each Snowflock host, as the last sync saw it: the node's CPUs, how many Snowflock's
// placeholder tasks hold and how many the site's other jobs hold. Read by the Host View and sfstate.
import type { MasterServices } from '../services.ts';

export interface SchedulerHostView {
  /** The scheduler's name for the host. */
  node: string;
  cpus: number;
  bySnowflock: number;
  byOthers: number;
}

export interface SchedulerView {
  kind: 'slurm' | 'sge';
  /** When the scheduler last answered (ISO), and what it said when it last did not. */
  at: string | null;
  error: string | null;
  /** By Snowflock host name. */
  hosts: Record<string, SchedulerHostView>;
}

const views = new WeakMap<MasterServices, SchedulerView>();

export function setSchedulerView(svc: MasterServices, view: SchedulerView): void {
  views.set(svc, view);
}

/** null when Snowflock places clones itself. */
export function schedulerView(svc: MasterServices): SchedulerView | null {
  return views.get(svc) ?? null;
}
