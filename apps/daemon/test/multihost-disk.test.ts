// A cluster with a disk across namespaced hosts through the real daemons (issue 13 item 4): disktouch's clones on
// the host without its master read the disk snapshot's blocks through the memserver under 5 % injected loss, see
// the master's pre-fork bytes, keep their own writes private, and leave no overlay behind.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { json, runSf } from './cli-runner.ts';
import { consoleText } from './cluster-driver.ts';
import { cannotRunVms, guestImage, seedFile, skipIf } from './guests.ts';
import { cannotRunHarness, domains, lastOperation, masterOutput, upHosts } from './harness.ts';

test("a disk cluster's clones on another host read its disk through the memserver under 5 % loss and verify there", {
  timeout: 300_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  // Two cpus a host: the master's host holds it and one clone, so the other two clones go to the other host.
  const { status, home, env } = await upHosts(t, 'md', { count: 2, cpus: 2, ramGiB: 2, env: { SNOWFLOCK_TEST_PAGE_LOSS: '0.05' } });
  const disk = path.join(home, 'disk.img');
  execFileSync('truncate', ['-s', '4M', disk]);
  const seed = path.join(home, 'disktouch.cfg');
  const regions = 4;
  const sectors = 256; // 128 KiB a region: every clone reads all four, 128 blocks, before and after writing its own
  writeFileSync(seed, `${seedFile(guestImage('disktouch'), `clones=${regions - 1} base=16 sectors=${sectors}`)}disk_image = '${disk}'\n`);
  const { clusterid } = await json<{ clusterid: number }>(runSf(['seed', seed, '--json'], env));
  const text = await masterOutput(env, clusterid);
  assert.match(text, new RegExp(`disktouch vmid=0 regions=${regions} sectors=${sectors} before=ok own=ok others=ok OK`), text);
  assert.match(text, /disktouch result digest=0x[0-9a-f]{8} items=4 verified OK/, text);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const master = rows.find((d) => d.domain === `${clusterid}:0`)!;
  const away = rows.filter((d) => d !== master && d.host !== master.host);
  assert.ok(away.length >= 1, `clones on the other host: ${rows.map((d) => `${d.domain}@${d.host}`).join(', ')}`);
  for (const row of rows.filter((d) => d !== master)) {
    assert.equal(row.state, 'exited', JSON.stringify(row));
    const vmid = row.domain.split(':')[1];
    const out = await consoleText(env, row.domain);
    assert.match(out, new RegExp(`disktouch vmid=${vmid} regions=${regions} sectors=${sectors} before=ok own=ok others=ok OK`), out);
  }
  const op = await lastOperation(env, 'clone.master');
  assert.equal(op.detail.remote, away.length, JSON.stringify(op.detail));
  // Every host's overlays folder is empty once the cluster ended (unnamed files, gone with their VMs).
  const overlays = path.join(home, 'overlays');
  const hostDirs = readdirSync(overlays);
  assert.ok(hostDirs.length >= status.hosts.length, `one overlays folder a host: ${hostDirs.join(', ')}`);
  for (const dir of hostDirs) assert.deepEqual(readdirSync(path.join(overlays, dir)), [], `${dir}'s overlays are gone`);
});
