// Chart data for the Host View: metric samples → CPU and memory series over a time window, with gaps
// where samples stopped (a host offline draws no line across its silence), and the SVG paths for them.
// Pure, so the shaping is tested without a browser.

export interface MetricSample {
  sampledAt: number;
  cpuUtilization: number;
  memTotal: number;
  memAvailable: number;
}
export interface Point {
  t: number;
  v: number;
}

/** Five minutes: what sfmd keeps and what the charts show. */
export const WINDOW_MS = 5 * 60_000;
/** A young history is drawn over at least this much time, so a fresh host's line is not a sliver. */
export const MIN_WINDOW_MS = 60_000;
/** sflds sample every second; a hole longer than this is drawn as a gap. */
export const GAP_MS = 5_000;

/** Adds a sample in time order (late or repeated ones are dropped) and forgets what left the window. */
export function appendSample<T extends { sampledAt: number }>(samples: readonly T[], sample: T, windowMs = WINDOW_MS): T[] {
  const last = samples[samples.length - 1];
  if (last && sample.sampledAt <= last.sampledAt) return samples as T[];
  const cutoff = sample.sampledAt - windowMs;
  const kept = samples.filter((s) => s.sampledAt >= cutoff);
  kept.push(sample);
  return kept;
}

export function cpuSeries(samples: readonly MetricSample[]): Point[] {
  return samples.map((s) => ({ t: s.sampledAt, v: clamp(s.cpuUtilization, 0, 1) }));
}

/** Memory in use (total − available), in bytes. */
export function memorySeries(samples: readonly MetricSample[]): Point[] {
  return samples.map((s) => ({ t: s.sampledAt, v: Math.max(0, s.memTotal - s.memAvailable) }));
}

/** Splits a series where consecutive points are further apart than `gapMs`. */
export function segments(points: readonly Point[], gapMs = GAP_MS): Point[][] {
  const out: Point[][] = [];
  let current: Point[] = [];
  for (const p of points) {
    const prev = current[current.length - 1];
    if (prev && p.t - prev.t > gapMs) {
      out.push(current);
      current = [];
    }
    current.push(p);
  }
  if (current.length > 0) out.push(current);
  return out;
}

export interface Frame {
  start: number;
  end: number;
  yMax: number;
  width: number;
  height: number;
}

/**
 * SVG path data for a series in a frame: `line` strokes each segment, `area` fills under it. A lone
 * point becomes a short flat stroke so a single sample is still visible. Points outside the time
 * window are left out; values are clamped to [0, yMax].
 */
export function chartPaths(points: readonly Point[], frame: Frame, gapMs = GAP_MS): { line: string; area: string } {
  const span = Math.max(1, frame.end - frame.start);
  const x = (t: number) => round(((t - frame.start) / span) * frame.width);
  const y = (v: number) => round(frame.height - (clamp(v, 0, frame.yMax) / (frame.yMax || 1)) * frame.height);
  const visible = points.filter((p) => p.t >= frame.start && p.t <= frame.end);
  let line = '';
  let area = '';
  for (const seg of segments(visible, gapMs)) {
    const pts = seg.length === 1 ? [seg[0]!, { t: seg[0]!.t + Math.min(gapMs, span / 100), v: seg[0]!.v }] : seg;
    const coords = pts.map((p) => `${x(p.t)},${y(p.v)}`);
    line += `M${coords.join('L')}`;
    area += `M${x(pts[0]!.t)},${frame.height}L${coords.join('L')}L${x(pts[pts.length - 1]!.t)},${frame.height}Z`;
  }
  return { line, area };
}

/** A round upper bound for a bytes axis: the next power-of-two GiB (or MiB) above the peak. */
export function niceBytesMax(peak: number, floor = 0): number {
  const target = Math.max(peak, floor, 1);
  const MiB = 1024 * 1024;
  let max = 64 * MiB;
  while (max < target) max *= 2;
  return max;
}

/**
 * The time span a chart shows, ending at `end`: the whole window once there is that much history,
 * otherwise from the oldest sample (but at least MIN_WINDOW_MS), so charts fill as history grows.
 */
export function chartWindow(points: readonly Point[], end: number): { start: number; end: number } {
  const oldest = points[0]?.t ?? end;
  const start = Math.max(end - WINDOW_MS, Math.min(oldest, end - MIN_WINDOW_MS));
  return { start, end };
}

/** "−5 min", "−90 s": the left edge of a chart's time axis. */
export function spanLabel(ms: number): string {
  return ms >= 120_000 ? `−${Math.round(ms / 60_000)} min` : `−${Math.round(ms / 1000)} s`;
}

export function lastValue(points: readonly Point[]): number | null {
  return points.length > 0 ? points[points.length - 1]!.v : null;
}

function clamp(v: number, lo: number, hi: number): number {
  return Math.min(hi, Math.max(lo, Number.isFinite(v) ? v : lo));
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}
