// sflds' state reports end domains (and a cluster whose master ended); reports from a host that does
// not hold the domain, or about a record that already ended, change nothing, except to keep its NIC's final counters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, MiB, masterFixture, seedConfig } from '../../test/support.ts';
import { attachFigureRelay } from './dashboard-figures.ts';
import { setState, setStateIf } from './domain-lifecycle.ts';
import { applyStateReport } from './state-reports.ts';

const hosts = [
  { name: 'alpha', cpus: 2, ram: 4 * GiB },
  { name: 'beta', cpus: 2, ram: 4 * GiB },
];

test("an sfld's report ends a domain; the master's end shuts its cluster down; other hosts are not believed", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: seedConfig() });
  const home = cluster.domains[0]!.host;
  const stranger = home === 'alpha' ? 'beta' : 'alpha';
  const report = { clusterid: 1, vmid: 0, state: 'exited' as const, exitCode: 0, reason: null };
  assert.equal(await applyStateReport(f.svc, stranger, report), false);
  assert.equal((await admin.state.domains())[0]!.state, 'running');
  const ticket = await (await f.admin('1:0')).ticket.request({ nclones: 1 });
  assert.equal(await applyStateReport(f.svc, home, report), true);
  const after = await admin.cluster.get({ clusterid: 1 });
  assert.equal(after.state, 'shutdown');
  assert.equal(after.domains[0]!.state, 'exited');
  assert.deepEqual(
    after.tickets.map((x) => [x.ticket, x.state]),
    [[ticket.ticket, 'disposed']],
  );
  assert.ok((await admin.state.hosts()).every((h) => h.cpusUsed === 0));
  assert.equal(await applyStateReport(f.svc, home, { ...report, state: 'crashed' }), false, 'an ended record stays ended');
});

test("an ended VM's NIC counters go on its record, also when the record ended first; live ones come from the relay", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: seedConfig() });
  const home = cluster.domains[0]!.host;
  const nic = { rxBytes: 1_200_000, txBytes: 3_000_000_000, rxPackets: 900, txPackets: 2100, drops: 2 };
  const relay = attachFigureRelay(f.svc, () => {});
  relay.fromHost(home, { sampledAt: 1, domains: [], nics: [{ clusterid: 1, vmid: 0, ...nic, rxBytes: 5 }] });
  assert.deepEqual((await admin.state.domains())[0]!.net, { ...nic, rxBytes: 5, live: true }, 'live: the last batch');

  // A clone whose record ended through its own sf_exit_status before sfld's final report came.
  const ticket = await (await f.admin('1:0')).ticket.request({ nclones: 1 });
  const row = await f.svc.db.domain.create({
    data: {
      clusterId: (await f.svc.db.cluster.findFirstOrThrow()).id,
      vmid: 1,
      hostId: (await f.svc.db.host.findFirstOrThrow({ where: { name: home } })).id,
      vcpus: 1,
      memory: 256n * BigInt(MiB),
      state: 'exited',
      exitCode: 0,
      ticketId: ticket.ticket,
      endedAt: new Date(),
    },
  });
  assert.equal(await applyStateReport(f.svc, home, { clusterid: 1, vmid: 1, state: 'exited', exitCode: 0, reason: null, nic }), false);
  const clone = (await admin.state.domains({ all: true })).find((d) => d.vmid === 1)!;
  assert.deepEqual(clone.net, { ...nic, live: false }, `record ${row.id}: 3 GB fits (BigInt columns)`);

  await applyStateReport(f.svc, home, { clusterid: 1, vmid: 0, state: 'exited', exitCode: 0, reason: null, nic });
  const master = (await admin.state.domains({ all: true })).find((d) => d.vmid === 0)!;
  assert.deepEqual(master.net, { ...nic, live: false }, 'the final figures replace the live ones');
  const silent = { clusterid: 1, vmid: 0, state: 'exited' as const, exitCode: 0, reason: null };
  assert.equal(await applyStateReport(f.svc, home, silent), false);
  assert.equal((await admin.state.domains({ all: true })).find((d) => d.vmid === 0)!.net?.rxBytes, nic.rxBytes);
});

test("a report read before sfmd's own end of the domain does not overwrite that end and its reason", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig() });
  const master = await f.svc.db.domain.findFirstOrThrow({ where: { vmid: 0 } });
  // The report read the record while it was running; sfmd ended it meanwhile (a merge, the cluster's loss).
  await setState(f.svc, master.id, 'stopped', { reason: 'cluster 1 was lost: its master …' });
  assert.equal(await setStateIf(f.svc, master.id, 'running', 'stopped', { reason: 'its VM stopped (reported by host alpha)' }), null);
  const after = await f.svc.db.domain.findUniqueOrThrow({ where: { id: master.id } });
  assert.equal(after.endReason, 'cluster 1 was lost: its master …');
});
