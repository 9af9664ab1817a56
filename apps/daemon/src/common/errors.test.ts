// What socket.io acks carry on failure (fail): the error table's code and our message, never a library's
// or the database's text; what would have leaked goes to the caller's log instead, named by daemon.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ERROR_TABLE, fail, INTERNAL_MESSAGE, internalMessage, SfError } from './errors.ts';

const prismaDump = Object.assign(
  new Error(
    '\nInvalid `prisma.domain.findFirst()` invocation in\n/work/x/apps/daemon/src/master/domains.ts:40:3\n  at findFirst (/work/x/node_modules/x.js:1:1)',
  ),
  { name: 'PrismaClientKnownRequestError' },
);

test('fail keeps our SfErrors as they are, and hands nothing to the log', () => {
  const leaks: unknown[] = [];
  const result = fail(new SfError('DOMAIN_UNKNOWN', 'domain 1:5 does not exist'), (err) => leaks.push(err));
  assert.deepEqual(result, { ok: false, error: { code: 'DOMAIN_UNKNOWN', message: 'domain 1:5 does not exist' } });
  assert.equal(leaks.length, 0);
  // A path a user gave (a guest image) is theirs to see, wherever the install lives.
  const image = new SfError('BAD_INPUT', 'image /work/x/native/guest/build/bin/hello.elf is not a 64-bit ELF file');
  assert.deepEqual(
    fail(image, (err) => leaks.push(err)),
    { ok: false, error: image.toJSON() },
  );
  assert.equal(leaks.length, 0);
});

test('fail answers INTERNAL with our message for anything else, and hands the original to the log', () => {
  for (const err of [
    prismaDump,
    new SfError('INTERNAL', 'wrapped', { cause: prismaDump }),
    new SfError('NO_RESOURCES', 'see /work/x/apps/daemon/src/master/tickets.ts:12'),
    new SfError('NO_RESOURCES', 'thrown in /srv/snowflock/apps/daemon/src/master/tickets.ts'),
    'a thrown string',
  ]) {
    const leaks: unknown[] = [];
    const result = fail(err, (leaked) => leaks.push(leaked));
    assert.deepEqual(result, { ok: false, error: { code: 'INTERNAL', message: INTERNAL_MESSAGE } });
    assert.deepEqual(leaks, [err]);
  }
  assert.deepEqual(fail(prismaDump, undefined, 'sfld'), { ok: false, error: { code: 'INTERNAL', message: internalMessage('sfld') } });
  assert.match(internalMessage('sfld'), /^sfld failed on this call/);
});

test('RATE_LIMITED is its own code: HTTP 429, tRPC TOO_MANY_REQUESTS, an exit code no other code has', () => {
  assert.deepEqual(ERROR_TABLE.RATE_LIMITED, { trpc: 'TOO_MANY_REQUESTS', exit: 13, http: 429 });
  const others = Object.entries(ERROR_TABLE).filter(([code]) => code !== 'RATE_LIMITED');
  assert.ok(others.every(([, e]) => e.exit !== 13));
});
