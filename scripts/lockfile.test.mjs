// package-lock.json is what every install uses (npm ci): it must match every package.json and be complete for every
// platform, or npm ci refuses it on some machine and someone "fixes" that with a lock-rewriting npm install.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { lockMismatches } from './ensure-installed.mjs';

const root = path.resolve(import.meta.dirname, '..');
const lock = JSON.parse(readFileSync(path.join(root, 'package-lock.json'), 'utf8'));
const packages = lock.packages;

/** The lock location a dependency `name` of the package at `from` resolves to, as Node's lookup would find it. */
function locate(from, name) {
  for (let dir = from; ; dir = path.posix.dirname(dir)) {
    const base = dir === '.' ? '' : dir;
    const candidate = `${base ? `${base}/` : ''}node_modules/${name}`;
    if (packages[candidate]) return candidate;
    if (base === '') return null;
  }
}

test('every package.json asks for the dependencies the lock records for it', () => {
  assert.deepEqual(lockMismatches(root), []);
});

test('the lock is version 3 and carries no registry URLs (the shape .npmrc pins)', () => {
  assert.equal(lock.lockfileVersion, 3);
  const withUrl = Object.entries(packages).filter(([, e]) => !e.link && /^https?:/.test(e.resolved ?? ''));
  assert.deepEqual(
    withUrl.map(([loc]) => loc),
    [],
  );
});

test("every dependency of every locked package is in the lock, other platforms' optional ones included", () => {
  const missing = [];
  for (const [loc, entry] of Object.entries(packages)) {
    if (entry.link) continue;
    for (const field of ['dependencies', 'optionalDependencies']) {
      for (const name of Object.keys(entry[field] ?? {})) {
        if (!locate(loc, name)) missing.push(`${loc || '(root)'} → ${name}`);
      }
    }
  }
  assert.deepEqual(missing, [], 'regenerate the lock from the registry: npm install --package-lock-only');
});

test("one better-sqlite3, so one SQLite library loads into sfmd (the root package.json overrides the adapter's)", () => {
  const copies = Object.keys(packages).filter((loc) => /(^|\/)node_modules\/better-sqlite3$/.test(loc));
  assert.deepEqual(copies, ['node_modules/better-sqlite3']);
});
