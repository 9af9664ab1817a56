// `npm start`: install, build, then start sfmd, this machine's sfld and the dashboard in the background (pid files
// and logs under $SNOWFLOCK_HOME); `npm start -- --hosts N` runs N sflds in network namespaces (scripts/hosts.mjs).
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ensureInstalled } from './ensure-installed.mjs';
import { build } from './build.mjs';
import { MAX_HOSTS } from './hosts-net.mjs';
import { cannotBuildNetwork, hostsUp } from './hosts.mjs';

const root = path.resolve(import.meta.dirname, '..');
const sf = path.join(root, 'apps', 'daemon', 'bin', 'sf.mjs');

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

ensureInstalled();
build();
const run = (...args) => execFileSync(process.execPath, [sf, ...args], { cwd: root, stdio: 'inherit' });
if (hostCount !== null) await startHosts(hostCount);
else startHere();

function startHere() {
  try {
    run('sfmd', 'start');
    run('sfld', 'start');
    run('web', 'start');
  } catch {
    console.error('snowflock: start failed (see the message above); stop what did start with npm stop');
    process.exit(1);
  }
  const home = process.env.SNOWFLOCK_HOME ?? path.join(process.env.HOME ?? '~', '.snowflock');
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
    run('web', 'start', '--home', status.home);
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
