// Slurm through its CLIs: a placeholder is an array job (`sbatch --array=1-K -c CPUS`), one task per clone
// (or per processor), kept off nodes that are no Snowflock host with --exclude; squeue shows where tasks run.
import { messageOf, SfError } from '../../common/errors.ts';
import type { SchedulerSettings } from '../../common/config/index.ts';
import { runCli } from './cli.ts';
import type { BatchScheduler, NodeUsage, PlaceholderJob, QueuedJob } from './types.ts';

const HINT = 'check that slurmctld runs and that sfmd finds it (SLURM_CONF, or scheduler_env in sfmd.cfg)';
const SEP = '\u001f'; // never in a job name or node list

/** A task that has not started yet and the scheduler has not looked at reads reason None. */
const UNEXAMINED = new Set(['None', '(null)', '']);

export function slurmScheduler(settings: SchedulerSettings): BatchScheduler {
  const cli = (cmd: string, args: string[]) => runCli(cmd, args, { env: settings.env, hint: HINT });

  async function partitionNodes(): Promise<string[]> {
    const args = ['-h', '-N', '-o', '%N'];
    if (settings.queue) args.push('-p', settings.queue);
    const out = await cli('sinfo', args);
    return [
      ...new Set(
        out
          .split('\n')
          .map((l) => l.trim())
          .filter(Boolean),
      ),
    ];
  }

  return {
    kind: 'slurm',
    settleMs: 5000,
    async submit(job: PlaceholderJob) {
      const all = await partitionNodes();
      const allowed = new Set(job.nodes);
      if (!all.some((n) => allowed.has(n))) {
        throw new SfError(
          'NO_RESOURCES',
          `no online Snowflock host is a node of Slurm ${settings.queue ? `partition ${settings.queue}` : 'the default partition'} ` +
            `(hosts: ${job.nodes.join(', ') || 'none'}; nodes: ${all.join(', ') || 'none'}): map them with scheduler_node_names in sfmd.cfg`,
        );
      }
      const exclude = all.filter((n) => !allowed.has(n));
      const args = [
        '--parsable',
        '--job-name',
        job.name,
        `--array=1-${job.tasks}`,
        '--ntasks=1',
        `--cpus-per-task=${job.cpusPerTask}`,
        '--no-requeue',
        '--output=/dev/null',
        '--error=/dev/null',
        '--chdir=/',
        ...(settings.queue ? ['--partition', settings.queue] : []),
        ...(settings.account ? ['--account', settings.account] : []),
        ...(exclude.length ? [`--exclude=${exclude.join(',')}`] : []),
        // The job holds the slots; the clones run in Snowflock's VMs, not in it.
        '--wrap',
        'exec sleep infinity',
      ];
      const out = await cli('sbatch', args);
      const id = out.trim().split(';')[0] ?? '';
      if (!/^\d+$/.test(id)) throw new SfError('UNAVAILABLE', `sbatch answered '${out.trim()}' instead of a job id; ${HINT}`);
      return id;
    },
    async jobs(prefix: string, jobId?: string) {
      // Only sfmd's own jobs (a big site's queue is long): placeholders are always submitted as sfmd's user.
      const which = jobId ? ['--jobs', jobId] : ['--me'];
      const out = await cli('squeue', ['-h', '-r', ...which, '-o', ['%i', '%j', '%T', '%N', '%C', '%r'].join(SEP)]).catch(
        (err: unknown) => {
          // A job purged from the controller is no error here: it is simply not queued any more.
          if (jobId && /Invalid job id/i.test(messageOf(err))) return '';
          throw err;
        },
      );
      const byId = new Map<string, QueuedJob>();
      for (const line of out.split('\n')) {
        const [jobTask, name, state, node, cpus, reason] = line.split(SEP);
        if (!jobTask || !name?.startsWith(prefix)) continue;
        const [id, task = ''] = jobTask.split('_') as [string, string?];
        const running = state === 'RUNNING' || state === 'CONFIGURING';
        // Completing, suspended or ended tasks hold nothing a ticket can use.
        if (!running && state !== 'PENDING') continue;
        const job = byId.get(id) ?? { id, name, running: [], pending: [], settled: true };
        byId.set(id, job);
        if (running) job.running.push({ task, node: node ?? '', cpus: Number(cpus) });
        else {
          job.pending.push(task);
          if (UNEXAMINED.has(reason ?? '')) job.settled = false;
        }
      }
      return [...byId.values()];
    },
    async cancel(jobId: string, tasks?: readonly string[]) {
      if (tasks && tasks.length === 0) return;
      await cli('scancel', tasks ? tasks.map((t) => `${jobId}_${t}`) : [jobId]);
    },
    async nodes() {
      // %C is allocated/idle/other/total CPUs; a node in several partitions is listed once per partition.
      const out = await cli('sinfo', ['-h', '-N', '-o', `%N${SEP}%C`]);
      const byNode = new Map<string, NodeUsage>();
      for (const line of out.split('\n')) {
        const [node, cpus] = line.trim().split(SEP);
        const [allocated, , , total] = (cpus ?? '').split('/').map(Number);
        if (node && total !== undefined) byNode.set(node, { node, cpus: total, allocated: allocated ?? 0 });
      }
      return [...byNode.values()];
    },
  };
}
