// The seed form's logic: text fields to the API's config, limits from online hosts only, and the
// issues only the form can know (nothing to boot, more than any host has, no single host fits).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { byField, formIssues, type HostCapacity, seedLimits, toSeedConfig } from './seed-form.ts';

const MiB = 1024 * 1024;
const hosts: HostCapacity[] = [
  { name: 'a', state: 'online', cpus: 4, cpusUsed: 1, ram: 1024 * MiB, ramUsed: 0 },
  { name: 'b', state: 'online', cpus: 2, cpusUsed: 0, ram: 4096 * MiB, ramUsed: 1024 * MiB },
  { name: 'c', state: 'offline', cpus: 64, cpusUsed: 0, ram: 65536 * MiB, ramUsed: 0 },
];

test('fields become the config cluster.seed takes; text that is not a number stays text for the schema', () => {
  assert.deepEqual(toSeedConfig({ kernel: ' /g/hello.elf ', name: '', vcpus: '2', memoryMiB: '64', args: ' a=1 ' }), {
    name: null,
    diskImage: null,
    kernel: '/g/hello.elf',
    args: 'a=1',
    vcpus: 2,
    memoryMiB: 64,
  });
  assert.equal(toSeedConfig({ kernel: '', name: 'x', vcpus: 'two', memoryMiB: '1.5', args: '' }).vcpus, 'two');
  assert.equal(toSeedConfig({ kernel: '', name: 'x', vcpus: '1', memoryMiB: '1.5', args: '' }).memoryMiB, 1.5);
});

test('limits are what one online host can give', () => {
  assert.deepEqual(seedLimits(hosts), { onlineHosts: 2, maxVcpus: 3, maxMemoryMiB: 3072 });
  assert.deepEqual(seedLimits([hosts[2]!]), { onlineHosts: 0, maxVcpus: 0, maxMemoryMiB: 0 });
});

test('the form says what does not fit, and when no single host fits both', () => {
  const limits = seedLimits(hosts);
  const cfg = (vcpus: number, memoryMiB: number) =>
    toSeedConfig({ kernel: '/g.elf', name: '', vcpus: String(vcpus), memoryMiB: String(memoryMiB), args: '' });
  assert.deepEqual(formIssues(cfg(1, 64), limits, hosts), []);
  assert.deepEqual(byField(formIssues(cfg(9, 64), limits, hosts)), { vcpus: ['at most 3 vCPU(s) are free on any online host now'] });
  assert.match(byField(formIssues(cfg(3, 2048), limits, hosts)).form![0]!, /no single online host has 3 vCPU\(s\) and 2048 MiB/);
  const none = formIssues(toSeedConfig({ kernel: '', name: '', vcpus: '1', memoryMiB: '64', args: '' }), seedLimits([]), []);
  assert.deepEqual(
    none.map((i) => i.field),
    ['kernel', 'form'],
  );
});
