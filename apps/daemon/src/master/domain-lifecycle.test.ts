// Records ↔ VMs: seeding boots the master through its sfld, a failed boot gives everything back,
// and shutdown destroys VMs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SfError } from '../common/errors.ts';
import type { DomainForkSpec, DomainRemoteCloneSpec } from '../common/events.ts';
import { GiB, masterFixture, seedConfig } from '../../test/support.ts';

const hosts = [
  { name: 'alpha', cpus: 2, ram: 4 * GiB },
  { name: 'beta', cpus: 2, ram: 4 * GiB },
];

test('a boot the sfld refuses fails the seed with its error, frees the host and leaves no cluster behind', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  f.links.fail['domain:boot'] = new SfError('KVM_UNAVAILABLE', '/dev/kvm is missing');
  const admin = await f.admin();
  await assert.rejects(admin.cluster.seed({ config: seedConfig() }), /dev\/kvm is missing/);
  assert.deepEqual(await admin.cluster.list(), []);
  assert.deepEqual(await admin.state.domains({ all: true }), []);
  assert.ok((await admin.state.hosts()).every((h) => h.cpusUsed === 0));
  const [op] = await admin.operations.list({ kind: 'cluster.seed' });
  assert.match(op!.error!, /^KVM_UNAVAILABLE/);
});

test('shutdown destroys the VMs that exist; clones that never ran need no command', async (t) => {
  const f = await masterFixture(hosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: seedConfig() });
  const master = await f.admin('1:0');
  const ticket = await master.ticket.request({ nclones: 2 });
  await master.clone.master({ ticket: ticket.ticket });
  // Clones beside the master were forked there, the others made by their hosts from the descriptor.
  const domains = await f.svc.db.domain.findMany({ include: { host: true }, orderBy: { vmid: 'asc' } });
  const home = cluster.domains[0]!.host;
  for (const d of domains) assert.equal(d.state, 'running', `${d.vmid} on ${d.host.name}`);
  const remote = domains.filter((d) => d.host.name !== home);
  const sentRemote = f.links.sent.filter((s) => s.command === 'domain:clone-remote');
  assert.deepEqual(
    sentRemote.flatMap((s) => (s.payload as { clones: { vmid: number }[] }).clones.map((c) => c.vmid)),
    remote.map((d) => d.vmid),
  );
  // The master's sfld served the fork (multicast, the default) under a hand-off sfmd named; the targets, asked at
  // the same time, wait for the descriptor there (the sfld's registered local port), each on its page network.
  const fork = f.links.sent.find((s) => s.command === 'domain:fork')!;
  const serve = (fork.payload as DomainForkSpec).serve!;
  assert.deepEqual([serve.mode, serve.interface], ['multicast', home]);
  assert.match(serve.handoff.key, /^[0-9a-f]{16}$/);
  assert.match(serve.handoff.token, /^[0-9a-f]{64}$/);
  for (const s of sentRemote) {
    const spec = s.payload as DomainRemoteCloneSpec;
    assert.deepEqual(spec.descriptor, { host: home, port: 7001, ...serve.handoff });
    assert.equal(spec.interface, s.host);
  }
  f.links.sent.length = 0;
  await master.cluster.shutdown({ force: true });
  const expected = domains
    .filter((d) => d.state === 'running')
    .map((d) => ({ host: d.host.name, command: 'domain:destroy', payload: { clusterid: 1, vmid: d.vmid } }));
  assert.deepEqual(
    f.links.sent
      .filter((s) => s.command === 'domain:destroy')
      .sort((a, b) => (a.payload as { vmid: number }).vmid - (b.payload as { vmid: number }).vmid),
    expected,
  );
  assert.equal(home, expected[0]!.host);
  // Besides the destroys, only the master's host hears that the ticket ended (ticket-ended.test.ts).
  assert.deepEqual(
    f.links.sent.filter((s) => s.command !== 'domain:destroy'),
    [{ host: home, command: 'ticket:ended', payload: { ticket: ticket.ticket } }],
  );
});
