// `npm start`: install, build, then start sfmd, this machine's sfld and the dashboard in the background (pid files
// and logs under $SNOWFLOCK_HOME); `npm start -- --hosts N` runs N sflds in network namespaces (scripts/hosts.mjs).
// Each start checks that the process answering on its port is the one it started (a nonce on its health endpoint);
// when one fails, what this run started is stopped again and the exit status is not 0. The run's own pid is in
// $SNOWFLOCK_HOME/run/start.pid while it runs, so `npm stop` can stop a start that is still under way.
// `--no-build` skips the install and the build (the tests use it; so can a restart right after a build).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ensureInstalled } from './ensure-installed.mjs';
import { build } from './build.mjs';
import { MAX_HOSTS } from './hosts-net.mjs';
import { cannotBuildNetwork, hostsUp } from './hosts.mjs';

const root = path.resolve(import.meta.dirname, '..');
const sf = path.join(root, 'apps', 'daemon', 'bin', 'sf.mjs');
const home = path.resolve(process.env.SNOWFLOCK_HOME ?? path.join(process.env.HOME ?? '~', '.snowflock'));
const runDir = path.join(home, 'run');
const startPidFile = path.join(runDir, 'start.pid');

/** N from `--hosts N` or `--hosts=N`, null without the flag; exits with a reason when N is wrong. */
function hostsFlag(argv) {
  const i = argv.findIndex((a) => a === '--hosts' || a.startsWith('--hosts='));
  if (i < 0) return null;
  const value = argv[i].includes('=') ? argv[i].slice('--hosts='.length) : argv[i + 1];
  if (!/^\d+$/.test(value ?? '') || Number(value) < 1 || Number(value) > MAX_HOSTS) {
    console.error(`snowflock: --hosts needs a number of hosts from 1 to ${MAX_HOSTS}, e.g. npm start -- --hosts 3`);
    process.exit(2);
  }
  return Number(value);
}

const hostCount = hostsFlag(process.argv.slice(2));
if (hostCount !== null) {
  // Say so before the install and build, not after minutes of them.
  const why = cannotBuildNetwork();
  if (why) {
    console.error(`snowflock: npm start -- --hosts N runs every host's sfld in its own network namespace, so it ${why}`);
    process.exit(1);
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** The live pid a pid file names, if its command line has `marker` (pids get reused); null otherwise. */
function pidIn(file, marker) {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(marker) ? pid : null;
    } catch {
      return pid; // no /proc: trust the file
    }
  } catch {
    return null;
  }
}

// One start at a time per data directory; the pid file goes in before anything is installed, built or started.
mkdirSync(runDir, { recursive: true });
const other = pidIn(startPidFile, 'start.mjs');
if (other !== null && other !== process.pid) {
  console.error(`snowflock: npm start is already running (pid ${other}) for ${home}; wait for it, or stop it with npm stop`);
  process.exit(1);
}
writeFileSync(startPidFile, `${process.pid}\n`);
process.on('exit', () => {
  if (pidIn(startPidFile, 'start.mjs') === process.pid) rmSync(startPidFile, { force: true });
});

if (!process.argv.includes('--no-build')) {
  ensureInstalled();
  build();
}

/** Daemons with a live pid file now: what this run finds running is not its own to stop. */
const runningBefore = new Set(
  readdirSync(runDir)
    .filter((f) => f.endsWith('.pid') && f !== 'start.pid' && pidIn(path.join(runDir, f), 'sf.mjs') !== null)
    .map((f) => f.slice(0, -'.pid'.length)),
);
/** The steps run so far, newest last, for stopping what they started. */
const steps = [];
let current = null;
let interrupted = null;

/** `sf ARGS`, asynchronously, so a signal reaches this script (and is passed on) while it waits. */
function run(...args) {
  return new Promise((resolve, reject) => {
    current = spawn(process.execPath, [sf, ...args], { cwd: root, stdio: 'inherit' });
    current.once('error', reject);
    current.once('exit', (code, signal) => {
      current = null;
      if (code === 0) resolve();
      else reject(new Error(`sf ${args.join(' ')} failed (${signal ?? `status ${code}`})`));
    });
  });
}

/** Stops, newest first, the daemons this run started (those that were not running before it). */
async function stopStarted() {
  // A step that failed or was interrupted has stopped its own daemon already.
  for (const step of steps.filter((s) => s.done).reverse()) {
    const wasRunning = [...runningBefore].some((id) => (step.idPrefix ? id.startsWith(step.idPrefix) : id === step.id));
    if (wasRunning) continue;
    console.error(`snowflock: stopping ${step.name}, which this start started`);
    await run(...step.stop).catch(() => {});
  }
}

// `npm stop` (SIGTERM) or Ctrl-C (SIGINT) while starting: the sf command under way stops what it was starting;
// Ctrl-C also stops what this run started before it (npm stop does that itself, once this script is gone).
for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    if (interrupted) return;
    interrupted = signal;
    console.error(`snowflock: ${signal === 'SIGTERM' ? 'stopped (npm stop?)' : 'interrupted'} while starting`);
    current?.kill(signal);
  });
}

/** Runs one start; `id` (or `idPrefix`) names its pid file, to tell whether it was running before. */
async function step(name, args, stop, ids) {
  if (interrupted) throw new Error('interrupted');
  const entry = { name, stop, ...ids, done: false };
  steps.push(entry);
  await run(...args);
  entry.done = true;
}

if (hostCount !== null) await startHosts(hostCount);
else await startHere();

async function startHere() {
  try {
    await step('sfmd', ['sfmd', 'start'], ['sfmd', 'stop'], { id: 'sfmd' });
    await step('sfld', ['sfld', 'start'], ['sfld', 'stop'], { idPrefix: 'sfld-' });
    await step('the dashboard', ['web', 'start'], ['web', 'stop'], { id: 'web' });
    if (interrupted) throw new Error('interrupted');
  } catch {
    if (interrupted !== 'SIGTERM') await stopStarted();
    console.error(
      interrupted === 'SIGTERM'
        ? 'snowflock: start stopped while under way (npm stop stops what it had started)'
        : interrupted
          ? 'snowflock: start interrupted; what it had started is stopped again'
          : 'snowflock: start failed (see the message above); what this start started is stopped again',
    );
    process.exit(interrupted === 'SIGINT' ? 130 : 1);
  }
  const webPort = process.env.SNOWFLOCK_WEB_PORT ?? '61709';
  console.log(`
Snowflock is running.
  dashboard:    http://127.0.0.1:${webPort}
  admin token:  ${path.join(home, 'admin.token')}
  data:         ${home}   (logs in logs/, pid files in run/)
Try:  npx sfstate   ·   npx sfseed native/guest/examples/hello/hello.cfg   ·   npx sf console 1:0   ·   npm stop
`);
}

/** sfmd here, one sfld per namespace, and the dashboard, all with the harness's own data directory. */
async function startHosts(count) {
  let status;
  try {
    status = await hostsUp({ count });
  } catch (err) {
    console.error(`snowflock: start failed: ${err.message}`);
    process.exit(1);
  }
  try {
    await step('the dashboard', ['web', 'start', '--home', status.home], ['web', 'stop', '--home', status.home], { id: 'web' });
  } catch {
    console.error('snowflock: the dashboard did not start (see the message above); the hosts are up; npm stop stops everything');
    process.exit(1);
  }
  const webPort = process.env.SNOWFLOCK_WEB_PORT ?? '61709';
  console.log(`
Snowflock is running on ${count} host(s), each an sfld in its own network namespace on bridge ${status.bridge.name}.
  hosts:        ${status.hosts.map((h) => `${h.host} ${h.address} (${h.netns})`).join('  ·  ')}
  sfmd:         ${status.sfmd.url} from the hosts, ${status.sfmd.localUrl} from this machine
  dashboard:    http://127.0.0.1:${webPort}
  admin token:  ${path.join(status.home, 'admin.token')}
  data:         ${status.home}   (logs in logs/, pid files in run/)
The CLI needs that data directory:  export SNOWFLOCK_HOME=${status.home}
Try:  npx sfstate   ·   node scripts/hosts.mjs status   ·   node scripts/hosts.mjs exec h1 -- ip addr   ·   npm stop
`);
}
