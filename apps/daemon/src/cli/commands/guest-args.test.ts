// Guest-side arguments from a hostile command line: counts, ticket ids and seconds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCount, parseSeconds, parseTicket } from './guest-args.ts';

test('counts are small whole numbers', () => {
  assert.equal(parseCount('4', 'N'), 4);
  assert.equal(parseCount('0', 'M', 0), 0);
  for (const bad of ['0', '-1', '1.5', '1e3', 'four', '', '99999999', ' 3']) {
    assert.throws(() => parseCount(bad, 'N'), { code: 'BAD_INPUT' }, bad);
  }
  assert.throws(() => parseCount(undefined, 'N (how many clones)'), /missing N/);
});

test('tickets are uuids, normalised to lower case', () => {
  const id = '6F1C2D3E-0000-4000-8000-0123456789AB';
  assert.equal(parseTicket(id), id.toLowerCase());
  for (const bad of ['', 'abc', `${id}x`, "'; drop table"]) assert.throws(() => parseTicket(bad), { code: 'BAD_INPUT' });
});

test('seconds become milliseconds', () => {
  assert.equal(parseSeconds('30', '--timeout'), 30_000);
  assert.equal(parseSeconds(undefined, '--timeout'), undefined);
  assert.throws(() => parseSeconds('-5', '--timeout'), /whole seconds/);
});
