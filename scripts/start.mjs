// `npm start`: install, build, then start sfmd, this machine's sfld and the dashboard in the
// background (pid files and logs under $SNOWFLOCK_HOME), and say where everything is.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { ensureInstalled } from './ensure-installed.mjs';
import { build } from './build.mjs';

const root = path.resolve(import.meta.dirname, '..');
const sf = path.join(root, 'apps', 'daemon', 'bin', 'sf.mjs');

ensureInstalled();
build();
const run = (...args) => execFileSync(process.execPath, [sf, ...args], { cwd: root, stdio: 'inherit' });
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
