// Starts that tell the truth, with real processes on loopback: a second Snowflock on a taken port fails with the
// cause (who holds it) and leaves nothing running, through `sfmd start` and through `npm start`; a stop while a
// start is under way (`sfmd stop` during `sfmd start`, `npm stop` during `npm start`) leaves nothing running; a taken
// dashboard port fails `npm start` with its holder and stops the daemons it had started.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type CliResult, freePort, runSf, waitUntil } from './cli-runner.ts';
import { NO_CLUSTER_NETWORK } from './one-host.ts';
import { snowflockPaths } from '../src/common/paths.ts';
import { sfmdTransport } from '../src/common/pinned-tls.ts';
import { homeTrust } from '../src/common/sfmd-trust.ts';

const SCRIPTS = fileURLToPath(new URL('../../../scripts/', import.meta.url));

interface Home {
  home: string;
  masterPort: number;
  env: NodeJS.ProcessEnv;
}

/** A data directory with sfmd, sfld (host n1) and the dashboard on free ports of their own. */
async function makeHome(masterPort?: number): Promise<Home> {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sf-start-'));
  const port = masterPort ?? (await freePort());
  writeFileSync(
    path.join(home, 'sfmd.cfg'),
    `master_listen_port = ${port}\ncluster_hosts = [ {'host': 'n1', 'cpus': 1, 'RAM': 1024 * 1024 * 1024} ]\nclusterid = 1\n`,
  );
  writeFileSync(
    path.join(home, 'sfld.cfg'),
    `hostname = 'n1'\nmaster_host = '127.0.0.1'\nmaster_port = ${port}\nlocal_listen_port = ${await freePort()}\n${NO_CLUSTER_NETWORK}`,
  );
  return { home, masterPort: port, env: { SNOWFLOCK_HOME: home, SNOWFLOCK_WEB_PORT: String(await freePort()) } };
}

/** Pids of the processes running with this data directory (a daemon, or a start of it), from /proc. */
function processesOf(home: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      const state = readFileSync(`/proc/${name}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
      if (state !== 'Z' && environ.includes(`SNOWFLOCK_HOME=${home}`)) pids.push(Number(name));
    } catch {
      // gone, or not ours
    }
  }
  return pids;
}

/** Live pid files in the data directory's run/. */
function livePidFiles(home: string): string[] {
  const runDir = path.join(home, 'run');
  if (!existsSync(runDir)) return [];
  return readdirSync(runDir).filter((f) => {
    if (!f.endsWith('.pid')) return false;
    try {
      process.kill(Number(readFileSync(path.join(runDir, f), 'utf8')), 0);
      return true;
    } catch {
      return false;
    }
  });
}

function assertNothingRunning(home: string): void {
  assert.deepEqual(processesOf(home), [], `no process runs with ${home}`);
  assert.deepEqual(livePidFiles(home), [], `no pid file in ${home}/run names a live process`);
}

/** `node scripts/NAME ARGS` (start.mjs, stop.mjs) as a user runs it. */
function script(name: string, args: string[], env: NodeJS.ProcessEnv): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [path.join(SCRIPTS, name), ...args],
      { env: { ...process.env, SNOWFLOCK_LOG_LEVEL: 'warn', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr }),
    );
  });
}

async function cleanUp(h: Home): Promise<void> {
  await runSf(['sfld', 'stop'], h.env);
  await runSf(['sfmd', 'stop'], h.env);
  rmSync(h.home, { recursive: true, force: true });
}

test('a second Snowflock on a taken port fails with the cause and leaves nothing running', { timeout: 60_000 }, async (t) => {
  const first = await makeHome();
  t.after(() => cleanUp(first));
  const started = await runSf(['sfmd', 'start', '--json'], first.env);
  assert.equal(started.code, 0, started.stderr);
  const firstPid = (JSON.parse(started.stdout) as { pid: number }).pid;

  const second = await makeHome(first.masterPort);
  t.after(() => cleanUp(second));
  const refused = await runSf(['sfmd', 'start'], second.env);
  assert.notEqual(refused.code, 0, 'the second sfmd start fails');
  assert.match(refused.stderr, new RegExp(`port ${first.masterPort} is in use by pid ${firstPid} \\(.*sf\\.mjs sfmd start`));
  assert.ok(refused.stderr.includes(`another Snowflock's, with data in ${first.home}`), refused.stderr);
  assertNothingRunning(second.home);

  // npm start in the second home: the same cause, a non-zero exit, and no sfld registered with the first sfmd.
  const npmStart = await script('start.mjs', ['--no-build'], second.env);
  assert.equal(npmStart.code, 1, npmStart.stdout + npmStart.stderr);
  assert.match(npmStart.stderr, new RegExp(`port ${first.masterPort} is in use by pid ${firstPid}`));
  assert.doesNotMatch(npmStart.stdout, /Snowflock is running|sfld .* started/);
  assertNothingRunning(second.home);

  // The first one is untouched and still answers as itself.
  const firstUrl = `https://127.0.0.1:${first.masterPort}`;
  const pinned = sfmdTransport(firstUrl, homeTrust(snowflockPaths(first.home))).fetch;
  const health = (await (await pinned(`${firstUrl}/healthz`)).json()) as { startNonce?: string };
  assert.equal(health.startNonce, readFileSync(path.join(first.home, 'run', 'sfmd.nonce'), 'utf8').trim());
  assert.equal((await runSf(['sfmd', 'start'], first.env)).code, 0, 'a start over the running sfmd finds it as itself');
});

test('npm start with the dashboard port taken fails naming its holder and stops the sfmd and sfld it started', {
  timeout: 90_000,
}, async (t) => {
  if (!existsSync(path.join(SCRIPTS, '..', 'apps', 'web', '.next', 'BUILD_ID'))) {
    t.skip('the dashboard is not built (npm run build builds it; npm test does so before the tests)');
    return;
  }
  const h = await makeHome();
  t.after(() => cleanUp(h));
  // Some other program (this test process) holds the dashboard's port.
  const holder = net.createServer();
  await new Promise<void>((resolve) => holder.listen(Number(h.env.SNOWFLOCK_WEB_PORT), '127.0.0.1', resolve));
  t.after(() => holder.close());
  const start = await script('start.mjs', ['--no-build'], h.env);
  assert.equal(start.code, 1, start.stdout + start.stderr);
  assert.match(start.stderr, new RegExp(`port ${h.env.SNOWFLOCK_WEB_PORT} is in use by pid ${process.pid}`));
  assert.match(start.stderr, /stopping sfld, which this start started/);
  assert.match(start.stderr, /stopping sfmd, which this start started/);
  assert.doesNotMatch(start.stdout, /Snowflock is running/);
  assertNothingRunning(h.home);
});

test('sfmd stop while sfmd start waits stops the starting sfmd', { timeout: 60_000 }, async (t) => {
  const h = await makeHome();
  t.after(() => cleanUp(h));
  const starting = runSf(['sfmd', 'start'], h.env);
  const pidFile = path.join(h.home, 'run', 'sfmd.pid');
  await waitUntil('the pid file of the starting sfmd', 10_000, async () => existsSync(pidFile));
  const stopped = await runSf(['sfmd', 'stop'], h.env);
  assert.equal(stopped.code, 0, stopped.stderr);
  assert.match(stopped.stdout, /sfmd stopped/);
  const start = await starting;
  assert.notEqual(start.code, 0);
  assert.match(start.stderr, /sfmd \(pid \d+\) was stopped by SIG(TERM|KILL) while starting/);
  assertNothingRunning(h.home);
});

test('npm stop while npm start is under way stops everything it started', { timeout: 60_000 }, async (t) => {
  const h = await makeHome();
  t.after(() => cleanUp(h));
  const starting = script('start.mjs', ['--no-build'], h.env);
  // sfmd is up and sfld is starting: stop now.
  await waitUntil('sfld starting', 15_000, async () => existsSync(path.join(h.home, 'run', 'sfld-n1.pid')));
  const stop = await script('stop.mjs', [], h.env);
  assert.equal(stop.code, 0, stop.stdout + stop.stderr);
  assert.match(stop.stdout, /npm start \(pid \d+\) is still starting: stopping it first/);
  const start = await starting;
  assert.notEqual(start.code, 0);
  assert.doesNotMatch(start.stdout, /Snowflock is running/);
  assertNothingRunning(h.home);
  // And nothing comes up afterwards either.
  await new Promise((r) => setTimeout(r, 1000));
  assertNothingRunning(h.home);
});
