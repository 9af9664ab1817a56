// Scrapes a /metrics endpoint and reads it with a strict parser of Prometheus's text format (0.0.4),
// written here rather than taken from prom-client (which made the text), then holds it to what Prometheus
// needs: HELP and TYPE before each family's samples, families contiguous, no series twice, numeric values,
// histograms with cumulative buckets ending in +Inf equal to their _count. Where Python's prometheus_client
// is installed (Debian: python3-prometheus-client), its parser reads the same text and must agree.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Family {
  name: string;
  help: string;
  type: string;
  samples: Sample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(text: string, where: string): number {
  // As Prometheus reads them (Go's ParseFloat): Inf, Infinity and NaN in any case.
  if (/^[-+]?inf(?:inity)?$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  if (/^nan$/i.test(text)) return Number.NaN;
  assert.match(text, /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/, `${where}: '${text}' is not a sample value`);
  return Number(text);
}

/** One sample line: name, labels (escapes \\ \" \n), value, optional integer timestamp. */
function parseSample(line: string, at: string): Sample {
  const name = NAME.exec(line)?.[0];
  assert.ok(name, `${at}: no metric name`);
  let i = name.length;
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const label = LABEL_NAME.exec(line.slice(i))?.[0];
      assert.ok(label, `${at}: bad label name at column ${i}`);
      assert.ok(!(label in labels), `${at}: label ${label} twice`);
      i += label.length;
      assert.equal(line.slice(i, i + 2), '="', `${at}: expected =" after ${label}`);
      i += 2;
      let value = '';
      for (;;) {
        const c = line[i++];
        assert.ok(c !== undefined, `${at}: label ${label}'s value is not closed`);
        if (c === '"') break;
        if (c === '\\') {
          const e = line[i++];
          assert.ok(e === '\\' || e === '"' || e === 'n', `${at}: bad escape \\${e} in label ${label}`);
          value += e === 'n' ? '\n' : e;
        } else value += c;
      }
      labels[label] = value;
      if (line[i] === ',') i++;
      else assert.equal(line[i], '}', `${at}: expected , or } after label ${label}`);
    }
    i++;
  }
  const rest = line.slice(i).split(' ');
  assert.equal(rest[0], '', `${at}: expected a space before the value`);
  assert.ok(rest.length === 2 || (rest.length === 3 && /^-?\d+$/.test(rest[2]!)), `${at}: expected 'value [timestamp]' after the name`);
  return { name, labels, value: parseValue(rest[1]!, at) };
}

/** The family a sample belongs to: its own name, or a histogram's/summary's base for the suffixed series. */
function familyOf(sample: string, families: Map<string, Family>): Family | undefined {
  const own = families.get(sample);
  if (own) return own;
  const base = /^(.*)_(bucket|sum|count)$/.exec(sample);
  const family = base ? families.get(base[1]!) : undefined;
  if (!family || (family.type !== 'histogram' && family.type !== 'summary')) return undefined;
  return base![2] === 'bucket' && family.type !== 'histogram' ? undefined : family;
}

const key = (s: Sample) => `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;

function checkHistogram(family: Family): void {
  const series = new Map<string, { buckets: [number, number][]; count?: number; sum?: number }>();
  for (const s of family.samples) {
    const { le, ...rest } = s.labels;
    const id = JSON.stringify(Object.entries(rest).sort());
    const entry = series.get(id) ?? { buckets: [] };
    series.set(id, entry);
    if (s.name.endsWith('_bucket')) {
      assert.ok(le !== undefined, `${s.name} has an le label`);
      entry.buckets.push([parseValue(le, `${s.name} le`), s.value]);
    } else if (s.name.endsWith('_count')) entry.count = s.value;
    else if (s.name.endsWith('_sum')) entry.sum = s.value;
  }
  for (const [id, { buckets, count, sum }] of series) {
    const where = `${family.name}${id}`;
    assert.ok(buckets.at(-1)?.[0] === Infinity, `${where}: the last bucket is le="+Inf"`);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(buckets[i]![0] > buckets[i - 1]![0], `${where}: bucket bounds ascend`);
      assert.ok(buckets[i]![1] >= buckets[i - 1]![1], `${where}: buckets are cumulative`);
    }
    assert.equal(count, buckets.at(-1)![1], `${where}: _count equals the +Inf bucket`);
    assert.ok(sum !== undefined && sum >= 0, `${where}: has a _sum`);
  }
}

/** Parses exposition text strictly; every rule broken fails the calling test. */
export function parseExposition(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  const seen = new Set<string>();
  const closed = new Set<string>();
  let current: Family | undefined;
  assert.ok(text.endsWith('\n'), 'the text ends with a newline');
  text.split('\n').forEach((line, n) => {
    const at = `line ${n + 1}`;
    if (line === '') return;
    const comment = /^# (HELP|TYPE) (\S+) ?(.*)$/.exec(line);
    if (comment) {
      const [, kind, name, rest] = comment as unknown as [string, string, string, string];
      assert.match(name, new RegExp(`${NAME.source}$`), `${at}: metric name ${name}`);
      assert.ok(!closed.has(name), `${at}: ${name}'s family is split`);
      const family = families.get(name) ?? { name, help: '', type: 'untyped', samples: [] };
      assert.equal(family.samples.length, 0, `${at}: ${kind} of ${name} after its samples`);
      if (kind === 'HELP') family.help = rest.replace(/\\(\\|n)/g, (_m, e: string) => (e === 'n' ? '\n' : '\\'));
      else {
        assert.ok(TYPES.has(rest), `${at}: unknown type ${rest}`);
        family.type = rest;
      }
      families.set(name, family);
      if (current && current !== family) closed.add(current.name);
      current = family;
      return;
    }
    if (line.startsWith('#')) return;
    const sample = parseSample(line, at);
    const family = familyOf(sample.name, families);
    assert.ok(family, `${at}: ${sample.name} has no # TYPE before it`);
    assert.ok(!closed.has(family.name), `${at}: ${family.name}'s samples are not together`);
    if (current && current !== family) closed.add(current.name);
    current = family;
    assert.ok(!seen.has(key(sample)), `${at}: ${key(sample)} appears twice`);
    seen.add(key(sample));
    family.samples.push(sample);
  });
  for (const family of families.values()) if (family.type === 'histogram') checkHistogram(family);
  return families;
}

/** Python's prometheus_client parser, where installed: [name, labels, value] of every sample, or why not. */
function pythonSamples(text: string): Array<[string, Record<string, string>, number | string]> | string {
  const script =
    'import json,sys\nfrom prometheus_client.parser import text_string_to_metric_families as p\n' +
    'out=[[s.name,s.labels,s.value if s.value==s.value and abs(s.value)!=float("inf") else str(s.value)] for f in p(sys.stdin.read()) for s in f.samples]\n' +
    'print(json.dumps(out))';
  let why = 'no python3';
  for (const python of ['python3', '/usr/bin/python3']) {
    const run = spawnSync(python, ['-c', script], { input: text, encoding: 'utf8' });
    if (run.status === 0) return JSON.parse(run.stdout) as Array<[string, Record<string, string>, number | string]>;
    if (run.error) continue;
    why = /No module named/.test(run.stderr) ? `${python} has no prometheus_client (Debian: python3-prometheus-client)` : run.stderr.trim();
    if (!/No module named/.test(run.stderr)) throw new Error(`prometheus_client refused the text: ${why}`);
  }
  return why;
}

let pythonNoted = false;

export interface Scrape {
  families: Map<string, Family>;
  /** One series' value (labels as given, the `host` default label aside); undefined if absent. */
  value(name: string, labels?: Record<string, string>): number | undefined;
  /** A histogram's _count for one label set (the `host` label aside). */
  histogramCount(name: string, labels?: Record<string, string>): number | undefined;
}

/** Parses and checks exposition text, with the conventions Snowflock holds to (HELP everywhere, counters _total). */
export function readExposition(text: string): Scrape {
  const families = parseExposition(text);
  let samples = 0;
  for (const family of families.values()) {
    assert.ok(family.help.length > 0, `${family.name} has HELP text`);
    assert.notEqual(family.type, 'untyped', `${family.name} has a TYPE`);
    if (family.type === 'counter') {
      assert.match(family.name, /_total$/, `counter ${family.name} ends in _total`);
      for (const s of family.samples) assert.ok(s.value >= 0, `counter ${key(s)} is not negative`);
    }
    samples += family.samples.length;
  }
  const python = pythonSamples(text);
  if (typeof python === 'string') {
    if (!pythonNoted) console.log(`# cross-check with Python's parser skipped: ${python}`);
    pythonNoted = true;
  } else {
    assert.equal(python.length, samples, "Python's prometheus_client reads as many samples");
    const mine = new Map([...families.values()].flatMap((f) => f.samples.map((s) => [key(s), s.value] as const)));
    for (const [name, labels, value] of python) {
      const id = key({ name, labels, value: 0 });
      assert.ok(mine.has(id), `Python read ${id}, this parser did not`);
      if (typeof value === 'number') assert.equal(mine.get(id), value, `${id}: both parsers read the same value`);
    }
  }
  const find = (name: string, labels: Record<string, string>) => {
    const wanted = Object.entries(labels);
    const family = familyOf(name, families);
    return family?.samples.find((s) => {
      if (s.name !== name) return false;
      const own = Object.entries(s.labels).filter(([k]) => k !== 'host');
      return own.length === wanted.length && wanted.every(([k, v]) => s.labels[k] === v);
    });
  };
  return {
    families,
    value: (name, labels = {}) => find(name, labels)?.value,
    histogramCount: (name, labels = {}) => find(`${name}_count`, labels)?.value,
  };
}

/**
 * GET `url` (with the token as a bearer if given, through `send`: sfmd's pinned fetch for its https URL); the
 * checked exposition, or fails with the status and body.
 */
export async function scrape(url: string, token?: string, send: typeof fetch = fetch): Promise<Scrape> {
  const res = await send(url, token ? { headers: { authorization: `Bearer ${token}` } } : {});
  const text = await res.text();
  assert.equal(res.status, 200, `GET ${url}: ${text}`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  return readExposition(text);
}
