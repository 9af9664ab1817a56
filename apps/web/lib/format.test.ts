// Numbers as the dashboard writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, formatPercent, formatRate } from './format.ts';

test('sizes, percentages, durations and rates', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(64 * 1024 * 1024), '64 MiB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5 GiB');
  assert.equal(formatBytes(-1), '—');
  assert.equal(formatPercent(0.123), '12 %');
  assert.equal(formatDuration(850), '850 ms');
  assert.equal(formatDuration(3200), '3.2 s');
  assert.equal(formatDuration(125_000), '2 min 5 s');
  assert.equal(formatRate(null), '—');
  assert.equal(formatRate(2.5), '2.5/s');
  assert.equal(formatRate(1500), '1.5k/s');
});
