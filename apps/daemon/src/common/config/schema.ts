// Typed checks for values read by pyliteral.ts. A failed check names file, line and key path and says what
// was expected; settings (top-level names or a dict) reject unknown keys and fill in defaults.
import { SfError } from '../errors.ts';
import { appendPath, lineOfChild, type PyAssignment, type PyDict, type PyValue } from './pyliteral.ts';

/** Where a value sits: `path` is formatted like `cluster_hosts[1].cpus`; line is null for missing keys. */
export interface Where {
  file: string;
  line: number | null;
  path: string;
}

export type Check<T> = (value: PyValue, at: Where) => T;

export function configError(at: Where, message: string): SfError {
  const line = at.line === null ? '' : `:${at.line}`;
  return new SfError('BAD_CONFIG', `${at.file}${line}: ${at.path ? `${at.path}: ` : ''}${message}`);
}

export function isDict(value: PyValue): value is PyDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A short Python-looking rendering of a value for "got ..." in messages. */
export function describe(value: PyValue): string {
  if (value === null) return 'None';
  if (typeof value === 'boolean') return value ? 'True' : 'False';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') {
    const shown = value.length > 40 ? `${value.slice(0, 40)}...` : value;
    return `'${JSON.stringify(shown).slice(1, -1).replaceAll('\\"', '"').replaceAll("'", "\\'")}'`;
  }
  if (Array.isArray(value)) return `a list of ${value.length} item${value.length === 1 ? '' : 's'}`;
  return 'a dict';
}

/** The place of a list item or dict entry, on its own source line when the parser recorded one. */
export function childAt(at: Where, container: PyValue[] | PyDict, key: string | number): Where {
  return { file: at.file, line: lineOfChild(container, key) ?? at.line, path: appendPath(at.path, key) };
}

export function integer(opts: { min?: number; max?: number; what?: string } = {}): Check<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = opts;
  const what =
    opts.what ??
    (opts.max !== undefined
      ? `an integer from ${min} to ${max}`
      : min === 1
        ? 'a positive integer'
        : min === 0
          ? 'a non-negative integer'
          : 'an integer');
  return (value, at) => {
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
      throw configError(at, `expected ${what}, got ${describe(value)}`);
    }
    return value;
  };
}

export const boolean: Check<boolean> = (value, at) => {
  if (typeof value !== 'boolean') throw configError(at, `expected True or False, got ${describe(value)}`);
  return value;
};

export const positiveInt = integer({ min: 1 });
export const nonNegativeInt = integer({ min: 0 });
export const port = integer({ min: 1, max: 65535, what: 'a port number from 1 to 65535' });

export function string(opts: { minLength?: number; maxLength?: number; pattern?: RegExp; what?: string } = {}): Check<string> {
  const { minLength = 1, maxLength = 4096, what = 'a string' } = opts;
  return (value, at) => {
    if (typeof value !== 'string') throw configError(at, `expected ${what}, got ${describe(value)}`);
    // '\x00' in a file is legal Python but cuts paths and arguments short once handed to the OS.
    if (value.includes('\0')) throw configError(at, 'must not contain a NUL character');
    if (value.length < minLength)
      throw configError(at, minLength === 1 ? `expected ${what}, got an empty string` : `expected at least ${minLength} characters`);
    if (value.length > maxLength) throw configError(at, `is ${value.length} characters long; at most ${maxLength} are allowed`);
    if (opts.pattern && !opts.pattern.test(value)) throw configError(at, `expected ${what}, got ${describe(value)}`);
    return value;
  };
}

export function oneOf<T extends string>(values: readonly T[]): Check<T> {
  const allowed = values.map((v) => `'${v}'`).join(' or ');
  return (value, at) => {
    if (typeof value !== 'string' || !(values as readonly string[]).includes(value)) {
      throw configError(at, `expected ${allowed}, got ${describe(value)}`);
    }
    return value as T;
  };
}

export function nullable<T>(check: Check<T>): Check<T | null> {
  return (value, at) => (value === null ? null : check(value, at));
}

export function listOf<T>(
  item: Check<T>,
  opts: { minItems?: number; maxItems?: number; what?: string; unique?: { key: (item: T) => string; what: string } } = {},
): Check<T[]> {
  const { minItems = 0, maxItems = 100_000, what = 'a list' } = opts;
  return (value, at) => {
    if (!Array.isArray(value)) throw configError(at, `expected ${what}, got ${describe(value)}`);
    if (value.length < minItems)
      throw configError(
        at,
        minItems === 1
          ? `expected ${what} with at least one item, got an empty list`
          : `expected at least ${minItems} items, got ${value.length}`,
      );
    if (value.length > maxItems) throw configError(at, `expected at most ${maxItems} items, got ${value.length}`);
    const seen = new Map<string, Where>();
    return value.map((v, i) => {
      const here = childAt(at, value, i);
      const checked = item(v, here);
      if (opts.unique) {
        const key = opts.unique.key(checked);
        const first = seen.get(key);
        if (first) throw configError(here, `${opts.unique.what} '${key}' appears twice (first at ${first.path}, line ${first.line})`);
        seen.set(key, here);
      }
      return checked;
    });
  };
}

/** One setting: its check and either a default or, when required, a hint on what to write. */
export interface Field<T> {
  check: Check<T>;
  default?: T;
  required?: string;
}

export function required<T>(check: Check<T>, hint: string): Field<T> {
  return { check, required: hint };
}

export function optional<T>(check: Check<T>, fallback: T): Field<T> {
  return { check, default: fallback };
}

export type Fields = Record<string, Field<unknown>>;
export type Settings<F extends Fields> = { [K in keyof F]: F[K] extends Field<infer T> ? T : never };

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(prev[j]! + 1, row[j - 1]! + 1, prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = row;
  }
  return prev[b.length]!;
}

function unknownKeyMessage(key: string, allowed: string[]): string {
  const lower = key.toLowerCase();
  const near =
    allowed.find((k) => k.toLowerCase() === lower) ??
    // 'memory_mb' for 'memory': a known key with a unit or qualifier tacked on.
    allowed.find((k) => k.length >= 4 && lower.length >= 4 && (lower.startsWith(k.toLowerCase()) || k.toLowerCase().startsWith(lower))) ??
    allowed
      .map((k) => ({ k, d: editDistance(k.toLowerCase(), lower) }))
      .filter(({ d }) => d <= 2)
      .sort((x, y) => x.d - y.d)[0]?.k;
  const hint = near ? ` (did you mean '${near}'?)` : '';
  return `unknown key '${key}'${hint}; allowed keys: ${allowed.join(', ')}`;
}

function fill<F extends Fields>(
  fields: F,
  has: (key: string) => boolean,
  check: (key: string, field: Field<unknown>) => unknown,
  missing: (key: string, hint: string) => never,
): Settings<F> {
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(fields)) {
    if (has(key)) out[key] = check(key, field);
    else if (field.required !== undefined) missing(key, field.required);
    // Copy defaults so a caller editing one config's list cannot change the next one's.
    else out[key] = typeof field.default === 'object' && field.default !== null ? structuredClone(field.default) : field.default;
  }
  return out as Settings<F>;
}

/** A dict value with a fixed set of keys (e.g. one entry of cluster_hosts). */
export function record<F extends Fields>(fields: F, what = 'a dict'): Check<Settings<F>> {
  const allowed = Object.keys(fields);
  return (value, at) => {
    if (!isDict(value)) throw configError(at, `expected ${what}, got ${describe(value)}`);
    for (const key of Object.keys(value)) {
      if (!Object.hasOwn(fields, key)) {
        throw configError({ ...at, line: lineOfChild(value, key) ?? at.line }, unknownKeyMessage(key, allowed));
      }
    }
    return fill(
      fields,
      (key) => Object.hasOwn(value, key),
      (key, field) => field.check(value[key]!, childAt(at, value, key)),
      (key, hint) => {
        throw configError(at, `missing key '${key}': ${hint}`);
      },
    );
  };
}

/** The top-level `name = value` settings of one config file. */
export function readSettings<F extends Fields>(entries: Map<string, PyAssignment>, fields: F, file: string): Settings<F> {
  const allowed = Object.keys(fields);
  for (const [key, { line }] of entries) {
    if (!Object.hasOwn(fields, key)) throw configError({ file, line, path: '' }, unknownKeyMessage(key, allowed));
  }
  return fill(
    fields,
    (key) => entries.has(key),
    (key, field) => {
      const { value, line } = entries.get(key)!;
      return field.check(value, { file, line, path: key });
    },
    (key, hint) => {
      throw configError({ file, line: null, path: '' }, `missing required setting '${key}': ${hint}`);
    },
  );
}
