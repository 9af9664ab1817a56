// Shmem huge pages: the report is well formed, and allowing them (what sfld does at start) leaves the host
// in a mode where guest RAM gets them, idempotently. Needs root to change the knob; skips with the reason otherwise.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { allowShmemHugePages, shmemHugePages } from './host-tuning.ts';

const MODES = ['always', 'within_size', 'advise', 'never', 'deny', 'force'];

test('the shmem huge-page mode is reported as one of the kernel modes', () => {
  const now = shmemHugePages();
  if (now.error) {
    console.log(`# skipped: ${now.error}`);
    return;
  }
  assert.ok(MODES.includes(now.mode), now.mode);
  assert.equal(now.usable, ['always', 'within_size', 'advise', 'force'].includes(now.mode));
  assert.equal(now.changed, false);
});

test('allowing shmem huge pages makes them usable and is idempotent', (t) => {
  if (process.getuid?.() !== 0) {
    const why = 'changing /sys/kernel/mm/transparent_hugepage/shmem_enabled needs root';
    console.log(`# skipped: ${why}`);
    return t.skip(why);
  }
  const first = allowShmemHugePages();
  assert.equal(first.error, null);
  assert.equal(first.usable, true);
  const second = allowShmemHugePages();
  assert.deepEqual(second, { ...first, changed: false });
});
