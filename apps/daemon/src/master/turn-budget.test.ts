// The turn budget: calls within one turn of the event loop share TURN_BUDGET_MS; the next turn starts afresh.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TurnBudget } from './turn-budget.ts';

test('a turn spends its budget, and the next turn starts with a fresh one', async () => {
  let now = 1000;
  const turn = new TurnBudget(20, () => now);
  assert.equal(turn.spent(), false, 'the first call of a turn starts the clock');
  now += 19;
  assert.equal(turn.spent(), false);
  assert.equal(turn.elapsed(), 19);
  now += 1;
  assert.equal(turn.spent(), true, '20 ms into the turn, calls are refused');
  await new Promise((r) => setImmediate(r));
  assert.equal(turn.elapsed(), 0, 'between turns nothing is spent');
  now += 500;
  assert.equal(turn.spent(), false, 'a new turn');
});
