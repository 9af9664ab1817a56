// `npm stop`: stops the dashboard, this machine's sfld and sfmd (the reverse of npm start), and the hosts of
// `npm start -- --hosts N` when they are up; `npm stop -- --hosts` removes those even when nothing records them.
// A start still under way ($SNOWFLOCK_HOME/run/start.pid) is stopped first, so it starts nothing more; the daemons'
// pid files are written before their starts wait, so a daemon that is still starting is stopped like the others.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { hostsDown, hostsPresent } from './hosts.mjs';

const sf = path.resolve(import.meta.dirname, '..', 'apps', 'daemon', 'bin', 'sf.mjs');
const home = path.resolve(process.env.SNOWFLOCK_HOME ?? path.join(process.env.HOME ?? '~', '.snowflock'));
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

function alive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return err.code === 'EPERM';
  }
  try {
    return !/^\S+ \(.*\) Z/s.test(readFileSync(`/proc/${pid}/stat`, 'utf8')); // a zombie has exited
  } catch {
    return true;
  }
}

/** The pid of an `npm start` (scripts/start.mjs) still running for this data directory, or null. */
function startUnderWay() {
  try {
    const pid = Number(readFileSync(path.join(home, 'run', 'start.pid'), 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('start.mjs') ? pid : null;
  } catch {
    return null;
  }
}

const starting = startUnderWay();
if (starting !== null) {
  console.log(`npm start (pid ${starting}) is still starting: stopping it first`);
  process.kill(starting, 'SIGTERM');
  const deadline = Date.now() + 20_000;
  while (alive(starting) && Date.now() < deadline) await sleep(50);
  if (alive(starting)) process.kill(starting, 'SIGKILL');
}

let failed = false;
for (const args of [
  ['web', 'stop'],
  ['sfld', 'stop'],
  ['sfmd', 'stop'],
]) {
  failed ||= spawnSync(process.execPath, [sf, ...args], { stdio: 'inherit' }).status !== 0;
}
if (process.argv.slice(2).includes('--hosts') || hostsPresent()) {
  try {
    const down = await hostsDown();
    console.log(
      `hosts: removed ${down.removedNamespaces.length} namespace(s) and their sflds; stopped ${down.stopped.map((d) => d.id).join(', ') || 'nothing else'}`,
    );
  } catch (err) {
    console.error(`snowflock: ${err.message}`);
    failed = true;
  }
}
process.exit(failed ? 1 : 0);
