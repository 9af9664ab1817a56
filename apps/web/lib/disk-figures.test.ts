// The Cluster View's disk cell: live batches fold in per cluster, are believed only from the domain's host, and an
// ended domain shows its record's final figures.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DomainFiguresEvent } from './api-types.ts';
import { diskFor, foldDisks, type DiskMap } from './disk-figures.ts';

const disk = (clusterid: number, vmid: number, writtenBytes: number, remoteBlocks = 0) => ({
  clusterid,
  vmid,
  reads: 1,
  writes: 1,
  readBytes: 4096,
  writtenBytes,
  refused: 0,
  overlayBytes: writtenBytes * 2,
  remoteBlocks,
});

test('live disk counters fold by cluster and show only from the domain host; an ended domain shows its record', () => {
  const batch = (sampledAt: number, disks: DomainFiguresEvent['disks']): DomainFiguresEvent => ({
    host: 'kvm1',
    sampledAt,
    domains: [],
    disks,
  });
  let map: DiskMap = {};
  map = foldDisks(map, 1, batch(1000, [disk(1, 0, 10), disk(2, 0, 99), disk(1, 3, 0, 250)]));
  assert.equal(foldDisks(map, 1, batch(1500, undefined)), map, 'a batch without disks changes nothing');
  map = foldDisks(map, 1, batch(2000, [disk(1, 0, 30)]));
  const row = { image: '/srv/images/db.img', figures: { writtenBytes: 5, overlayBytes: 8192, remoteBlocks: 0 }, live: true };
  assert.deepEqual(diskFor(map, { vmid: 0, host: 'kvm1', live: true, disk: row }), {
    image: '/srv/images/db.img',
    name: 'db.img',
    figures: { writtenBytes: 30, overlayBytes: 60, remoteBlocks: 0 },
    live: true,
  });
  assert.equal(diskFor(map, { vmid: 3, host: 'kvm1', live: true, disk: row })?.figures?.remoteBlocks, 250);
  assert.deepEqual(diskFor(map, { vmid: 0, host: 'kvm2', live: true, disk: row })?.figures, row.figures, 'measured elsewhere: the row');
  const final = { ...row, live: false };
  assert.deepEqual(diskFor(map, { vmid: 0, host: 'kvm1', live: false, disk: final }), { ...final, name: 'db.img' }, 'ended: the record');
  assert.equal(diskFor(map, { vmid: 0, host: 'kvm1', live: true, disk: null }), null, 'no disk');
});
