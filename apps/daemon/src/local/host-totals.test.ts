// A host's data-plane totals: what a VM did stays counted after it leaves (Prometheus counters never
// go down), a page source shared by a snapshot's clones counts once, and faults land in their time bucket.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FAULT_TIME_BUCKETS, type MemserverStats, type MemtapStats, type RemoteSourceStats } from '@snowflock/native';
import { HostTotals, type VmParts } from './host-totals.ts';

function memtap(faults: number): MemtapStats {
  const stats = {
    faults,
    pagesCopied: faults,
    zeroPages: 0,
    prefetched: 0,
    freshHints: 0,
    alreadyPresent: 0,
    present: faults,
  } as MemtapStats;
  Object.assign(stats, { p50Ns: 0, p99Ns: 0, maxNs: 0, faultNsSum: faults * 20_000 });
  for (const [key] of FAULT_TIME_BUCKETS) stats[key] = key === 'faultsWithin25us' ? faults : 0;
  return stats;
}

/** A VM whose counters the test moves, as the native ones would; `gone` makes every read throw (torn down). */
function fakeVm(faults: number, remoteSnapshot?: string) {
  const vm = {
    faults,
    gone: false,
    rxBytes: 100,
    memtapStats() {
      if (this.gone) throw new Error('destroyed');
      return memtap(this.faults);
    },
    netStats() {
      if (this.gone) throw new Error('destroyed');
      return {
        rxBytes: this.rxBytes,
        txBytes: 1,
        rxPackets: 1,
        txPackets: 1,
        rxDrops: 0,
        txDrops: 0,
        badChains: 0,
        dhcpAnswers: 0,
        wakeups: 0,
      };
    },
    diskStats: () => null,
  };
  const parts: VmParts = { vm, memservers: [], ...(remoteSnapshot ? { remoteSnapshot } : {}) };
  return { vm, parts };
}

const source = (mirrorHits: number) => ({ mirrorHits, mirrorMisses: 1, bytesReceived: 4096 }) as RemoteSourceStats;

test("a VM's figures stay in the totals after it leaves", () => {
  const totals = new HostTotals(() => null);
  const a = fakeVm(10);
  const b = fakeVm(5);
  const live = new Set([a.parts, b.parts]);
  const first = totals.now(live);
  assert.equal(first.faults, 15);
  assert.equal(first.rxBytes, 200);
  const bucket = FAULT_TIME_BUCKETS.findIndex(([key]) => key === 'faultsWithin25us');
  assert.equal(first.faultTimes[bucket], 15);
  assert.equal(first.faultNsSum, 15 * 20_000);

  a.vm.faults = 12; // it went on faulting, then left
  live.delete(a.parts);
  totals.retire(a.parts);
  a.vm.gone = true;
  const second = totals.now(live);
  assert.equal(second.faults, 17, 'the ended VM counts with its last figures');
  assert.equal(second.rxBytes, 200);
  assert.deepEqual(
    second.faultTimes.map((n, i) => (i === bucket ? n : 0)),
    second.faultTimes,
  );
});

test("a snapshot's page source counts once however many clones share it, and once more never", () => {
  const sources = new Map([
    ['aaaaaaaaaaaaaaaa', source(7)],
    ['bbbbbbbbbbbbbbbb', source(3)],
  ]);
  const totals = new HostTotals((id) => sources.get(id) ?? null);
  const x1 = fakeVm(1, 'aaaaaaaaaaaaaaaa');
  const x2 = fakeVm(1, 'aaaaaaaaaaaaaaaa');
  const y = fakeVm(1, 'bbbbbbbbbbbbbbbb');
  const live = new Set([x1.parts, x2.parts, y.parts]);
  assert.equal(totals.now(live).mirrorHits, 10);

  live.delete(x1.parts);
  totals.retire(x1.parts); // x2 still uses the source: counted once, from either
  assert.equal(totals.now(live).mirrorHits, 10);

  sources.set('aaaaaaaaaaaaaaaa', source(9)); // x2 found more pages in the mirror before it left
  live.delete(x2.parts);
  totals.retire(x2.parts);
  sources.delete('aaaaaaaaaaaaaaaa'); // the source went with its last clone
  assert.equal(totals.now(live).mirrorHits, 12);
  assert.equal(totals.now(live).sourceBytesReceived, 2 * 4096);
});

test("a clone that starts after its snapshot's other clones here ended does not count their page source twice", () => {
  const sources = new Map([['aaaaaaaaaaaaaaaa', source(5)]]);
  const totals = new HostTotals((id) => sources.get(id) ?? null);
  const early = fakeVm(1, 'aaaaaaaaaaaaaaaa');
  const late = fakeVm(1, 'aaaaaaaaaaaaaaaa');
  const live = new Set([early.parts]);
  totals.retire(early.parts); // a short clone ended before its sibling of the same fork was made here
  live.delete(early.parts);
  assert.equal(totals.now(live).mirrorHits, 5);
  live.add(late.parts);
  sources.set('aaaaaaaaaaaaaaaa', source(8)); // the same source, read on by the late clone
  assert.equal(totals.now(live).mirrorHits, 8);
  totals.retire(late.parts);
  live.delete(late.parts);
  sources.delete('aaaaaaaaaaaaaaaa');
  assert.equal(totals.now(live).mirrorHits, 8);
});

test("memservers count while their master runs and after it ends; the running ones' gauges only while they run", () => {
  const served = {
    requests: 4,
    pagesServed: 8,
    bytesSent: 8 * 4096,
    multicastDatagrams: 2,
    unicastDatagrams: 6,
    streamsActive: 1,
  } as MemserverStats;
  const totals = new HostTotals(() => null);
  const master = fakeVm(0);
  const parts: VmParts = { ...master.parts, memservers: [{ stats: () => served }, { stats: () => served }] };
  const running = totals.now([parts]);
  assert.deepEqual([running.memserversRunning, running.streamsActive, running.memserverBytesSent], [2, 2, 2 * 8 * 4096]);
  totals.retire(parts);
  const ended = totals.now([]);
  assert.deepEqual([ended.memserversRunning, ended.streamsActive, ended.memserverBytesSent], [0, 0, 2 * 8 * 4096]);
  assert.equal(ended.memserverUnicastDatagrams, 12);
});

test('a memserver released while its master runs on stops counting as running, and its figures stay', () => {
  const served = { requests: 4, pagesServed: 8, bytesSent: 8 * 4096, unicastDatagrams: 6, streamsActive: 1 } as MemserverStats;
  const totals = new HostTotals(() => null);
  const master = fakeVm(0);
  const first = { stats: () => served };
  const parts: VmParts = { ...master.parts, memservers: [first, { stats: () => served }] };
  // As DomainManager.releaseFork does: out of the master's list, into the ended total.
  (parts.memservers as { stats(): MemserverStats }[]).splice(0, 1);
  totals.retireServer(first);
  const now = totals.now([parts]);
  assert.deepEqual([now.memserversRunning, now.streamsActive, now.memserverBytesSent], [1, 1, 2 * 8 * 4096]);
  assert.equal(now.memserverUnicastDatagrams, 12);
});
