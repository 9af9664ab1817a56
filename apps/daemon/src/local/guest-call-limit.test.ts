// The per-VM guest call limit: a burst goes through at once, then calls wait for the rate (never
// dropped), only a backlog past the bound is refused with EUNAVAIL, and the host's counters say so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfStatus, type GuestReply } from '@snowflock/native';
import { createLogger } from '../common/logger.ts';
import { DEFAULT_GUEST_CALL_LIMITS, GuestCallLimit, guestCallLimits, newGuestCallCounts } from './guest-call-limit.ts';

const log = createLogger('test');
log.level = 'silent';

function fakeClock() {
  let t = 1000;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('a burst goes at once, then calls wait 1/rate each; a quiet VM earns its burst back', () => {
  const clock = fakeClock();
  const limit = new GuestCallLimit('1:0', newGuestCallCounts(), log, { ratePerSec: 100, burst: 5, maxDelayMs: 250 }, clock.now);
  for (let i = 0; i < 5; i++) assert.deepEqual(limit.admit(), { go: true, waitMs: 0 }, `burst call ${i}`);
  // The 6th call owes one token: 10 ms at 100/s; the 7th, arriving at the same moment, 20 ms.
  assert.deepEqual(limit.admit(), { go: true, waitMs: 10 });
  assert.deepEqual(limit.admit(), { go: true, waitMs: 20 });
  // A single vCPU that waited its turn and calls again at once: 10 ms again, never more.
  clock.advance(20);
  for (let i = 0; i < 100; i++) {
    const a = limit.admit();
    assert.equal(a.go, true);
    assert.ok(Math.abs(a.waitMs - 10) < 1e-6, `steady wait ${a.waitMs}`);
    clock.advance(a.waitMs);
  }
  clock.advance(60_000); // quiet for a minute: the whole burst again, no more
  for (let i = 0; i < 5; i++) assert.equal(limit.admit().waitMs, 0);
  assert.ok(limit.admit().waitMs > 0);
});

test('sfld.cfg guest_call_rate sets the limits: a burst of two seconds, a backlog of 25 calls; 20/s by default', () => {
  assert.deepEqual(guestCallLimits(20), { ratePerSec: 20, burst: 40, maxDelayMs: 1250 });
  assert.deepEqual(guestCallLimits(100), { ratePerSec: 100, burst: 200, maxDelayMs: 250 });
  assert.deepEqual(DEFAULT_GUEST_CALL_LIMITS, guestCallLimits(20));
  // A single vCPU looping as fast as it is answered, for a simulated minute: slowed, never refused.
  const clock = fakeClock();
  const limit = new GuestCallLimit('1:0', newGuestCallCounts(), log, DEFAULT_GUEST_CALL_LIMITS, clock.now);
  let calls = 0;
  while (clock.now() < 61_000) {
    const a = limit.admit();
    assert.equal(a.go, true);
    clock.advance(a.waitMs + 1); // 1 ms for sfmd to answer
    calls++;
  }
  assert.ok(calls <= 40 + 20 * 60 && calls >= 20 * 60, `${calls} calls in a minute`);
});

test('only a backlog longer than maxDelayMs is refused; refusals cost no token', () => {
  const clock = fakeClock();
  const limit = new GuestCallLimit('1:0', newGuestCallCounts(), log, { ratePerSec: 100, burst: 1, maxDelayMs: 250 }, clock.now);
  assert.equal(limit.admit().waitMs, 0);
  // 25 calls at once (25 vCPUs) may wait up to 250 ms; the 26th would wait 260 ms: refused, held 250 ms.
  for (let i = 1; i <= 25; i++) assert.deepEqual(limit.admit(), { go: true, waitMs: i * 10 });
  assert.deepEqual(limit.admit(), { go: false, waitMs: 250 });
  assert.deepEqual(limit.admit(), { go: false, waitMs: 250 });
  // 10 ms later one token came back and nothing was taken by the refusals: one more may wait 250 ms.
  clock.advance(10);
  assert.deepEqual(limit.admit(), { go: true, waitMs: 250 });
});

test('run: calls over the rate reach sfmd late but all of them, in order; the counters show it', async () => {
  const counts = newGuestCallCounts();
  const limit = new GuestCallLimit('1:0', counts, log, { ratePerSec: 200, burst: 3, maxDelayMs: 1000 });
  const reached: number[] = [];
  const started = performance.now();
  const replies = await Promise.all(
    Array.from({ length: 8 }, (_, i) =>
      limit.run(async () => {
        reached.push(i);
        return { status: SfStatus.OK, count: i };
      }),
    ),
  );
  const elapsed = performance.now() - started;
  assert.deepEqual(
    replies.map((r) => r.count),
    [0, 1, 2, 3, 4, 5, 6, 7],
    'every call answered with its own reply',
  );
  assert.deepEqual(reached, [0, 1, 2, 3, 4, 5, 6, 7]);
  // 3 at once, then 5 more at 200/s: the last one goes 25 ms after the first (timers may fire a little early;
  // unlimited, all 8 would take well under a millisecond).
  assert.ok(elapsed >= 20, `took ${elapsed} ms`);
  assert.deepEqual(counts, { calls: 8, delayed: 5, refused: 0 });
});

test('run: a refused call is answered EUNAVAIL with a message, after being held, and never reaches sfmd', async () => {
  const counts = newGuestCallCounts();
  const limit = new GuestCallLimit('1:0', counts, log, { ratePerSec: 100, burst: 1, maxDelayMs: 15 });
  let reached = 0;
  const work = async (): Promise<GuestReply> => {
    reached++;
    return { status: SfStatus.OK };
  };
  const started = performance.now();
  const replies = await Promise.all([limit.run(work), limit.run(work), limit.run(work)]);
  assert.deepEqual(
    replies.map((r) => r.status),
    [SfStatus.OK, SfStatus.OK, -SfStatus.EUNAVAIL],
  );
  assert.match(replies[2]!.errmsg ?? '', /^UNAVAILABLE: .*faster than 100\/s.*slow down/);
  assert.ok(performance.now() - started >= 14, 'the refusal was held, so a refused vCPU cannot spin');
  assert.equal(reached, 2);
  assert.deepEqual(counts, { calls: 2, delayed: 1, refused: 1 });
});
