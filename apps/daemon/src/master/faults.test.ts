// Records stay true after faults (issue 11, item 3), over a real SQLite file with the sflds' data plane
// recorded: an admin's clone.exit destroys the VM (or is refused), a lost master's clones elsewhere are
// stopped and released, a lost host's tickets end, and every end state after an sfld restart has a reason.
// After each, sf doctor's check finds nothing to repair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, masterFixture, registration, silenceHost, twoHostTicket, type MasterFixture } from '../../test/support.ts';
import { SfError } from '../common/errors.ts';
import { exitClone } from './clones.ts';
import { adminMerge, adminShutdown } from './dashboard-actions.ts';
import { findLiveDomain } from './domains.ts';
import { registerHost } from './hosts.ts';
import { applyStateReport } from './state-reports.ts';
import { checkConsistency } from './doctor.ts';

/** After each fault, sf doctor's check: the record agrees with the VMs the sflds (as recorded here) run, and with itself. */
async function doctorFindsNothing(f: MasterFixture) {
  const r = await checkConsistency(f.svc, { repair: false, settleMs: 10 });
  assert.deepEqual(r.findings, [], 'sf doctor finds nothing to repair');
}

const hosts = [
  { name: 'alpha', cpus: 4, ram: 8 * GiB },
  { name: 'beta', cpus: 4, ram: 8 * GiB },
];

/** A cluster whose master runs with 4 clones out on one ticket, 2 on each host. */
async function clusterWithClones(f: MasterFixture) {
  const { admin, master, ticket, masterHost, otherHost } = await twoHostTicket(f);
  await master.clone.master({ ticket: ticket.ticket });
  const vmidsOn = (host: string) => ticket.allocations.filter((a) => a.host === host).map((a) => a.vmid);
  assert.equal(vmidsOn(otherHost).length, 2);
  const domain = async (vmid: number) => (await admin.state.domains({ all: true })).find((d) => d.domain === `1:${vmid}`)!;
  const used = async (host: string) => (await admin.state.hosts()).find((h) => h.name === host)!.cpusUsed;
  const destroyed = (host: string) =>
    f.links.sent
      .filter((s) => s.command === 'domain:destroy' && s.host === host)
      .map((s) => (s.payload as { vmid: number }).vmid)
      .sort();
  return { admin, master, ticket: ticket.ticket, masterHost, otherHost, vmidsOn, domain, used, destroyed };
}

test("the admin's clone.exit destroys the clone's VM on its host before recording it exited", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const [vmid] = c.vmidsOn(c.otherHost);
  const before = await c.used(c.otherHost);

  assert.deepEqual(await (await f.admin(`1:${vmid}`)).clone.exit({ status: 3 }), { clusterid: 1, vmid, status: 3 });
  assert.deepEqual(c.destroyed(c.otherHost), [vmid]);
  const d = await c.domain(vmid!);
  assert.deepEqual([d.state, d.exitCode], ['exited', 3]);
  assert.equal(d.endReason, `ended by the admin with clone.exit (status 3): its VM was destroyed on host ${c.otherHost}`);
  assert.equal(await c.used(c.otherHost), before - 1, 'its CPU is free again');
  await doctorFindsNothing(f);
});

test("the admin's clone.exit is refused, the record unchanged, when the host cannot destroy the VM", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const [vmid] = c.vmidsOn(c.otherHost);
  const before = await c.used(c.otherHost);
  f.links.fail['domain:destroy'] = new SfError('UNAVAILABLE', `host ${c.otherHost} did not answer`);

  await assert.rejects((await f.admin(`1:${vmid}`)).clone.exit({ status: 3 }), (err: Error & { code?: string }) => {
    assert.match(err.message, new RegExp(`could not destroy the VM of clone 1:${vmid} on host ${c.otherHost}.*still recorded as running`));
    return true;
  });
  const d = await c.domain(vmid!);
  assert.deepEqual([d.state, d.endReason], ['running', null]);
  assert.equal(await c.used(c.otherHost), before, 'a VM that still runs keeps its CPU');
  await doctorFindsNothing(f);
});

test("a guest's own clone.exit sends no destroy (its VM ends by itself) and says so in the record", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const [vmid] = c.vmidsOn(c.otherHost);
  await exitClone(f.svc, await findLiveDomain(f.svc, { clusterid: 1, vmid: vmid! }), 0, 'guest');
  f.links.vmsOf(c.otherHost).delete(`1:${vmid}`); // as its VM does, right after the call
  assert.deepEqual(c.destroyed(c.otherHost), []);
  const d = await c.domain(vmid!);
  assert.deepEqual([d.state, d.exitCode, d.endReason], ['exited', 0, 'the clone called clone.exit (status 0)']);
  await doctorFindsNothing(f);
});

test("the master's host is lost: its clones on other hosts are destroyed, stopped with the reason, its tickets end", async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const spare = await c.master.ticket.request({ nclones: 2 }); // reserved, never used
  assert.ok((await c.used(c.otherHost)) > 0);

  await silenceHost(f, c.masterHost, c.otherHost);
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'lost');
  assert.deepEqual(c.destroyed(c.otherHost), c.vmidsOn(c.otherHost).sort(), 'each clone elsewhere destroyed on its host');
  for (const vmid of c.vmidsOn(c.otherHost)) {
    const d = await c.domain(vmid);
    assert.equal(d.state, 'stopped');
    assert.match(d.endReason ?? '', new RegExp(`^cluster 1 was lost: its master 1:0 was lost with host ${c.masterHost} \\(no heartbeat`));
  }
  for (const vmid of [0, ...c.vmidsOn(c.masterHost)]) {
    const d = await c.domain(vmid);
    assert.equal(d.state, 'lost');
    assert.match(d.endReason ?? '', new RegExp(`^host ${c.masterHost} went offline`));
  }
  const tickets = await f.svc.db.ticket.findMany({ orderBy: { createdAt: 'asc' } });
  assert.deepEqual(
    tickets.map((t) => [t.id, t.state]),
    [
      [c.ticket, 'merged'],
      [spare.ticket, 'disposed'],
    ],
    'the used ticket is merged (its clones were made and are over), the unused one disposed',
  );
  assert.equal(await c.used(c.otherHost), 0, 'nothing of the cluster holds the surviving host');
  assert.equal((await c.admin.state.domains()).length, 0, 'nothing left running in the record: nothing left to stop is true');
  await doctorFindsNothing(f);
});

test("a host with clones but not the master is lost: the ticket stays the master's to join, and the join ends it", async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  await silenceHost(f, c.otherHost, c.masterHost);
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'running');
  for (const vmid of c.vmidsOn(c.masterHost)) await (await f.admin(`1:${vmid}`)).clone.exit({ status: 0 });
  const joined = await c.master.clone.join({ ticket: c.ticket, timeoutMs: 5_000 });
  assert.deepEqual(
    joined.exits.filter((e) => c.vmidsOn(c.otherHost).includes(e.vmid)).map((e) => e.how),
    ['crashed', 'crashed'],
  );
  assert.equal((await c.master.ticket.info({ ticket: c.ticket })).state, 'merged');
  assert.equal(await c.used(c.masterHost), 1, 'only the master holds a CPU');
  await doctorFindsNothing(f);
});

test('an sfld restart that lost the master: its crash is no orderly stop (cluster lost, every end with its reason)', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  const survivors = c.vmidsOn(c.masterHost).slice(0, 1); // one clone there survived the restart, the rest did not
  const onMasterHost = f.links.vmsOf(c.masterHost);
  for (const key of onMasterHost.keys()) if (!survivors.some((vmid) => key === `1:${vmid}`)) onMasterHost.delete(key);
  await registerHost(f.svc, c.masterHost, registration({ domains: survivors.map((vmid) => ({ clusterid: 1, vmid })) }));

  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'lost');
  const master = await c.domain(0);
  assert.deepEqual([master.state, master.endReason], ['crashed', 'its sfld restarted']);
  for (const vmid of c.vmidsOn(c.masterHost).slice(1)) {
    assert.deepEqual([(await c.domain(vmid)).state, (await c.domain(vmid)).endReason], ['crashed', 'its sfld restarted']);
  }
  const why = 'cluster 1 was lost: its master 1:0 crashed (its sfld restarted)';
  for (const vmid of [...survivors, ...c.vmidsOn(c.otherHost)]) {
    assert.deepEqual([(await c.domain(vmid)).state, (await c.domain(vmid)).endReason], ['stopped', why]);
  }
  assert.deepEqual(c.destroyed(c.otherHost), c.vmidsOn(c.otherHost).sort());
  assert.deepEqual(c.destroyed(c.masterHost), survivors);
  const ended = await f.svc.db.domain.findMany({ where: { endReason: null } });
  assert.deepEqual(ended, [], 'no domain ended without a reason');
  assert.equal((await f.svc.db.ticket.findUniqueOrThrow({ where: { id: c.ticket } })).state, 'merged');
  assert.deepEqual([await c.used('alpha'), await c.used('beta')], [0, 0]);
  await doctorFindsNothing(f);
});

test('a master that exits ends its cluster shut down, and its clones say why; a report without a reason gets one', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  f.links.vmsOf(c.masterHost).delete('1:0');
  await applyStateReport(f.svc, c.masterHost, { clusterid: 1, vmid: 0, state: 'exited', exitCode: 0, reason: null });
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'shutdown');
  const master = await c.domain(0);
  assert.equal(master.endReason, `its VM exited with status 0 (reported by host ${c.masterHost})`);
  for (const vmid of [...c.vmidsOn('alpha'), ...c.vmidsOn('beta')]) {
    const d = await c.domain(vmid);
    assert.deepEqual([d.state, d.endReason], ['stopped', `cluster 1 was shut down: its master 1:0 exited (${master.endReason})`]);
  }
  await doctorFindsNothing(f);
});

test("the dashboard's merge and shutdown end every domain with a reason", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const c = await clusterWithClones(f);
  await adminMerge(f.svc, 1, c.ticket);
  for (const vmid of [...c.vmidsOn('alpha'), ...c.vmidsOn('beta')]) {
    const d = await c.domain(vmid);
    assert.deepEqual([d.state, d.endReason], ['merged', `merged by the admin from the dashboard (ticket ${c.ticket})`]);
  }
  await adminShutdown(f.svc, 1);
  assert.equal((await c.admin.cluster.get({ clusterid: 1 })).state, 'shutdown');
  const master = await c.domain(0);
  assert.equal(master.state, 'stopped');
  assert.match(master.endReason ?? '', /^cluster 1 was shut down: shut down by the admin$/);
  assert.deepEqual(await f.svc.db.domain.findMany({ where: { endReason: null } }), []);
  await doctorFindsNothing(f);
});
