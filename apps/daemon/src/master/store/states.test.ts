// The ticket state machine: every (from, to) pair is checked against the lifecycle
// unused → outstanding → merged | unused → disposed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfError } from '../../common/errors.ts';
import { assertTicketTransition, canTransitionTicket, TICKET_STATES, type TicketState } from './states.ts';

const LEGAL = new Set(['unused>outstanding', 'unused>disposed', 'outstanding>merged']);

test('exactly the lifecycle transitions are legal', () => {
  for (const from of TICKET_STATES) {
    for (const to of TICKET_STATES) {
      assert.equal(canTransitionTicket(from, to), LEGAL.has(`${from}>${to}`), `${from} → ${to}`);
    }
  }
});

test('illegal transitions throw TICKET_STATE with advice', () => {
  const cases: [TicketState, TicketState, RegExp][] = [
    ['outstanding', 'disposed', /merge them/],
    ['merged', 'outstanding', /request a new ticket/],
    ['disposed', 'outstanding', /disposed/],
    ['unused', 'merged', /clone with it/],
    ['unused', 'unused', /cannot become unused/],
  ];
  for (const [from, to, advice] of cases) {
    assert.throws(
      () => assertTicketTransition('t-1', from, to),
      (err: unknown) => err instanceof SfError && err.code === 'TICKET_STATE' && advice.test(err.message) && err.message.includes('t-1'),
    );
  }
});

test('an unknown stored state allows nothing', () => {
  assert.equal(canTransitionTicket('exploded', 'merged'), false);
  assert.throws(() => assertTicketTransition('t', 'exploded', 'disposed'), /unknown/);
});
