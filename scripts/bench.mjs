// `npm run bench [-- NAME...]`: builds, then runs every bench/*.bench.ts, or only the named ones
// (scripts/bench-select.mjs); each prints one JSON line of figures.
import { readdirSync, existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { ensureInstalled } from './ensure-installed.mjs';
import { build } from './build.mjs';
import { selectBenches } from './bench-select.mjs';

const root = path.resolve(import.meta.dirname, '..');
const dir = path.join(root, 'bench');
const chosen = selectBenches(existsSync(dir) ? readdirSync(dir) : [], process.argv.slice(2));
// Before the build: a mistyped name should not cost a build to find out.
if (chosen.error) {
  console.error(chosen.error);
  process.exit(2);
}
ensureInstalled();
build();
let failed = false;
for (const file of chosen.files) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(dir, file)], { cwd: root, stdio: 'inherit' });
  failed ||= r.status !== 0;
}
process.exit(failed ? 1 : 0);
