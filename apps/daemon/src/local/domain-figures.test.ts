// The sfld side of data-plane figures: a batch holds the lazy clones' memtap counters under the
// dashboard's names and every NIC's and disk's counters, and leaves out VMs that have none or end while being read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CloneMemtapStats, RemoteSourceStats } from '@snowflock/native';
import { sampleFigures } from './domain-figures.ts';

const stats = (faults: number, remote: Partial<RemoteSourceStats> | null = null): CloneMemtapStats => ({
  faults,
  pagesCopied: faults * 2,
  zeroPages: 3,
  prefetched: 4,
  freshHints: 5,
  alreadyPresent: 6,
  present: 7,
  p50Ns: 800,
  p99Ns: 9000,
  maxNs: 12000,
  faultNsSum: faults * 800,
  faultsWithin10us: faults,
  faultsWithin25us: 0,
  faultsWithin50us: 0,
  faultsWithin100us: 0,
  faultsWithin250us: 0,
  faultsWithin500us: 0,
  faultsWithin1ms: 0,
  faultsWithin2500us: 0,
  faultsWithin10ms: 0,
  faultsWithin100ms: 0,
  faultsOver100ms: 0,
  remote: remote as RemoteSourceStats | null,
});

test('a batch has every lazy clone, named for the dashboard, and skips the rest', () => {
  const batch = sampleFigures(
    {
      addresses: () => [
        { clusterid: 1, vmid: 0 },
        { clusterid: 1, vmid: 1 },
        { clusterid: 1, vmid: 2 },
        { clusterid: 1, vmid: 3 },
      ],
      memtapStats: (a) => {
        if (a.vmid === 0) return null; // the master is no lazy clone
        if (a.vmid === 2) throw new Error('destroyed meanwhile');
        return a.vmid === 3 ? stats(10, { groupBytesReceived: 8192 }) : stats(10); // 3: on another host than its master
      },
    },
    1234,
  );
  assert.deepEqual(batch, {
    sampledAt: 1234,
    domains: [
      {
        clusterid: 1,
        vmid: 1,
        faults: 10,
        pagesFetched: 20,
        zeroPages: 3,
        prefetched: 4,
        freshHints: 5,
        present: 7,
        faultP50Ns: 800,
        faultP99Ns: 9000,
        multicastBytes: null,
      },
      {
        clusterid: 1,
        vmid: 3,
        faults: 10,
        pagesFetched: 20,
        zeroPages: 3,
        prefetched: 4,
        freshHints: 5,
        present: 7,
        faultP50Ns: 800,
        faultP99Ns: 9000,
        multicastBytes: 8192,
      },
    ],
    nics: [],
    disks: [],
  });
});

test("every VM with a NIC has its counters in the batch, masters too; drops add up both ways' losses", () => {
  const net = (n: number) => ({
    rxPackets: n,
    rxBytes: n * 100,
    txPackets: n * 2,
    txBytes: n * 300,
    rxDrops: 1,
    txDrops: 2,
    badChains: 3,
    dhcpAnswers: 1,
    wakeups: 9,
  });
  const batch = sampleFigures(
    {
      addresses: () => [0, 1, 2].map((vmid) => ({ clusterid: 4, vmid })),
      memtapStats: () => null,
      netStats: (a) => {
        if (a.vmid === 2) throw new Error('destroyed meanwhile');
        return net(a.vmid + 1);
      },
    },
    7,
  );
  assert.deepEqual(batch, {
    sampledAt: 7,
    domains: [],
    nics: [
      { clusterid: 4, vmid: 0, rxBytes: 100, txBytes: 300, rxPackets: 1, txPackets: 2, drops: 6 },
      { clusterid: 4, vmid: 1, rxBytes: 200, txBytes: 600, rxPackets: 2, txPackets: 4, drops: 6 },
    ],
    disks: [],
  });
});

test('every VM with a disk has its counters in the batch: refusals of every kind add up, the overlay is its space', () => {
  const device = (n: number) => ({
    reads: n,
    writes: n * 2,
    flushes: 1,
    getIds: 1,
    readBytes: n * 4096,
    writtenBytes: n * 8192,
    badRequests: 1,
    unsupported: 2,
    ioErrors: 3,
    badChains: 4,
    queueErrors: 5,
  });
  const overlay = { copiedUp: 1, lowerReads: 2, lowerReadBytes: 8192, blocksPresent: 3, allocatedBytes: 12288, frozen: false };
  const batch = sampleFigures(
    {
      addresses: () => [0, 1, 2].map((vmid) => ({ clusterid: 4, vmid })),
      diskStats: (a) => (a.vmid === 1 ? null : { device: device(a.vmid + 1), overlay, remote: null }),
    },
    7,
  );
  assert.deepEqual(batch.disks, [
    { clusterid: 4, vmid: 0, reads: 1, writes: 2, readBytes: 4096, writtenBytes: 8192, refused: 15, overlayBytes: 12288, remoteBlocks: 0 },
    {
      clusterid: 4,
      vmid: 2,
      reads: 3,
      writes: 6,
      readBytes: 12288,
      writtenBytes: 24576,
      refused: 15,
      overlayBytes: 12288,
      remoteBlocks: 0,
    },
  ]);
});

test('without a way to read counters the batch is empty', () => {
  assert.deepEqual(sampleFigures({ addresses: () => [{ clusterid: 1, vmid: 1 }] }, 5).domains, []);
});
