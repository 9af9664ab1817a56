// The seed's ticket semantics through the tRPC procedures (RecordingHostLinks for the sflds): several tickets
// out at once with cluster-unique vmids, merge and join per ticket, shutdown refusing while anything is out,
// waits answered STILL_WAITING within a poll window, and over-limit requests refused with the limit named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRPCError } from '@trpc/server';
import { SfError, type ErrorCode } from '../common/errors.ts';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';
import { contextFromHeaders } from './api/context.ts';
import { appRouter } from './api/router.ts';

function code(err: unknown): ErrorCode | string {
  return err instanceof TRPCError && err.cause instanceof SfError ? err.cause.code : String(err);
}

async function refused(promise: Promise<unknown>, want: ErrorCode, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.equal(code(err), want, String(err));
    assert.match((err as Error).message, pattern);
    return true;
  });
}

const oneHost = [{ name: 'alpha', cpus: 16, ram: 32 * GiB }];

async function seeded(hosts = oneHost) {
  const f = await masterFixture(hosts);
  await f.online(...hosts.map((h) => h.name));
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig() });
  return { f, admin, master: await f.admin('1:0') };
}

const liveVmids = async (admin: Awaited<ReturnType<typeof seeded>>['admin']) =>
  (await admin.state.domains())
    .filter((d) => d.domain !== '1:0')
    .map((d) => [d.domain, d.ticket])
    .sort();

test('a master clones on a second ticket while the first is out: vmids never clash, merge acts per ticket', async (t) => {
  const { f, admin, master } = await seeded();
  t.after(() => f.close());
  // Getting Started steps 6-11: sfdotix 1 + sfdoclone, then sfclone 2 while the first clone runs.
  const first = await master.ticket.request({ nclones: 1 });
  assert.deepEqual(
    first.allocations.map((a) => a.vmid),
    [1],
  );
  await master.clone.master({ ticket: first.ticket });
  const second = await master.ticket.request({ nclones: 2 });
  assert.deepEqual(
    second.allocations.map((a) => a.vmid),
    [2, 3],
  );
  // An unused ticket holds its vmids too: a third one asked for now gets the next ones.
  const third = await master.ticket.request({ nclones: 1 });
  assert.deepEqual(
    third.allocations.map((a) => a.vmid),
    [4],
  );
  await master.ticket.dispose({ ticket: third.ticket });
  await master.clone.master({ ticket: second.ticket });
  assert.deepEqual(await liveVmids(admin), [
    ['1:1', first.ticket],
    ['1:2', second.ticket],
    ['1:3', second.ticket],
  ]);
  assert.deepEqual((await master.ticket.list()).outstanding.sort(), [first.ticket, second.ticket].sort());

  // Merging the first ticket ends its clone only.
  const merged = await master.clone.merge({ ticket: first.ticket });
  assert.deepEqual([merged.merged, merged.clones], [[first.ticket], 1]);
  assert.deepEqual(await liveVmids(admin), [
    ['1:2', second.ticket],
    ['1:3', second.ticket],
  ]);
  // vmid 1 is free again (its VM is gone); 2 and 3 are not while their VMs live.
  const again = await master.ticket.request({ nclones: 2 });
  assert.deepEqual(
    again.allocations.map((a) => a.vmid),
    [1, 4],
  );
  // The clone addressed as 1:2 is the second ticket's, and acts for itself.
  const clone = await f.admin('1:2');
  assert.equal((await clone.clone.exit({ status: 7 })).vmid, 2);
  await f.admin('1:3').then((c) => c.clone.exit({ status: 0 }));
  const joined = await master.clone.join({ ticket: second.ticket });
  assert.deepEqual(
    joined.exits.map((e) => [e.vmid, e.how, e.status]),
    [
      [2, 'exited', 7],
      [3, 'exited', 0],
    ],
  );
  assert.equal((await master.ticket.info({ ticket: again.ticket })).state, 'unused');
});

test('the fork of a second ticket spans the hosts of the first ticket clones too', async (t) => {
  const { f, master } = await seeded([
    { name: 'alpha', cpus: 2, ram: 8 * GiB },
    { name: 'beta', cpus: 2, ram: 8 * GiB },
  ]);
  t.after(() => f.close());
  const first = await master.ticket.request({ nclones: 1 });
  await master.clone.master({ ticket: first.ticket });
  const second = await master.ticket.request({ nclones: 1 });
  f.links.sent.length = 0;
  await master.clone.master({ ticket: second.ticket });
  const fork = f.links.sent.find((s) => s.command === 'domain:fork')!;
  assert.deepEqual((fork.payload as { cluster: { hosts: string[] } }).cluster.hosts, ['alpha', 'beta']);
});

test("shutdown refuses while clones are out or tickets unmerged, naming them; '' merges all; force stops all", async (t) => {
  const { f, admin, master } = await seeded();
  t.after(() => f.close());
  const out = await master.ticket.request({ nclones: 2 });
  await master.clone.master({ ticket: out.ticket });
  const spare = await master.ticket.request({ nclones: 1 });
  await refused(
    master.cluster.shutdown(),
    'TICKET_STATE',
    new RegExp(`clones still out: 1:1, 1:2; tickets not merged: ${out.ticket} \\(outstanding\\), ${spare.ticket} \\(unused\\)`),
  );
  await refused(master.cluster.shutdown({ force: false }), 'TICKET_STATE', /sfshutdown --force/);
  assert.equal((await admin.state.domains()).length, 3, 'nothing was stopped');
  await master.clone.merge({ ticket: null });
  await refused(
    master.cluster.shutdown(),
    'TICKET_STATE',
    new RegExp(`tickets not merged: ${spare.ticket} \\(unused\\)$|${spare.ticket} \\(unused\\)\\.`),
  );
  await master.ticket.dispose({ ticket: spare.ticket });
  assert.equal((await master.cluster.shutdown()).state, 'shutdown');

  // A second cluster, forced down with a clone out.
  await admin.cluster.seed({ config: seedConfig() });
  const two = await f.admin('2:0');
  const t2 = await two.ticket.request({ nclones: 1 });
  await two.clone.master({ ticket: t2.ticket });
  const forced = await two.cluster.shutdown({ force: true });
  assert.deepEqual(
    forced.domains.map((d) => [d.vmid, d.state]),
    [
      [0, 'stopped'],
      [1, 'stopped'],
    ],
  );
});

test('a join or blocking request given a poll window answers STILL_WAITING and changes nothing; a join past its own limit is recorded', async (t) => {
  const { f, admin } = await seeded([{ name: 'alpha', cpus: 2, ram: 8 * GiB }]);
  t.after(() => f.close());
  // The guest's own calls through its sfld: its refusals are counted, not stored (a token's stay in the log).
  const master = await f.caller({ authorization: `SfHost alpha:${f.hostSecret('alpha')}`, 'x-snowflock-domain': '1:0' });
  const ticket = await master.ticket.request({ nclones: 1 });
  await master.clone.master({ ticket: ticket.ticket });
  const opsBefore = (await admin.operations.list({ limit: 1000 })).length;
  let started = Date.now();
  await refused(master.clone.join({ ticket: ticket.ticket, pollMs: 200 }), 'STILL_WAITING', /call again/);
  assert.ok(Date.now() - started >= 190);
  // The host is full (master + clone): a blocking request waits, and its window ends first.
  started = Date.now();
  await refused(master.ticket.request({ nclones: 1, block: true, pollMs: 200 }), 'STILL_WAITING', /call again/);
  assert.ok(Date.now() - started >= 190);
  // A caller's own limit shorter than the window is a real answer.
  await refused(master.ticket.request({ nclones: 1, block: true, timeoutMs: 100, pollMs: 5000 }), 'NO_RESOURCES', /waited 100 ms/);
  await refused(master.clone.join({ ticket: ticket.ticket, timeoutMs: 100, pollMs: 5000 }), 'TIMEOUT', /gave up waiting after 100 ms/);
  // Waiting leaves no row and a refused request is counted, not stored: the one new row is the join that
  // ran out of its caller's own time.
  const ops = await admin.operations.list({ limit: 1000 });
  assert.equal(ops.length, opsBefore + 1);
  assert.deepEqual([ops[0]!.kind, ops[0]!.status, ops[0]!.error?.split(':')[0]], ['clone.join', 'failed', 'TIMEOUT']);
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).state, 'outstanding');
  // A window that sees the clone exit answers the join.
  const joining = master.clone.join({ ticket: ticket.ticket, pollMs: 5000 });
  await (await f.admin('1:1')).clone.exit({ status: 3 });
  assert.deepEqual(
    (await joining).exits.map((e) => [e.vmid, e.status]),
    [[1, 3]],
  );
});

test('over-limit ticket requests are refused at once with the limit named', async (t) => {
  const { f, master } = await seeded();
  t.after(() => f.close());
  await refused(
    master.ticket.request({ nclones: 257 }),
    'BAD_INPUT',
    /over the limit of 256 clones per ticket \(the guest ABI's SF_MAX_ALLOC\)/,
  );
  await refused(master.ticket.request({ nclones: 257, procs: true }), 'BAD_INPUT', /257 clones asked for in one ticket/);
  // A /29 cluster subnet has addresses for the master and 4 clones.
  f.svc.config.clusterNetwork = { ...f.svc.config.clusterNetwork, prefix: 29 };
  await refused(
    master.ticket.request({ nclones: 5, block: true }),
    'BAD_INPUT',
    /\/29 subnet holds 4 clones at most \(sfmd.cfg cluster_prefix\)/,
  );
  const four = await master.ticket.request({ nclones: 4 });
  assert.equal(four.granted, 4);
  // Its vmids are taken while it is held: no room for more, whatever the hosts have.
  await refused(master.ticket.request({ nclones: 1 }), 'NO_RESOURCES', /subnet \(its free vmids/);
});

test('a blocking request whose caller went away stops waiting and takes nothing when room appears', async (t) => {
  const { f, master } = await seeded([{ name: 'alpha', cpus: 2, ram: 8 * GiB }]);
  t.after(() => f.close());
  const held = await master.ticket.request({ nclones: 1 }); // the host is full now
  const gone = new AbortController();
  const ctx = await contextFromHeaders(f.svc, { authorization: `Bearer ${f.adminToken}`, 'x-snowflock-domain': '1:0' });
  const waiting = appRouter.createCaller(ctx, { signal: gone.signal }).ticket.request({ nclones: 1, block: true });
  await new Promise((r) => setTimeout(r, 200));
  gone.abort();
  await refused(waiting, 'UNAVAILABLE', /the caller went away/);
  await master.ticket.dispose({ ticket: held.ticket });
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(await master.ticket.list(), { unused: [], outstanding: [] }, 'no ticket was made for nobody');
});
