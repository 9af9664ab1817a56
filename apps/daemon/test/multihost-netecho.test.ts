// The cluster network end to end through the real daemons: netecho's master (a real VM) listens on TCP and forks
// 8 clones placed on 3 namespace hosts; each clone gets its own address from its NIC's DHCP, reaches the master
// across the hosts' bridges and VXLAN, streams a vmid-patterned MiB and checks the echo; the master prints one
// verified line. Each VM's IP and MAC are on record as sfmd assigned them (vmid + 1 in the cluster's subnet).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { cannotRunHarness, domains, masterOutput, seed, upHosts } from './harness.ts';
import { cannotBuildNetLab } from './net-lab.ts';

test('netecho: 8 clones on 3 namespace hosts each echo a MiB through the master, verified', { timeout: 300_000 }, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms() ?? cannotBuildNetLab())) return;
  const { home, env } = await upHosts(t, 'ne', { count: 3, cpus: 3, ramGiB: 2 });
  const started = Date.now();
  const clusterid = await seed(env, home, guestImage('netecho'), 'clones=8 mib=1');
  const text = await masterOutput(env, clusterid);
  t.diagnostic(`netecho with 8 clones on 3 hosts: ${Date.now() - started} ms from seed to the master's end`);
  assert.match(text, /netecho: 8 clones echoed 8 MiB, all verified/, text);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  assert.equal(rows.length, 9);
  assert.ok(new Set(rows.map((d) => d.host)).size >= 2, `VMs on several hosts: ${rows.map((d) => d.host).join(' ')}`);
  for (const d of rows) {
    const vmid = Number(d.domain.split(':')[1]);
    assert.equal(d.state, 'exited', JSON.stringify(d));
    assert.match(d.ip ?? '', new RegExp(`^10\\.\\d+\\.\\d+\\.${vmid + 1}$`), `${d.domain}: IP is host number vmid + 1`);
    assert.match(d.mac ?? '', new RegExp(`:${(vmid >> 8).toString(16).padStart(2, '0')}:${(vmid & 0xff).toString(16).padStart(2, '0')}$`));
  }
});
