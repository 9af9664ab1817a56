// A small time-series chart in plain SVG: one line with its area over the last minutes (a young history
// over the time it has), gaps where the host was silent, a 50 % grid line, the current value in the corner.
import { chartPaths, chartWindow, lastValue, spanLabel, type Point } from '../lib/series.ts';

const W = 300;
const H = 80;

export interface LineChartProps {
  title: string;
  points: Point[];
  /** The window's right edge (ms): the newest sample, so the chart moves with the data. */
  end: number;
  yMax: number;
  format: (v: number) => string;
  tone?: 'cpu' | 'mem';
  testId?: string;
  /** The source stopped (host offline): the last value is history, not "now". */
  stale?: boolean;
}

export function LineChart({ title, points, end, yMax, format, tone = 'cpu', testId, stale = false }: LineChartProps) {
  const { start } = chartWindow(points, end);
  const { line, area } = chartPaths(points, { start, end, yMax, width: W, height: H });
  const current = lastValue(points);
  const inWindow = points.filter((p) => p.t >= start).length;
  return (
    <figure className={`chart chart--${tone}`} data-testid={testId} data-points={inWindow}>
      <figcaption className="chart__head">
        <span>{title}</span>
        <strong>{current === null || stale ? '—' : format(current)}</strong>
      </figcaption>
      <div className="chart__plot">
        <svg
          viewBox={`0 0 ${W} ${H}`}
          preserveAspectRatio="none"
          role="img"
          aria-label={`${title}, last ${spanLabel(end - start).slice(1)}`}
        >
          <line x1="0" x2={W} y1={H / 2} y2={H / 2} className="chart__grid" />
          <path d={area} className="chart__area" />
          <path d={line} className="chart__line" vectorEffect="non-scaling-stroke" />
        </svg>
        {inWindow === 0 && <span className="chart__empty">no samples yet: sfld sends one a second while it runs</span>}
      </div>
      <div className="chart__axis">
        <span>{spanLabel(end - start)}</span>
        <span>max {format(yMax)}</span>
        <span>now</span>
      </div>
    </figure>
  );
}
