// Tests the checks VirtualMachine's create and clone options go through before any native code runs.
// Boundary: vm-options.ts only; no addon, no KVM (vm.test.ts drives real VMs).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';

import { rejectsWith } from './vm-error-assert.ts';
import { checkCloneShape, checkCreateOptions } from './vm-options.ts';

describe('checkCreateOptions', () => {
  test('invalid arguments are rejected with VmError BAD_INPUT', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sf-vm-args-'));
    const file = join(dir, 'image.elf');
    writeFileSync(file, 'not an elf');
    try {
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ memoryMiB: 16, image: file, vcpus: 0 }, /vcpus/],
        [{ memoryMiB: 16, image: file, vcpus: 33 }, /vcpus/],
        [{ memoryMiB: 16, image: file, vcpus: 1.5 }, /vcpus/],
        [{ memoryMiB: 15, image: file }, /memoryMiB/],
        [{ memoryMiB: 64 * 1024 + 1, image: file }, /memoryMiB/],
        [{ memoryMiB: '64', image: file }, /memoryMiB/],
        [{ memoryMiB: 16, image: file, cmdline: 'x'.repeat(4096) }, /cmdline is 4096 bytes .* limit is 4095/],
        [{ memoryMiB: 16, image: file, cmdline: 'é'.repeat(2048) }, /cmdline is 4096 bytes/],
        [{ memoryMiB: 16, image: file, cmdline: 'a\0b' }, /NUL/],
        [{ memoryMiB: 16, image: file, clusterid: -1 }, /clusterid/],
        [{ memoryMiB: 16, image: file, vmid: 2 ** 32 }, /vmid/],
        [{ memoryMiB: 16, image: join(dir, 'missing.elf') }, /does not exist/],
        [{ memoryMiB: 16, image: dir }, /not a regular file/],
        [{ memoryMiB: 16, image: '' }, /image/],
        [{ memoryMiB: 16 }, /image/],
        [
          { memoryMiB: 16, image: file, net: { tap: 'sft1', mac: 'nope', ip: '10.0.0.2', prefixLength: 24, gateway: null, dns: [] } },
          /net\.mac/,
        ],
      ];
      for (const [options, pattern] of cases) {
        await rejectsWith(checkCreateOptions(options as never), 'BAD_INPUT', pattern);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('checkCloneShape', () => {
  test('defaults and limits match create()', () => {
    assert.deepEqual(checkCloneShape({ memoryMiB: 16 }), { ramBytes: 16 << 20, vcpus: 1, privilege: 'user' });
    assert.throws(() => checkCloneShape({ memoryMiB: 8 }), { code: 'BAD_INPUT', message: /memoryMiB/ });
    assert.throws(() => checkCloneShape({ memoryMiB: 16, vcpus: 33 }), { code: 'BAD_INPUT', message: /vcpus/ });
    assert.throws(() => checkCloneShape({ memoryMiB: 16, privilege: 'root' as never }), { code: 'BAD_INPUT', message: /privilege/ });
  });
});
