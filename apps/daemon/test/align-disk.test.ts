// align reading its database from the tar disk the guest build makes (issue 13 item 5), through the real daemons:
// seeded from the committed align-disk.cfg, it forks 8 clones, every VM reads db/seqs.fa from its own disk, and the
// master's line checks the files' checksum and the joined digest against the planted truth. The run takes its hosts
// as a parameter: one host today; on 3 namespace hosts once a disk cluster's clones may leave the master's host.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { json, runBin, runSf } from './cli-runner.ts';
import { consoleText, domainEnded, domains } from './cluster-driver.ts';
import { cannotRunVms, skipIf } from './guests.ts';
import { ALIGN_RESULT, cannotRunHarness, upHosts } from './harness.ts';
import { vmCluster } from './vm-cluster.ts';

const SEED = fileURLToPath(new URL('../../../native/guest/examples/align/align-disk.cfg', import.meta.url));
const IMAGE = fileURLToPath(new URL('../../../native/guest/build/disk/align-db.img', import.meta.url));
/** The checksum the seed bakes (the build checks it against the files it tars). */
const DBSUM = /dbsum=(0x[0-9a-f]{16})/.exec(readFileSync(SEED, 'utf8'))?.[1];

function cannotRunAlignDisk(): string | null {
  if (!existsSync(IMAGE)) return `align's disk ${IMAGE} is not built: run npm run build`;
  return DBSUM ? null : `${SEED} bakes no dbsum=`;
}

/** Seeds align-disk.cfg on the cluster at `env` and checks the whole run; `hosts` are the cluster's host names. */
async function alignFromDisk(t: TestContext, env: NodeJS.ProcessEnv, hosts: string[]) {
  const started = Date.now();
  const { clusterid } = await json<{ clusterid: number }>(runSf(['seed', SEED, '--json'], env));
  const master = await domainEnded(env, `${clusterid}:0`, 150_000);
  const text = await consoleText(env, `${clusterid}:0`);
  t.diagnostic(`align from its tar disk, 8 clones on ${hosts.length} host(s): ${Date.now() - started} ms from seed to the master's end`);
  assert.equal(master.exitCode, 0, text);
  assert.match(text, /forked 8 clones with ticket/, text);
  assert.match(text, ALIGN_RESULT);
  assert.equal(text.match(ALIGN_RESULT)?.[1], 'OK', text);
  // The disk's files are the ones the build made, and the 9 VMs' joined hits are the planted truth, as one VM finds it.
  const verified = new RegExp(`^align disk fnv1a=${DBSUM} dbsum=ok digest=(0x[0-9a-f]{8}) expected=\\1 verified OK$`, 'm');
  assert.match(text, verified, text);

  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  assert.equal(rows.length, 9);
  for (const row of rows) {
    const vmid = Number(row.domain.split(':')[1]);
    assert.equal(row.state, 'exited', `${row.domain}: ${row.endReason}`);
    assert.ok(hosts.includes(row.host), `${row.domain} on ${row.host}, one of ${hosts}`);
    const out = vmid === 0 ? text : await consoleText(env, row.domain);
    // Every VM read the database from its own disk (a clone: from the fork's disk snapshot) and checked it.
    assert.match(
      out,
      new RegExp(`align vmid=${vmid} read db/seqs.fa from the disk: 1024x1024 in \\d+ ns, fnv1a=${DBSUM} matches dbsum`),
      out,
    );
    assert.match(out, new RegExp(`align vmid=${vmid} nvms=9 db=1024x1024 queries=1/9 .* OK`), out);
    assert.equal(row.disk?.image, IMAGE, `${row.domain}'s disk is the build's image`);
    const f = row.disk?.figures;
    assert.ok(f, `${row.domain} has final disk figures`);
    assert.ok(f.readBytes >= 2 ** 20, `${row.domain} read the whole database (over 1 MiB of FASTA): ${JSON.stringify(f)}`);
    assert.deepEqual([f.writes, f.overlayBytes], [0, 0], `${row.domain} wrote nothing: ${JSON.stringify(f)}`);
    // A clone beside its master reads the snapshot locally; one elsewhere read it from the master's host.
    if (row.host === master.host) assert.equal(f.remoteBlocks, 0, `${row.domain} on the master's host`);
    else assert.ok(f.remoteBlocks >= 256, `${row.domain} on ${row.host} read the database from afar: ${JSON.stringify(f)}`);
  }
  // sfstate's table has the same: written / overlay / fetched remotely (nothing, nothing, nothing for clone 1 here).
  const table = (await runBin('sfstate', ['--all'], env)).stdout;
  assert.match(table, /DISK W\/OVL\/REMOTE/);
  const clone1 = rows.find((d) => d.domain === `${clusterid}:1`)!;
  if (clone1.host === master.host) assert.match(table, new RegExp(`^${clusterid}:1 .* 0 B/0 B/0 B `, 'm'), table);
  return rows;
}

test('align reads its database from a tar disk, split over 8 clones on one host, verified', { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms() ?? cannotRunAlignDisk())) return;
  const c = await vmCluster(t, { cpus: 16, ramGiB: 16 });
  await alignFromDisk(t, c.env, ['kvm1']);
});

test('align reads its database from a tar disk, split over 8 clones on 3 namespace hosts, verified', { timeout: 300_000 }, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms() ?? cannotRunAlignDisk())) return;
  const { status, env } = await upHosts(t, 'ad', { count: 3, cpus: 3, ramGiB: 2 });
  // sfmd knows each namespace host by its address.
  const rows = await alignFromDisk(
    t,
    env,
    status.hosts.map((h) => h.address),
  );
  assert.ok(new Set(rows.map((d) => d.host)).size >= 2, `VMs on several hosts: ${rows.map((d) => d.host).join(' ')}`);
});
