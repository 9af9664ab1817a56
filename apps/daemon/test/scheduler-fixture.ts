// Real Slurm or Grid Engine daemons for a test file (scripts/schedulers.mjs, started once, torn down after),
// an sfmd fixture whose tickets they place, and the admin's view of the queue through the scheduler's own CLIs.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_SCHEDULER_SETTINGS, type SchedulerSettings } from '../src/common/config/index.ts';
import { getAllocator } from '../src/master/allocator/index.ts';
import { batchScheduler, jobPrefix, startSchedulerAllocation, type SchedulerAllocation } from '../src/master/scheduler/index.ts';
import { masterFixture, type HostSpec, type MasterFixture } from './support.ts';

type Kind = 'slurm' | 'sge';
const SCRIPT = fileURLToPath(new URL('../../../scripts/schedulers.mjs', import.meta.url));

/** Why this machine cannot run `kind`'s daemons (not root, not installed), or null. */
export function cannotRunScheduler(kind: Kind): string | null {
  const r = spawnSync(process.execPath, [SCRIPT, 'check', kind], { encoding: 'utf8' });
  return r.status === 0 ? null : r.stdout.trim() || r.stderr.trim() || `scripts/schedulers.mjs check ${kind} failed`;
}

export interface SchedulerDaemons {
  kind: Kind;
  dir: string;
  /** What the CLIs need to find these daemons (SLURM_CONF, or SGE_ROOT/SGE_CELL/ports). */
  env: Record<string, string>;
  /** Runs one of the scheduler's CLIs against these daemons, as the site's admin would. */
  cli(command: string, ...args: string[]): string;
  down(): void;
}

/** Starts `kind` with `nodes` (NAME:CPUS) in a throwaway folder. */
export function schedulerDaemons(kind: Kind, nodes: string[]): SchedulerDaemons {
  const dir = mkdtempSync(path.join(os.tmpdir(), `sf-${kind}-test-`));
  const out = execFileSync(process.execPath, [SCRIPT, 'up', kind, '--dir', dir, ...nodes.flatMap((n) => ['--node', n])], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  const env = Object.fromEntries([...out.matchAll(/^export (\w+)=(.*)$/gm)].map((m) => [m[1]!, m[2]!]));
  return {
    kind,
    dir,
    env,
    cli: (command, ...args) => execFileSync(command, args, { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 15_000 }),
    down: () => execFileSync(process.execPath, [SCRIPT, 'down', '--dir', dir], { encoding: 'utf8', timeout: 30_000 }),
  };
}

export interface ScheduledMaster {
  f: MasterFixture;
  alloc: SchedulerAllocation;
  settings: SchedulerSettings;
  /** This sfmd's placeholder jobs as the scheduler lists them: job id → { name, running tasks per node }. */
  queue(): Promise<Map<string, { name: string; nodes: Record<string, number>; pending: number }>>;
  close(): Promise<void>;
}

/** An sfmd fixture with `hosts` whose tickets `daemons` place; `nodeNames` maps host names to node names. */
export async function scheduledMaster(
  daemons: SchedulerDaemons,
  hosts: HostSpec[],
  nodeNames: Record<string, string>,
  settings: Partial<SchedulerSettings> = {},
): Promise<ScheduledMaster> {
  const f = await masterFixture(hosts, { offlineAfterMs: 150 });
  f.svc.allocator = getAllocator(daemons.kind); // as sfmd.cfg's allocator line does in main.ts
  const s: SchedulerSettings = { ...DEFAULT_SCHEDULER_SETTINGS, nodeNames, env: daemons.env, ...settings };
  // Syncs in these tests follow releases (capacity events) and explicit alloc.sync(), not the periodic timer.
  const alloc = await startSchedulerAllocation(f.svc, batchScheduler(daemons.kind, s), s, f.paths.home, {
    syncEveryMs: 600_000,
    pollMs: 100,
  });
  return {
    f,
    alloc,
    settings: s,
    async queue() {
      const jobs = await alloc.ctx.scheduler.jobs(jobPrefix(alloc.ctx.tag));
      return new Map(
        jobs.map((j) => {
          const nodes: Record<string, number> = {};
          for (const t of j.running) nodes[t.node] = (nodes[t.node] ?? 0) + 1;
          return [j.id, { name: j.name, nodes, pending: j.pending.length }];
        }),
      );
    },
    async close() {
      alloc.stop();
      await f.close();
    },
  };
}
