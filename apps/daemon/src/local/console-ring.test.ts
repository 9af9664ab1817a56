// The console replay buffer keeps exactly the newest bytes, across wrap-arounds and huge writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleRing } from './console-ring.ts';

test('keeps everything until full, then the newest bytes in order', () => {
  const ring = new ConsoleRing(8);
  ring.write(Buffer.from('abc'));
  assert.equal(ring.contents().toString(), 'abc');
  ring.write(Buffer.from('defgh'));
  assert.equal(ring.contents().toString(), 'abcdefgh');
  ring.write(Buffer.from('ij'));
  assert.equal(ring.contents().toString(), 'cdefghij');
  ring.write(Buffer.from('0123456789xyz'));
  assert.equal(ring.contents().toString(), '56789xyz');
});

test('matches a naive model over random writes', () => {
  let seed = 7;
  const rand = () => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed / 2 ** 31;
  };
  const ring = new ConsoleRing(100);
  let model = '';
  for (let i = 0; i < 2000; i++) {
    const chunk = 'x'.repeat(Math.floor(rand() * 250)).replace(/x/g, () => String.fromCharCode(97 + Math.floor(rand() * 26)));
    ring.write(Buffer.from(chunk));
    model = (model + chunk).slice(-100);
    assert.equal(ring.contents().toString(), model);
  }
});
