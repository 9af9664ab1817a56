// How commands speak: aligned tables and short lines for people, one JSON (or YAML) document with --json or
// --format for programs, and errors as "sf: CODE: message" on stderr with the code's exit status.
import { exitCodeFor, toSfError } from '../common/errors.ts';
import { formatDocument, type OutputFormat } from './formats.ts';

export interface Column<T> {
  header: string;
  value: (row: T) => string | number | null | undefined;
  align?: 'right';
}

/** What every domain table shows first (sfstate, sf cluster show): who, where, how big, how it stands. */
export interface DomainRowBasics {
  domain: string;
  host: string;
  vcpus: number;
  memory: number;
  state: string;
  exitCode: number | null;
  ip: string | null;
}

export function domainBasicColumns<D extends DomainRowBasics>(): Column<D>[] {
  return [
    { header: 'DOMAIN', value: (d) => d.domain },
    { header: 'HOST', value: (d) => d.host },
    { header: 'VCPUS', value: (d) => d.vcpus, align: 'right' },
    { header: 'MEMORY', value: (d) => formatBytes(d.memory), align: 'right' },
    { header: 'STATE', value: (d) => (d.exitCode !== null ? `${d.state}(${d.exitCode})` : d.state) },
    { header: 'IP', value: (d) => d.ip },
  ];
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
  /** True when the output is for programs (json or yaml): notes and progress stay silent. */
  json: boolean;
  format: OutputFormat;
  /** Prints `value` as JSON or YAML, or `human()` as a table/text. */
  result(value: unknown, human: () => string): void;
  /** One record of a stream (sf events): a JSON line (NDJSON), a YAML document, or `human()`'s line. */
  record(value: unknown, human: () => string): void;
  /** Progress and notes for people: stderr, silent under --json. */
  note(text: string): void;
}

/** `format` true/false is the old --json switch: json or table. */
export function createOutput(
  format: OutputFormat | boolean,
  out: NodeJS.WritableStream = process.stdout,
  err: NodeJS.WritableStream = process.stderr,
): Output {
  const chosen: OutputFormat = typeof format === 'boolean' ? (format ? 'json' : 'table') : format;
  const machine = chosen !== 'table';
  return {
    json: machine,
    format: chosen,
    result(value, human) {
      out.write(chosen === 'table' ? `${human()}\n` : formatDocument(value, chosen));
    },
    record(value, human) {
      if (chosen === 'json') out.write(`${JSON.stringify(value)}\n`);
      else if (chosen === 'yaml') out.write(`---\n${formatDocument(value, 'yaml')}`);
      else out.write(`${human()}\n`);
    },
    note(text) {
      if (!machine) err.write(`${text}\n`);
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
