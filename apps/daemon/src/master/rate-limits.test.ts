// The token buckets under sfmd's rate limits, on a clock the test turns: a burst passes, the rate refills,
// waits are told exactly, and a limiter's memory stays bounded however many keys a caller cycles through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { addressKey } from './edge-limits.ts';
import { RateLimiter, rateOf, TokenBucket } from './rate-limits.ts';

function clock(start = 1000) {
  let now = start;
  return {
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
  };
}

test('a bucket passes its burst at once, then its rate, and says how long to wait', () => {
  const bucket = new TokenBucket({ perSecond: 10, burst: 20 }, 0);
  for (let i = 0; i < 20; i++) assert.equal(bucket.take(0), 0, `call ${i} of the burst`);
  assert.equal(bucket.take(0), 100, 'one token comes back in 100 ms');
  assert.equal(bucket.wait(50), 50);
  assert.equal(bucket.take(99), 1, 'a refused take takes nothing');
  assert.equal(bucket.take(100), 0);
  // Refill stops at the burst, however long the bucket sat idle.
  assert.equal(bucket.take(60_000, 20), 0);
  assert.equal(bucket.take(60_000), 100);
});

test('a cost is charged whole; one over the burst is charged as the burst, so it can pass at all', () => {
  const bucket = new TokenBucket({ perSecond: 4, burst: 8 }, 0);
  assert.equal(bucket.take(0, 6), 0);
  assert.equal(bucket.take(0, 6), 1000, '4 more tokens at 4 a second');
  assert.equal(bucket.take(1000, 6), 0);
  assert.equal(bucket.take(5000, 100), 0, 'a batch above the burst passes on a full bucket');
  assert.equal(bucket.take(5000, 1), 250);
});

test('a clock that stands still or steps back refills nothing', () => {
  const bucket = new TokenBucket({ perSecond: 1000, burst: 1 }, 500);
  assert.equal(bucket.take(500), 0);
  assert.equal(bucket.take(400), 1, 'earlier than the last take: no tokens appear');
  assert.equal(bucket.take(501), 0);
});

test('keys have their own buckets; an unknown key waits for nothing', () => {
  const c = clock();
  const limiter = new RateLimiter({ perSecond: 1, burst: 2 }, 100, c.now);
  assert.equal(limiter.take('a'), 0);
  assert.equal(limiter.take('a'), 0);
  assert.equal(limiter.take('a'), 1000);
  assert.equal(limiter.wait('a'), 1000);
  assert.equal(limiter.take('b'), 0, "a's use costs b nothing");
  assert.equal(limiter.wait('never-seen'), 0);
  assert.equal(limiter.size, 2, 'wait() keeps no state for keys it has not seen');
  c.advance(500);
  assert.equal(limiter.wait('a'), 500);
});

test('memory is bounded: past the cap the least recently seen key is forgotten, the busy ones kept', () => {
  const c = clock();
  const limiter = new RateLimiter({ perSecond: 1, burst: 1 }, 1000, c.now);
  assert.equal(limiter.take('busy'), 0);
  // A caller cycling through 100 000 addresses (each one call) ...
  for (let i = 0; i < 100_000; i++) {
    limiter.take(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    if (i % 500 === 0) assert.equal(limiter.take('busy') > 0, true, 'the busy key stays limited while it is used');
  }
  // ... never holds more than the cap.
  assert.equal(limiter.size, 1000);
  assert.ok(limiter.wait('busy') > 0, 'the key used all along was not evicted');
  assert.equal(limiter.wait('10.0.0.0'), 0, 'the first of the cycled keys was forgotten');
});

test('rateOf gives bursts of twice the rate; None turns a limit off', () => {
  assert.deepEqual(rateOf(100), { perSecond: 100, burst: 200 });
  assert.equal(rateOf(null), null);
});

test('addresses are keys: IPv4 as is (also IPv4-mapped), IPv6 by its /64', () => {
  assert.equal(addressKey('127.0.0.1'), '127.0.0.1');
  assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
  assert.equal(addressKey('2001:db8:1:2:aaaa:bbbb:cccc:dddd'), '2001:db8:1:2::/64');
  assert.equal(addressKey('2001:db8:1:2::1'), '2001:db8:1:2::/64', 'one /64, however its hosts are written');
  assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(addressKey('2001:0db8:0000:0002:0:0:0:1%eth0'), '2001:db8:0:2::/64');
  assert.equal(addressKey('::1'), '0:0:0:0::/64');
  assert.equal(addressKey('::ffff:1:2'), '0:0:0:0::/64');
  assert.equal(addressKey('64:ff9b::192.0.2.33'), '64:ff9b:0:0::/64');
  assert.equal(addressKey(undefined), 'unknown');
});
