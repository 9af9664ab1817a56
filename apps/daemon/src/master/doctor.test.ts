// sf doctor over a real SQLite file, the sflds' data plane played by RecordingHostLinks (whose inventory is
// the VMs its commands made): each kind of difference is found, repaired through the lifecycle, and a
// second check finds nothing; hosts it cannot ask are listed, not counted as differences.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, masterFixture, silenceHost, twoHostTicket, type MasterFixture } from '../../test/support.ts';
import { checkConsistency, type DoctorReport } from './doctor.ts';

const hosts = [
  { name: 'alpha', cpus: 4, ram: 8 * GiB },
  { name: 'beta', cpus: 4, ram: 8 * GiB },
];

/** Cluster 1: its master with 4 clones out on one ticket, 2 on each host; every VM runs as recorded. */
async function clusterWithClones(f: MasterFixture) {
  const { admin, master, ticket, masterHost, otherHost } = await twoHostTicket(f);
  await master.clone.master({ ticket: ticket.ticket });
  const vmidsOn = (host: string) => ticket.allocations.filter((a) => a.host === host).map((a) => a.vmid);
  const domain = async (vmid: number) => (await admin.state.domains({ all: true })).find((d) => d.domain === `1:${vmid}`)!;
  return { admin, ticket: ticket.ticket, masterHost, otherHost, vmidsOn, domain };
}

const check = (f: MasterFixture) => checkConsistency(f.svc, { repair: false, settleMs: 10 });
const repair = (f: MasterFixture) => checkConsistency(f.svc, { repair: true, settleMs: 10 });
const kinds = (r: DoctorReport) => r.findings.map((x) => `${x.kind} ${x.subject}`).sort();

/** Repairs, and asserts every finding was repaired and a fresh check (and a second one) finds nothing. */
async function repairsCleanly(f: MasterFixture, expected: string[]) {
  const r = await repair(f);
  assert.deepEqual(kinds(r), [...expected].sort());
  assert.ok(
    r.findings.every((x) => x.repaired && x.error === null),
    JSON.stringify(r.findings),
  );
  assert.deepEqual(r.after, []);
  assert.equal(r.clean, true);
  const again = await check(f);
  assert.deepEqual(again.findings, [], 'a second check after the repair finds nothing');
  return r;
}

test('a healthy cluster: both hosts checked, every live domain compared, nothing found', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await clusterWithClones(f);
  const r = await check(f);
  assert.deepEqual(r.findings, []);
  assert.equal(r.clean, true);
  assert.equal(r.domains, 5);
  assert.deepEqual(
    r.hosts.map((h) => [h.name, h.checked, h.vms]),
    [
      ['alpha', true, r.hosts[0]!.vms],
      ['beta', true, r.hosts[1]!.vms],
    ],
  );
  assert.equal(r.hosts[0]!.vms! + r.hosts[1]!.vms!, 5);
  assert.equal(await f.svc.db.operation.count({ where: { kind: 'doctor.repair' } }), 0, 'a check changes nothing');
});

test('a clone recorded running whose VM is gone: found, recorded crashed with the reason, cluster untouched', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const [vmid] = c.vmidsOn(c.otherHost);
  f.links.vmsOf(c.otherHost).delete(`1:${vmid}`);

  const found = await check(f);
  assert.deepEqual(found.findings, [
    {
      kind: 'vm-missing',
      subject: `1:${vmid}`,
      host: c.otherHost,
      recorded: 'running',
      actual: 'no VM',
      repair: `record it crashed (sf doctor found no VM for it on host ${c.otherHost})`,
      repaired: false,
      error: null,
    },
  ]);
  assert.equal(found.clean, false);
  assert.equal((await c.domain(vmid!)).state, 'running', 'a check repairs nothing');

  const r = await repairsCleanly(f, [`vm-missing 1:${vmid}`]);
  const d = await c.domain(vmid!);
  assert.deepEqual([d.state, d.endReason], ['crashed', `sf doctor found no VM for it on host ${c.otherHost}`]);
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'running');
  const op = await f.svc.db.operation.findUniqueOrThrow({ where: { id: r.operation! } });
  assert.deepEqual([op.kind, op.status, op.requester], ['doctor.repair', 'succeeded', 'token:admin']);
  assert.match(op.detail, /"kind":"vm-missing"/);
});

test("a master whose VM is gone: recorded crashed and its cluster ends lost with it, as the sfld's report would", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  f.links.vmsOf(c.masterHost).delete('1:0');
  await repairsCleanly(f, ['vm-missing 1:0']);
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'lost');
  const master = await c.domain(0);
  assert.deepEqual([master.state, master.endReason], ['crashed', `sf doctor found no VM for it on host ${c.masterHost}`]);
  for (const vmid of [...c.vmidsOn('alpha'), ...c.vmidsOn('beta')]) {
    assert.match((await c.domain(vmid)).endReason ?? '', /^cluster 1 was lost: its master 1:0 crashed \(sf doctor found no VM/);
  }
  assert.equal(f.links.vmsOf(c.otherHost).size, 0, "the clones' VMs were destroyed by the cluster's end");
});

test('a VM the record says ended, and one it does not know: found and destroyed on their host', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const [vmid] = c.vmidsOn(c.otherHost);
  // The record ends a clone without its VM going (a lost destroy), and a VM of no cluster runs on the master's host.
  await f.svc.db.domain.updateMany({
    where: { vmid, cluster: { clusterid: 1 } },
    data: { state: 'exited', exitCode: 0, endReason: 'test' },
  });
  f.links.vmsOf(c.masterHost).set('9:3', 'running');

  const found = await check(f);
  assert.deepEqual(kinds(found), [`vm-unrecorded 1:${vmid}`, 'vm-unrecorded 9:3'].sort());
  assert.equal(found.findings.find((x) => x.subject === '9:3')!.recorded, 'no such domain');
  assert.equal(found.findings.find((x) => x.subject === `1:${vmid}`)!.recorded, 'exited(0): test');

  await repairsCleanly(f, [`vm-unrecorded 1:${vmid}`, 'vm-unrecorded 9:3']);
  const destroys = f.links.sent.filter((s) => s.command === 'domain:destroy').map((s) => [s.host, s.payload]);
  assert.deepEqual(
    destroys.sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    [
      [c.otherHost, { clusterid: 1, vmid }],
      [c.masterHost, { clusterid: 9, vmid: 3 }],
    ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
  );
  assert.equal((await c.domain(vmid!)).state, 'exited', 'the record stays as it was: the VM follows it');
});

test('a master recorded running whose VM is paused: the record follows the VM', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  f.links.vmsOf(c.masterHost).set('1:0', 'paused');
  const found = await check(f);
  assert.deepEqual(
    found.findings.map((x) => [x.kind, x.subject, x.recorded, x.actual, x.repair]),
    [['state-differs', '1:0', 'running', 'its VM is paused', 'record it paused']],
  );
  await repairsCleanly(f, ['state-differs 1:0']);
  assert.equal((await c.domain(0)).state, 'paused');
});

test('domains live on a host recorded offline: the host is released again, its master lost with its cluster', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  // A release that did not finish: the host offline but its domains still live.
  await f.svc.db.host.update({ where: { name: c.masterHost }, data: { state: 'offline' } });

  const found = await check(f);
  const stranded = [0, ...c.vmidsOn(c.masterHost)].map((v) => `live-on-unavailable-host 1:${v}`);
  assert.deepEqual(kinds(found), stranded.sort());
  assert.equal(found.hosts.find((h) => h.name === c.masterHost)!.note, 'offline: only the record is checked');
  assert.equal(found.domains, c.vmidsOn(c.otherHost).length, 'only the online host is compared');

  await repairsCleanly(f, stranded);
  const master = await c.domain(0);
  assert.equal(master.state, 'lost');
  assert.match(
    master.endReason ?? '',
    new RegExp(`^host ${c.masterHost} went offline \\(sf doctor found 3 domain\\(s\\) still recorded live`),
  );
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'lost');
  assert.equal((await f.svc.db.ticket.findUniqueOrThrow({ where: { id: c.ticket } })).state, 'merged');
});

test('a running cluster whose master ended, with an outstanding ticket of clones all gone: the cluster ends, the ticket merges', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  // Ends written without what follows from them (as a crash between two writes would leave it).
  await f.svc.db.domain.updateMany({ where: { cluster: { clusterid: 1 } }, data: { state: 'crashed', endReason: 'test' } });
  for (const host of ['alpha', 'beta']) f.links.vmsOf(host).clear();

  const found = await check(f);
  assert.deepEqual(kinds(found), ['cluster-master-ended cluster:1', `ticket-orphaned ticket:${c.ticket}`]);
  assert.equal(found.findings[0]!.actual, 'its master 1:0 crashed: test');

  await repairsCleanly(f, ['cluster-master-ended cluster:1', `ticket-orphaned ticket:${c.ticket}`]);
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'lost');
  assert.equal((await f.svc.db.ticket.findUniqueOrThrow({ where: { id: c.ticket } })).state, 'merged');
});

test('an ended cluster with live domains and open tickets: ended again, VMs destroyed, tickets closed', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const master = await f.admin('1:0');
  const spare = await master.ticket.request({ nclones: 1 });
  await f.svc.db.cluster.update({ where: { clusterid: 1 }, data: { state: 'shutdown', endedAt: new Date() } });

  const found = await check(f);
  const expected = [
    ...[0, 1, 2, 3, 4].map((v) => `live-in-ended-cluster 1:${v}`),
    `ticket-open-in-ended-cluster ticket:${c.ticket}`,
    `ticket-open-in-ended-cluster ticket:${spare.ticket}`,
  ];
  assert.deepEqual(kinds(found), expected.sort());

  await repairsCleanly(f, expected);
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'shutdown');
  const states = (await f.svc.db.ticket.findMany({ orderBy: { createdAt: 'asc' } })).map((t) => t.state);
  assert.deepEqual(states, ['merged', 'disposed']);
  assert.equal(f.links.vmsOf('alpha').size + f.links.vmsOf('beta').size, 0);
  for (const d of await f.svc.db.domain.findMany()) assert.match(d.endReason ?? '', /sf doctor found it ended/);
});

test('a host whose sfld is not connected is listed as not checked, its domains not counted as differences', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  f.links.vmsOf(c.otherHost).clear(); // whatever it runs, nobody can ask
  f.links.isConnected = (host: string) => host !== c.otherHost;
  const r = await check(f);
  assert.deepEqual(r.findings, []);
  assert.equal(r.clean, true);
  const other = r.hosts.find((h) => h.name === c.otherHost)!;
  assert.deepEqual([other.checked, other.note, other.vms], [false, 'its sfld is not connected', null]);
});

test('after a host is declared offline (the release ran), the record alone is consistent', async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  await silenceHost(f, c.masterHost, c.otherHost);
  const r = await check(f);
  assert.deepEqual(r.findings, []);
  assert.equal(r.hosts.find((h) => h.name === c.masterHost)!.checked, false);
});

test('a domain `defined` with no VM is on its way while an operation of this sfmd makes it, stuck after one that died', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const [vmid] = c.vmidsOn(c.otherHost);
  await f.svc.db.domain.updateMany({ where: { vmid, cluster: { clusterid: 1 } }, data: { state: 'defined' } });
  f.links.vmsOf(c.otherHost).delete(`1:${vmid}`);
  const op = await f.svc.db.operation.create({
    data: { kind: 'clone.master', target: 'ticket:x', requester: 'domain:1:0', status: 'running' },
  });
  assert.deepEqual((await check(f)).findings, [], 'a fork in flight');

  // The same operation left running by an sfmd that died before this one started: nothing makes the domain now.
  await f.svc.db.operation.update({ where: { id: op.id }, data: { startedAt: new Date(Date.now() - 3_600_000 - performance.now()) } });
  assert.deepEqual(kinds(await check(f)), [`vm-missing 1:${vmid}`]);
  await repairsCleanly(f, [`vm-missing 1:${vmid}`]);
  assert.equal((await c.domain(vmid!)).state, 'crashed');
});

test('the admin API: doctor.check is a query, doctor.repair a mutation; both need the admin token', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  f.links.vmsOf(c.masterHost).set('1:0', 'paused');
  const admin = await f.admin();
  const found = await admin.doctor.check();
  assert.deepEqual(
    found.findings.map((x) => x.kind),
    ['state-differs'],
  );
  const repaired = await admin.doctor.repair();
  assert.deepEqual([repaired.clean, repaired.after, typeof repaired.operation], [true, [], 'string']);
  const anonymous = await f.caller({});
  await assert.rejects(anonymous.doctor.check(), /admin token/);
  await assert.rejects(anonymous.doctor.repair(), /admin token/);
});
