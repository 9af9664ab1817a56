// Tables for people and JSON for programs; errors map to the error table's exit codes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { SfError, ERROR_TABLE, ERROR_CODES } from '../common/errors.ts';
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
