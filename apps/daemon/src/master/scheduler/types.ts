// What sfmd needs from a batch scheduler (Slurm, Grid Engine): submit a placeholder array job, see which of
// its tasks run where, cancel tasks or the whole job. Each CLI-backed implementation lives in its own file.

/** One running task of a placeholder job: `cpus` of node `node` held for Snowflock. */
export interface HeldTask {
  task: string;
  node: string;
  cpus: number;
}

/** A placeholder job as the scheduler's queue shows it now. */
export interface QueuedJob {
  id: string;
  name: string;
  running: HeldTask[];
  /** Task ids not started yet. */
  pending: string[];
  /** True when the scheduler has looked at every pending task and left it waiting (no more will start this pass). */
  settled: boolean;
}

/** An array job of `tasks` tasks of `cpusPerTask` CPUs each, each task on one node among `nodes`. */
export interface PlaceholderJob {
  name: string;
  tasks: number;
  cpusPerTask: number;
  nodes: readonly string[];
}

/** One node as the scheduler counts it: CPUs (slots) in all, and allocated to any job. */
export interface NodeUsage {
  node: string;
  cpus: number;
  allocated: number;
}

export interface BatchScheduler {
  readonly kind: 'slurm' | 'sge';
  /** How long a non-blocking request gives the scheduler to start tasks when it does not say it has looked. */
  readonly settleMs: number;
  /** Submits the job; returns its id. */
  submit(job: PlaceholderJob): Promise<string>;
  /** sfmd's own jobs whose names start with `prefix` (running and pending, not the ones ending); `jobId`: that one only. */
  jobs(prefix: string, jobId?: string): Promise<QueuedJob[]>;
  /** Cancels the whole job, or only the given tasks of it. */
  cancel(jobId: string, tasks?: readonly string[]): Promise<void>;
  /** Every node's CPUs and how many are allocated (to anyone). */
  nodes(): Promise<NodeUsage[]>;
}
