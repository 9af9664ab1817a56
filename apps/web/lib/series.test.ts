// Chart shaping for the Host View: samples kept in time order within the window, series derived from
// metrics, gaps where a host fell silent, and SVG paths that stay inside their frame.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  appendSample,
  chartPaths,
  chartWindow,
  cpuSeries,
  lastValue,
  memorySeries,
  MIN_WINDOW_MS,
  niceBytesMax,
  segments,
  spanLabel,
  WINDOW_MS,
} from './series.ts';

const sample = (s: number, cpu = 0.5, used = 1024) => ({
  sampledAt: s * 1000,
  cpuUtilization: cpu,
  memTotal: 4096,
  memAvailable: 4096 - used,
});

test('appendSample keeps time order, drops late or repeated samples and what left the window', () => {
  let list = [sample(1), sample(2)];
  list = appendSample(list, sample(3));
  assert.deepEqual(
    list.map((s) => s.sampledAt),
    [1000, 2000, 3000],
  );
  assert.equal(appendSample(list, sample(2)), list, 'a late sample changes nothing');
  assert.equal(appendSample(list, sample(3)), list, 'a repeated sample changes nothing');
  const later = appendSample(list, sample(2 + WINDOW_MS / 1000));
  assert.deepEqual(
    later.map((s) => s.sampledAt),
    [2000, 3000, 2000 + WINDOW_MS],
    'older than the window is forgotten',
  );
});

test('series: CPU as a clamped fraction, memory as bytes in use', () => {
  assert.deepEqual(
    cpuSeries([sample(1, 1.7), sample(2, -1)]).map((p) => p.v),
    [1, 0],
  );
  assert.deepEqual(memorySeries([sample(1, 0, 1000)]), [{ t: 1000, v: 1000 }]);
  assert.equal(lastValue([]), null);
  assert.equal(lastValue(cpuSeries([sample(1, 0.25)])), 0.25);
});

test('segments split where samples stopped for longer than the gap', () => {
  const pts = [0, 1, 2, 10, 11].map((s) => ({ t: s * 1000, v: 1 }));
  assert.deepEqual(
    segments(pts, 5000).map((seg) => seg.length),
    [3, 2],
  );
  assert.deepEqual(segments([], 5000), []);
});

test('chartPaths draws each segment inside the frame, and a lone sample as a short stroke', () => {
  const frame = { start: 0, end: 10_000, yMax: 1, width: 100, height: 50 };
  const { line, area } = chartPaths(
    [
      { t: 0, v: 0 },
      { t: 5000, v: 1 },
      { t: 10_000, v: 2 },
    ],
    frame,
  );
  assert.equal(line, 'M0,50L50,0L100,0', 'values above yMax are clamped to the top');
  assert.equal(area, 'M0,50L0,50L50,0L100,0L100,50Z');
  const gapped = chartPaths(
    [
      { t: 0, v: 0.5 },
      { t: 1000, v: 0.5 },
      { t: 9000, v: 0.5 },
    ],
    frame,
    5000,
  );
  assert.equal((gapped.line.match(/M/g) ?? []).length, 2, 'a silence becomes a gap');
  const lone = chartPaths([{ t: 2000, v: 0.5 }], frame, 5000);
  assert.match(lone.line, /^M20,25L2\d(\.\d)?,25$/);
  assert.equal(chartPaths([{ t: -5000, v: 1 }], frame).line, '', 'points before the window are not drawn');
});

test('niceBytesMax rounds the memory axis up to a power of two', () => {
  const MiB = 1024 * 1024;
  assert.equal(niceBytesMax(100 * MiB), 128 * MiB);
  assert.equal(niceBytesMax(0), 64 * MiB);
  assert.equal(niceBytesMax(3 * 1024 * MiB), 4096 * MiB);
});

test('a young history is drawn over the time it has, at least a minute; an old one over the window', () => {
  const end = 1_000_000;
  assert.deepEqual(chartWindow([{ t: end - 5000, v: 0 }], end), { start: end - MIN_WINDOW_MS, end });
  assert.deepEqual(chartWindow([{ t: end - 150_000, v: 0 }], end), { start: end - 150_000, end });
  assert.deepEqual(chartWindow([{ t: end - 2 * WINDOW_MS, v: 0 }], end), { start: end - WINDOW_MS, end });
  assert.deepEqual(chartWindow([], end), { start: end - MIN_WINDOW_MS, end });
  assert.equal(spanLabel(WINDOW_MS), '−5 min');
  assert.equal(spanLabel(60_000), '−60 s');
});
