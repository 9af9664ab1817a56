// clone.master's record: one transaction before the fork command, one after the answers, and nothing half-written
// when either side fails (a fork without a usable answer crashes its clones and has its sfld destroy any it made).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { TRPCError } from '@trpc/server';
import { GiB, masterFixture, seedConfig, twoHostTicket, type MasterFixture } from '../../test/support.ts';
import { SfError } from '../common/errors.ts';
import { vmIdentity } from './cluster-net.ts';
import { applyStateReport } from './state-reports.ts';

/** sfmd with one host (alpha), a seeded cluster of a 256 MiB master there, and a ticket of `nclones` it holds. */
async function oneHostTicket(t: TestContext, nclones: number) {
  const f = await masterFixture([{ name: 'alpha', cpus: 8, ram: 16 * GiB }]);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig(1, 256) });
  const master = await f.admin('1:0');
  const ticket = await master.ticket.request({ nclones });
  return { f, admin, master, ticket };
}

test('a fork answered with something the wire contract refuses crashes its clones and destroys any left running', async (t) => {
  const { f, admin, master, ticket } = await oneHostTicket(t, 2);

  f.links.fail['domain:fork'] = new SfError('INTERNAL', 'host alpha: malformed answer to domain:fork: pauseMs: expected number');
  await assert.rejects(master.clone.master({ ticket: ticket.ticket }), (err: unknown) => {
    assert.ok(err instanceof TRPCError && err.cause instanceof SfError && err.cause.code === 'INTERNAL', String(err));
    assert.match(err.message, /^the fork of 1:0 failed: .*malformed answer.*; merge the ticket \(sfmerge\) and try again$/);
    return true;
  });
  const destroyed = f.links.sent.filter((s) => s.command === 'domain:destroy');
  assert.deepEqual(
    destroyed.map((s) => [s.host, s.payload]),
    [
      ['alpha', { clusterid: 1, vmid: 1 }],
      ['alpha', { clusterid: 1, vmid: 2 }],
    ],
  );
  const clones = (await admin.state.domains({ all: true })).filter((d) => d.domain !== '1:0');
  assert.deepEqual(
    clones.map((d) => [d.domain, d.state]),
    [
      ['1:1', 'crashed'],
      ['1:2', 'crashed'],
    ],
  );
  // Nothing half-written: every clone ended with the reason (none left `defined` to hold its CPU), and the ticket
  // stays outstanding, as before the record was batched: its master merges it and asks again.
  const rows = await f.svc.db.domain.findMany({ where: { ticketId: ticket.ticket } });
  assert.equal(rows.length, 2);
  for (const d of rows) {
    assert.equal(d.state, 'crashed');
    assert.match(d.endReason ?? '', /^the fork of 1:0 failed: .*malformed answer/);
    assert.ok(d.endedAt);
  }
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).state, 'outstanding');
  const [op] = await admin.operations.list({ kind: 'clone.master' });
  assert.equal(op?.status, 'failed');
});

/** Every domain:state announcement while `work` runs, as 'CLUSTER:VMID state'. */
async function announced(f: MasterFixture, work: () => Promise<unknown>): Promise<string[]> {
  const seen: string[] = [];
  const listener = (e: { clusterid: number; vmid: number; state: string }) => seen.push(`${e.clusterid}:${e.vmid} ${e.state}`);
  f.svc.events.on('domain:state', listener);
  try {
    await work();
  } finally {
    f.svc.events.off('domain:state', listener);
  }
  return seen;
}

const twoHosts = [
  { name: 'alpha', cpus: 4, ram: 8 * GiB },
  { name: 'beta', cpus: 4, ram: 8 * GiB },
];

test('clone.master leaves the same record as ever: clone rows, the ticket outstanding, the fork figures with its stages', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  const { admin, master, ticket, masterHost, otherHost } = await twoHostTicket(f, 4);
  const seen = await announced(f, () => master.clone.master({ ticket: ticket.ticket }));

  const rows = await f.svc.db.domain.findMany({ where: { ticketId: ticket.ticket }, include: { host: true }, orderBy: { vmid: 'asc' } });
  assert.deepEqual(
    rows.map((d) => ({
      vmid: d.vmid,
      host: d.host.name,
      state: d.state,
      vcpus: d.vcpus,
      memory: d.memory,
      ip: d.ip,
      mac: d.mac,
      endedAt: d.endedAt,
    })),
    ticket.allocations.map((a) => ({
      vmid: a.vmid,
      host: a.host,
      state: 'running',
      vcpus: a.processors,
      memory: BigInt(256 * 2 ** 20),
      ...vmIdentity(f.svc, 1, a.vmid),
      endedAt: null,
    })),
  );
  assert.equal(new Set(rows.map((d) => d.id)).size, 4, 'each row its own id');
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).state, 'outstanding');
  // Each clone announced as written (defined) and as started (running), once each.
  for (const a of ticket.allocations) {
    assert.deepEqual(
      seen.filter((s) => s.startsWith(`1:${a.vmid} `)),
      [`1:${a.vmid} defined`, `1:${a.vmid} running`],
    );
  }
  const commands = f.links.sent.filter((s) => s.command === 'domain:fork' || s.command === 'domain:clone-remote');
  assert.deepEqual(
    commands.map((s) => [s.host, s.command]),
    [
      [masterHost, 'domain:fork'],
      [otherHost, 'domain:clone-remote'],
    ],
  );

  const [op] = await admin.operations.list({ kind: 'clone.master' });
  assert.equal(op?.status, 'succeeded');
  const detail = op!.detail as unknown as Record<string, unknown> & { stages: Record<string, unknown> };
  const { stages, ...figures } = detail;
  assert.deepEqual(figures, {
    clones: 4,
    started: 4,
    remote: 2,
    pauseMs: 1,
    descriptorBytes: 8192,
    fromShells: 0,
    remoteFromShells: 0, // the stand-in sflds answer as older ones: no shells counted, no timings of their own
    remoteTiming: {},
    network: { mode: 'multicast', group: '239.1.2.3:40000', snapshotId: '00000000000000aa', memserverPort: 40000 },
    forkTiming: null,
  });
  const { remoteHostMs, ...ms } = stages;
  assert.deepEqual(Object.keys(ms), ['txMs', 'sendMs', 'forkMs', 'remoteMs', 'recordMs', 'totalMs']);
  for (const [name, v] of Object.entries(ms)) assert.ok(typeof v === 'number' && v >= 0, `${name}: ${v}`);
  const parts = Number(ms.txMs) + Number(ms.sendMs) + Number(ms.forkMs) + Number(ms.remoteMs) + Number(ms.recordMs);
  assert.ok(Math.abs(Number(ms.totalMs) - parts) < 0.01, `the stages add up to the total: ${JSON.stringify(stages)}`);
  assert.deepEqual(Object.keys(remoteHostMs as object), [otherHost]);
});

test("an sfld's fork timings, when it sends them, are kept in the operation's detail", async (t) => {
  const { f, admin, master, ticket } = await oneHostTicket(t, 2);
  const timing = { networkMs: 0.05, snapshotMs: 0.4, shellsMs: 0.01, createMs: 2.5, startMs: 0.3, serveMs: 0 };
  const answer = f.links.command.bind(f.links);
  f.links.command = (async (host: string, command: string, payload: unknown) => {
    const value = await answer(host, command as 'domain:fork', payload as never);
    return command === 'domain:fork' ? { ...value, timing } : value;
  }) as typeof f.links.command;
  await master.clone.master({ ticket: ticket.ticket });
  const [op] = await admin.operations.list({ kind: 'clone.master' });
  const detail = op!.detail as unknown as { forkTiming: unknown; remote: number; stages: { remoteMs: number; remoteHostMs: object } };
  assert.deepEqual(detail.forkTiming, timing);
  assert.equal(detail.remote, 0);
  assert.deepEqual(detail.stages.remoteHostMs, {}, 'no other host was asked');
});

test('a fork that fails while the other hosts wait for its descriptor crashes every clone; what they made anyway is destroyed', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  const { admin, master, ticket, masterHost, otherHost } = await twoHostTicket(f, 4);
  // The other host's answer comes only after the fork's failure (it waited on the master's sfld, which said why).
  let answerRemote: () => void = () => {};
  const remoteAnswered = new Promise<void>((resolve) => {
    answerRemote = resolve;
  });
  const answer = f.links.command.bind(f.links);
  f.links.command = (async (host: string, command: string, payload: unknown) => {
    if (command === 'domain:fork') {
      f.links.sent.push({ host, command, payload });
      throw new SfError('HOST_LOST', `host ${host}'s sfld disconnected before it answered domain:fork`);
    }
    const value = await answer(host, command as 'domain:clone-remote', payload as never);
    if (command === 'domain:clone-remote') await remoteAnswered;
    return value;
  }) as typeof f.links.command;
  await assert.rejects(master.clone.master({ ticket: ticket.ticket }), /^TRPCError: the fork of 1:0 failed: .*disconnected.*sfmerge/);
  const rows = await f.svc.db.domain.findMany({ where: { ticketId: ticket.ticket }, include: { host: true } });
  assert.equal(rows.length, 4);
  for (const d of rows) assert.deepEqual([d.state, d.endReason?.startsWith('the fork of 1:0 failed')], ['crashed', true], d.host.name);
  // Both hosts were asked at once: the fork, and the other host's clones waiting for it.
  assert.deepEqual(
    f.links.sent.filter((s) => s.command === 'domain:fork' || s.command === 'domain:clone-remote').map((s) => [s.host, s.command]),
    [
      [masterHost, 'domain:fork'],
      [otherHost, 'domain:clone-remote'],
    ],
  );
  const destroyedOn = (host: string) => f.links.sent.filter((s) => s.command === 'domain:destroy' && s.host === host).length;
  assert.deepEqual([destroyedOn(masterHost), destroyedOn(otherHost)], [2, 0]);
  // The other host answers late (here as if it had made its clones): they are destroyed, and stay crashed.
  answerRemote();
  for (let i = 0; i < 100 && destroyedOn(otherHost) < 2; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(destroyedOn(otherHost), 2);
  for (const d of await f.svc.db.domain.findMany({ where: { ticketId: ticket.ticket } })) assert.equal(d.state, 'crashed');
  const [op] = await admin.operations.list({ kind: 'clone.master' });
  assert.equal(op?.status, 'failed');
});

test("a host that cannot make its clones: they are crashed with its reason, the master's own run, and the leftovers are destroyed after the record", async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  const { admin, master, ticket, masterHost, otherHost } = await twoHostTicket(f, 4);
  f.links.fail['domain:clone-remote'] = new SfError('UNAVAILABLE', `host ${otherHost} did not answer`);
  let crashedAt = -1;
  const seen = await announced(f, async () => {
    const listener = (e: { state: string }) => {
      if (e.state === 'crashed' && crashedAt < 0) crashedAt = f.links.sent.length;
    };
    f.svc.events.on('domain:state', listener);
    try {
      await master.clone.master({ ticket: ticket.ticket });
    } finally {
      f.svc.events.off('domain:state', listener);
    }
  });
  const rows = await f.svc.db.domain.findMany({ where: { ticketId: ticket.ticket }, include: { host: true }, orderBy: { vmid: 'asc' } });
  for (const d of rows) {
    if (d.host.name === masterHost) assert.deepEqual([d.state, d.endReason], ['running', null]);
    else {
      assert.equal(d.state, 'crashed');
      assert.equal(d.endReason, `${otherHost} could not make its clones: host ${otherHost} did not answer`);
    }
  }
  assert.equal(seen.filter((s) => s.endsWith(' crashed')).length, 2);
  const destroys = f.links.sent.map((s, i) => ({ ...s, i })).filter((s) => s.command === 'domain:destroy');
  assert.deepEqual(
    destroys.map((s) => s.host),
    [otherHost, otherHost],
  );
  assert.ok(
    destroys.every((s) => s.i >= crashedAt),
    'the destroys follow the crash record (an sfld report of a destroyed VM must find it ended)',
  );
  const [op] = await admin.operations.list({ kind: 'clone.master' });
  assert.equal(op?.status, 'succeeded');
  assert.equal((op!.detail as unknown as { started: number }).started, 2);
});

test('a clone.master refused inside its transaction leaves no clone row and the ticket unused', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  const { admin, master, ticket, otherHost } = await twoHostTicket(f, 4);
  // An allocation on a host gone offline (as a sweep would find it, before it releases the reservation).
  await f.svc.db.host.update({ where: { name: otherHost }, data: { state: 'offline' } });
  await assert.rejects(master.clone.master({ ticket: ticket.ticket }), /HOST_LOST|is offline: dispose of the ticket/);
  assert.equal(await f.svc.db.domain.count({ where: { ticketId: ticket.ticket } }), 0);
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).state, 'unused');
  assert.deepEqual(
    f.links.sent.filter((s) => s.command === 'domain:fork'),
    [],
  );

  // A write that fails once the clone rows are in the statement: the ticket's move to outstanding goes back too.
  await f.svc.db.host.update({ where: { name: otherHost }, data: { state: 'online' } });
  await f.svc.db.$executeRawUnsafe(
    `CREATE TRIGGER refuse_clone BEFORE INSERT ON "Domain" WHEN NEW.vmid = 3 BEGIN SELECT RAISE(ABORT, 'disk full'); END`,
  );
  await assert.rejects(master.clone.master({ ticket: ticket.ticket }), /createMany/);
  assert.equal(await f.svc.db.domain.count({ where: { ticketId: ticket.ticket } }), 0);
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).state, 'unused');

  // Once the store takes writes again the same ticket clones.
  await f.svc.db.$executeRawUnsafe('DROP TRIGGER refuse_clone');
  await master.clone.master({ ticket: ticket.ticket });
  assert.equal(await f.svc.db.domain.count({ where: { ticketId: ticket.ticket, state: 'running' } }), 4);
  const ops = await admin.operations.list({ kind: 'clone.master' });
  assert.deepEqual(
    ops.map((o) => o.status),
    ['succeeded', 'failed', 'failed'],
  );
});

test("a clone that ended before its fork's answer keeps its end; a clone its sfld did not start is crashed with the sfld's reason", async (t) => {
  const { f, admin, master, ticket } = await oneHostTicket(t, 3);
  // The sfld's report of clone 1's exit overtakes the fork's answer; clone 3 could not be made.
  const answer = f.links.command.bind(f.links);
  f.links.command = (async (host: string, command: string, payload: unknown) => {
    const value = await answer(host, command as 'domain:fork', payload as never);
    if (command !== 'domain:fork') return value;
    await applyStateReport(f.svc, 'alpha', { clusterid: 1, vmid: 1, state: 'exited', exitCode: 7, reason: null });
    return { ...value, clones: value.clones.map((c) => (c.vmid === 3 ? { vmid: 3, ok: false, error: 'no memory for clone 3' } : c)) };
  }) as typeof f.links.command;
  const seen = await announced(f, () => master.clone.master({ ticket: ticket.ticket }));

  const rows = await f.svc.db.domain.findMany({ where: { ticketId: ticket.ticket }, orderBy: { vmid: 'asc' } });
  assert.deepEqual(
    rows.map((d) => [d.vmid, d.state, d.exitCode, d.endReason]),
    [
      [1, 'exited', 7, 'its VM exited with status 7 (reported by host alpha)'],
      [2, 'running', null, null],
      [3, 'crashed', null, 'no memory for clone 3'],
    ],
  );
  assert.deepEqual(seen.filter((s) => !s.endsWith(' defined')).sort(), ['1:1 exited', '1:2 running', '1:3 crashed']);
  const [op] = await admin.operations.list({ kind: 'clone.master' });
  assert.equal((op!.detail as unknown as { started: number }).started, 2);
});
