// `npm test`: install and build what is needed, then run every test file of the repository in one
// node:test run (one summary for CI to count). Extra arguments filter test files by substring.
import { execFileSync, spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { ensureInstalled } from './ensure-installed.mjs';
import { build } from './build.mjs';

const root = path.resolve(import.meta.dirname, '..');
const SKIP_DIRS = new Set(['node_modules', '.next', '.turbo', 'build', 'generated', '.git']);

function findTests(dir, found = []) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name)) findTests(path.join(dir, entry.name), found);
    } else if (/\.test\.(ts|mts|mjs)$/.test(entry.name)) {
      found.push(path.relative(root, path.join(dir, entry.name)));
    }
  }
  return found;
}

ensureInstalled();
if (!process.env.SNOWFLOCK_SKIP_BUILD) build();
const filters = process.argv.slice(2);
const files = ['prisma', 'native', 'apps'].flatMap((d) => findTests(path.join(root, d)))
  .filter((f) => filters.length === 0 || filters.some((flt) => f.includes(flt)))
  .sort();
if (files.length === 0) {
  console.error('snowflock: no test files matched');
  process.exit(1);
}
console.error(`snowflock: running ${files.length} test files`);
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-timeout=180000', ...files], {
  cwd: root, stdio: 'inherit', env: { ...process.env, SNOWFLOCK_LOG_LEVEL: process.env.SNOWFLOCK_LOG_LEVEL ?? 'warn' },
});
process.exit(result.status ?? 1);
