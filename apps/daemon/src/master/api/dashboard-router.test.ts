// The dashboard's admin procedures over a real SQLite file with recorded sfld commands: page reads,
// merge / kill / shutdown with per-domain results (a host that fails shows as a failed line, not a
// failed action), seed-form checks with the API's own schema, and the example guests.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRPCError } from '@trpc/server';
import { SfError } from '../../common/errors.ts';
import type { HostCommand, HostCommandMap } from '../../common/events.ts';
import { GiB, masterFixture, seedConfig, type MasterFixture } from '../../../test/support.ts';

const oneHost = [{ name: 'alpha', cpus: 8, ram: 16 * GiB }];

/** Cluster 1 with its master running and `n` clones out on one ticket. */
async function clusterWithClones(f: MasterFixture, n: number) {
  await f.online('alpha');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig() });
  const master = await f.admin('1:0');
  const { ticket } = await master.ticket.request({ nclones: n });
  await master.clone.master({ ticket });
  return { admin, ticket };
}

function sfCode(err: unknown): string {
  assert.ok(err instanceof TRPCError, `expected a TRPCError, got ${String(err)}`);
  return err.cause instanceof SfError ? err.cause.code : `trpc:${err.code}`;
}

test('dashboard procedures need the admin token', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const anon = await f.caller({});
  await assert.rejects(anon.dashboard.overview(), (e) => sfCode(e) === 'UNAUTHORIZED');
  await assert.rejects(anon.dashboard.merge({ clusterid: 1, ticket: null }), (e) => sfCode(e) === 'UNAUTHORIZED');
  await assert.rejects(anon.dashboard.consoleInput({ clusterid: 1, vmid: 0, text: 'x' }), (e) => sfCode(e) === 'UNAUTHORIZED');
});

test('overview: hosts with reservations, live domains and the metric history the charts start from', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  assert.deepEqual((await admin.dashboard.overview()).history, {}, 'no samples yet');
  await admin.cluster.seed({ config: seedConfig(2, 512) });
  for (let i = 0; i < 3; i++) {
    f.svc.events.emit('host:metrics', {
      host: 'alpha',
      sampledAt: 1000 * i,
      cpuUtilization: 0.25,
      load1: 0.5,
      memTotal: 8 * GiB,
      memAvailable: 6 * GiB,
      domainsRunning: 1,
      uptimeSeconds: 10,
    });
  }
  const view = await admin.dashboard.overview();
  assert.equal(view.hosts[0]?.state, 'online');
  assert.equal(view.hosts[0]?.cpusUsed, 2);
  assert.deepEqual(
    view.domains.map((d) => d.domain),
    ['1:0'],
  );
  assert.deepEqual(
    view.history.alpha?.map((s) => s.sampledAt),
    [0, 1000, 2000],
  );
  assert.deepEqual((await admin.dashboard.hostMetrics({ host: 'alpha' })).length, 3);
});

test('merge ends the clones as merged and reports each one; a host that fails is one failed line', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const { admin, ticket } = await clusterWithClones(f, 3);
  const command = f.links.command.bind(f.links);
  f.links.command = async <C extends HostCommand>(host: string, c: C, payload: HostCommandMap[C][0]) => {
    if (c === 'domain:destroy' && (payload as { vmid: number }).vmid === 2) throw new SfError('HOST_LOST', `host ${host} did not answer`);
    return command(host, c, payload);
  };
  const out = await admin.dashboard.merge({ clusterid: 1, ticket });
  assert.deepEqual(
    out.results.map((r) => [r.vmid, r.ok]),
    [
      [1, true],
      [2, false],
      [3, true],
    ],
  );
  assert.match(out.results[1]!.error!, /HOST_LOST.*may still run/);
  assert.match(out.summary, /2 of 3 .*vmid 2 on alpha/);

  const view = await admin.dashboard.cluster({ clusterid: 1 });
  assert.deepEqual(
    view.domains.map((d) => [d.vmid, d.state]),
    [
      [0, 'running'],
      [1, 'merged'],
      [2, 'merged'],
      [3, 'merged'],
    ],
  );
  assert.equal(view.tickets[0]?.state, 'merged');
  assert.equal(view.tickets[0]?.allocations.length, 3, 'the allocation map stays readable');
  const op = view.operations.find((o) => o.kind === 'clone.merge' && o.requester === 'token:admin');
  assert.ok(op, 'the merge is recorded as an operation');
  assert.equal(op.status, 'succeeded');
  assert.equal((op.detail.results as unknown[]).length, 3, 'per-clone results are kept on the operation');
  await assert.rejects(admin.dashboard.merge({ clusterid: 1, ticket }), (e) => sfCode(e) === 'TICKET_STATE');
});

test('kill stops one clone and refuses the master; shutdown refuses while a clone is out, force ends the cluster and frees the host', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const { admin } = await clusterWithClones(f, 2);
  const killed = await admin.dashboard.kill({ clusterid: 1, vmid: 2 });
  assert.deepEqual(
    killed.results.map((r) => [r.vmid, r.ok, r.state]),
    [[2, true, 'stopped']],
  );
  await assert.rejects(admin.dashboard.kill({ clusterid: 1, vmid: 0 }), (e) => sfCode(e) === 'BAD_INPUT');
  await assert.rejects(admin.dashboard.kill({ clusterid: 1, vmid: 2 }), (e) => sfCode(e) === 'DOMAIN_UNKNOWN');

  // Clone 1 is still out: refused, naming it, unless forced.
  await assert.rejects(
    admin.dashboard.shutdown({ clusterid: 1 }),
    (e) => sfCode(e) === 'TICKET_STATE' && /clones still out: 1:1/.test(String(e)),
  );
  const down = await admin.dashboard.shutdown({ clusterid: 1, force: true });
  assert.deepEqual(
    down.results.map((r) => r.vmid),
    [1, 0],
    'clones first, the master last',
  );
  const view = await admin.dashboard.cluster({ clusterid: 1 });
  assert.equal(view.state, 'shutdown');
  assert.ok(view.domains.every((d) => !['running', 'booting', 'defined'].includes(d.state)));
  assert.ok((await admin.state.hosts()).every((h) => h.cpusUsed === 0 && h.ramUsed === 0));
  assert.ok(view.operations.some((o) => o.kind === 'cluster.shutdown' && o.requester === 'token:admin'));
  await assert.rejects(admin.dashboard.shutdown({ clusterid: 1, force: true }), (e) => sfCode(e) === 'BAD_INPUT');
  await assert.rejects(admin.dashboard.cluster({ clusterid: 7 }), (e) => sfCode(e) === 'CLUSTER_UNKNOWN');
});

test('console input goes to the sfld of a live domain only', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const { admin } = await clusterWithClones(f, 1);
  await admin.dashboard.consoleInput({ clusterid: 1, vmid: 0, text: 'quit\r' });
  const sent = f.links.sent.find((s) => s.command === 'domain:input');
  assert.deepEqual(sent?.payload, { clusterid: 1, vmid: 0, data: Buffer.from('quit\r') });
  await assert.rejects(admin.dashboard.consoleInput({ clusterid: 1, vmid: 9, text: 'x' }), (e) => sfCode(e) === 'DOMAIN_UNKNOWN');
});

test("checkSeed answers with the seed schema's own messages, by field", async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const admin = await f.admin();
  assert.deepEqual(await admin.dashboard.checkSeed({ config: seedConfig() }), { ok: true, issues: [] });
  const bad = await admin.dashboard.checkSeed({ config: { ...seedConfig(), vcpus: 0, memoryMiB: 8, name: 'a b' } });
  assert.equal(bad.ok, false);
  assert.deepEqual(bad.issues.map((i) => i.field).sort(), ['memoryMiB', 'name', 'vcpus']);
  assert.match(bad.issues.find((i) => i.field === 'name')!.message, /letters, digits/);
});

test('guests: the example guests with their seed defaults', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  const guests = await (await f.admin()).dashboard.guests();
  const hello = guests.find((g) => g.name === 'hello');
  assert.ok(hello, JSON.stringify(guests));
  assert.match(hello.kernel, /native\/guest\/build\/bin\/hello\.elf$/);
  assert.equal(hello.memoryMiB, 64);
  assert.match(hello.description, /smallest flat guest/);
  assert.ok(!guests.some((g) => g.name === 'common'));
});
