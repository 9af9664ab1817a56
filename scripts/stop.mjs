// `npm stop`: stops the dashboard, this machine's sfld and sfmd (the reverse of npm start).
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const sf = path.resolve(import.meta.dirname, '..', 'apps', 'daemon', 'bin', 'sf.mjs');
let failed = false;
for (const args of [['web', 'stop'], ['sfld', 'stop'], ['sfmd', 'stop']]) {
  failed ||= spawnSync(process.execPath, [sf, ...args], { stdio: 'inherit' }).status !== 0;
}
process.exit(failed ? 1 : 0);
