// A seed's disk through the real daemons (issue 13 items 2, 3, 6): disktouch's master writes before the fork,
// its clones each see those bytes and keep their own writes; a tar-made disk's file reads back whole; sfstate
// --json shows each VM's disk figures; and an sfld SIGKILLed with disk VMs running leaves no overlay behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { createCommandContext } from '../src/cli/context.ts';
import { daemonStatus, isAlive } from '../src/cli/daemon-control.ts';
import { snowflockPaths } from '../src/common/paths.ts';
import { isLiveDomainState } from '../src/master/store/states.ts';
import { json, runBin, runSf, waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, seedFile, skipIf } from './guests.ts';
import { vmCluster } from './vm-cluster.ts';

interface DiskRow {
  domain: string;
  state: string;
  host: string;
  exitCode: number | null;
  disk: {
    image: string;
    live: boolean;
    figures: { reads: number; writes: number; readBytes: number; writtenBytes: number; overlayBytes: number } | null;
  } | null;
}

type Cluster = Awaited<ReturnType<typeof vmCluster>>;

/** sfseed of `image` with a disk_image line (the CLI checks the image where the seed file is). */
async function seedWithDisk(c: Cluster, name: string, image: string, args: string, disk: string) {
  const file = path.join(c.home, `${name}.cfg`);
  writeFileSync(file, `${seedFile(image, args)}disk_image = '${disk}'\n`);
  return runBin('sfseed', [file, '--json'], c.env);
}

const sfstate = async (c: Cluster) => (await json<{ domains: DiskRow[] }>(runBin('sfstate', ['--all', '--json'], c.env))).domains;

/** Files sfld has open in the overlays folder: its VMs' overlays (unnamed O_TMPFILE files show as `dir/#inode`). */
function openOverlays(pid: number, dir: string): string[] {
  const open: string[] = [];
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const target = readlinkSync(`/proc/${pid}/fd/${fd}`);
      if (target.startsWith(`${dir}/`)) open.push(target);
    } catch {
      /* closed meanwhile */
    }
  }
  return open;
}

/** FNV-1a (32 bits), as disktouch cat= prints it. */
function fnv1a(bytes: Buffer): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `0x${h.toString(16).padStart(8, '0')}`;
}

test('disktouch with a disk: pre-fork writes seen by every clone, own writes private, figures in sfstate, overlays gone', {
  timeout: 180_000,
}, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 4, ramGiB: 4 });
  const overlays = path.join(c.home, 'overlays', 'kvm1');
  const disk = path.join(c.home, 'disk.img');
  // sfld again at level info: its log is where each VM's end has its disk figures.
  await runSf(['sfld', 'stop'], c.env);
  assert.equal(
    (await json<{ registered: boolean }>(runSf(['sfld', 'start', '--json'], { ...c.env, SNOWFLOCK_LOG_LEVEL: 'info' }))).registered,
    true,
  );
  execFileSync('truncate', ['-s', '4M', disk]);

  // Refused before anything boots, naming the file: a missing image, and one of a partial sector.
  const missing = await seedWithDisk(c, 'missing', guestImage('disktouch'), '', path.join(c.home, 'nope.img'));
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /disk_image .*nope\.img does not exist/);
  writeFileSync(path.join(c.home, 'odd.img'), Buffer.alloc(1000));
  const odd = await seedWithDisk(c, 'odd', guestImage('disktouch'), '', 'odd.img');
  assert.match(odd.stderr, /odd\.img is 1000 bytes, not a multiple of 512/);
  assert.deepEqual(await sfstate(c), [], 'no cluster was made for either');
  // Past the CLI (the API, as the dashboard seeds): sfld checks the image on its host, and the master is not booted.
  const api = createCommandContext({ home: c.home, json: true }).client();
  const config = {
    name: null,
    kernel: guestImage('disktouch'),
    args: '',
    vcpus: 1,
    memoryMiB: 64,
    diskImage: path.join(c.home, 'gone.img'),
  };
  await assert.rejects(api.cluster.seed.mutate({ config }), /disk_image \(on this host\) .*gone\.img does not exist/);

  const seeded = await seedWithDisk(c, 'touch', guestImage('disktouch'), 'clones=2 base=2048 sectors=8', 'disk.img');
  assert.equal(seeded.code, 0, seeded.stderr);
  const { clusterid } = JSON.parse(seeded.stdout) as { clusterid: number };
  const rows = await waitUntil('disktouch and its clones to end', 60_000, async () => {
    const all = (await sfstate(c)).filter((d) => d.domain.startsWith(`${clusterid}:`));
    return all.length === 3 && all.every((d) => !isLiveDomainState(d.state as never)) ? all : null;
  });
  const master = await c.consoleText(`${clusterid}:0`);
  assert.match(master, /disktouch vmid=0 regions=3 sectors=8 before=ok own=ok others=ok OK/);
  assert.match(master, /verified OK/);
  for (const vmid of [1, 2]) {
    const text = await c.consoleText(`${clusterid}:${vmid}`);
    assert.match(text, new RegExp(`disktouch vmid=${vmid} regions=3 sectors=8 before=ok own=ok others=ok OK`), text);
  }
  assert.equal(rows[0]!.exitCode, 0, 'the master exited 0 (clones exit with their share of the result)');
  const fork = (await api.operations.list.query({ limit: 50, kind: 'clone.master' })).find((o) => o.requester === `domain:${clusterid}:0`);
  assert.deepEqual(
    [fork?.detail.remote, fork?.detail.fromShells],
    [0, 2],
    `both clones on the master's host, made from the shells prepared at the ticket: ${JSON.stringify(fork?.detail)}`,
  );
  for (const row of rows) {
    assert.equal(row.state, 'exited', `${row.domain} exited`);
    assert.equal(row.disk?.image, disk, `${row.domain}'s disk is the seed's image`);
    assert.equal(row.disk?.live, false);
    const f = row.disk?.figures;
    assert.ok(f, `${row.domain} has final disk figures`);
    // Each VM wrote its own region (8 sectors) and read regions back; the master also wrote every region before the fork.
    assert.ok(f.writes >= 1 && f.writtenBytes >= 8 * 512, `${row.domain} wrote: ${JSON.stringify(f)}`);
    assert.ok(f.reads >= 3 && f.readBytes >= 3 * 8 * 512, `${row.domain} read: ${JSON.stringify(f)}`);
    assert.ok(f.overlayBytes >= 4096, `${row.domain}'s overlay held its writes: ${JSON.stringify(f)}`);
  }
  assert.ok(rows[0]!.disk!.figures!.writtenBytes >= 3 * 8 * 512, 'the master wrote all three regions before the fork');
  // sfld's log has each VM's disk figures with its end (written just after the end is reported).
  const logFile = daemonStatus(snowflockPaths(c.home), 'sfld-kvm1').logFile;
  const ends = await waitUntil('the ends in sfld log', 10_000, async () => {
    const lines = readFileSync(logFile, 'utf8')
      .split('\n')
      .filter((l) => l.includes('"VM ended"'));
    const parsed = lines.map((l) => JSON.parse(l) as { domain: string; disk: { writtenBytes: number } | null });
    return parsed.filter((e) => e.domain.startsWith(`${clusterid}:`)).length === 3 ? parsed : null;
  });
  for (const vmid of [0, 1, 2]) {
    const end = ends.find((e) => e.domain === `${clusterid}:${vmid}`);
    assert.ok(end?.disk && end.disk.writtenBytes >= 8 * 512, `the log's end of ${clusterid}:${vmid}: ${JSON.stringify(end)}`);
  }
  assert.deepEqual(readdirSync(overlays), [], 'no overlay file is left');
  assert.deepEqual(openOverlays(daemonStatus(snowflockPaths(c.home), 'sfld-kvm1').pid!, overlays), [], 'nor held open by sfld');
  assert.equal(
    readFileSync(disk).every((b) => b === 0),
    true,
    'the image itself was never written',
  );

  // A tar-made disk: a file of it reads back whole in the guest (size and FNV-1a as the host computes them).
  const tree = path.join(c.home, 'tree');
  mkdirSync(path.join(tree, 'db'), { recursive: true });
  const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31 + (i >> 7)) & 0xff));
  writeFileSync(path.join(tree, 'db', 'queries.fa'), data);
  execFileSync('tar', ['cf', path.join(c.home, 'tree.img'), '-C', tree, 'db']);
  const cat = await seedWithDisk(c, 'cat', guestImage('disktouch'), 'cat=db/queries.fa', 'tree.img');
  assert.equal(cat.code, 0, cat.stderr);
  const catId = (JSON.parse(cat.stdout) as { clusterid: number }).clusterid;
  await c.ended(`${catId}:0`);
  assert.match(await c.consoleText(`${catId}:0`), new RegExp(`disktouch cat=db/queries.fa size=70000 fnv1a=${fnv1a(data)}`));
});

test('sfld SIGKILLed with disk VMs running leaves no overlay after its restart', { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  if (skipIf(t, process.getuid?.() === 0 ? null : 'not root: sfld is killed and restarted as a real process')) return;
  const c = await vmCluster(t, { cpus: 4, ramGiB: 4 });
  const paths = snowflockPaths(c.home);
  const overlays = path.join(c.home, 'overlays', 'kvm1');
  execFileSync('truncate', ['-s', '1M', path.join(c.home, 'disk.img')]);
  // What a crash leaves where the file system lacks O_TMPFILE: a named overlay, swept at the next start.
  writeFileSync(path.join(overlays, 'sf-overlay-leftover'), 'x');
  // align forks 2 clones and computes for a while: master and clones hold overlays when sfld is killed.
  const seeded = await seedWithDisk(c, 'align', guestImage('align'), 'queries=40 db=512 len=4096 qlen=256 clones=2', 'disk.img');
  assert.equal(seeded.code, 0, seeded.stderr);
  const { clusterid } = JSON.parse(seeded.stdout) as { clusterid: number };
  const sfld = daemonStatus(paths, 'sfld-kvm1').pid!;
  await waitUntil('the clones to run', 60_000, async () => {
    const running = (await sfstate(c)).filter((d) => d.domain.startsWith(`${clusterid}:`) && d.state === 'running');
    return running.length === 3;
  });
  const held = openOverlays(sfld, overlays);
  assert.ok(held.length >= 3, `master and clones hold overlays: ${held}`);
  const live = (await waitUntil('live disk figures', 10_000, async () => {
    const rows = await sfstate(c);
    return rows.filter((d) => d.disk?.live && d.disk.figures).length === 3 ? rows : null;
  }))!;
  assert.ok(live.every((d) => d.disk?.image.endsWith('disk.img')));

  process.kill(sfld, 'SIGKILL');
  await waitUntil(`sfld ${sfld} to die`, 5_000, async () => !isAlive(sfld));
  const restarted = await json<{ registered: boolean }>(runSf(['sfld', 'start', '--json'], c.env));
  assert.equal(restarted.registered, true);
  assert.deepEqual(readdirSync(overlays), [], 'the leftover was swept and nothing else is there');
  assert.deepEqual(openOverlays(daemonStatus(paths, 'sfld-kvm1').pid!, overlays), [], 'the new sfld holds no overlay');
});
