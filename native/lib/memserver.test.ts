// Clones on "another host" through the binding (real KVM, UDP on loopback): the master's side serves its
// fork with startMemserver, the clones' side makes them from the descriptor alone with createRemoteClone;
// they verify their pages, only touched pages cross the wire, and a stopped memserver ends a clone with
// the reason. The seed calls are answered by a tiny in-test orchestrator (the daemons do it for real).
import assert from 'node:assert/strict';
import { closeSync, constants, existsSync, openSync } from 'node:fs';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startMemserver, type Memserver } from './memserver.ts';
import { SfExitHow, SfHypercall, SfStatus, VirtualMachine, type GuestCall, type GuestReply } from './vm.ts';

const forkbench = fileURLToPath(new URL('../guest/build/bin/forkbench.elf', import.meta.url));
const hello = fileURLToPath(new URL('../guest/build/bin/hello.elf', import.meta.url));

function skipUnlessRunnable(t: TestContext): boolean {
  let why: string | null = null;
  try {
    closeSync(openSync('/dev/kvm', constants.O_RDWR));
  } catch (error) {
    why = `/dev/kvm cannot be opened (${(error as Error).message})`;
  }
  if (!why && !existsSync(forkbench)) why = `${forkbench} is missing: build the guest SDK (make -C native/guest)`;
  if (why) {
    console.log(`# skipped: ${why}`);
    t.skip(why);
  }
  return why !== null;
}

test('clones made from a descriptor and a memserver run their share and verify every page they read', { timeout: 60_000 }, async (t) => {
  if (skipUnlessRunnable(t)) return;
  const n = 3;
  const master = await VirtualMachine.create({ memoryMiB: 256, image: forkbench, cmdline: `clones=${n} pages=8192 touch=512` });
  const vms: VirtualMachine[] = [master];
  let server: Memserver | undefined;
  t.after(async () => {
    server?.stop();
    await Promise.all(vms.map((vm) => vm.destroy()));
  });
  const out = new Map<number, string>([[0, '']]);
  const ended: Promise<unknown>[] = [];
  const exits = new Map<number, number>();
  const handler = (vmid: number) => async (call: GuestCall): Promise<GuestReply> => {
    switch (call.nr) {
      case SfHypercall.TICKET_REQUEST:
        return { status: 0, count: n, ticket: 'remote' };
      case SfHypercall.CLONE_MASTER: {
        const snapshot = await master.fork();
        server = startMemserver(snapshot, '127.0.0.1:0');
        const descriptor = snapshot.descriptor();
        for (let id = 1; id <= n; id++) {
          const clone = await VirtualMachine.createRemoteClone(descriptor, {
            vmid: id, server: server.endpoint, cloneReply: { status: 0, vmid: id, count: n, ticket: 'remote' },
          });
          vms.push(clone);
          out.set(id, '');
          clone.on('console', (c) => out.set(id, out.get(id)! + c.toString()));
          clone.onGuestCall = handler(id);
          ended.push(clone.waitForExit());
          await clone.resume();
        }
        return { status: 0, vmid: 0, count: n, ticket: 'remote' };
      }
      case SfHypercall.CLONE_EXIT:
        exits.set(vmid, call.request.status);
        return { status: 0 };
      case SfHypercall.CLONE_JOIN:
        await Promise.all(ended);
        return { status: 0, count: n, exits: [...Array(n).keys()].map((i) => ({ vmid: i + 1, status: exits.get(i + 1) ?? 0, how: exits.has(i + 1) ? SfExitHow.EXITED : SfExitHow.CRASHED })) };
      default:
        return { status: -SfStatus.ENOSYS };
    }
  };
  master.onGuestCall = handler(0);
  master.on('console', (c) => out.set(0, out.get(0)! + c.toString()));
  await master.boot();
  const final = await master.waitForExit(45_000);
  assert.deepEqual([final.state, final.exitCode], ['exited', 0], out.get(0));
  assert.match(out.get(0)!, /forkbench result digest=0x[0-9a-f]+ items=\d+ verified OK/, out.get(0));
  for (let id = 1; id <= n; id++) assert.match(out.get(id)!, new RegExp(`forkbench vmid=${id} touched=512 verified OK`), out.get(id));
  const stats = server!.stats();
  // The clones share one mirror on this host: pages one fetched are there for the others.
  assert.ok(stats.pagesServed > 0);
  assert.ok(stats.pagesServed < 256 * 256 / 4, `served ${stats.pagesServed} pages of ${256 * 256}`);
  assert.equal(stats.dropped, 0);
});

test('a clone whose memserver has stopped ends as crashed with the reason; bad arguments are refused', { timeout: 30_000 }, async (t) => {
  if (skipUnlessRunnable(t)) return;
  const live = await VirtualMachine.create({ memoryMiB: 64, image: hello, cmdline: 'interactive=1' });
  t.after(() => live.destroy());
  await live.boot();
  const snapshot = await live.fork();
  const server = startMemserver(snapshot, '127.0.0.1:0');
  assert.match(server.endpoint, /^127\.0\.0\.1:\d+$/);
  assert.throws(() => startMemserver(snapshot, 'not-an-address'), { code: 'BAD_INPUT' });
  await assert.rejects(VirtualMachine.createRemoteClone(Buffer.from('garbage'), { vmid: 1, server: server.endpoint }), /descriptor/);
  // Gone after the clone was made (it holds only the pages its creation needed): it crashes with the reason.
  const clone = await VirtualMachine.createRemoteClone(snapshot.descriptor(), { vmid: 9, server: server.endpoint });
  t.after(() => clone.destroy());
  server.stop();
  await clone.resume();
  const end = await clone.waitForExit(10_000);
  assert.equal(end.state, 'crashed');
  assert.match(end.reason, /guest memory unavailable/);
  snapshot.release();
  // Gone before (a new fork, so this host's mirror holds none of its pages): the clone cannot even be made.
  const second = await live.fork();
  const gone = startMemserver(second, '127.0.0.1:0');
  gone.stop();
  await assert.rejects(VirtualMachine.createRemoteClone(second.descriptor(), { vmid: 10, server: gone.endpoint }), /guest memory unavailable/);
  second.release();
});
