// The output formats of --format: json and yaml for programs, table (the default) for people. The YAML is
// written here (block style, strings quoted whenever a plain scalar could read as something else).
import { SfError } from '../common/errors.ts';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** --format wins; --json alone means json; otherwise a table. */
export function resolveFormat(format: string | boolean | undefined, json: boolean): OutputFormat {
  if (typeof format !== 'string') return json ? 'json' : 'table';
  if (!(OUTPUT_FORMATS as readonly string[]).includes(format)) {
    throw new SfError('BAD_INPUT', `--format must be one of ${OUTPUT_FORMATS.join(', ')}, got '${format}'`);
  }
  if (json && format !== 'json') throw new SfError('BAD_INPUT', `--json and --format ${format} disagree: give one of them`);
  return format as OutputFormat;
}

// YAML 1.1 readers take these as booleans or null, so such strings are quoted.
const RESERVED = /^(?:y|n|yes|no|true|false|on|off|null|~)$/i;
const PLAIN = /^[A-Za-z_/][\w./@+-]*(?: [\w./@+-]+)*$/;

function scalar(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return String(value);
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : value > 0 ? '.inf' : value < 0 ? '-.inf' : '.nan';
  if (typeof value === 'bigint') return value.toString();
  const text = String(value);
  // A JSON string is a valid YAML double-quoted scalar, escapes included.
  return PLAIN.test(text) && !RESERVED.test(text) ? text : JSON.stringify(text);
}

const key = (k: string) => (PLAIN.test(k) && !RESERVED.test(k) ? k : JSON.stringify(k));

function isNested(value: unknown): boolean {
  if (Array.isArray(value)) return value.length > 0;
  return typeof value === 'object' && value !== null && Object.keys(value).length > 0;
}

function lines(value: unknown, indent: string): string[] {
  if (Array.isArray(value)) {
    if (value.length === 0) return [`${indent}[]`];
    return value.flatMap((item) => {
      if (!isNested(item)) return [`${indent}- ${inline(item)}`];
      // The item's first line goes after the dash; the rest line up under it.
      const [first, ...rest] = lines(item, `${indent}  `);
      return [`${indent}- ${first!.slice(indent.length + 2)}`, ...rest];
    });
  }
  if (typeof value === 'object' && value !== null) {
    const entries = Object.entries(value).filter(([, v]) => v !== undefined);
    if (entries.length === 0) return [`${indent}{}`];
    return entries.flatMap(([k, v]) =>
      isNested(v) ? [`${indent}${key(k)}:`, ...lines(v, `${indent}  `)] : [`${indent}${key(k)}: ${inline(v)}`],
    );
  }
  return [`${indent}${scalar(value)}`];
}

function inline(value: unknown): string {
  if (Array.isArray(value)) return '[]';
  if (typeof value === 'object' && value !== null) return '{}';
  return scalar(value);
}

/** `value` (JSON-shaped: what --json prints) as a YAML document. */
export function toYaml(value: unknown): string {
  // Through JSON first, so dates, toJSON() and undefined come out exactly as --json shows them.
  const plain = value === undefined ? null : JSON.parse(JSON.stringify(value));
  return `${lines(plain, '').join('\n')}\n`;
}

export function formatDocument(value: unknown, format: Exclude<OutputFormat, 'table'>): string {
  return format === 'yaml' ? toYaml(value) : `${JSON.stringify(value, null, 2)}\n`;
}
