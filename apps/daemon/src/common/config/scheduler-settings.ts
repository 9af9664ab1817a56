// sfmd.cfg's `allocator` and the batch-scheduler settings that go with 'slurm' and 'sge': where placeholder
// jobs are submitted (queue, account), the scheduler's name for each host, and the environment its CLIs need.
import { childAt, configError, describe, isDict, nullable, oneOf, optional, string, type Check, type Where } from './schema.ts';

export const ALLOCATOR_NAMES = ['default', 'slurm', 'sge'] as const;
export type AllocatorName = (typeof ALLOCATOR_NAMES)[number];

export interface SchedulerSettings {
  /** Slurm partition (-p) or Grid Engine queue (-q); null: the scheduler's default. */
  queue: string | null;
  /** Slurm account (-A) or Grid Engine project (-P); null: none given. */
  account: string | null;
  /** Grid Engine parallel environment holding a clone's slots on one host (allocation_rule $pe_slots). */
  parallelEnv: string;
  /** cluster_hosts name → the scheduler's node name, for hosts the scheduler knows by another name. */
  nodeNames: Record<string, string>;
  /** Extra environment for sbatch/squeue/scancel or qsub/qstat/qdel (SLURM_CONF, SGE_ROOT, SGE_CELL, ...). */
  env: Record<string, string>;
}

export const DEFAULT_SCHEDULER_SETTINGS: SchedulerSettings = { queue: null, account: null, parallelEnv: 'smp', nodeNames: {}, env: {} };

// Scheduler names and CLI arguments: no spaces or shell-special characters, which no scheduler accepts anyway.
const token = (what: string) => string({ maxLength: 200, pattern: /^[A-Za-z0-9_.@:+-]+$/, what });

function stringMap(key: Check<string>, value: Check<string>, what: string): Check<Record<string, string>> {
  return (v, at) => {
    if (!isDict(v)) throw configError(at, `expected ${what}, got ${describe(v)}`);
    const out: Record<string, string> = {};
    for (const [k, item] of Object.entries(v)) {
      const here = childAt(at, v, k);
      out[key(k, here)] = value(item, here);
    }
    return out;
  };
}

const envName = string({ maxLength: 100, pattern: /^[A-Za-z_][A-Za-z0-9_]*$/, what: 'an environment variable name' });

export const SCHEDULER_FIELDS = {
  allocator: optional(oneOf(ALLOCATOR_NAMES), 'default' as AllocatorName),
  scheduler_queue: optional(nullable(token('a partition or queue name')), null),
  scheduler_account: optional(nullable(token('an account or project name')), null),
  scheduler_parallel_env: optional(token('a Grid Engine parallel environment name'), 'smp'),
  scheduler_node_names: optional(
    stringMap(string({ maxLength: 253 }), token('a node name'), "a dict of cluster_hosts name to node name, e.g. {'node1.site': 'node1'}"),
    {},
  ),
  scheduler_env: optional(
    stringMap(envName, string({ minLength: 0 }), "a dict of environment variables, e.g. {'SLURM_CONF': '/etc/slurm/slurm.conf'}"),
    {},
  ),
};

/** Checks what only makes sense against cluster_hosts: every scheduler_node_names key names a host. */
export function schedulerSettings(
  s: {
    scheduler_queue: string | null;
    scheduler_account: string | null;
    scheduler_parallel_env: string;
    scheduler_node_names: Record<string, string>;
    scheduler_env: Record<string, string>;
  },
  hostNames: readonly string[],
  at: (key: string) => Where,
): SchedulerSettings {
  const known = new Set(hostNames.map((h) => h.toLowerCase()));
  for (const host of Object.keys(s.scheduler_node_names)) {
    if (!known.has(host.toLowerCase())) {
      throw configError(
        at('scheduler_node_names'),
        `'${host}' is not in cluster_hosts (${hostNames.join(', ')}): name hosts as cluster_hosts does`,
      );
    }
  }
  return {
    queue: s.scheduler_queue,
    account: s.scheduler_account,
    parallelEnv: s.scheduler_parallel_env,
    nodeNames: s.scheduler_node_names,
    env: s.scheduler_env,
  };
}

/** The scheduler's node name for a Snowflock host. */
export function nodeNameOf(settings: SchedulerSettings, host: string): string {
  const lower = host.toLowerCase();
  for (const [h, node] of Object.entries(settings.nodeNames)) if (h.toLowerCase() === lower) return node;
  return host;
}
