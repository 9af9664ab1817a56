// Processor tickets are real (issue 14 item 1) through the real daemons: a 4-vCPU master takes a procs ticket of 7
// (the seed's example), gets clones of 4 + 3 processors, and each clone runs exactly that many vCPUs — the guest
// (smpcheck) reports sf_vcpus() and a sum computed on every one of them, checked against the serial answer. On one
// host (clones from the snapshot) and across namespaced hosts (clones from the descriptor over the memserver).
// And libsfmpi's processor mode inside one VM: a rank per vCPU, messages through shared memory only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { consoleText, domainEnded, type DomainRow } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { cannotRunHarness, domains, masterOutput, seed, upHosts } from './harness.ts';
import { vmCluster } from './vm-cluster.ts';

/** A clone ran exactly `vcpus` vCPUs, each with its own line, and got the serial answer. */
function assertCloneRan(name: string, vmid: number, vcpus: number, row: DomainRow, out: string) {
  assert.equal(row.state, 'exited', `${name}: ${row.endReason}\n${out}`);
  assert.equal(row.vcpus, vcpus, 'sfmd records the allocated processors');
  assert.match(out, new RegExp(`^smpcheck vmid=${vmid} vcpus=${vcpus} ran=${vcpus} busy=${vcpus} total=\\d+ ok$`, 'm'), out);
  const lines = [...out.matchAll(new RegExp(`^smpcheck vmid=${vmid} vcpu=(\\d+) part=\\d+$`, 'gm'))].map((m) => Number(m[1]));
  assert.deepEqual(
    lines.sort((a, b) => a - b),
    [...Array(vcpus).keys()],
    out,
  );
}

/** The master's side: the ticket's map as the guest read it (ticket.info), its own check, the join. */
function assertMasterRan(text: string) {
  assert.match(text, /^smpcheck ticket vmid=1 processors=4$/m, text);
  assert.match(text, /^smpcheck ticket vmid=2 processors=3$/m, text);
  assert.match(text, /^smpcheck vmid=0 vcpus=4 ran=4 busy=4 total=\d+ ok$/m, text);
  assert.match(text, /^smpcheck joined=2 ok$/m, text);
}

test('a procs ticket of 7 on a 4-vCPU master gives clones of 4 + 3 vCPUs, every vCPU computing', { timeout: 120_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 12, ramGiB: 4 });
  const { clusterid } = await c.seed(guestImage('smpcheck'), 'procs=7 n=100000', 64, 4);
  const master = await c.ended(`${clusterid}:0`);
  const text = await c.consoleText(`${clusterid}:0`);
  assert.equal(master.exitCode, 0, `${master.state} ${master.endReason}\n${text}`);
  assertMasterRan(text);
  for (const [vmid, vcpus] of [
    [1, 4],
    [2, 3],
  ] as const) {
    const name = `${clusterid}:${vmid}`;
    assertCloneRan(name, vmid, vcpus, await c.ended(name), await c.consoleText(name));
  }
});

test('across hosts the remote clones of a procs ticket run 4 + 3 vCPUs too', { timeout: 240_000 }, async (t) => {
  if (skipIf(t, cannotRunVms() ?? cannotRunHarness())) return;
  // 3 hosts of 4 processors: the master fills one, so both clones are made elsewhere from the descriptor.
  const { home, env } = await upHosts(t, 'sp', { count: 3, cpus: 4, ramGiB: 4 });
  const clusterid = await seed(env, home, guestImage('smpcheck'), 'procs=7 n=100000', 64, 4);
  const text = await masterOutput(env, clusterid);
  assertMasterRan(text);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const master = rows.find((d) => d.domain === `${clusterid}:0`)!;
  for (const [vmid, vcpus] of [
    [1, 4],
    [2, 3],
  ] as const) {
    const name = `${clusterid}:${vmid}`;
    const row = await domainEnded(env, name, 30_000);
    assert.notEqual(row.host, master.host, `${name} is a remote clone`);
    assertCloneRan(name, vmid, vcpus, row, await consoleText(env, name));
  }
});

test('processor mode in one VM: 4 MPI ranks on a 4-vCPU guest verify every call over shared memory', { timeout: 120_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  // One VM, no network: libsfmpi's ranks are its vCPUs and trade messages through their mailboxes only.
  const c = await vmCluster(t, { cpus: 4, ramGiB: 2 });
  for (const [image, args, vcpus, want] of [
    ['mpitest', 'np=4', 4, /^\[0\] mpitest ranks=4 checks=\d+ failed=0 us=\d+ verified OK$/m],
    ['pingpong', 'np=2 n=200 size=65536 reps=5', 2, /^\[0\] pingpong peer=1 vm=0 peer_vm=0 lat_us=[\d.]+ .* bw_mbps=[\d.]+ verified OK$/m],
  ] as const) {
    const { clusterid } = await c.seed(guestImage(image), args, 64, vcpus);
    const master = await c.ended(`${clusterid}:0`);
    const text = await c.consoleText(`${clusterid}:0`);
    assert.equal(master.exitCode, 0, `${master.state} ${master.endReason}\n${text}`);
    assert.match(text, want, text);
    assert.equal((await domains(c.env)).filter((d) => d.domain.startsWith(`${clusterid}:`)).length, 1, 'no clone');
    t.diagnostic(`${image} ${args} on ${vcpus} vCPUs: ${text.match(/(mpitest ranks|pingpong peer).*/)?.[0]}`);
  }
});
