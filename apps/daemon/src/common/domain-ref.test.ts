// Domain names from hostile command lines, URLs and headers: one parser, one set of limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatDomainRef, MAX_CLUSTERID, MAX_VMID, parseDomainRef, tryParseDomainRef } from './domain-ref.ts';

const BAD = [
  '',
  '1',
  '1:',
  ':0',
  '1:0:0',
  'a:b',
  '-1:0',
  '1:-1',
  '1.5:0',
  '0x1:0',
  '1 :0',
  '１:0',
  '\ud800:0',
  `${MAX_CLUSTERID + 1}:0`,
  `1:${MAX_VMID + 1}`,
  '99999999999:0',
  '1:00000000001',
];

test("CLUSTER:VMID names a domain, surrounding blanks ignored, up to the stored ids' limits", () => {
  assert.deepEqual(parseDomainRef('1:0'), { clusterid: 1, vmid: 0 });
  assert.deepEqual(parseDomainRef(' 12:345 '), { clusterid: 12, vmid: 345 });
  assert.deepEqual(tryParseDomainRef(`${MAX_CLUSTERID}:${MAX_VMID}`), { clusterid: MAX_CLUSTERID, vmid: MAX_VMID });
  assert.equal(formatDomainRef({ clusterid: 3, vmid: 7 }), '3:7');
  assert.deepEqual(parseDomainRef(formatDomainRef({ clusterid: 9, vmid: 2 })), { clusterid: 9, vmid: 2 });
});

test('anything else names nothing: null from tryParseDomainRef, BAD_INPUT with the expected form from parseDomainRef', () => {
  for (const bad of BAD) {
    assert.equal(tryParseDomainRef(bad), null, bad);
    assert.throws(() => parseDomainRef(bad), { code: 'BAD_INPUT', message: /expected CLUSTER:VMID/ }, bad);
  }
});
