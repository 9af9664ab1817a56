// How numbers read on the dashboard: sizes in binary units, percentages, durations and times of day.
// Pure functions, shared by server and client components so both render the same text.

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '—';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  // Whole numbers stay whole (64 MiB); others get one decimal (1.5 GiB), large ones none (123 GiB).
  const text = Number.isInteger(value) || value >= 100 ? Math.round(value).toString() : value.toFixed(1);
  return `${text} ${UNITS[unit]}`;
}

export function formatMiB(mib: number): string {
  return formatBytes(mib * 1024 * 1024);
}

export function formatPercent(fraction: number): string {
  if (!Number.isFinite(fraction)) return '—';
  return `${Math.round(fraction * 100)} %`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes} min ${Math.floor((ms % 60_000) / 1000)} s`;
  return `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

/** A rate with a unit, e.g. "1.2k/s"; small rates keep a decimal so a trickle is not shown as 0. */
export function formatRate(perSecond: number | null): string {
  if (perSecond === null || !Number.isFinite(perSecond)) return '—';
  if (perSecond >= 10_000) return `${(perSecond / 1000).toFixed(0)}k/s`;
  if (perSecond >= 1000) return `${(perSecond / 1000).toFixed(1)}k/s`;
  return `${perSecond >= 10 ? Math.round(perSecond) : perSecond.toFixed(1)}/s`;
}

export function formatCount(n: number): string {
  return Number.isFinite(n) ? n.toLocaleString('en-US') : '—';
}

export type TimeZoneChoice = 'local' | 'utc';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** A moment's calendar fields in the viewer's zone or in UTC (Date's own getters: no Intl zone database needed). */
function fields(d: Date, zone: TimeZoneChoice) {
  return zone === 'utc'
    ? { y: d.getUTCFullYear(), mo: d.getUTCMonth(), day: d.getUTCDate(), h: d.getUTCHours(), mi: d.getUTCMinutes(), s: d.getUTCSeconds() }
    : { y: d.getFullYear(), mo: d.getMonth(), day: d.getDate(), h: d.getHours(), mi: d.getMinutes(), s: d.getSeconds() };
}

const two = (n: number) => String(n).padStart(2, '0');

/**
 * Every time the dashboard shows: "14:03:22" when it is today in that zone, "5 Dec 14:03:22" on another
 * day, "5 Dec 2025 14:03:22" in another year; " UTC" marks UTC times so a screenshot cannot be misread.
 * `now: null` always writes the date (the same text on server and browser, whatever their clocks say).
 */
export function formatWhen(iso: string | number, zone: TimeZoneChoice, now: number | null): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  const f = fields(d, zone);
  const clock = `${two(f.h)}:${two(f.mi)}:${two(f.s)}${zone === 'utc' ? ' UTC' : ''}`;
  const today = now === null ? null : fields(new Date(now), zone);
  if (today && today.y === f.y && today.mo === f.mo && today.day === f.day) return clock;
  const year = today && today.y === f.y ? '' : ` ${f.y}`;
  return `${f.day} ${MONTHS[f.mo]}${year} ${clock}`;
}

export function formatAgo(iso: string | null, now: number): string {
  if (!iso) return 'never';
  const ms = now - new Date(iso).getTime();
  if (!Number.isFinite(ms)) return '—';
  if (ms < 5_000) return 'just now';
  return `${formatDuration(ms).replace(/ \d+ s$/, '')} ago`;
}

/** The first 8 characters of a uuid, which is what people compare by eye. */
export function shortId(uuid: string): string {
  return uuid.slice(0, 8);
}
