// Tables for people and JSON for programs; errors map to the error table's exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { SfError, ERROR_TABLE, ERROR_CODES } from '../common/errors.ts';
import { resolveFormat, toYaml } from './formats.ts';
import { createOutput, formatBytes, renderTable, reportError } from './output.ts';

function capture() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk) => {
    text += chunk;
  });
  return { stream, text: () => text };
}

test('tables align columns and show missing values as -', () => {
  const table = renderTable(
    [
      { a: 'x', n: 5 },
      { a: 'longer', n: null },
    ],
    [
      { header: 'NAME', value: (r) => r.a },
      { header: 'N', value: (r) => r.n, align: 'right' },
    ],
  );
  assert.equal(table, 'NAME    N\nx       5\nlonger  -');
});

test('bytes are shown in binary units', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(2 * 2 ** 30), '2 GiB');
  assert.equal(formatBytes(1536 * 2 ** 20), '1.5 GiB');
});

test('--json prints the value and silences notes; text mode prints the human form', () => {
  const out = capture();
  const err = capture();
  createOutput(true, out.stream, err.stream).result({ a: 1 }, () => 'human');
  createOutput(true, out.stream, err.stream).note('progress');
  assert.deepEqual(JSON.parse(out.text()), { a: 1 });
  assert.equal(err.text(), '');
  const out2 = capture();
  createOutput(false, out2.stream, err.stream).result({ a: 1 }, () => 'human');
  assert.equal(out2.text(), 'human\n');
});

test('every error code has a distinct-enough exit code and reportError uses it', () => {
  for (const code of ERROR_CODES) assert.ok(ERROR_TABLE[code].exit > 0, code);
  const err = capture();
  const out = capture();
  assert.equal(reportError(new SfError('NO_RESOURCES', 'none left'), true, err.stream, out.stream), 6);
  assert.deepEqual(JSON.parse(out.text()), { ok: false, error: { code: 'NO_RESOURCES', message: 'none left' } });
  assert.match(err.text(), /^sf: NO_RESOURCES: none left/);
  assert.equal(reportError(new Error('boom'), false, err.stream, out.stream), 1);
});

test('--format yaml reads back (with an independent YAML parser) as exactly what --json prints', async () => {
  const { parse } = await import('yaml');
  const value = {
    hosts: [{ name: 'solo', state: 'online', cpus: 2, kvm: true, metrics: null, lastSeen: '2026-12-07T11:50:00.000Z' }],
    domains: [],
    empty: {},
    tricky: ['yes', 'no', 'null', '1:0', '0123', '', ' padded ', 'a: b', '# not a comment', 'line\nbreak', '-', 'ünïcode', "it's"],
    nested: [[1, 2], [{ a: { b: [true, false] } }], 1.5, -3, 1e21],
    'key with space': 'x',
  };
  for (const format of ['json', 'yaml'] as const) {
    const out = capture();
    createOutput(format, out.stream).result(value, () => 'table');
    assert.deepEqual(format === 'json' ? JSON.parse(out.text()) : parse(out.text()), value, format);
  }
  assert.equal(toYaml({ a: 'plain', b: '1:0' }), 'a: plain\nb: "1:0"\n');
});

test('streams are NDJSON with --json, YAML documents with --format yaml, lines otherwise', () => {
  const lines = capture();
  const out = createOutput('json', lines.stream);
  out.record({ a: 1 }, () => 'one');
  out.record({ a: 2 }, () => 'two');
  assert.deepEqual(
    lines
      .text()
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l)),
    [{ a: 1 }, { a: 2 }],
  );
  const yaml = capture();
  createOutput('yaml', yaml.stream).record({ a: 1 }, () => 'one');
  assert.equal(yaml.text(), '---\na: 1\n');
  const text = capture();
  createOutput('table', text.stream).record({ a: 1 }, () => 'one');
  assert.equal(text.text(), 'one\n');
});

test('--format takes json, yaml or table, and --json agrees only with json', () => {
  assert.equal(resolveFormat(undefined, false), 'table');
  assert.equal(resolveFormat(undefined, true), 'json');
  assert.equal(resolveFormat('yaml', false), 'yaml');
  assert.throws(() => resolveFormat('xml', false), /--format must be one of table, json, yaml/);
  assert.throws(() => resolveFormat('table', true), /disagree/);
});
