// API tokens through the API over a real SQLite file: made once (the secret never shown again), refused the
// moment they are revoked or expire (also a request already past the edge), the first-start admin token a
// revocable row, and every operation naming the token that asked for it.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { test } from 'node:test';
import { TRPCError } from '@trpc/server';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';
import { ensureAdminToken } from './auth.ts';
import { sfCodeOf } from './api/trpc.ts';
import { parseLifetime, TokenRegistry, tokenRegistry } from './tokens.ts';

const oneHost = [{ name: 'alpha', cpus: 4, ram: 8 * GiB }];

function refusedWith(code: string, message?: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof TRPCError, `expected a TRPCError, got ${String(err)}`);
    assert.equal(sfCodeOf(err), code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

test('a token is made once: its secret in the answer, never listed; names are unique, revoked ones included', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const admin = await f.admin();
  const made = await admin.token.create({ name: 'alice', role: 'operate', expiresInS: 3600 });
  assert.equal(made.token.role, 'operate');
  assert.equal(made.token.state, 'active');
  assert.ok(made.secret.length >= 40);
  const expires = Date.parse(made.token.expiresAt!) - Date.now();
  assert.ok(expires > 3590_000 && expires <= 3600_000, `expires in about an hour: ${expires} ms`);
  const list = await admin.token.list();
  assert.deepEqual(
    list.map((x) => [x.name, x.role, x.state]),
    [
      ['admin', 'admin', 'active'],
      ['alice', 'operate', 'active'],
    ],
  );
  const stored = await f.svc.db.token.findUniqueOrThrow({ where: { name: 'alice' } });
  assert.notEqual(stored.secretHash, made.secret, 'only the hash is stored');
  assert.doesNotMatch(JSON.stringify(list), new RegExp(`${made.secret}|${stored.secretHash}`), 'no secret or hash is listed');
  await assert.rejects(admin.token.create({ name: 'alice', role: 'read' }), refusedWith('TOKEN_EXISTS', /exists already/));
  // Two makes of one new name at once: one is made, the other hears the name is taken.
  const both = await Promise.allSettled([
    admin.token.create({ name: 'twin', role: 'read' }),
    admin.token.create({ name: 'twin', role: 'read' }),
  ]);
  assert.deepEqual(both.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
  refusedWith('TOKEN_EXISTS')((both.find((r) => r.status === 'rejected') as PromiseRejectedResult).reason);
  await admin.token.revoke({ name: 'alice' });
  await assert.rejects(admin.token.create({ name: 'alice', role: 'read' }), refusedWith('TOKEN_EXISTS'));
  await assert.rejects(admin.token.create({ name: 'no spaces', role: 'read' }), refusedWith('BAD_INPUT', /letters, digits/));
  await assert.rejects(admin.token.revoke({ name: 'bob' }), refusedWith('TOKEN_UNKNOWN', /sf token list/));
  // Making and revoking are in the log, by the token that did it, with no secret in it.
  const ops = await admin.operations.list({ limit: 10 });
  const mine = ops.filter((o) => o.target === 'token:alice' && o.status === 'succeeded');
  assert.deepEqual(mine.map((o) => [o.kind, o.target, o.requester]).reverse(), [
    ['token.create', 'token:alice', 'token:admin'],
    ['token.revoke', 'token:alice', 'token:admin'],
  ]);
  assert.doesNotMatch(JSON.stringify(ops), new RegExp(made.secret));
});

test('a revoked token is refused at once, even for a request that passed the edge before the revoke', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const admin = await f.admin();
  const made = await admin.token.create({ name: 'bob', role: 'read' });
  const bob = await f.caller({ authorization: `Bearer ${made.secret}` });
  assert.ok(Array.isArray(await bob.state.hosts()));
  await admin.token.revoke({ name: 'bob' });
  // `bob`'s context was built (its token checked) before the revoke: the guard checks again.
  await assert.rejects(bob.state.hosts(), refusedWith('UNAUTHORIZED', /token 'bob' was revoked/));
  const again = await f.caller({ authorization: `Bearer ${made.secret}` });
  await assert.rejects(again.state.hosts(), refusedWith('UNAUTHORIZED', /token 'bob' was revoked at/));
  assert.equal((await admin.token.list()).find((x) => x.name === 'bob')?.state, 'revoked');
});

test('an expired token is refused from its expiry on', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const admin = await f.admin();
  const made = await admin.token.create({ name: 'brief', role: 'read', expiresInS: 1 });
  const brief = await f.caller({ authorization: `Bearer ${made.secret}` });
  assert.ok(Array.isArray(await brief.cluster.list()));
  await new Promise((r) => setTimeout(r, Date.parse(made.token.expiresAt!) - Date.now() + 20));
  await assert.rejects(brief.cluster.list(), refusedWith('UNAUTHORIZED', /token 'brief' expired at/));
  const later = await f.caller({ authorization: `Bearer ${made.secret}` });
  assert.equal((await later.whoami()).caller, 'anonymous');
  assert.equal((await admin.token.list()).find((x) => x.name === 'brief')?.state, 'expired');
});

test("the first-start admin token is the row 'admin': revocable, not brought back by a restart, replaced by a new file", async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const admin = await f.admin();
  await admin.token.create({ name: 'root2', role: 'admin' });
  await admin.token.revoke({ name: 'admin' });
  await assert.rejects((await f.admin()).state.hosts(), refusedWith('UNAUTHORIZED', /token 'admin' was revoked/));
  // A restart with the same file (a fresh registry over the same table) keeps it revoked.
  const restarted = new TokenRegistry(f.svc);
  const { token, created } = ensureAdminToken(f.paths.adminToken);
  assert.equal(created, false);
  await restarted.adoptAdminToken(token, created);
  assert.match(((await restarted.check(token)) as { reason: string }).reason, /revoked/);
  // Whoever owns the data directory deletes the file: the next start makes a new admin token that works.
  rmSync(f.paths.adminToken);
  const fresh = ensureAdminToken(f.paths.adminToken);
  assert.equal(fresh.created, true);
  await restarted.adoptAdminToken(fresh.token, fresh.created);
  assert.equal(((await restarted.check(fresh.token)) as { token: { name: string } }).token.name, 'admin');
  assert.match(((await restarted.check(token)) as { reason: string }).reason, /not known/);
});

test('an upgrade from before tokens: the existing admin.token file becomes the admin row, and lastUsedAt is noted', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  await f.svc.db.token.deleteMany({}); // as a database made before the Token table was filled
  const registry = new TokenRegistry(f.svc);
  await registry.adoptAdminToken(f.adminToken, false);
  const check = await registry.check(f.adminToken);
  assert.ok('token' in check && check.token.role === 'admin');
  await new Promise((r) => setTimeout(r, 50)); // lastUsedAt is written after the answer
  assert.ok((await f.svc.db.token.findUniqueOrThrow({ where: { name: 'admin' } })).lastUsedAt);
});

test('operations name the token that asked: its own calls, calls it makes for a domain, dashboard actions; guests stay domains', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  const alice = await f.caller({ authorization: `Bearer ${(await admin.token.create({ name: 'alice', role: 'operate' })).secret}` });
  await alice.cluster.seed({ config: seedConfig() });
  const aliceFor = await f.caller({
    authorization: `Bearer ${(await tokenRegistry(f.svc).create('alice-cli', 'operate', null)).secret}`,
    'x-snowflock-domain': '1:0',
  });
  const ticket = await aliceFor.ticket.request({ nclones: 1 });
  await aliceFor.clone.master({ ticket: ticket.ticket });
  const guest = await f.caller({ authorization: `SfHost alpha:${f.hostSecret('alpha')}`, 'x-snowflock-domain': '1:0' });
  const second = await guest.ticket.request({ nclones: 1 });
  await guest.ticket.dispose({ ticket: second.ticket });
  await alice.dashboard.kill({ clusterid: 1, vmid: 1 });
  await alice.dashboard.shutdown({ clusterid: 1, force: true });
  const ops = (await admin.operations.list({ limit: 50 })).reverse();
  assert.deepEqual(
    ops.filter((o) => !o.kind.startsWith('host.') && !o.kind.startsWith('token.')).map((o) => `${o.kind} by ${o.requester}`),
    [
      'cluster.seed by token:alice',
      'ticket.request by token:alice-cli',
      'clone.master by token:alice-cli',
      'ticket.request by domain:1:0',
      'ticket.dispose by domain:1:0',
      'domain.kill by token:alice',
      'cluster.shutdown by token:alice',
    ],
  );
  // A read token's refused action is not recorded as done by anyone: it never started.
  const reader = await f.caller({ authorization: `Bearer ${(await admin.token.create({ name: 'reader', role: 'read' })).secret}` });
  await assert.rejects(reader.cluster.seed({ config: seedConfig() }), refusedWith('FORBIDDEN'));
  assert.ok(!(await admin.operations.list({ limit: 50 })).some((o) => o.requester === 'token:reader'));
});

test('lifetimes: 30d, 12h, 45m, 90s; anything else is refused with the forms that work', () => {
  assert.equal(parseLifetime('30d'), 30 * 86_400_000);
  assert.equal(parseLifetime('12h'), 12 * 3_600_000);
  assert.equal(parseLifetime('45m'), 45 * 60_000);
  assert.equal(parseLifetime('90s'), 90_000);
  for (const bad of ['30', '0d', '-1d', '1w', '99999d', 'soon']) assert.throws(() => parseLifetime(bad), /like 30d, 12h, 45m or 90s/);
});
