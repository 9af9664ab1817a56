// Installs the workspace's dependencies when they are missing or older than package-lock.json, so `npm start` and
// `npm test` work on a fresh clone. Plain Node: nothing may be installed yet.
// The install is `npm ci`: exactly what the lock says, and it never rewrites the lock. Changing dependencies is a
// deliberate `npm install …`, which updates package.json and the lock together (both are committed).
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { preflight } from './preflight.mjs';

const root = path.resolve(import.meta.dirname, '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');
const DEP_FIELDS = ['dependencies', 'devDependencies', 'optionalDependencies', 'peerDependencies'];

/**
 * The workspace folders (and the root, '') whose package.json asks for other dependencies than the lock records for
 * it. npm ci refuses such a lock; saying which file differs is the useful part of that refusal.
 */
export function lockMismatches(dir = root) {
  const packages = JSON.parse(readFileSync(path.join(dir, 'package-lock.json'), 'utf8')).packages ?? {};
  const rootPkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  const folders = ['', ...(rootPkg.workspaces ?? [])];
  const differ = [];
  for (const folder of folders) {
    const file = path.join(dir, folder, 'package.json');
    if (!existsSync(file)) continue;
    const pkg = JSON.parse(readFileSync(file, 'utf8'));
    const locked = packages[folder] ?? {};
    const same = DEP_FIELDS.every((f) => JSON.stringify(sorted(pkg[f])) === JSON.stringify(sorted(locked[f])));
    if (!same) differ.push(folder);
  }
  return differ;
}

const sorted = (obj) => Object.fromEntries(Object.entries(obj ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));

export function ensureInstalled() {
  const fresh = !existsSync(marker);
  const stale = !fresh && existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs;
  const differ = lockMismatches();
  if (differ.length > 0) {
    const files = differ.map((f) => path.join(f, 'package.json')).join(', ');
    console.error(
      `snowflock: ${files} ask(s) for other dependencies than package-lock.json records; run npm install ` +
        '(it updates the lock) and commit package-lock.json with the package.json change',
    );
    process.exit(1);
  }
  if (!fresh && !stale) return false;
  if (!preflight()) process.exit(1);
  console.error('snowflock: installing dependencies (npm ci; the first time builds better-sqlite3 and takes a few minutes)…');
  execFileSync('npm', ['ci', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) ensureInstalled();
