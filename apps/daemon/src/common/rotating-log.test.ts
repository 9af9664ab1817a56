// Size-based rotation of a daemon's log: pino lines through RotatingLog roll at the size, whole lines only,
// the newest in FILE and at most `keep` older files; and where the lines go (journald's stdout or the file).
import assert from 'node:assert/strict';
import { existsSync, fstatSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { pino } from 'pino';
import { logDestination } from './logger.ts';
import { RotatingLog } from './rotating-log.ts';

function tempDir(t: { after(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'sf-rotate-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('the log rolls at its size, keeps `keep` old files and splits no line', (t) => {
  const file = path.join(tempDir(t), 'sfmd.log');
  const dest = new RotatingLog(file, { maxBytes: 1000, keep: 2 });
  const log = pino({ name: 'sfmd', base: null, timestamp: false }, dest);
  for (let i = 0; i < 100; i++) log.info({ i }, 'line');
  dest.close();

  assert.ok(existsSync(`${file}.1`) && existsSync(`${file}.2`), 'two rolled files');
  assert.ok(!existsSync(`${file}.3`), 'no more than keep');
  const numbers: number[] = [];
  for (const f of [`${file}.2`, `${file}.1`, file]) {
    assert.ok(statSync(f).size <= 1000, `${path.basename(f)} is within the size`);
    const lines = readFileSync(f, 'utf8').split('\n').filter(Boolean);
    for (const line of lines) numbers.push((JSON.parse(line) as { i: number }).i);
  }
  // The newest lines, in order, none lost between the files kept.
  assert.equal(numbers.at(-1), 99);
  assert.deepEqual(
    numbers,
    numbers.map((_, k) => numbers[0]! + k),
  );
  assert.ok(numbers.length < 100, 'the oldest were dropped with the oldest file');
});

test('a reopened log goes on from its size: a restarted daemon does not start the count again', (t) => {
  const file = path.join(tempDir(t), 'sfld.log');
  const first = new RotatingLog(file, { maxBytes: 100, keep: 1 });
  first.write(`${'x'.repeat(79)}\n`);
  first.close();
  const second = new RotatingLog(file, { maxBytes: 100, keep: 1 });
  second.write(`${'y'.repeat(39)}\n`);
  second.close();
  assert.equal(readFileSync(`${file}.1`, 'utf8'), `${'x'.repeat(79)}\n`);
  assert.equal(readFileSync(file, 'utf8'), `${'y'.repeat(39)}\n`);
});

test('under journald (JOURNAL_STREAM names stdout) lines go to stdout; else to the file the launcher names', (t) => {
  const file = path.join(tempDir(t), 'sfmd.log');
  const { dev, ino } = fstatSync(1);
  assert.equal(logDestination({ SNOWFLOCK_LOG_FILE: file, JOURNAL_STREAM: `${dev}:${ino}` }), null);
  assert.equal(logDestination({}), null, 'in a terminal: stdout');
  // A JOURNAL_STREAM inherited by a process whose stdout went elsewhere (a background start) does not count.
  const dest = logDestination({ SNOWFLOCK_LOG_FILE: file, JOURNAL_STREAM: `${dev}:${ino + 1}`, SNOWFLOCK_LOG_MAX_BYTES: '4096' });
  assert.ok(dest instanceof RotatingLog);
  assert.equal(dest.options.maxBytes, 4096);
  dest.close();
});
