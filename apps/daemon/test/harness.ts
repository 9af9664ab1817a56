// The multi-host harness (scripts/hosts.mjs) for tests: bring N namespaced hosts up with their own prefix,
// subnet and data directory, tear them down after, and seed guests through the real CLI and daemons.
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { ForkTiming } from '../src/common/events.ts';
import type { RemoteCloneTiming } from '../src/common/wire.ts';
import type { CloneStages } from '../src/master/fork.ts';
import type { HostState, OperationStatus } from '../src/master/store/states.ts';
import { json, runSf, type CliResult } from './cli-runner.ts';
import { consoleText, domainEnded } from './cluster-driver.ts';
export { domains, type DomainRow } from './cluster-driver.ts';
import { seedFile } from './guests.ts';
import { tempHome } from './support.ts';

const HOSTS_BIN = fileURLToPath(new URL('../../../scripts/hosts.mjs', import.meta.url));
const ADDON = fileURLToPath(new URL('../../../native/build/Release/snowflock.node', import.meta.url));

export interface HarnessHost {
  host: string;
  netns: string;
  /** Its sfld.cfg. */
  config: string;
  address: string;
  pid: number | null;
  running: boolean;
  present: boolean;
}
export interface HarnessStatus {
  prefix: string;
  home: string;
  up: boolean;
  subnet: string;
  bridge: { name: string; address: string };
  sfmd: { pid: number; url: string };
  hosts: HarnessHost[];
  /** The outside namespace's test servers (HTTP on httpPort, echo on echoPort) on two addresses. */
  outside: { netns: string; whitelisted: string; other: string; httpPort: number; echoPort: number; present: boolean };
}
export interface HostRow {
  name: string;
  unicast: string;
  multicast: string;
  state: HostState;
  cpusUsed?: number;
}

export function cannotRunHarness(): string | null {
  if (process.getuid?.() !== 0) return 'the multi-host harness needs root (network namespaces, veth pairs, a bridge)';
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (netns.error || netns.status !== 0) return '`ip netns` is not available here (iproute2 with network namespace support)';
  if (!existsSync(ADDON)) return `the native addon is not built (${ADDON}; sfld loads it): run npm run build`;
  return null;
}

export function hostsCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [HOSTS_BIN, ...args],
      { timeout: 90_000, maxBuffer: 4 << 20, env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** Everything `ip` still shows with this prefix in the root namespace: namespaces and links. */
export function leftovers(prefix: string): string[] {
  const namespaces = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .stdout.split('\n')
    .map((l) => l.split(' ')[0]!);
  const links = (JSON.parse(spawnSync('ip', ['-j', 'link'], { encoding: 'utf8' }).stdout) as { ifname: string }[]).map((l) => l.ifname);
  return [...namespaces, ...links].filter((n) => n === `${prefix}br0` || n.startsWith(`${prefix}-h`) || n.startsWith(`${prefix}-out`));
}

export interface UpOptions {
  count: number;
  cpus?: number;
  ramGiB?: number;
  networkMode?: 'multicast' | 'unicast';
  /** sfmd.cfg network_whitelist lists the outside's `whitelisted` address (`other` stays off it). */
  whitelistOutside?: boolean;
  /** Extra environment for the daemons (e.g. SNOWFLOCK_TEST_PAGE_LOSS). */
  env?: NodeJS.ProcessEnv;
}

/** Brings hosts up under a prefix of its own (so runs beside `npm start -- --hosts N`); down after the test. */
export async function upHosts(t: TestContext, tag: string, options: UpOptions) {
  const prefix = `${tag}${(process.pid % 36 ** 3).toString(36)}`;
  const home = tempHome(`sf-${tag}-`);
  const where = ['--prefix', prefix, '--home', home];
  t.after(async () => {
    await hostsCli(['down', ...where, '--json']);
    rmSync(home, { recursive: true, force: true });
    assert.deepEqual(leftovers(prefix), [], 'no namespace, veth or bridge is left');
  });
  const status = await json<HarnessStatus>(
    hostsCli(
      [
        'up',
        String(options.count),
        ...where,
        '--subnet',
        'auto',
        '--cpus',
        String(options.cpus ?? 2),
        '--ram-gib',
        String(options.ramGiB ?? 2),
        '--network-mode',
        options.networkMode ?? 'multicast',
        ...(options.whitelistOutside ? ['--whitelist-outside'] : []),
        '--json',
      ],
      options.env,
    ),
  );
  return { status, home, prefix, env: { SNOWFLOCK_HOME: home } };
}

export const ALIGN_RESULT = /^align result digest=0x[0-9a-f]+ items=\d+ verified (OK|FAILED)$/m;

/** Seeds `image args`; returns its cluster id once it is seeded (the master runs). */
export async function seed(env: NodeJS.ProcessEnv, home: string, image: string, args: string, memoryMiB = 64, vcpus = 1): Promise<number> {
  const file = path.join(home, `seed-${path.basename(image)}-${args.replace(/\W+/g, '_')}.cfg`);
  writeFileSync(file, seedFile(image, args, memoryMiB, vcpus));
  return (await json<{ clusterid: number }>(runSf(['seed', file, '--json'], env))).clusterid;
}

/** Waits for a cluster's master to end; returns its console text. */
export async function masterOutput(env: NodeJS.ProcessEnv, clusterid: number, timeoutMs = 150_000): Promise<string> {
  await domainEnded(env, `${clusterid}:0`, timeoutMs);
  return consoleText(env, `${clusterid}:0`);
}

/**
 * An operation's detail as `sf ops --json` prints it: the figures clone.master records (master/fork.ts)
 * are typed, the rest of any kind's detail is left unknown.
 */
export interface OperationDetail extends Record<string, unknown> {
  started?: number;
  pauseMs?: number;
  /** Clones made in shells: on the master's host (prepared from its ticket call) and elsewhere (ticket:shells). */
  fromShells?: number;
  remoteFromShells?: number;
  network?: { mode: string; group: string | null; snapshotId: string; memserverPort: number } | null;
  /** Where the clone.master's time went (sfmd's view); absent from records of an sfmd before these figures. */
  stages?: CloneStages;
  /** The master's sfld's own split of its fork; null when that sfld sends none. */
  forkTiming?: ForkTiming | null;
  /** Each other host's own split of making its clones (absent from older records). */
  remoteTiming?: Record<string, RemoteCloneTiming>;
}

/** An operation's row as `sf ops --json` prints it. */
export interface OperationRow {
  kind: string;
  status: OperationStatus;
  requester: string;
  target: string;
  detail: OperationDetail;
}

/** The newest operation of a kind, with its detail. */
export async function lastOperation(env: NodeJS.ProcessEnv, kind: string) {
  const ops = await json<OperationRow[]>(runSf(['ops', '--kind', kind, '--limit', '1', '--json'], env));
  assert.ok(ops[0], `an operation of kind ${kind}`);
  return ops[0];
}

/** The clone.master of cluster `clusterid`'s master among the newest `limit`, or null. */
export async function cloneMasterOf(env: NodeJS.ProcessEnv, clusterid: number, limit = 20): Promise<OperationRow | null> {
  const ops = await json<OperationRow[]>(runSf(['ops', '--kind', 'clone.master', '--limit', String(limit), '--json'], env));
  return ops.find((o) => o.requester === `domain:${clusterid}:0`) ?? null;
}
