import assert from 'node:assert/strict';
import test from 'node:test';
import { bridgeName, parseNetName, routerLegNames, tapName, vniOf, vxlanName } from './names.ts';

test('link names fit 15 bytes for the largest ids and parse back; other names are not ours', () => {
  const c = 2 ** 31 - 1;
  const names = [bridgeName(c), vxlanName(c), tapName(c, 0xffff), routerLegNames(c).port, routerLegNames(c).gateway];
  for (const n of names) assert.ok(n.length <= 15, `${n} is ${n.length} bytes`);
  assert.deepEqual(parseNetName(tapName(c, 0xffff)), { kind: 'tap', clusterid: c, vmid: 0xffff });
  assert.deepEqual(parseNetName(bridgeName(300)), { kind: 'bridge', clusterid: 300 });
  assert.deepEqual(parseNetName('sf12cx'), { kind: 'vxlan', clusterid: 300 });
  assert.deepEqual(parseNetName('sf1g'), { kind: 'router', clusterid: 1 });
  for (const other of ['sfbr0', 'sf-h1', 'sf-out', 'eth0', 'sf1', 'sfxb', 'sf1v12345']) assert.equal(parseNetName(other), null, other);
  assert.throws(() => tapName(1, 0x10000), /too large/);
  assert.equal(vniOf(2 ** 24 + 5), 5);
});
