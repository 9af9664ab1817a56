// sfmd's relay of data-plane figures: relays well-formed batches with the sender, keeps the sample
// before the last for rates and the latest NIC counters, drops garbage, and forgets a domain when it ends.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DomainFiguresEvent } from '../common/events.ts';
import { GiB, masterFixture } from '../../test/support.ts';
import { FigureRelay } from './dashboard-figures.ts';

const clone = (vmid: number, faults: number) => ({
  clusterid: 1,
  vmid,
  faults,
  pagesFetched: faults,
  zeroPages: 0,
  prefetched: 0,
  freshHints: 0,
  present: faults,
  faultP50Ns: 1,
  faultP99Ns: 2,
  multicastBytes: null,
});

test('figures are relayed, kept two deep per domain, and forgotten when the domain ends', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 2, ram: GiB }]);
  t.after(() => f.close());
  const sent: DomainFiguresEvent[] = [];
  const relay = new FigureRelay(f.svc, (e) => sent.push(e));
  relay.fromHost('alpha', { sampledAt: 1000, domains: [clone(1, 10)] });
  relay.fromHost('alpha', { sampledAt: 2000, domains: [clone(1, 30), clone(2, 5)] });
  relay.fromHost('alpha', { sampledAt: 3000, domains: [] }); // nothing to tell anyone
  relay.fromHost('alpha', { sampledAt: 'soon', domains: [clone(1, -1)] });
  assert.deepEqual(
    sent.map((e) => [e.host, e.sampledAt, e.domains.length]),
    [
      ['alpha', 1000, 1],
      ['alpha', 2000, 2],
    ],
  );
  const one = relay.ofCluster(1)[1]!;
  assert.deepEqual([one.host, one.previous?.faults, one.latest.faults, one.latest.sampledAt], ['alpha', 10, 30, 2000]);
  assert.equal(relay.ofCluster(1)[2]?.previous, null);
  f.svc.events.emit('domain:state', { clusterid: 1, vmid: 1, host: 'alpha', state: 'merged', at: new Date().toISOString() });
  assert.deepEqual(Object.keys(relay.ofCluster(1)), ['2']);
});

test("NIC counters are relayed with the batch and kept as each domain's latest until it ends", async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 2, ram: GiB }]);
  t.after(() => f.close());
  const sent: DomainFiguresEvent[] = [];
  const relay = new FigureRelay(f.svc, (e) => sent.push(e));
  const nic = (vmid: number, rxBytes: number) => ({ clusterid: 1, vmid, rxBytes, txBytes: 2, rxPackets: 3, txPackets: 4, drops: 0 });
  relay.fromHost('alpha', { sampledAt: 1000, domains: [], nics: [nic(0, 10)] });
  relay.fromHost('alpha', { sampledAt: 2000, domains: [clone(1, 3)], nics: [nic(0, 50), nic(1, 7)] });
  relay.fromHost('alpha', { sampledAt: 3000, domains: [], nics: [{ ...nic(1, 8), txBytes: -1 }] });
  assert.deepEqual(
    sent.map((e) => [e.sampledAt, e.nics?.length]),
    [
      [1000, 1],
      [2000, 2],
    ],
    'a batch with only NICs is relayed; a malformed one is not',
  );
  assert.deepEqual(relay.nicOf(1, 0), { host: 'alpha', sampledAt: 2000, rxBytes: 50, txBytes: 2, rxPackets: 3, txPackets: 4, drops: 0 });
  f.svc.events.emit('domain:state', { clusterid: 1, vmid: 0, host: 'alpha', state: 'exited', at: new Date().toISOString() });
  assert.equal(relay.nicOf(1, 0), null, 'an ended domain has its final figures on record instead');
  assert.equal(relay.nicOf(1, 1)?.rxBytes, 7);
});
