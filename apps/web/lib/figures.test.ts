// Data-plane figures: rates from the last two samples, live batches folded per cluster, and figures
// from a host other than the domain's own are not believed; NIC bytes are live while a VM runs, final after.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { figuresFor, figureView, foldFigures, foldNics, nicFor, PAGE_BYTES, type FigureMap, type NicMap } from './figures.ts';

const fig = (clusterid: number, vmid: number, faults: number) => ({
  clusterid,
  vmid,
  faults,
  pagesFetched: faults * 2,
  zeroPages: 0,
  prefetched: 0,
  freshHints: 3,
  present: faults * 2,
  faultP50Ns: 5000,
  faultP99Ns: 9000,
  multicastBytes: null,
});

test('the fault rate comes from the last two samples; bytes are pages × 4 KiB', () => {
  const view = figureView({
    host: 'kvm1',
    latest: { ...fig(1, 1, 300), sampledAt: 3000 },
    previous: { ...fig(1, 1, 100), sampledAt: 1000 },
  });
  assert.equal(view.faultRate, 100);
  assert.equal(view.bytesFetched, 600 * PAGE_BYTES);
  assert.equal(figureView({ host: 'kvm1', latest: { ...fig(1, 1, 5), sampledAt: 1 }, previous: null }).faultRate, null);
});

test("live batches fold into one cluster's map, keeping the sample before", () => {
  let map: FigureMap = {};
  map = foldFigures(map, 1, { host: 'kvm1', sampledAt: 1000, domains: [fig(1, 1, 10), fig(2, 1, 99)] });
  const same = foldFigures(map, 1, { host: 'kvm1', sampledAt: 1500, domains: [fig(2, 1, 100)] });
  assert.equal(same, map, 'a batch about other clusters changes nothing');
  map = foldFigures(map, 1, { host: 'kvm1', sampledAt: 2000, domains: [fig(1, 1, 30)] });
  assert.deepEqual([map[1]!.previous?.faults, map[1]!.latest.faults], [10, 30]);
  assert.equal(figuresFor(map, 1, 'kvm1')?.faultRate, 20);
  assert.equal(figuresFor(map, 1, 'kvm2'), null, 'measured elsewhere than the record says: not shown');
  map = foldFigures(map, 1, { host: 'kvm2', sampledAt: 3000, domains: [fig(1, 1, 31)] });
  assert.equal(map[1]!.previous, null, 'a new host starts a new pair');
});

test("NIC bytes: a live domain's latest batch from its own host, else its row's figures", () => {
  const nic = (clusterid: number, vmid: number, rxBytes: number) => ({
    clusterid,
    vmid,
    rxBytes,
    txBytes: 2 * rxBytes,
    rxPackets: 1,
    txPackets: 1,
    drops: 0,
  });
  let map: NicMap = {};
  map = foldNics(map, 1, { host: 'kvm1', sampledAt: 1000, domains: [], nics: [nic(1, 0, 10), nic(2, 0, 99)] });
  assert.equal(foldNics(map, 1, { host: 'kvm1', sampledAt: 1500, domains: [] }), map, 'a batch without NICs changes nothing');
  map = foldNics(map, 1, { host: 'kvm1', sampledAt: 2000, domains: [], nics: [nic(1, 0, 30)] });
  const final = { rxBytes: 40, txBytes: 80, live: false };
  assert.deepEqual(nicFor(map, { vmid: 0, host: 'kvm1', live: true, net: null }), { rxBytes: 30, txBytes: 60, live: true });
  assert.equal(nicFor(map, { vmid: 0, host: 'kvm2', live: true, net: null }), null, 'measured elsewhere: not believed');
  assert.deepEqual(nicFor(map, { vmid: 0, host: 'kvm1', live: false, net: final }), final, 'ended: the record');
  assert.equal(nicFor(map, { vmid: 3, host: 'kvm1', live: true }), null);
});
