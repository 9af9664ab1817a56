// A disk VM's clones on "another host" (real KVM, UDP on loopback): the master's side serves its fork — memory and
// disk snapshot — with startMemserver, the clones are made from the descriptor alone with createRemoteClone and read
// the disk's blocks lazily through it, under 5 % injected loss. The disktouch guest checks the bytes (the master's
// pre-fork pattern in every region, its own writes private); the clones' overlays vanish with them; with the
// memserver gone a disk read fails with an I/O error the guest sees, and the VM goes on.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { inspectDescriptor } from './fork.ts';
import { SfHypercall, SfStatus } from './guest-abi.ts';
import { exitOrJoinReply, joinReply, type GuestCall, type GuestReply } from './guest-call.ts';
import { skipUnlessKvm } from './kvm-test-skip.ts';
import { remoteSourceStats, startMemserver, type Memserver, type MemserverOptions } from './memserver.ts';
import { VirtualMachine } from './vm.ts';
import type { DiskStats } from './disk-options.ts';

const DISKTOUCH = fileURLToPath(new URL('../guest/build/bin/disktouch.elf', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'sf-disk-remote-test-'));
after(() => rmSync(work, { recursive: true, force: true }));

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

function blankImage(name: string, bytes: number): string {
  const image = join(work, name);
  writeFileSync(image, '');
  truncateSync(image, bytes);
  return image;
}

function overlayDir(name: string): string {
  const dir = join(work, name);
  mkdirSync(dir);
  return dir;
}

interface RemoteDiskRun {
  master: VirtualMachine;
  clones: VirtualMachine[];
  server: Memserver;
  out: Map<number, string>;
  exitCode: number;
  /** Each clone's diskStats() at its CLONE_EXIT, and this host's source figures then. */
  disk: Map<number, DiskStats | null>;
  snapshotId: string;
  overlayFds: number;
}

/**
 * disktouch clones=n with every clone made from the descriptor (as on another host): pages and disk blocks through a
 * memserver with `serverOptions`, each clone's overlay in `cloneDir`.
 */
async function remoteDisktouch(
  n: number,
  args: string,
  image: string,
  masterDir: string,
  cloneDir: string,
  serverOptions: Omit<MemserverOptions, 'bind'>,
  dropForTest: number,
): Promise<RemoteDiskRun> {
  const master = await VirtualMachine.create({
    memoryMiB: 64,
    image: DISKTOUCH,
    cmdline: `clones=${n} ${args}`,
    disk: { image, overlayDir: masterDir },
  });
  const clones: VirtualMachine[] = [];
  const out = new Map<number, string>([[0, '']]);
  const exits = new Map<number, number>();
  const disk = new Map<number, DiskStats | null>();
  const ended: Promise<unknown>[] = [];
  let server: Memserver | undefined;
  let snapshotId = '';
  let overlayFds = 0;
  const handler =
    (vmid: number) =>
    async (call: GuestCall): Promise<GuestReply> => {
      switch (call.nr) {
        case SfHypercall.TICKET_REQUEST:
          return { status: 0, count: n, ticket: 'disk' };
        case SfHypercall.CLONE_MASTER: {
          const snapshot = await master.fork();
          server = startMemserver(snapshot, { bind: '127.0.0.1:0', ...serverOptions });
          const descriptor = snapshot.descriptor();
          snapshotId = snapshot.id;
          for (let id = 1; id <= n; id++) {
            const clone = await VirtualMachine.createRemoteClone(descriptor, {
              vmid: id,
              server: server.endpoint,
              group: server.group,
              cloneReply: { status: 0, vmid: id, count: n, ticket: 'disk' },
              disk: { overlayDir: cloneDir },
              dropForTest,
            });
            clones.push(clone);
            out.set(id, '');
            clone.on('console', (c) => out.set(id, out.get(id)! + c.toString()));
            clone.onGuestCall = async (c) => {
              if (c.nr === SfHypercall.CLONE_EXIT) disk.set(id, clone.diskStats());
              return handler(id)(c);
            };
            ended.push(clone.waitForExit(60_000));
          }
          // The snapshot's hold goes: the memserver alone keeps the disk snapshot open now.
          snapshot.release();
          overlayFds = fdsIn(cloneDir);
          await Promise.all(clones.map((c) => c.resume()));
          return { status: 0, vmid: 0, count: n, ticket: 'disk' };
        }
        default:
          return exitOrJoinReply(call, vmid, n, exits, () => Promise.all(ended));
      }
    };
  master.onGuestCall = handler(0);
  master.on('console', (c) => out.set(0, out.get(0)! + c.toString()));
  await master.boot();
  const end = await master.waitForExit(90_000);
  await Promise.all(ended);
  return { master, clones, server: server!, out, exitCode: end.exitCode, disk, snapshotId, overlayFds };
}

for (const mode of ['multicast', 'unicast'] as const) {
  test(`remote clones read the master's pre-fork disk bytes through a ${mode} memserver under 5 % loss; their writes stay private`, {
    timeout: 120_000,
  }, async (t) => {
    if (skipUnlessKvm(t, { images: [DISKTOUCH], kernelFaults: true })) return;
    const image = blankImage(`remote-${mode}.img`, 8 << 20);
    const masterDir = overlayDir(`master-${mode}`);
    const cloneDir = overlayDir(`clones-${mode}`);
    const n = 3;
    const sectors = 1024; // 512 KiB per region: each clone reads every region, 2 MiB, before and after writing its own
    const r = await remoteDisktouch(n, `base=16 sectors=${sectors}`, image, masterDir, cloneDir, { mode, lossForTest: 0.05 }, 0.05);
    t.after(async () => {
      r.server.stop();
      await Promise.all([r.master, ...r.clones].map((vm) => vm.destroy()));
    });
    const all = [...r.out.values()].join('\n');
    assert.equal(r.exitCode, 0, all);
    for (let id = 0; id <= n; id++) {
      assert.match(
        r.out.get(id) ?? '',
        new RegExp(`disktouch vmid=${id} regions=${n + 1} sectors=${sectors} before=ok own=ok others=ok OK`),
        all,
      );
    }
    assert.match(r.out.get(0) ?? '', /disktouch result digest=0x[0-9a-f]{8} items=4 verified OK/, all);
    assert.equal(r.overlayFds, n, 'one unnamed overlay per remote clone');
    assert.deepEqual(readdirSync(cloneDir), [], 'overlays have no name');

    const served = r.server.stats();
    const regionBlocks = (sectors * 512) / 4096;
    // Every region was read by some clone: the disk snapshot's blocks there crossed the wire at least once.
    assert.ok(served.diskBlocks === (8 << 20) / 4096, JSON.stringify(served));
    assert.ok(served.diskBlocksServed >= (n + 1) * regionBlocks, `served ${served.diskBlocksServed} disk blocks`);
    assert.ok(served.diskBytesSent > 0 && served.diskRequests > 0, JSON.stringify(served));
    assert.ok(served.testSendDrops > 0, 'the server lost datagrams on purpose');
    if (mode === 'multicast') assert.ok(served.diskBlocksMulticast > 0, JSON.stringify(served));
    // N clones on one host reading a block cost about one fetch: the host mirror serves the rest (and loss costs
    // retransmissions: about a quarter of the blocks at 5 % each way, a block being three datagrams).
    const copies = served.diskBlocksServed / ((n + 1) * regionBlocks);
    assert.ok(copies < 2, `served ${copies.toFixed(2)} copies of what ${n} clones read`);
    let fetched = 0;
    for (let id = 1; id <= n; id++) {
      const s = r.disk.get(id);
      assert.ok(s?.remote, `clone ${id} reports its remote disk`);
      assert.equal(s.device.ioErrors, 0, JSON.stringify(s));
      assert.equal(s.remote.fetchErrors, 0);
      assert.equal(s.remote.bytesFetched, s.remote.blocksFetched * 4096);
      assert.ok(s.overlay.blocksPresent >= regionBlocks && s.overlay.blocksPresent <= regionBlocks + 1, JSON.stringify(s.overlay));
      fetched += s.remote.blocksFetched;
    }
    assert.ok(fetched > 0, 'some clone fetched blocks remotely');
    assert.equal(r.master.diskStats()?.remote, null, 'the master reads its own disk');
    const host = remoteSourceStats(r.snapshotId);
    assert.ok(host && host.diskBlocksInstalled >= (n + 1) * regionBlocks && host.testDrops > 0, JSON.stringify(host));
    console.log(
      `disk over ${mode}, 5 % loss each way: ${n} clones read ${(n + 1) * regionBlocks} blocks each; server sent ${served.diskBlocksServed} ` +
        `blocks (${(served.diskBytesSent / 1048576).toFixed(2)} MiB), clones waited for ${fetched}, host mirror holds ${host.diskBlocksInstalled}`,
    );
    await Promise.all(r.clones.map((vm) => vm.destroy()));
    assert.equal(fdsIn(cloneDir), 0, 'every clone overlay is closed (and so freed) when its clone is gone');
    assert.ok(
      r.clones.every((c) => c.diskStats()?.remote),
      'the final figures survive destroy()',
    );
  });
}

test('with the memserver gone a remote clone’s disk read fails with an I/O error and the clone goes on', { timeout: 60_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [DISKTOUCH], kernelFaults: true })) return;
  const image = blankImage('gone.img', 1 << 20);
  const masterDir = overlayDir('master-gone');
  const cloneDir = overlayDir('clone-gone');
  const master = await VirtualMachine.create({
    memoryMiB: 32,
    image: DISKTOUCH,
    cmdline: 'clones=1 base=16 sectors=8',
    disk: { image, overlayDir: masterDir, id: 'sf-remote-disk' },
  });
  const vms: VirtualMachine[] = [master];
  let server: Memserver | undefined;
  t.after(async () => {
    server?.stop();
    await Promise.all(vms.map((vm) => vm.destroy()));
  });
  let cloneOut = '';
  let descriptor: Buffer = Buffer.alloc(0);
  let clone: VirtualMachine | undefined;
  let cloneRun: Promise<{ state: string; exitCode: number; reason: string }> | undefined;
  master.onGuestCall = async (call: GuestCall): Promise<GuestReply> => {
    switch (call.nr) {
      case SfHypercall.TICKET_REQUEST:
        return { status: 0, count: 1, ticket: 'gone' };
      case SfHypercall.CLONE_MASTER: {
        const snapshot = await master.fork();
        descriptor = snapshot.descriptor();
        server = startMemserver(snapshot, { bind: '127.0.0.1:0' });
        snapshot.release();
        // A clone of a disk VM needs an overlay directory of its own, remote or not.
        await assert.rejects(
          VirtualMachine.createRemoteClone(descriptor, { vmid: 2, server: server.endpoint }),
          (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && /needs its own disk\.overlayDir/.test(e.message),
        );
        const c = await VirtualMachine.createRemoteClone(descriptor, {
          vmid: 1,
          server: server.endpoint,
          cloneReply: { status: 0, vmid: 1, count: 1, ticket: 'gone' },
          disk: { overlayDir: cloneDir },
          // Each failed read waits out the silence: 1 s, not the default 10 s.
          pageLivenessMs: 1000,
        });
        clone = c;
        vms.push(c);
        c.on('console', (chunk) => {
          cloneOut += chunk.toString();
        });
        c.onGuestCall = async (g) => (g.nr === SfHypercall.CLONE_EXIT ? { status: 0 } : { status: -SfStatus.ENOSYS });
        // All of its memory is on this host first, so only its disk still needs the server: then the server goes.
        c.prefetch(0, (32 << 20) / 4096);
        server.stop();
        cloneRun = c.resume().then(() => c.waitForExit(30_000));
        return { status: 0, vmid: 0, count: 1, ticket: 'gone' };
      }
      case SfHypercall.CLONE_EXIT:
        return { status: 0 };
      case SfHypercall.CLONE_JOIN:
        return joinReply(1, new Map([[1, 0]]));
      default:
        return { status: -SfStatus.ENOSYS };
    }
  };
  await master.boot();
  await master.waitForExit(60_000);
  assert.ok(clone && cloneRun, 'the master forked');
  const end = await cloneRun;
  assert.equal(end.state, 'exited', `${end.state}: ${end.reason}\n${cloneOut}`);
  assert.notEqual(end.exitCode, 0, cloneOut);
  assert.match(cloneOut, /disktouch vmid=1 regions=2 sectors=8 before=BAD own=ok others=BAD MISMATCH/, cloneOut);
  const s = clone.diskStats();
  assert.ok(s?.remote, 'a remote clone reports its remote disk');
  assert.ok(s.device.ioErrors >= 2 && s.remote.fetchErrors >= 2, JSON.stringify(s));
  assert.equal(s.device.badRequests, 0);
  const info = inspectDescriptor(descriptor);
  assert.deepEqual([info.diskBytes, info.diskId], [1 << 20, 'sf-remote-disk'], 'the descriptor carries the disk snapshot’s size and id');
});
