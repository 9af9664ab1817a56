// Tests hostCapabilities() against what Node and the filesystem say about this host.
// Boundary: the probe's answers and its resource hygiene; needs the addon built (npm run build).
import assert from 'node:assert/strict';
import { closeSync, existsSync, openSync, readdirSync } from 'node:fs';
import os from 'node:os';
import { test } from 'node:test';

import { hostCapabilities } from './index.ts';
import { parseHostCapabilities } from './capabilities.ts';

// Opening /dev/kvm ourselves tells us what the probe *should* find, independent of the addon.
function kvmOpenable(): { ok: true } | { ok: false; reason: string } {
  if (!existsSync('/dev/kvm')) return { ok: false, reason: '/dev/kvm does not exist' };
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
    return { ok: true };
  } catch (error) {
    return { ok: false, reason: `/dev/kvm cannot be opened: ${(error as Error).message}` };
  }
}

test('cpus matches the CPU count Node sees', () => {
  const { cpus } = hostCapabilities();
  const expected = new Set([os.availableParallelism(), os.cpus().length]);
  assert.ok(expected.has(cpus), `cpus=${cpus}, Node sees ${[...expected].join(' or ')}`);
});

test('ramBytes is within 1% of os.totalmem()', () => {
  const { ramBytes } = hostCapabilities();
  const total = os.totalmem();
  assert.ok(Math.abs(ramBytes - total) <= total * 0.01, `ramBytes=${ramBytes}, os.totalmem()=${total}`);
});

test('kernelRelease is os.release()', () => {
  assert.equal(hostCapabilities().kernelRelease, os.release());
});

test('kvm is reported available exactly when /dev/kvm can be opened', (t) => {
  const { kvm } = hostCapabilities();
  const probe = kvmOpenable();
  if (probe.ok) {
    assert.equal(kvm.error, null);
    assert.equal(kvm.available, true);
    assert.equal(kvm.apiVersion, 12);
    assert.ok(kvm.nrVcpus >= 1 && kvm.maxVcpus >= kvm.nrVcpus, `nrVcpus=${kvm.nrVcpus} maxVcpus=${kvm.maxVcpus}`);
    assert.ok(kvm.vcpuMmapSize >= 4096, `vcpuMmapSize=${kvm.vcpuMmapSize}`);
    assert.equal(kvm.hasUserMemory, true);
  } else {
    t.diagnostic(`KVM not usable here: ${probe.reason}`);
    assert.equal(kvm.available, false);
    assert.equal(typeof kvm.error, 'string');
    assert.notEqual(kvm.error, '');
  }
});

test('userfaultfd offers MISSING_SHMEM and PAGEFAULT_FLAG_WP', (t) => {
  const { userfaultfd: uffd } = hostCapabilities();
  if (!uffd.available && /EPERM|EACCES/.test(uffd.error ?? '')) {
    t.skip(`userfaultfd not permitted for this process: ${uffd.error}`);
    return;
  }
  assert.equal(uffd.error, null);
  assert.equal(uffd.available, true);
  assert.equal(uffd.api, 0xaa);
  assert.ok(uffd.features.includes('MISSING_SHMEM'), `features: ${uffd.features.join(' ')}`);
  assert.ok(uffd.features.includes('PAGEFAULT_FLAG_WP'), `features: ${uffd.features.join(' ')}`);
  assert.ok(uffd.ioctls.includes('API') && uffd.ioctls.includes('REGISTER'), `ioctls: ${uffd.ioctls.join(' ')}`);
  assert.notEqual(uffd.openedVia, 'none');
  if (!uffd.kernelFaults) t.diagnostic('only user-mode-only userfaultfds are allowed: lazy clone memory under KVM will not work');
});

test('1000 calls leak no file descriptors', () => {
  hostCapabilities(); // first call loads the addon; count only steady-state calls
  const before = readdirSync('/proc/self/fd').length;
  for (let i = 0; i < 1000; i++) hostCapabilities();
  const after = readdirSync('/proc/self/fd').length;
  // A leak per call would be ~1000 fds; the slack is for the test process's own (tsx's compiler pipes, libuv).
  assert.ok(after - before <= 4, `open fds went from ${before} to ${after}`);
});

test('a malformed addon answer is rejected with the path of the bad field', () => {
  const good = hostCapabilities();
  assert.deepEqual(parseHostCapabilities(structuredClone(good)), good);
  const broken = structuredClone(good) as unknown as { kvm: Record<string, unknown> };
  delete broken.kvm.apiVersion;
  assert.throws(() => parseHostCapabilities(broken), { name: 'TypeError', message: /result\.kvm\.apiVersion/ });
  assert.throws(() => parseHostCapabilities(null), TypeError);
});
