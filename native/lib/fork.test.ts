// VM fork through the binding on real KVM: a guest that calls sf_clone is forked inside the call, each clone
// returns from it with its own vmid and finishes its share of the work from lazily fetched memory; snapshot
// handles and clone options are checked. The seed calls are answered here by a tiny in-test orchestrator (the
// daemons' job, tested end to end in apps/daemon/test); the VMs, fork and memtap are real.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { inspectDescriptor, type VmSnapshot } from './fork.ts';
import { SfHypercall } from './guest-abi.ts';
import { exitOrJoinReply, type GuestCall, type GuestReply } from './guest-call.ts';
import { skipUnlessKvm } from './kvm-test-skip.ts';
import { VirtualMachine } from './vm.ts';

const memtouch = fileURLToPath(new URL('../guest/build/bin/memtouch.elf', import.meta.url));
const hello = fileURLToPath(new URL('../guest/build/bin/hello.elf', import.meta.url));
const forkbench = fileURLToPath(new URL('../guest/build/bin/forkbench.elf', import.meta.url));

interface Cluster {
  master: VirtualMachine;
  clones: VirtualMachine[];
  consoles: Map<number, string>;
  snapshot?: VmSnapshot;
}

/**
 * Boots a guest with clones=n and answers its seed calls the way sfld + sfmd would on one host. oneCall: shells
 * are prepared when the ticket is granted and the fork makes them clones with forkInto (sfld's fast path).
 */
async function runForked(n: number, lazy: boolean, args = '', image = memtouch, memoryMiB = 64, oneCall = false): Promise<Cluster> {
  const master = await VirtualMachine.create({ memoryMiB, image, cmdline: `clones=${n} ${args}`, clusterid: 5 });
  const cluster: Cluster = { master, clones: [], consoles: new Map([[0, '']]) };
  const exits = new Map<number, number>();
  const ended = new Map<number, Promise<void>>();
  let shells: Promise<VirtualMachine[]> = Promise.resolve([]);
  const watch = (vm: VirtualMachine, vmid: number) => {
    vm.on('console', (c) => cluster.consoles.set(vmid, (cluster.consoles.get(vmid) ?? '') + c.toString()));
    ended.set(
      vmid,
      vm.waitForExit().then(() => undefined),
    );
  };
  const handler =
    (vmid: number) =>
    async (call: GuestCall): Promise<GuestReply> => {
      switch (call.nr) {
        case SfHypercall.TICKET_REQUEST:
          if (oneCall) shells = Promise.all([...Array(n).keys()].map(() => VirtualMachine.prepareClone({ memoryMiB })));
          return { status: 0, count: n, ticket: 'ticket-1' };
        case SfHypercall.CLONE_MASTER: {
          if (oneCall) {
            const made = await shells;
            // The clones run before forkInto returns: their handlers and listeners come first.
            made.forEach((clone, i) => {
              clone.onGuestCall = handler(i + 1);
              watch(clone, i + 1);
              cluster.clones.push(clone);
            });
            const reply = (vmid: number) => ({ status: 0, vmid, count: n, ticket: 'ticket-1' });
            const { snapshot, errors } = await master.forkInto(made.map((shell, i) => ({ shell, vmid: i + 1, cloneReply: reply(i + 1) })));
            cluster.snapshot = snapshot;
            assert.deepEqual(
              errors,
              made.map(() => null),
            );
            return reply(0);
          }
          const snapshot = await master.fork();
          cluster.snapshot = snapshot;
          for (let id = 1; id <= n; id++) {
            const clone = await VirtualMachine.createClone(snapshot, {
              vmid: id,
              lazy,
              cloneReply: { status: 0, vmid: id, count: n, ticket: 'ticket-1' },
            });
            clone.onGuestCall = handler(id);
            watch(clone, id);
            cluster.clones.push(clone);
          }
          await Promise.all(cluster.clones.map((c) => c.resume()));
          return { status: 0, vmid: 0, count: n, ticket: 'ticket-1' };
        }
        default:
          return exitOrJoinReply(call, vmid, n, exits, () => Promise.all([...ended.entries()].filter(([id]) => id > 0).map(([, p]) => p)));
      }
    };
  master.onGuestCall = handler(0);
  watch(master, 0);
  await master.boot();
  return cluster;
}

async function destroyAll(c: Cluster) {
  await Promise.all([c.master, ...c.clones].map((vm) => vm.destroy()));
}

for (const lazy of [true, false]) {
  test(`a master that calls sf_clone gets 3 ${lazy ? 'lazy' : 'copy-on-write'} clones, each with its own vmid and the master's memory`, async (t) => {
    if (skipUnlessKvm(t, { images: [memtouch] })) return;
    const c = await runForked(3, lazy, 'pages=2048');
    t.after(() => destroyAll(c));
    const final = await c.master.waitForExit(30_000);
    assert.equal(final.state, 'exited', c.consoles.get(0));
    assert.equal(final.exitCode, 0, c.consoles.get(0));
    assert.equal(c.clones.length, 3);
    for (const [i, clone] of c.clones.entries()) {
      const e = await clone.waitForExit(30_000);
      assert.equal(e.state, 'exited', c.consoles.get(i + 1));
      const out = c.consoles.get(i + 1) ?? '';
      assert.match(out, new RegExp(`memtouch vmid=${i + 1} `), out);
      assert.doesNotMatch(out, /WRONG|FAILED|mismatch/i, out);
    }
    assert.ok(c.snapshot!.timing.pauseNs > 0);
    assert.ok(c.snapshot!.descriptor().length < 64 * 1024);
  });
}

test('32 lazy clones of a 1 GiB master run at once on this host, each verifying the pages it reads', { timeout: 120_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [memtouch] })) return;
  const c = await runForked(32, true, 'pages=8192 touch=512', forkbench, 1024);
  t.after(() => destroyAll(c));
  const final = await c.master.waitForExit(90_000);
  const out = c.consoles.get(0) ?? '';
  assert.deepEqual([final.state, final.exitCode], ['exited', 0], out);
  assert.match(out, /forkbench result digest=0x[0-9a-f]+ items=\d+ verified OK/, out);
  assert.equal(c.clones.length, 32);
  for (let vmid = 1; vmid <= 32; vmid++) {
    assert.match(c.consoles.get(vmid) ?? '', new RegExp(`forkbench vmid=${vmid} touched=512 verified OK`), c.consoles.get(vmid));
  }
});

test('forkInto: clones made from shells in the fork call itself run at once, each verifying the pages it reads', {
  timeout: 60_000,
}, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench] })) return;
  const c = await runForked(4, true, 'pages=8192 touch=512', forkbench, 256, true);
  t.after(() => destroyAll(c));
  const final = await c.master.waitForExit(45_000);
  const out = c.consoles.get(0) ?? '';
  assert.deepEqual([final.state, final.exitCode], ['exited', 0], out);
  assert.match(out, /forkbench result digest=0x[0-9a-f]+ items=\d+ verified OK/, out);
  for (let vmid = 1; vmid <= 4; vmid++) {
    assert.match(c.consoles.get(vmid) ?? '', new RegExp(`forkbench vmid=${vmid} touched=512 verified OK`), c.consoles.get(vmid));
  }
});

test('forkInto reports each shell that cannot become a clone, runs the others, and refuses what is not a shell', async (t) => {
  if (skipUnlessKvm(t, { images: [hello] })) return;
  const good = await VirtualMachine.prepareClone({ memoryMiB: 64 });
  const wrongShape = await VirtualMachine.prepareClone({ memoryMiB: 128 });
  const live = await VirtualMachine.create({ memoryMiB: 64, image: hello, cmdline: 'interactive=1' });
  t.after(() => Promise.all([good.destroy(), wrongShape.destroy(), live.destroy()]));
  await live.boot();
  // Nothing that is not another VM's unused shell is accepted, and nothing is forked then.
  await assert.rejects(live.forkInto([{ shell: live, vmid: 1 }]), { code: 'BAD_INPUT' });
  await assert.rejects(live.forkInto([{ shell: good, vmid: -1 }]), { code: 'BAD_INPUT' });
  let out = '';
  good.on('console', (c) => (out += c.toString()));
  const { snapshot, errors } = await live.forkInto([
    { shell: good, vmid: 1 },
    { shell: wrongShape, vmid: 2 },
  ]);
  t.after(() => snapshot.release());
  assert.equal(errors[0], null);
  assert.match(String(errors[1]), /shape/);
  assert.equal(wrongShape.state, 'destroyed');
  assert.equal(good.state, 'running', 'a clone from forkInto runs without resume()');
  good.consoleInput('pong\r');
  for (let i = 0; i < 200 && !out.includes('pong'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(out, /pong/);
  assert.ok(good.memtapStats(), 'its memory comes lazily from the snapshot');
  // A shell used once is a shell no more.
  await assert.rejects(live.forkInto([{ shell: good, vmid: 3 }]), /already|shell/);
  assert.equal(live.state, 'running', 'the master runs on');
});

test('a lazy clone fetches only what it touches, and reports it', async (t) => {
  if (skipUnlessKvm(t, { images: [memtouch] })) return;
  const c = await runForked(1, true, 'pages=2048 stride=16');
  t.after(() => destroyAll(c));
  // Stats are read while the clone is alive: wait for its output, then look before it is destroyed.
  const clone = await new Promise<VirtualMachine>((resolve) => {
    const poll = setInterval(() => {
      if (c.clones[0]) {
        clearInterval(poll);
        resolve(c.clones[0]);
      }
    }, 1);
  });
  const stats = clone.memtapStats();
  assert.ok(stats, 'a lazy clone has memtap stats');
  await c.master.waitForExit(30_000);
  assert.equal(c.master.memtapStats(), null, 'the master is not a lazy clone');
  const ramPages = 64 * 256;
  assert.ok(stats.present < ramPages / 2, `present ${stats.present} of ${ramPages}`);
});

test('a clone shell prepared before the fork becomes a clone that runs like one made at the fork', async (t) => {
  if (skipUnlessKvm(t, { images: [memtouch] })) return;
  const shell = await VirtualMachine.prepareClone({ memoryMiB: 64 });
  const wrongShape = await VirtualMachine.prepareClone({ memoryMiB: 128 });
  t.after(() => Promise.all([shell.destroy(), wrongShape.destroy()]));
  assert.equal(shell.state, 'created');
  await assert.rejects(VirtualMachine.prepareClone({ memoryMiB: 8 }), { code: 'BAD_INPUT' });

  const live = await VirtualMachine.create({ memoryMiB: 64, image: hello, cmdline: 'interactive=1' });
  t.after(() => live.destroy());
  await live.boot();
  const snap = await live.fork();
  await shell.becomeClone(snap, { vmid: 3 });
  assert.equal(shell.state, 'paused');
  await assert.rejects(wrongShape.becomeClone(snap, { vmid: 4 }), /shape/);
  assert.equal(wrongShape.state, 'destroyed');
  let out = '';
  shell.on('console', (c) => (out += c.toString()));
  await shell.resume();
  shell.consoleInput('pong\r');
  for (let i = 0; i < 200 && !out.includes('pong'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(out, /pong/);
  assert.ok(shell.memtapStats(), 'a shell becomes a lazy clone');
  snap.release();
});

test('clone options and snapshot handles are checked', async (t) => {
  if (skipUnlessKvm(t, { images: [memtouch] })) return;
  const master = await VirtualMachine.create({ memoryMiB: 16, image: memtouch, cmdline: 'pages=16' });
  t.after(() => master.destroy());
  await master.boot();
  await master.waitForExit(10_000);
  await assert.rejects(master.fork(), /fork/i, 'an exited VM cannot be forked');
  await assert.rejects(VirtualMachine.createClone({} as VmSnapshot, { vmid: 1 }), { code: 'BAD_INPUT' });

  // hello interactive=1 waits for console input: it is running when forked.
  const live = await VirtualMachine.create({ memoryMiB: 16, image: hello, cmdline: 'interactive=1' });
  t.after(() => live.destroy());
  await live.boot();
  const snap = await live.fork();
  assert.equal(live.state, 'running', 'a running VM comes back running');
  // A descriptor describes itself (receivers check what they were sent); a damaged one is refused.
  const info = inspectDescriptor(snap.descriptor());
  assert.match(info.snapshotId ?? '', /^[0-9a-f]{16}$/);
  assert.equal(info.snapshotId, snap.id);
  assert.deepEqual([info.ramBytes, info.vcpus], [16 << 20, 1]);
  assert.ok(info.dataPages !== null && info.dataPages > 0 && info.dataPages <= 4096);
  const damaged = snap.descriptor();
  damaged[damaged.length - 1]! ^= 0xff;
  assert.throws(() => inspectDescriptor(damaged), { code: 'BAD_INPUT', message: /not a valid descriptor/ });
  assert.throws(() => inspectDescriptor(Buffer.alloc(3)), { code: 'BAD_INPUT' });
  const again = await live.fork();
  assert.notEqual(again.id, snap.id, 'each fork has its own snapshot id');
  again.release();
  await assert.rejects(VirtualMachine.createClone(snap, { vmid: 1, cloneReply: { status: 5 } }), { code: 'BAD_INPUT' });
  await assert.rejects(VirtualMachine.createClone(snap, { vmid: -1 }), { code: 'BAD_INPUT' });
  const clone = await VirtualMachine.createClone(snap, { vmid: 7 });
  t.after(() => clone.destroy());
  assert.equal(clone.state, 'paused', 'a clone starts paused at the fork instant');
  snap.release();
  assert.equal(snap.released, true);
  assert.throws(() => snap.descriptor(), { code: 'BAD_STATE' });
  await assert.rejects(VirtualMachine.createClone(snap, { vmid: 1 }), { code: 'BAD_STATE' });
  // The clone keeps its memory after the handle is released: it runs and answers like its parent.
  let out = '';
  clone.on('console', (c) => (out += c.toString()));
  await clone.resume();
  clone.consoleInput('ping\r');
  for (let i = 0; i < 200 && !out.includes('ping'); i++) await new Promise((r) => setTimeout(r, 10));
  assert.match(out, /ping/);
});
