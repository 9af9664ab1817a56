// Tests guest-call decoding and reply checks: defaults, limits, the messages that name a bad field.
// Boundary: pure conversion; the round trip through a real guest is vm.test.ts's.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SfAbi, SfHypercall, SfStatus } from './guest-abi.ts';
import { failureReply, normalizeGuestReply, parseGuestCall } from './guest-call.ts';

describe('parseGuestCall', () => {
  const request = { nr: SfHypercall.TICKET_REQUEST, flags: SfAbi.REQ_BLOCK, nclones: 3, min: 2, status: 0, timeoutMs: 0, ticket: '' };
  test('names the call and splits the request flags', () => {
    const call = parseGuestCall({ id: 5n, nr: SfHypercall.TICKET_REQUEST, vcpu: 1, request });
    assert.equal(call.name, 'TICKET_REQUEST');
    assert.deepEqual([call.request.block, call.request.procs], [true, false]);
    assert.equal(parseGuestCall({ id: 6n, nr: 99, vcpu: 0, request: { ...request, nr: 99 } }).name, 'UNKNOWN_99');
  });
  test('a call of another shape (a stale binary) is a TypeError naming the field', () => {
    assert.throws(() => parseGuestCall({ id: 5, nr: 16, vcpu: 0, request }), { name: 'TypeError', message: /guest call/ });
    assert.throws(() => parseGuestCall({ id: 5n, nr: 16, vcpu: 0, request: { ...request, ticket: 7 } }), /request\.ticket/);
  });
});

describe('normalizeGuestReply', () => {
  test('fills defaults', () => {
    assert.deepEqual(normalizeGuestReply({ status: 0 }), {
      status: 0,
      count: 0,
      vmid: 0,
      nunused: 0,
      noutstanding: 0,
      ticket: '',
      errmsg: '',
      tickets: [],
      alloc: [],
      exits: [],
    });
  });
  test('rejects bad fields with a message naming them', () => {
    const bad: [unknown, RegExp][] = [
      [null, /expected an object/],
      [{ status: 1 }, /status/],
      [{ status: -15 }, /status/],
      [{ status: 0, exits: [{ vmid: 1, status: 0, how: 3 }] }, /exits\[0\]\.how/],
      [{ status: 0, exits: [{ vmid: 1, status: 2 ** 31, how: 0 }] }, /exits\[0\]\.status/],
      [{ status: 0, exits: new Array(257).fill({ vmid: 1, how: 0 }) }, /exit records/],
      [{ status: -2.5 }, /status/],
      [{ status: 0, count: -1 }, /count/],
      [{ status: 0, count: 2 ** 32 }, /count/],
      [{ status: 0, vmid: 2 ** 31 }, /vmid/],
      [{ status: 0, ticket: 'x'.repeat(37) }, /ticket/],
      [{ status: 0, ticket: 'a\0b' }, /ticket/],
      [{ status: 0, tickets: new Array(65).fill('t') }, /tickets/],
      [{ status: 0, tickets: [1] }, /tickets\[0\]/],
      [{ status: 0, alloc: [{ vmid: 1, processors: -1 }] }, /alloc\[0\]\.processors/],
      [{ status: 0, alloc: new Array(257).fill({ vmid: 0, processors: 0 }) }, /alloc/],
    ];
    for (const [reply, pattern] of bad) assert.throws(() => normalizeGuestReply(reply), pattern, JSON.stringify(reply));
  });
  test('truncates errmsg to 239 UTF-8 bytes without splitting a character', () => {
    const r = normalizeGuestReply({ status: -SfStatus.EINVAL, errmsg: 'é'.repeat(200) });
    assert.equal(Buffer.byteLength(r.errmsg), 238);
    assert.equal(r.errmsg, 'é'.repeat(119));
  });
});

describe('failureReply', () => {
  test('negates the status and carries the message', () => {
    const r = failureReply(SfStatus.EINTERNAL, 'boom');
    assert.deepEqual([r.status, r.errmsg, r.tickets], [-SfStatus.EINTERNAL, 'boom', []]);
  });
});
