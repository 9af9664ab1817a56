// The progress line is drawn only for people at a terminal, says what is awaited and how long, and is
// erased when the wait ends, so piped output and --json never carry it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { elapsedText, startProgress, withProgress } from './progress.ts';

function terminal(isTTY: boolean) {
  let text = '';
  return { isTTY, columns: 60, write: (t: string) => (text += t), text: () => text };
}

test('nothing is written when stderr is not a terminal, or the output is for programs', async () => {
  const piped = terminal(false);
  assert.equal(await withProgress(false, 'waiting for 3 of 8 clones', Promise.resolve(7), undefined, piped), 7);
  assert.equal(piped.text(), '');
  const tty = terminal(true);
  const p = startProgress('waiting', { machine: true, stream: tty });
  p.set('still waiting');
  p.stop();
  assert.equal(p.live, false);
  assert.equal(tty.text(), '');
});

test('on a terminal one line says what is awaited and for how long, then is erased', () => {
  const tty = terminal(true);
  let now = 1_000;
  const p = startProgress('waiting for 3 of 8 clones', { machine: false, stream: tty, now: () => now });
  const ERASE = '\r\x1b[K';
  assert.ok(tty.text().startsWith(ERASE), 'the line starts by erasing the last one');
  assert.match(tty.text().slice(ERASE.length), /^. waiting for 3 of 8 clones \(0s\)$/);
  now += 65_000;
  p.set('waiting for 1 of 8 clones');
  let printed = '';
  p.aside(() => {
    printed = tty.text();
  });
  assert.ok(printed.endsWith('\r\x1b[K'), 'the line is out of the way of other output');
  p.stop();
  assert.ok(tty.text().endsWith('\r\x1b[K'));
  assert.equal(elapsedText(65_000), '1m05s');
});

test('a line longer than the terminal is cut so \\r rewrites all of it', () => {
  const tty = terminal(true);
  const p = startProgress('x'.repeat(200), { machine: false, stream: tty });
  p.stop();
  const drawn = tty.text().split('\r\x1b[K')[1]!;
  assert.ok(drawn.length <= 59, `${drawn.length} characters`);
  assert.ok(drawn.endsWith('…'));
  // A terminal that reports no size (0 columns, as under script(1)) is taken as 80 wide, not cut to nothing.
  const unsized = { ...terminal(true), columns: 0 };
  let text = '';
  unsized.write = (t: string) => (text += t);
  startProgress('booting the new cluster master', { machine: false, stream: unsized }).stop();
  assert.match(text, /booting the new cluster master \(0s\)/);
});

test("withProgress shows the probe's answer and ends with the work's outcome", async () => {
  const tty = terminal(true);
  let probes = 0;
  const work = new Promise<string>((resolve) => setTimeout(() => resolve('done'), 1300));
  const result = await withProgress(false, 'waiting', work, async () => `waiting for ${++probes} of 8 clones`, tty);
  assert.equal(result, 'done');
  assert.match(tty.text(), /waiting for 1 of 8 clones/);
  await assert.rejects(withProgress(false, 'waiting', Promise.reject(new Error('refused')), undefined, tty), /refused/);
  assert.ok(tty.text().endsWith('\r\x1b[K'), 'erased after a failure too');
});
