// Numbers as the dashboard writes them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatBytes, formatDuration, formatPercent, formatRate, formatWhen } from './format.ts';

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

test('a time reads as a clock today, with its date on another day or year, and says when it is UTC', () => {
  const at = Date.UTC(2026, 11, 7, 23, 30, 5);
  const sameUtcDay = Date.UTC(2026, 11, 7, 1, 0, 0);
  assert.equal(formatWhen(at, 'utc', sameUtcDay), '23:30:05 UTC');
  assert.equal(formatWhen(at, 'utc', Date.UTC(2026, 11, 8, 0, 10)), '7 Dec 23:30:05 UTC', 'yesterday has its date');
  assert.equal(formatWhen(at, 'utc', Date.UTC(2027, 0, 2)), '7 Dec 2026 23:30:05 UTC', 'last year has its year');
  assert.equal(formatWhen(at, 'utc', null), '7 Dec 2026 23:30:05 UTC', 'without a now, always the full date');
  assert.equal(formatWhen('not a time', 'utc', at), '—');
  // In the local zone the clock is the Date's own local reading, whatever the machine's zone is.
  const local = new Date(at);
  const clock = [local.getHours(), local.getMinutes(), local.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
  assert.equal(formatWhen(at, 'local', at), clock);
});
