import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { selectBenches } from './bench-select.mjs';

const FILES = ['net.bench.ts', 'boot.bench.ts', 'README.md', 'fork.bench.ts'];

test('no name runs every benchmark, sorted; other files in bench/ are not benchmarks', () => {
  assert.deepEqual(selectBenches(FILES, []), { files: ['boot.bench.ts', 'fork.bench.ts', 'net.bench.ts'] });
});

test('a name runs only that benchmark, however it is spelt, in the order asked', () => {
  assert.deepEqual(selectBenches(FILES, ['net']), { files: ['net.bench.ts'] });
  assert.deepEqual(selectBenches(FILES, ['bench/fork.bench.ts', 'boot.bench.ts', 'fork']), {
    files: ['fork.bench.ts', 'boot.bench.ts'],
  });
});

test('an unknown name is refused with the list of valid ones, before anything is built', () => {
  assert.deepEqual(selectBenches(FILES, ['net', 'nets']), {
    error: 'bench: no benchmark named nets; the benchmarks are: boot, fork, net',
  });
  const r = spawnSync(process.execPath, [path.join(import.meta.dirname, 'bench.mjs'), 'no-such-bench'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /^bench: no benchmark named no-such-bench; the benchmarks are: abuse, boot, .*\bnet\b/);
  assert.doesNotMatch(r.stdout + r.stderr, /make|build/);
});
