// Installs the workspace's dependencies when they are missing or older than package-lock.json,
// so `npm start` and `npm test` work on a fresh clone. Plain Node: nothing may be installed yet.
import { execFileSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');
const marker = path.join(root, 'node_modules', '.package-lock.json');
const lock = path.join(root, 'package-lock.json');

export function ensureInstalled() {
  const fresh = !existsSync(marker);
  const stale = !fresh && existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs;
  if (!fresh && !stale) return false;
  // `npm install`, not `npm ci`: npm ci rejects lock files that omit other platforms' optional
  // packages (turbo's), which is what npm writes on this machine.
  console.error('snowflock: installing dependencies (the first time builds better-sqlite3 and takes a few minutes)…');
  execFileSync('npm', ['install', '--no-audit', '--no-fund'], { cwd: root, stdio: 'inherit' });
  return true;
}

if (import.meta.url === `file://${process.argv[1]}`) ensureInstalled();
