// VMs with the `disk` option on real files and real KVM: a guest reads a file by name from a tar archive made here
// with `tar`, a master's pre-fork writes are seen by its clones and nothing written after the fork crosses between
// VMs (the disktouch guest checks, the master after joining its clones), overlays are sparse, unnamed and gone
// with their VMs, and hostile disk options are refused naming the file. Skips with the reason without /dev/kvm.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { sweepOverlays } from './disk-options.ts';
import { SfHypercall } from './guest-abi.ts';
import { exitOrJoinReply, type GuestCall, type GuestReply } from './guest-call.ts';
import { skipUnlessKvm } from './kvm-test-skip.ts';
import { VirtualMachine } from './vm.ts';

const DISKTOUCH = fileURLToPath(new URL('../guest/build/bin/disktouch.elf', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'sf-disk-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

/** FNV-1a 32 over the bytes, as disktouch prints it. */
function fnv1a(bytes: Buffer): string {
  let h = 0x811c9dc5;
  for (const b of bytes) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  return `0x${h.toString(16).padStart(8, '0')}`;
}

/** This process's open fds on files in `dir` (an unnamed overlay shows as "dir/#inode (deleted)"). */
function fdsIn(dir: string): number {
  let n = 0;
  for (const fd of readdirSync('/proc/self/fd')) {
    try {
      if (readlinkSync(`/proc/self/fd/${fd}`).startsWith(`${dir}/`)) n++;
    } catch {
      // closed while we looked
    }
  }
  return n;
}

function overlayDir(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  return dir;
}

async function run(vm: VirtualMachine): Promise<{ code: number; out: string }> {
  const chunks: Buffer[] = [];
  vm.on('console', (c) => chunks.push(c));
  await vm.boot();
  const end = await vm.waitForExit(30_000);
  return { code: end.exitCode, out: Buffer.concat(chunks).toString() };
}

test('a guest reads files by name from a tar archive made with tar (nested, long-named, empty)', async (t) => {
  if (skipUnlessKvm(t, { images: [DISKTOUCH] })) return;
  const src = join(work, 'tree');
  const long = `${'d'.repeat(60)}/${'f'.repeat(80)}.txt`; // over 100 bytes: ustar's prefix field holds the directory
  mkdirSync(join(src, 'db', 'sub'), { recursive: true });
  mkdirSync(join(src, 'd'.repeat(60)), { recursive: true });
  const files: Record<string, Buffer> = {
    'db/queries.fa': Buffer.from(Array.from({ length: 70_001 }, (_, i) => (i * 31 + (i >> 8)) & 0xff)),
    'db/sub/small.txt': Buffer.from('hello from the disk\n'),
    'db/empty': Buffer.alloc(0),
    [long]: Buffer.from('a long name\n'),
  };
  for (const [name, bytes] of Object.entries(files)) writeFileSync(join(src, name), bytes);
  const image = join(work, 'files.tar');
  execFileSync('tar', ['--format=ustar', '-cf', image, '-C', src, ...Object.keys(files)]);
  const dir = overlayDir('cat');
  for (const [name, bytes] of Object.entries(files)) {
    const vm = await VirtualMachine.create({ memoryMiB: 32, image: DISKTOUCH, cmdline: `cat=${name}`, disk: { image, overlayDir: dir } });
    t.after(() => vm.destroy());
    const { code, out } = await run(vm);
    assert.equal(code, 0, out);
    assert.match(out, new RegExp(`disktouch cat=${name} size=${bytes.length} fnv1a=${fnv1a(bytes)}`), out);
    const stats = vm.diskStats();
    assert.ok(stats && stats.device.reads > 0 && stats.device.writes === 0, JSON.stringify(stats));
    assert.equal(stats.overlay.blocksPresent, 0, 'reads alone never allocate overlay blocks');
  }
  const missing = await VirtualMachine.create({
    memoryMiB: 32,
    image: DISKTOUCH,
    cmdline: 'cat=db/nope',
    disk: { image, overlayDir: dir },
  });
  t.after(() => missing.destroy());
  const { code, out } = await run(missing);
  assert.notEqual(code, 0);
  assert.match(out, /db\/nope is not in the archive/);
});

/** disktouch clones=n on one host: the seed calls answered like sfld + sfmd would, every clone with its own overlay. */
async function forkedDisktouch(n: number, image: string, dir: string, lazy: boolean) {
  const master = await VirtualMachine.create({
    memoryMiB: 64,
    image: DISKTOUCH,
    cmdline: `clones=${n} base=16 sectors=8`,
    disk: { image, overlayDir: dir },
  });
  const vms = new Map<number, VirtualMachine>([[0, master]]);
  const out = new Map<number, string>();
  const exits = new Map<number, number>();
  const ended: Promise<unknown>[] = [];
  let fdsWhileRunning = 0;
  const watch = (vm: VirtualMachine, vmid: number) => vm.on('console', (c) => out.set(vmid, (out.get(vmid) ?? '') + c.toString()));
  const handler =
    (vmid: number) =>
    async (call: GuestCall): Promise<GuestReply> => {
      switch (call.nr) {
        case SfHypercall.TICKET_REQUEST:
          return { status: 0, count: n, ticket: 't' };
        case SfHypercall.CLONE_MASTER: {
          const snapshot = await master.fork();
          for (let id = 1; id <= n; id++) {
            const clone = await VirtualMachine.createClone(snapshot, {
              vmid: id,
              lazy,
              cloneReply: { status: 0, vmid: id, count: n, ticket: 't' },
              disk: { overlayDir: dir },
            });
            clone.onGuestCall = handler(id);
            watch(clone, id);
            vms.set(id, clone);
            ended.push(clone.waitForExit(30_000));
          }
          snapshot.release();
          fdsWhileRunning = fdsIn(dir);
          await Promise.all([...vms.entries()].filter(([id]) => id > 0).map(([, c]) => c.resume()));
          return { status: 0, vmid: 0, count: n, ticket: 't' };
        }
        default:
          return exitOrJoinReply(call, vmid, n, exits, () => Promise.all(ended));
      }
    };
  master.onGuestCall = handler(0);
  watch(master, 0);
  await master.boot();
  const end = await master.waitForExit(30_000);
  await Promise.all(ended);
  return { master, vms, out, end, fdsWhileRunning };
}

for (const lazy of [false, true]) {
  test(`a forked master's ${lazy ? 'lazy' : 'copy-on-write'} clones see its pre-fork writes and no VM sees another's later ones`, async (t) => {
    if (skipUnlessKvm(t, { images: [DISKTOUCH], kernelFaults: lazy })) return;
    const image = join(work, `blank-${lazy}.img`);
    writeFileSync(image, '');
    truncateSync(image, 4 << 20);
    const dir = overlayDir(`fork-${lazy}`);
    const fds = fdsIn(dir);
    const n = 3;
    const r = await forkedDisktouch(n, image, dir, lazy);
    t.after(() => Promise.all([...r.vms.values()].map((vm) => vm.destroy())));
    const all = [...r.out.values()].join('\n');
    assert.equal(r.end.exitCode, 0, all);
    for (let id = 0; id <= n; id++) {
      assert.match(r.out.get(id) ?? '', new RegExp(`disktouch vmid=${id} regions=${n + 1} sectors=8 before=ok own=ok others=ok OK`), all);
    }
    assert.match(r.out.get(0) ?? '', /disktouch result digest=0x[0-9a-f]{8} items=4 verified OK/, all);
    // Master (its pre-fork overlay, frozen, and its new one) and one overlay per clone: all unnamed, in dir.
    assert.equal(r.fdsWhileRunning, n + 2, 'the snapshot layer, the master’s new overlay, one per clone');
    assert.deepEqual(readdirSync(dir), [], 'overlays have no name');
    const stats = r.master.diskStats();
    assert.ok(stats);
    assert.equal(stats.overlay.frozen, false);
    assert.ok(stats.overlay.blocksPresent >= 1 && stats.overlay.allocatedBytes <= 64 * 1024, JSON.stringify(stats.overlay));
    for (const vm of r.vms.values()) {
      const s = vm.diskStats();
      assert.ok(s && s.device.badRequests === 0 && s.device.ioErrors === 0, JSON.stringify(s));
      assert.ok(s.overlay.allocatedBytes < 1 << 20, 'sparse: a 4 MiB disk, a few KiB written');
    }
    await Promise.all([...r.vms.values()].map((vm) => vm.destroy()));
    assert.equal(fdsIn(dir), fds, 'every overlay file is closed (and so freed) when its VMs are gone');
    assert.ok(r.master.diskStats()!.device.writes >= 2, 'the final counters survive destroy()');
  });
}

test('hostile disk options are refused before the VM is made, naming the file', async (t) => {
  if (skipUnlessKvm(t, { images: [DISKTOUCH] })) return;
  const dir = overlayDir('hostile');
  const truncated = join(work, 'truncated.img');
  writeFileSync(truncated, Buffer.alloc(1000));
  const empty = join(work, 'empty.img');
  writeFileSync(empty, '');
  const cases: [unknown, RegExp][] = [
    [{ image: join(work, 'absent.img'), overlayDir: dir }, /absent\.img cannot be used: it does not exist/],
    [{ image: truncated, overlayDir: dir }, /truncated\.img is 1000 bytes, not a multiple of 512/],
    [{ image: empty, overlayDir: dir }, /empty\.img is empty/],
    [{ image: dir, overlayDir: dir }, /is not a regular file/],
    [{ image: truncated, overlayDir: join(work, 'no-such-dir') }, /(not a multiple of 512|no-such-dir)/],
    [{ image: '/dev/null', overlayDir: dir }, /\/dev\/null is not a regular file/],
    [{ image: 42, overlayDir: dir }, /disk\.image must be a path/],
  ];
  for (const [disk, message] of cases) {
    await assert.rejects(
      VirtualMachine.create({ memoryMiB: 16, image: DISKTOUCH, disk: disk as never }),
      (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && message.test(e.message),
      String(message),
    );
  }
  const blank = join(work, 'ok.img');
  writeFileSync(blank, Buffer.alloc(4096));
  await assert.rejects(
    VirtualMachine.create({ memoryMiB: 16, image: DISKTOUCH, disk: { image: blank, overlayDir: join(work, 'no-such-dir') } }),
    /disk\.overlayDir .*no-such-dir cannot be used: it does not exist/,
  );
  assert.equal(sweepOverlays(dir), 0);
  writeFileSync(join(dir, 'sf-overlay-left'), 'x');
  assert.equal(sweepOverlays(dir), 1, 'a crash leftover is removed');
  assert.throws(() => sweepOverlays(join(work, 'no-such-dir')), { code: 'BAD_INPUT' });
});
