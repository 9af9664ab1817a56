// The clones' hosts prepare shells and taps when a ticket is granted, and the other hosts let them go when it ends
// unused: sfmd tells each host of the ticket's allocations its share (ticket:shells), and the hosts other than the
// master's that the ticket ended (ticket:ended); a host that does not answer changes nothing for the ticket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfError } from '../common/errors.ts';
import { parseHostCommand } from '../common/wire.ts';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';

/** Polls `probe` (background commands) until it answers, for up to 2 s. */
async function waitFor<T>(probe: () => T | null): Promise<T> {
  for (let i = 0; i < 200; i++) {
    const got = probe();
    if (got !== null) return got;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('timed out');
}

const hosts = [
  { name: 'alpha', cpus: 2, ram: 4 * GiB },
  { name: 'beta', cpus: 2, ram: 4 * GiB },
  { name: 'gamma', cpus: 2, ram: 4 * GiB },
];

test("a granted ticket has each host of its clones prepare that many shells of the master's shape, and their taps; disposed, the other hosts' go", async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta', 'gamma');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: { ...seedConfig(), memoryMiB: 256 } });
  const home = cluster.domains[0]!.host;
  const master = await f.admin('1:0');
  f.links.sent.length = 0;
  const ticket = await master.ticket.request({ nclones: 5 });
  const shares = new Map<string, number[]>();
  for (const a of ticket.allocations) shares.set(a.host, [...(shares.get(a.host) ?? []), a.vmid]);
  assert.ok(shares.size > 1, `some clones placed away from ${home}: ${JSON.stringify(ticket.allocations)}`);
  // The master's host hears its share too, none if it has none (its sfld bounds what the guest's reply started).
  if (!shares.has(home)) shares.set(home, []);
  // Sent in the background, without waiting for answers.
  const prepared = await waitFor(() => {
    const sent = f.links.sent.filter((s) => s.command === 'ticket:shells');
    return sent.length >= shares.size ? sent : null;
  });
  assert.deepEqual(
    prepared
      .map((s) => {
        const p = parseHostCommand('ticket:shells', s.payload);
        return [
          s.host,
          { ticket: p.ticket, memoryMiB: p.memoryMiB, vcpus: p.vcpus, count: p.count, vmids: p.net?.clones.map((c) => c.vmid) },
        ];
      })
      .sort(),
    [...shares].map(([host, vmids]) => [host, { ticket: ticket.ticket, memoryMiB: 256, vcpus: 1, count: vmids.length, vmids }]).sort(),
    'one command per host of the ticket and the master, with its clones',
  );
  // Each host's clones come with their addresses and the cluster's network as that host builds it.
  for (const s of prepared) {
    const { net } = parseHostCommand('ticket:shells', s.payload);
    assert.ok(net, 'the cluster network spec is sent');
    assert.equal(net.clusterid, 1);
    assert.ok(net.cluster.hosts.length >= 2, JSON.stringify(net.cluster.hosts));
    for (const c of net.clones) assert.match(c.net.ip, /^\d+\.\d+\.\d+\.\d+$/);
  }

  f.links.sent.length = 0;
  await master.ticket.dispose({ ticket: ticket.ticket });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(
    f.links.sent
      .filter((s) => s.command === 'ticket:ended')
      .map((s) => s.host)
      .sort(),
    // The admin acted for the master here, so its host hears it too (ticket-ended.ts); a guest's own dispose
    // reaches its sfld with the call itself.
    [home, ...[...shares.keys()].filter((h) => h !== home)].sort(),
  );
});

test('a host that cannot be told to prepare shells does not fail the ticket', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta', 'gamma');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig() });
  const master = await f.admin('1:0');
  f.links.fail['ticket:shells'] = new SfError('HOST_LOST', 'host gone');
  const ticket = await master.ticket.request({ nclones: 5 });
  assert.equal(ticket.state, 'unused');
  assert.equal(ticket.granted, 5);
  await master.clone.master({ ticket: ticket.ticket });
  const clones = await f.svc.db.domain.findMany({ where: { vmid: { gt: 0 } } });
  assert.equal(clones.length, 5);
  assert.ok(clones.every((d) => d.state === 'running'));
});
