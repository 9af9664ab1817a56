// Grid Engine through its CLIs: a placeholder is an array job (`qsub -t 1-K -pe PE CPUS`), one task per clone
// (or per processor), limited to Snowflock hosts with -l hostname=a|b; `qstat -xml` shows where tasks run.
import os from 'node:os';
import { SfError } from '../../common/errors.ts';
import type { SchedulerSettings } from '../../common/config/index.ts';
import { runCli } from './cli.ts';
import type { BatchScheduler, NodeUsage, PlaceholderJob, QueuedJob } from './types.ts';

const HINT = 'check that sge_qmaster runs and that sfmd finds it (SGE_ROOT, SGE_CELL, or scheduler_env in sfmd.cfg)';

function field(block: string, tag: string): string {
  return block.match(new RegExp(`<${tag}>([^<]*)</${tag}>`))?.[1]?.trim() ?? '';
}

/** Task ids of a range like "2-5:1" or "3,7" (pending array tasks are shown as ranges). */
function expandTasks(spec: string): string[] {
  const out: string[] = [];
  for (const part of spec.split(',')) {
    const m = part.match(/^(\d+)(?:-(\d+)(?::(\d+))?)?$/);
    if (!m) continue;
    const [from, to, step] = [Number(m[1]), Number(m[2] ?? m[1]), Number(m[3] ?? 1)];
    for (let t = from; t <= to; t += step) out.push(String(t));
  }
  return out;
}

export function sgeScheduler(settings: SchedulerSettings): BatchScheduler {
  const cli = (cmd: string, args: string[]) => runCli(cmd, args, { env: settings.env, hint: HINT });
  return {
    kind: 'sge',
    // Grid Engine does not say whether its scheduler has looked at a task: wait a couple of scheduling intervals.
    settleMs: 3000,
    async submit(job: PlaceholderJob) {
      if (job.nodes.length === 0) throw new SfError('NO_RESOURCES', 'no Snowflock host is online to place clones on');
      const args = [
        '-terse',
        '-N',
        job.name,
        '-t',
        `1-${job.tasks}`,
        '-pe',
        settings.parallelEnv,
        String(job.cpusPerTask),
        '-l',
        `hostname=${job.nodes.join('|')}`,
        '-r',
        'n',
        '-o',
        '/dev/null',
        '-e',
        '/dev/null',
        '-wd',
        '/',
        ...(settings.queue ? ['-q', settings.queue] : []),
        ...(settings.account ? ['-P', settings.account] : []),
        // The job holds the slots; the clones run in Snowflock's VMs, not in it.
        '-b',
        'y',
        'sleep',
        'infinity',
      ];
      const out = await cli('qsub', args);
      const id = out.trim().match(/^(\d+)/)?.[1];
      if (!id) throw new SfError('UNAVAILABLE', `qsub answered '${out.trim()}' instead of a job id; ${HINT}`);
      return id;
    },
    async jobs(prefix: string) {
      // Only sfmd's own jobs (a big site's queue is long): placeholders are always submitted as sfmd's user.
      const out = await cli('qstat', ['-u', os.userInfo().username, '-xml']);
      const byId = new Map<string, QueuedJob>();
      for (const m of out.matchAll(/<job_list state="(\w+)">([\s\S]*?)<\/job_list>/g)) {
        const block = m[2]!;
        const name = field(block, 'JB_name');
        if (!name.startsWith(prefix)) continue;
        const id = field(block, 'JB_job_number');
        const state = field(block, 'state');
        if (state.includes('d') || state.includes('E')) continue; // being deleted, or in error: holds nothing for us
        const job = byId.get(id) ?? { id, name, running: [], pending: [], settled: true };
        byId.set(id, job);
        // A job that is no array (one an admin submitted by hand) has no task ids: it is its own single task.
        const spec = field(block, 'tasks');
        const tasks = spec ? expandTasks(spec) : [''];
        if (/[rt]/.test(state)) {
          const node = field(block, 'queue_name').split('@')[1] ?? '';
          for (const task of tasks) job.running.push({ task, node, cpus: Number(field(block, 'slots')) });
        } else job.pending.push(...tasks);
      }
      // Grid Engine does not report whether a pending task was considered; the caller's settle time stands in.
      for (const job of byId.values()) job.settled = false;
      return [...byId.values()];
    },
    async cancel(jobId: string, tasks?: readonly string[]) {
      if (tasks && tasks.length === 0) return;
      await cli('qdel', tasks ? tasks.map((t) => `${jobId}.${t}`) : [jobId]);
    },
    async nodes() {
      // Queue instances `queue@host  BIP  resv/used/total  load  arch`: a host's slots summed over its queues.
      const out = await cli('qstat', ['-f', '-u', '*']);
      const byNode = new Map<string, NodeUsage>();
      for (const m of out.matchAll(/^\S+@(\S+)\s+\S+\s+(\d+)\/(\d+)\/(\d+)/gm)) {
        const n = byNode.get(m[1]!) ?? { node: m[1]!, cpus: 0, allocated: 0 };
        n.allocated += Number(m[2]) + Number(m[3]);
        n.cpus += Number(m[4]);
        byNode.set(n.node, n);
      }
      return [...byNode.values()];
    },
  };
}
