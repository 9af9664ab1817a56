// `npm run bench`: builds, then runs every bench/*.bench.ts; each prints one JSON line of figures.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureInstalled } from './ensure-installed.mjs';
import { build } from './build.mjs';

const root = path.resolve(import.meta.dirname, '..');
ensureInstalled();
build();
const dir = path.join(root, 'bench');
const benches = existsSync(dir)
  ? readdirSync(dir)
      .filter((f) => f.endsWith('.bench.ts'))
      .sort()
  : [];
let failed = false;
for (const file of benches) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, file)], { cwd: root, stdio: 'inherit' });
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
