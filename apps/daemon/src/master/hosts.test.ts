// The host registry over a real SQLite file: config sync with per-host secrets, registration,
// silent hosts going offline with their reservations released, and clean re-registration.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { statSync, rmSync } from 'node:fs';
import { GiB, makeConfig, masterFixture, registration, seedConfig, silenceHost, twoHostTicket } from '../../test/support.ts';
import { hostSecretPath } from '../common/paths.ts';
import { authenticateHost, graceOnlineHosts, recordHeartbeat, registerHost, sweepSilentHosts, syncConfiguredHosts } from './hosts.ts';

const hosts = [
  { name: 'alpha', cpus: 4, ram: 8 * GiB },
  { name: 'beta', cpus: 4, ram: 8 * GiB },
];

test('each configured host gets a secret file only its owner can read; wrong secrets are refused', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const file = hostSecretPath(f.paths, 'alpha');
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.equal((await authenticateHost(f.svc, 'alpha', f.hostSecret('alpha'))).name, 'alpha');
  await assert.rejects(authenticateHost(f.svc, 'alpha', f.hostSecret('beta')), /not known to sfmd or its secret is wrong/);
  await assert.rejects(authenticateHost(f.svc, 'gamma', 'x'), { code: 'UNAUTHORIZED' });
});

test('re-syncing keeps secrets, regenerates a deleted one, and removes hosts dropped from the config', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  const before = f.hostSecret('alpha');
  let sync = await syncConfiguredHosts(f.svc, f.paths);
  assert.deepEqual(sync, { created: [], secretsWritten: [], removed: [] });
  assert.equal(f.hostSecret('alpha'), before);
  rmSync(hostSecretPath(f.paths, 'beta'));
  f.svc.config = makeConfig([hosts[1]!]);
  sync = await syncConfiguredHosts(f.svc, f.paths);
  assert.deepEqual(sync, { created: [], secretsWritten: ['beta'], removed: ['alpha'] });
  await assert.rejects(authenticateHost(f.svc, 'alpha', before), { code: 'UNAUTHORIZED' });
});

test('a silent host goes offline; its unused reservations and domains are released', async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  const { admin, master, ticket, masterHost, otherHost } = await twoHostTicket(f); // 2 clones on each host (balanced)
  assert.deepEqual(ticket.allocations.filter((a) => a.host === otherHost).length, 2);

  await silenceHost(f, otherHost, masterHost); // only the master's host keeps beating
  const info = await master.ticket.info({ ticket: ticket.ticket });
  assert.equal(info.granted, 2);
  assert.ok(info.allocations.every((a) => a.host === masterHost));
  const other = (await admin.state.hosts()).find((h) => h.name === otherHost)!;
  assert.deepEqual([other.state, other.cpusUsed], ['offline', 0]);
  assert.ok((await admin.operations.list({ kind: 'host.release' })).length === 1);

  // The host comes back: registration is clean and it is allocatable again.
  await f.online(otherHost);
  assert.equal((await admin.state.hosts()).find((h) => h.name === otherHost)!.state, 'online');
  assert.equal((await master.ticket.request({ nclones: 2 })).granted, 2);

  // Now the master's host falls silent: its cluster is lost, and a ticket left empty is disposed.
  await new Promise((r) => setTimeout(r, 250));
  await recordHeartbeat(f.svc, otherHost);
  assert.deepEqual(await sweepSilentHosts(f.svc), [masterHost]);
  assert.equal((await admin.cluster.get({ clusterid: 1 })).state, 'lost');
  assert.equal((await admin.state.domains({ all: true }))[0]!.state, 'lost');
});

test('after an sfmd restart, online hosts get a grace period instead of being dropped at once', async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  await f.online('alpha');
  await new Promise((r) => setTimeout(r, 250));
  await graceOnlineHosts(f.svc);
  assert.deepEqual(await sweepSilentHosts(f.svc), []);
});

test('an sfld that comes back without a VM it had: that domain is lost with its sfld, and its cluster ends', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: seedConfig() });
  const home = cluster.domains[0]!.host;
  await registerHost(f.svc, home, registration({ domains: [{ clusterid: 1, vmid: 0 }] }));
  assert.equal((await admin.state.domains())[0]!.state, 'running', 'still running there: nothing changes');
  await registerHost(f.svc, home, registration({ domains: [] }));
  const [domain] = await admin.state.domains({ all: true });
  assert.deepEqual([domain!.state, domain!.endReason], ['crashed', 'its sfld restarted']);
  // A crashed master is no orderly stop: the cluster is lost, not shut down.
  assert.equal((await admin.cluster.get({ clusterid: 1 })).state, 'lost');
});

test('a host declared offline comes back: clones it still runs are running again, one that ended says how, unwanted ones are destroyed', async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  const { admin, master, ticket, masterHost, otherHost: other } = await twoHostTicket(f);
  await master.clone.master({ ticket: ticket.ticket });
  const [kept, crashed] = ticket.allocations.filter((a) => a.host === other).map((a) => a.vmid);
  const state = async (vmid: number) => (await admin.state.domains({ all: true })).find((d) => d.domain === `1:${vmid}`)!;
  const silence = () => silenceHost(f, other, masterHost);

  await silence();
  assert.equal((await state(kept!)).state, 'lost');
  // A heartbeat from the offline host is evidence, not a refresh: it stays offline until it re-registers.
  const evidence = await recordHeartbeat(f.svc, other, { seq: 7, sentAt: Date.now() });
  assert.equal(evidence?.seq, 7);
  assert.ok((evidence?.silentMs ?? 0) >= 200);
  assert.equal((await admin.state.hosts()).find((h) => h.name === other)!.state, 'offline');

  await registerHost(
    f.svc,
    other,
    registration({
      domains: [{ clusterid: 1, vmid: kept! }],
      ended: [{ clusterid: 1, vmid: crashed!, state: 'crashed', exitCode: null, reason: 'triple fault' }],
    }),
    evidence,
  );
  assert.deepEqual([(await state(kept!)).state, (await state(kept!)).endReason], ['running', null]);
  const gone = await state(crashed!);
  assert.equal(gone.state, 'crashed');
  assert.match(gone.endReason ?? '', /^triple fault \(ended while sfmd had declared host .* offline\)$/);
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).state, 'outstanding');
  assert.equal((await admin.state.hosts()).find((h) => h.name === other)!.cpusUsed, 1, 'the revived clone holds its cpu again');

  // Lost again, and the master merges meanwhile: the clone that still runs is not wanted any more.
  await silence();
  await master.clone.merge({ ticket: ticket.ticket });
  f.links.sent.length = 0;
  await registerHost(f.svc, other, registration({ domains: [{ clusterid: 1, vmid: kept! }] }));
  assert.equal((await state(kept!)).state, 'lost');
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    f.links.sent.filter((s) => s.command === 'domain:destroy').map((s) => s.payload),
    [{ clusterid: 1, vmid: kept }],
  );
});

test('a master presumed lost with its host is running again with its cluster when the host comes back', async (t) => {
  const f = await masterFixture(hosts, { offlineAfterMs: 200 });
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig(1, 256) });
  const masterHost = (await admin.state.domains())[0]!.host;
  await new Promise((r) => setTimeout(r, 250));
  assert.deepEqual(await sweepSilentHosts(f.svc), ['alpha', 'beta']);
  assert.equal((await admin.cluster.get({ clusterid: 1 })).state, 'lost');
  await registerHost(f.svc, masterHost, registration({ domains: [{ clusterid: 1, vmid: 0 }] }));
  assert.equal((await admin.cluster.get({ clusterid: 1 })).state, 'running');
  assert.equal((await admin.state.domains())[0]!.state, 'running');
});
