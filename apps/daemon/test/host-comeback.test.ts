// A host that stalls comes back: a real sfld in-process stops sending heartbeats for 5 s while it runs
// real VMs, sfmd declares it offline (its VMs lost), and the first beat after the stall brings it back
// online with the record reconciled: a VM still running is running again, one that ended meanwhile
// ends as the sfld saw it (with its reason), and its cluster with it; sf doctor then finds nothing to repair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedCluster } from '../src/master/clusters.ts';
import { checkConsistency } from '../src/master/doctor.ts';
import { soloSnowflock } from './in-process.ts';
import { waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';

test('a stalled sfld comes back within a beat; its VMs are running again or ended with their reason', { timeout: 90_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const solo = await soloSnowflock(t, 'sf-comeback-', { sfld: true });
  const { sfmd } = solo;
  const sfld = solo.sfld!;
  const { svc } = sfmd;

  // Two interactive masters: `stays` runs through the stall, `quits` is told to quit during it.
  const seed = { name: null, diskImage: null, kernel: guestImage('hello'), args: 'interactive=1', vcpus: 1, memoryMiB: 64 };
  const stays = await seedCluster(svc, seed, 'test');
  const quits = await seedCluster(svc, seed, 'test');
  const prompt = (clusterid: number) =>
    waitUntil(`the prompt of ${clusterid}:0`, 15_000, async () => {
      const { data } = await svc.links.command('solo', 'domain:console-replay', { clusterid, vmid: 0 });
      return /hello> $/.test(data.toString());
    });
  await prompt(stays.clusterid);
  await prompt(quits.clusterid);
  const record = async (clusterid: number) => {
    const d = await svc.db.domain.findFirstOrThrow({ where: { vmid: 0, cluster: { clusterid } }, include: { cluster: true } });
    return { state: d.state, exitCode: d.exitCode, endReason: d.endReason, cluster: d.cluster.state };
  };
  const hostState = async () => (await svc.db.host.findUniqueOrThrow({ where: { name: 'solo' } })).state;

  const stall = sfld.stallHeartbeatsForTest(5000);
  await waitUntil('the host declared offline', 6_000, async () => (await hostState()) === 'offline');
  assert.equal((await record(stays.clusterid)).state, 'lost');
  assert.equal((await record(quits.clusterid)).cluster, 'lost', 'a master presumed lost takes its cluster');
  // Commands still reach the sfld during the stall: this master quits, and its report finds the record ended.
  await svc.links.command('solo', 'domain:input', { clusterid: quits.clusterid, vmid: 0, data: Buffer.from('quit\r') });
  await stall;
  const resumedAt = Date.now();
  await waitUntil('the host back online', 5_000, async () => (await hostState()) === 'online');
  const backMs = Date.now() - resumedAt;
  console.log(`# back online ${backMs} ms after the heartbeats resumed (heartbeat every 1000 ms)`);
  assert.ok(backMs <= 1500, `back online within one beat of resuming (took ${backMs} ms)`);

  assert.deepEqual(await record(stays.clusterid), { state: 'running', exitCode: null, endReason: null, cluster: 'running' });
  const ended = await record(quits.clusterid);
  assert.equal(ended.state, 'exited');
  assert.equal(ended.exitCode, 0);
  assert.match(ended.endReason ?? '', /ended while sfmd had declared host solo offline/);
  assert.equal(ended.cluster, 'shutdown', 'the master did end: its cluster ended with it');

  // The decision and its undoing are on record: the release with how long the host was silent, the
  // registration with the heartbeat that showed it alive.
  const release = await svc.db.operation.findFirstOrThrow({ where: { kind: 'host.release', target: 'solo' } });
  assert.match(release.detail, /no heartbeat for \d+ ms \(last at /);
  const back = await svc.db.operation.findFirstOrThrow({
    where: { kind: 'host.register', target: 'solo' },
    orderBy: { startedAt: 'desc' },
  });
  const evidence = (JSON.parse(back.detail) as { evidence: { seq: number; silentMs: number } | null }).evidence;
  assert.ok(evidence && evidence.seq > 0 && evidence.silentMs >= 3000, `evidence recorded: ${back.detail}`);

  // And it stays online (no flapping), with the revived VM still answering.
  await new Promise((r) => setTimeout(r, 2500));
  assert.equal(await hostState(), 'online');
  assert.equal((await record(stays.clusterid)).state, 'running');
  const capacity = await svc.db.domain.count({ where: { host: { name: 'solo' }, state: 'running' } });
  assert.equal(capacity, 1);
  // The record and the host agree after the comeback: sf doctor finds nothing to repair.
  const doctor = await checkConsistency(svc, { repair: false });
  assert.deepEqual(doctor.findings, [], JSON.stringify(doctor.findings));
  assert.deepEqual(
    doctor.hosts.map((h) => [h.name, h.checked]),
    [['solo', true]],
  );
});
