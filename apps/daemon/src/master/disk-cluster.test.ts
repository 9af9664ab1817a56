// sfmd and a cluster with a disk: the boot command carries the image, a disk-only seed is refused before
// anything is placed, clones go to any host (remote ones read the disk through the memserver), and a VM's disk
// figures reach sfstate, live then final.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';
import { attachFigureRelay } from './dashboard-figures.ts';
import { applyStateReport } from './state-reports.ts';

const hosts = [
  { name: 'alpha', cpus: 8, ram: 8 * GiB },
  { name: 'beta', cpus: 8, ram: 8 * GiB },
];
/** Refused by sfmd with `code` (the SfError behind the API's error) and a message matching `pattern`. */
const refused = (promise: Promise<unknown>, code: string, pattern: RegExp) =>
  assert.rejects(promise, (err: Error & { cause?: { code?: string } }) => err.cause?.code === code && pattern.test(err.message));
const diskSeed = () => ({ ...seedConfig(1, 256), diskImage: '/srv/data.img' });

test('a seed with kernel and disk_image boots its master with the disk; disk_image alone is refused before placing', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await refused(admin.cluster.seed({ config: { ...diskSeed(), kernel: null } }), 'BAD_CONFIG', /Linux guest.*later Snowflock/);
  assert.equal(f.links.sent.length, 0, 'nothing was asked of any sfld');
  assert.equal((await admin.cluster.list()).length, 0, 'no cluster was made for it');
  await admin.cluster.seed({ config: diskSeed() });
  const boot = f.links.sent.find((s) => s.command === 'domain:boot')!;
  assert.deepEqual((boot.payload as { disk?: unknown }).disk, { image: '/srv/data.img' });
  await admin.cluster.seed({ config: seedConfig(1, 256) });
  const plain = f.links.sent.filter((s) => s.command === 'domain:boot')[1]!;
  assert.equal((plain.payload as { disk?: unknown }).disk, undefined, 'no disk_image: no disk');
});

test("a disk cluster's clones go to any host: a ticket larger than the master's host is granted and cloned remotely too", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: diskSeed() });
  const home = (await admin.state.domains())[0]!.host;
  const master = await f.admin('1:0');
  // 8 cpus a host: the master's leaves 7, so 12 clones need the other host (which reads the disk through the memserver).
  const ticket = await master.ticket.request({ nclones: 12 });
  assert.equal(ticket.granted, 12);
  await master.clone.master({ ticket: ticket.ticket });
  const clones = (await admin.state.domains()).filter((d) => d.vmid > 0);
  assert.equal(clones.length, 12);
  const away = clones.filter((d) => d.host !== home);
  assert.ok(away.length >= 5, `clones beyond the master's host: ${clones.map((d) => d.host)}`);
  const remote = f.links.sent.filter((s) => s.command === 'domain:clone-remote');
  assert.equal(remote.length, 1, 'one remote clone command for the other host');
  assert.equal((remote[0]!.payload as { clones: unknown[] }).clones.length, away.length);
});

test("a VM's disk figures: live from the relay, final on its record from the end report, with the cluster's image", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: diskSeed() });
  const home = (await admin.state.domains())[0]!.host;
  const relay = attachFigureRelay(f.svc, () => {});
  assert.deepEqual((await admin.state.domains())[0]!.disk, { image: '/srv/data.img', figures: null, live: true }, 'no batch yet');
  const figures = { reads: 10, writes: 4, readBytes: 40960, writtenBytes: 5_000_000_000, refused: 0, overlayBytes: 16384, remoteBlocks: 7 };
  relay.fromHost(home, { sampledAt: 1, domains: [], disks: [{ clusterid: 1, vmid: 0, ...figures, writes: 3 }] });
  const { refused: _, ...shown } = figures;
  assert.deepEqual((await admin.state.domains())[0]!.disk, { image: '/srv/data.img', figures: { ...shown, writes: 3 }, live: true });
  assert.equal(relay.diskOf(1, 0)?.host, home);
  await applyStateReport(f.svc, home, { clusterid: 1, vmid: 0, state: 'exited', exitCode: 0, reason: null, disk: figures });
  const ended = (await admin.state.domains({ all: true })).find((d) => d.vmid === 0)!;
  assert.deepEqual(ended.disk, { image: '/srv/data.img', figures: shown, live: false }, '5 GB written fits (BigInt columns)');
  assert.equal(relay.diskOf(1, 0), null, 'the live sample goes with the end');
});
