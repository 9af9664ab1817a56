import assert from 'node:assert/strict';
import test from 'node:test';
import { clusterSubnet, planProblem, subnetCount, vmIp, vmMac } from './cluster-addresses.ts';
import { SfError } from './errors.ts';

const plan = { block: '10.128.0.0/12', prefix: 24 };

test('a cluster subnet comes from its clusterid; a VM is host number vmid + 1; the router is the last usable host', () => {
  assert.equal(subnetCount(plan), 4096);
  assert.deepEqual(clusterSubnet(plan, 1), { network: '10.128.1.0', prefixLength: 24, gateway: '10.128.1.254', maxVms: 253 });
  assert.equal(clusterSubnet(plan, 300).network, '10.129.44.0');
  assert.equal(clusterSubnet(plan, 4096 + 7).network, clusterSubnet(plan, 7).network, 'ids wrap around the block');
  assert.equal(vmIp(plan, 1, 0), '10.128.1.1');
  assert.equal(vmIp(plan, 1, 41), '10.128.1.42');
  assert.equal(vmIp(plan, 1, 252), '10.128.1.253');
  assert.throws(
    () => vmIp(plan, 1, 253),
    (e: unknown) => e instanceof SfError && e.code === 'NO_RESOURCES' && /vmids 0-252/.test(e.message),
  );
  const wide = { block: '172.16.0.0/12', prefix: 16 };
  assert.equal(vmIp(wide, 2, 255), '172.18.1.0', 'host number 256 crosses an octet');
});

test('MACs are locally administered unicast, unique per (clusterid, vmid)', () => {
  assert.equal(vmMac(1, 0), '02:00:00:01:00:00');
  assert.equal(vmMac(0x123456, 0x789a), '02:12:34:56:78:9a');
  const seen = new Set<string>();
  for (const c of [0, 1, 2, 255, 256, 65535]) for (const v of [0, 1, 255, 256, 65532]) seen.add(vmMac(c, v));
  assert.equal(seen.size, 30);
});

test('plans outside private ranges, unaligned or too small are refused with the key to fix', () => {
  assert.equal(planProblem(plan), null);
  assert.equal(planProblem({ block: '100.64.0.0/10', prefix: 24 })?.key, 'cluster_network');
  assert.equal(planProblem({ block: '192.168.0.0/24', prefix: 20 })?.key, 'cluster_prefix');
  assert.equal(planProblem({ block: '192.168.0.0/16', prefix: 30 })?.key, 'cluster_prefix');
});
