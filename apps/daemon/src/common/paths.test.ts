// Where the config files are found (seed §2, §11, §12): the named data directory, else /etc/snowflock when
// it holds them, else ~/.snowflock. The data files themselves always live in the data directory.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { snowflockPaths } from './paths.ts';

test('config files: $SNOWFLOCK_HOME (or --home) first, else /etc/snowflock, else ~/.snowflock', (t) => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'sf-paths-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const etcDir = path.join(root, 'etc-snowflock');
  const named = path.join(root, 'home');
  mkdirSync(etcDir);
  writeFileSync(path.join(etcDir, 'sfmd.cfg'), "cluster_hosts = [{'host': 'h', 'cpus': 1, 'RAM': 1 << 30}]\n");

  // A named data directory holds its own configs, whatever /etc has.
  const home = snowflockPaths(undefined, { env: { SNOWFLOCK_HOME: named }, etcDir });
  assert.equal(home.sfmdConfig, path.join(named, 'sfmd.cfg'));
  assert.equal(snowflockPaths(named, { env: {}, etcDir }).sfmdConfig, path.join(named, 'sfmd.cfg'));

  // None named: /etc/snowflock's file when it is there, ~/.snowflock's otherwise; the data stays in ~/.snowflock.
  const plain = snowflockPaths(undefined, { env: {}, etcDir });
  assert.equal(plain.sfmdConfig, path.join(etcDir, 'sfmd.cfg'));
  assert.equal(plain.sfldConfig, path.join(os.homedir(), '.snowflock', 'sfld.cfg'));
  assert.equal(plain.database, path.join(os.homedir(), '.snowflock', 'sfmd.db'));
  writeFileSync(path.join(etcDir, 'sfld.cfg'), "hostname = 'h'\n");
  assert.equal(snowflockPaths(undefined, { env: {}, etcDir }).sfldConfig, path.join(etcDir, 'sfld.cfg'));
});
