// Nothing piles up in the Operation table: a guest looping refused calls leaves it flat (the
// refusals are counted instead), and pruning keeps the newest rows (sfmd.cfg keep_operations) and
// every running one, archiving the pruned ones. A detail the work finds goes in with the row's finish.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { GiB, masterFixture, seedConfig, tempHome } from '../../test/support.ts';
import { quietLog } from '../../test/in-process.ts';
import { appRouter } from './api/router.ts';
import { contextFromHeaders } from './api/context.ts';
import { startSfmd } from './main.ts';
import { archiveFileOf } from './operation-archive.ts';
import { PRUNE_EVERY, pruneOperations, runOperation } from './operations.ts';

const oneHost = [{ name: 'alpha', cpus: 8, ram: 16 * GiB }];

test('a clone looping a master-only call leaves the Operation table flat and is counted 500 times', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig(1, 256) });
  const master = await f.admin('1:0');
  const ticket = await master.ticket.request({ nclones: 1 });
  await master.clone.master({ ticket: ticket.ticket });
  const asHost = (domain: string) => f.caller({ authorization: `SfHost alpha:${f.hostSecret('alpha')}`, 'x-snowflock-domain': domain });
  const clone = await asHost('1:1');
  const rowsBefore = await f.svc.db.operation.count();

  for (let i = 0; i < 500; i++) await assert.rejects(clone.ticket.request({ nclones: 1 }));
  assert.equal(await f.svc.db.operation.count(), rowsBefore, 'no row per refused call');
  assert.deepEqual((await admin.operations.stats()).guestRefusals, { total: 500, byCode: { NOT_MASTER: 500 } });

  // Refusals found inside an operation (an unknown ticket) leave no row either.
  const owner = await asHost('1:0');
  for (let i = 0; i < 50; i++) await assert.rejects(owner.ticket.dispose({ ticket: crypto.randomUUID() }));
  assert.equal(await f.svc.db.operation.count(), rowsBefore);
  const stats = await admin.operations.stats();
  assert.deepEqual(stats.guestRefusals, { total: 550, byCode: { NOT_MASTER: 500, TICKET_UNKNOWN: 50 } });
  assert.equal(stats.rows, rowsBefore);

  // A successful mutating call still leaves its row.
  await master.clone.merge({ ticket: null });
  assert.equal(await f.svc.db.operation.count(), rowsBefore + 1);
  const last = await admin.operations.list({ limit: 1 });
  assert.equal(last[0]!.kind, 'clone.merge');
  assert.equal(last[0]!.status, 'succeeded');
});

test('pruning keeps the newest K rows and every running operation; the pruned ones are archived by month', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  f.svc.keepOperations = 5;
  f.svc.operationArchive = path.join(f.paths.home, 'archive');
  const base = Date.now() - 3_600_000;
  const at = (i: number) => new Date(base + i * 1000);
  // 3 old operations still running, then 20 finished ones.
  for (let i = 0; i < 3; i++) {
    await f.svc.db.operation.create({ data: { kind: 'old.running', target: 't', requester: 'admin', startedAt: at(i) } });
  }
  for (let i = 3; i < 23; i++) {
    await f.svc.db.operation.create({
      data: { kind: `done.${i}`, target: 't', requester: 'admin', status: 'succeeded', startedAt: at(i), finishedAt: at(i) },
    });
  }
  assert.equal(await pruneOperations(f.svc), 15);
  const left = await f.svc.db.operation.findMany({ orderBy: { startedAt: 'asc' } });
  assert.deepEqual(
    left.map((o) => o.kind),
    ['old.running', 'old.running', 'old.running', 'done.18', 'done.19', 'done.20', 'done.21', 'done.22'],
  );
  assert.equal(await pruneOperations(f.svc), 0, 'pruning again changes nothing');
  const archived = readFileSync(archiveFileOf(f.svc.operationArchive, at(3)), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.deepEqual(
    archived.map((o) => [o.kind, o.status, o.startedAt]),
    Array.from({ length: 15 }, (_, i) => [`done.${i + 3}`, 'succeeded', at(i + 3).toISOString()]),
    'the pruned rows, oldest first, each whole',
  );

  // runOperation prunes by itself every PRUNE_EVERY operations.
  for (let i = 0; i < PRUNE_EVERY; i++) {
    await runOperation(f.svc, { kind: 'work', target: 't', requester: 'admin' }, async () => i);
  }
  const after = await f.svc.db.operation.findMany({ orderBy: { startedAt: 'asc' } });
  assert.equal(after.filter((o) => o.status === 'running').length, 3, 'running operations are never pruned');
  assert.equal(after.filter((o) => o.status !== 'running').length, 5);
  assert.ok(after.filter((o) => o.status !== 'running').every((o) => o.kind === 'work'));
});

test("sfmd.cfg keep_operations is what sfmd keeps (and reports), pruned to at sfmd's start; operations a stopped sfmd left running fail then", async (t) => {
  const home = tempHome('sf-keep-');
  t.after(() => rmSync(home, { recursive: true, force: true }));
  writeFileSync(path.join(home, 'sfmd.cfg'), "cluster_hosts = [{'host': 'solo', 'cpus': 2, 'RAM': 1 << 30}]\nkeep_operations = 150\n");
  const first = await startSfmd({ home, port: 0, listen: '127.0.0.1', log: quietLog() });
  assert.equal(first.svc.keepOperations, 150);
  for (let i = 0; i < 200; i++) {
    await first.svc.db.operation.create({ data: { kind: 'old', target: 't', requester: 'admin', status: 'succeeded' } });
  }
  // What an sfmd killed in the middle of a join and a fork leaves behind.
  for (const kind of ['clone.join', 'clone.master']) {
    await first.svc.db.operation.create({ data: { kind, target: '1:0', requester: 'domain:1:0' } });
  }
  await first.stop();
  const again = await startSfmd({ home, port: 0, listen: '127.0.0.1', log: quietLog() });
  t.after(() => again.stop());
  const admin = appRouter.createCaller(await contextFromHeaders(again.svc, { authorization: `Bearer ${again.adminToken}` }));
  const stats = await admin.operations.stats();
  assert.deepEqual([stats.keep, stats.rows], [150, 150]);
  const interrupted = await again.svc.db.operation.findMany({ where: { kind: { in: ['clone.join', 'clone.master'] } } });
  assert.equal(interrupted.length, 2);
  for (const op of interrupted) {
    assert.equal(op.status, 'failed');
    assert.ok(op.finishedAt);
    assert.match(op.error ?? '', /^UNAVAILABLE: sfmd stopped while this operation ran/);
  }
  assert.equal(await again.svc.db.operation.count({ where: { status: 'running' } }), 0);
});

test("the detail an operation's work sets is written with its finish, succeeded or failed; none set keeps the first", async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const spec = { kind: 'test.detail', target: 'cluster:1', requester: 'admin', detail: { asked: 1 } };
  let seenRunning = '';
  const ids: string[] = [];
  await runOperation(f.svc, spec, async (op) => {
    ids.push(op.id);
    op.setDetail({ found: 2n, stages: { totalMs: 1.5 } });
    seenRunning = (await f.svc.db.operation.findUniqueOrThrow({ where: { id: op.id } })).detail;
  });
  assert.equal(seenRunning, '{"asked":1}', 'held until the finish: no write of its own');
  await assert.rejects(
    runOperation(f.svc, spec, async (op) => {
      ids.push(op.id);
      op.setDetail({ found: 3 });
      throw new Error('broke after');
    }),
  );
  await runOperation(f.svc, spec, async (op) => {
    ids.push(op.id);
  });
  const rows = await Promise.all(ids.map((id) => f.svc.db.operation.findUniqueOrThrow({ where: { id } })));
  assert.deepEqual(
    rows.map((r) => [r.status, r.detail]),
    [
      ['succeeded', '{"found":2,"stages":{"totalMs":1.5}}'],
      ['failed', '{"found":3}'],
      ['succeeded', '{"asked":1}'],
    ],
  );
});
