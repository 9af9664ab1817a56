// `npm stop`: stops the dashboard, this machine's sfld and sfmd (the reverse of npm start), and the hosts of
// `npm start -- --hosts N` when they are up; `npm stop -- --hosts` removes those even when nothing records them.
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { hostsDown, hostsPresent } from './hosts.mjs';

const sf = path.resolve(import.meta.dirname, '..', 'apps', 'daemon', 'bin', 'sf.mjs');
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
