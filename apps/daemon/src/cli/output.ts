// How commands speak: aligned tables and short lines for people, one JSON document with --json for
// programs, and errors as "sf: CODE: message" on stderr with the code's exit status.
import { exitCodeFor, toSfError } from '../common/errors.ts';

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | null | undefined;
  align?: 'right';
}

export function renderTable<T>(rows: readonly T[], columns: readonly Column<T>[]): string {
  const cells = rows.map((row) => columns.map((c) => String(c.value(row) ?? '-')));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i]!.align === 'right' ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}

export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

export interface Output {
  json: boolean;
  /** Prints `value` as JSON, or `human()` otherwise. */
  result(value: unknown, human: () => string): void;
  /** Progress and notes for people: stderr, silent under --json. */
  note(text: string): void;
}

export function createOutput(
  json: boolean,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Output {
  return {
    json,
    result(value, human) {
      out.write(json ? `${JSON.stringify(value, null, 2)}\n` : `${human()}\n`);
    },
    note(text) {
      if (!json) err.write(`${text}\n`);
    },
  };
}

/** Prints an error and returns the exit code for it. */
export function reportError(
  error: unknown,
  json: boolean,
  err: NodeJS.WritableStream = process.stderr,
  out: NodeJS.WritableStream = process.stdout,
): number {
  const sfError = toSfError(error);
  if (json) out.write(`${JSON.stringify({ ok: false, error: sfError.toJSON() }, null, 2)}\n`);
  err.write(`sf: ${sfError.code}: ${sfError.message}\n`);
  return exitCodeFor(sfError.code);
}
