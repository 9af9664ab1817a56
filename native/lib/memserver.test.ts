// Clones on "another host" through the binding (real KVM, UDP on loopback): the master's side serves its
// fork with startMemserver, the clones' side makes them from the descriptor alone with createRemoteClone;
// they verify their pages, only touched pages cross the wire, and a stopped memserver ends a clone with
// the reason. The seed calls are answered by a tiny in-test orchestrator (the daemons do it for real).
import assert from 'node:assert/strict';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startMemserver, type Memserver, type MemserverOptions } from './memserver.ts';
import { SfHypercall, SfStatus } from './guest-abi.ts';
import { exitOrJoinReply, joinReply, type GuestCall, type GuestReply } from './guest-call.ts';
import { skipUnlessKvm } from './kvm-test-skip.ts';
import { VirtualMachine, type CloneMemtapStats } from './vm.ts';

const forkbench = fileURLToPath(new URL('../guest/build/bin/forkbench.elf', import.meta.url));
const hello = fileURLToPath(new URL('../guest/build/bin/hello.elf', import.meta.url));

interface RemoteRun {
  server: Memserver;
  /** Each clone's memtapStats() just before it was destroyed (the remote figures are the host's). */
  clones: (CloneMemtapStats | null)[];
}

// A forkbench master whose clones are made "on another host" (createRemoteClone from the descriptor),
// pages served by a memserver started with `serverOptions`; checks the single-VM result and every clone's
// own verification line.
async function remoteForkbench(
  t: TestContext,
  serverOptions: Omit<MemserverOptions, 'bind'>,
  n = 3,
  cloneOptions: (server: Memserver) => { group?: string | null; interface?: string } = () => ({}),
  shells = false,
): Promise<RemoteRun> {
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
  const clones: (CloneMemtapStats | null)[] = [];
  let prepared: Promise<VirtualMachine[]> = Promise.resolve([]);
  const handler =
    (vmid: number) =>
    async (call: GuestCall): Promise<GuestReply> => {
      switch (call.nr) {
        case SfHypercall.TICKET_REQUEST:
          // As the clones' host does when the ticket is granted: shells made for a fork on another host.
          if (shells) prepared = Promise.all([...Array(n).keys()].map(() => VirtualMachine.prepareClone({ memoryMiB: 256, remote: true })));
          return { status: 0, count: n, ticket: 'remote' };
        case SfHypercall.CLONE_MASTER: {
          const snapshot = await master.fork();
          server = startMemserver(snapshot, { bind: '127.0.0.1:0', ...serverOptions });
          const descriptor = snapshot.descriptor();
          const ready = await prepared;
          vms.push(...ready);
          for (let id = 1; id <= n; id++) {
            const options = {
              vmid: id,
              server: server.endpoint,
              cloneReply: { status: 0, vmid: id, count: n, ticket: 'remote' },
              ...cloneOptions(server),
            };
            const shell = ready[id - 1];
            if (shell) await shell.becomeRemoteClone(descriptor, options);
            const clone = shell ?? (await VirtualMachine.createRemoteClone(descriptor, options));
            vms.push(clone);
            out.set(id, '');
            clone.on('console', (c) => out.set(id, out.get(id)! + c.toString()));
            clone.onGuestCall = async (c) => {
              if (c.nr === SfHypercall.CLONE_EXIT) clones[id - 1] = clone.memtapStats();
              return handler(id)(c);
            };
            ended.push(clone.waitForExit());
            await clone.resume();
          }
          return { status: 0, vmid: 0, count: n, ticket: 'remote' };
        }
        default:
          return exitOrJoinReply(call, vmid, n, exits, () => Promise.all(ended));
      }
    };
  master.onGuestCall = handler(0);
  master.on('console', (c) => out.set(0, out.get(0)! + c.toString()));
  await master.boot();
  const final = await master.waitForExit(45_000);
  assert.deepEqual([final.state, final.exitCode], ['exited', 0], out.get(0));
  assert.match(out.get(0)!, /forkbench result digest=0x[0-9a-f]+ items=\d+ verified OK/, out.get(0));
  for (let id = 1; id <= n; id++) assert.match(out.get(id)!, new RegExp(`forkbench vmid=${id} touched=512 verified OK`), out.get(id));
  return { server: server!, clones };
}

test('clones made from a descriptor and a memserver run their share and verify every page they read', { timeout: 60_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench] })) return;
  const { server, clones } = await remoteForkbench(t, {});
  const stats = server.stats();
  assert.equal(server.mode, 'unicast');
  assert.equal(server.group, null);
  // The clones share one mirror on this host: pages one fetched are there for the others.
  assert.ok(stats.pagesServed > 0);
  assert.ok(stats.pagesServed < (256 * 256) / 4, `served ${stats.pagesServed} pages of ${256 * 256}`);
  assert.equal(stats.dropped, 0);
  assert.equal(stats.multicastDatagrams, 0);
  assert.equal(stats.unicastDatagrams, stats.datagramsSent);
  for (const c of clones) {
    assert.ok(c?.remote, 'a remote clone reports its page source');
    assert.ok(c.remote.requestsSent > 0 && c.remote.bytesReceived > 0, JSON.stringify(c.remote));
    assert.equal(c.remote.groupDatagrams, 0);
  }
});

test('clones made in shells prepared for a remote fork run their share and verify; a shell for local forks is refused', {
  timeout: 60_000,
}, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench] })) return;
  const { clones } = await remoteForkbench(t, { mode: 'multicast' }, 3, (s) => ({ group: s.group }), true);
  for (const c of clones) assert.ok(c?.remote && c.remote.bytesReceived > 0, 'its pages came from the memserver');
  // A shell whose memtap was made for this host's snapshots cannot take a remote source.
  const local = await VirtualMachine.prepareClone({ memoryMiB: 64 });
  t.after(() => local.destroy());
  const live = await VirtualMachine.create({ memoryMiB: 64, image: hello, cmdline: 'interactive=1' });
  t.after(() => live.destroy());
  await live.boot();
  const snapshot = await live.fork();
  const server = startMemserver(snapshot, { bind: '127.0.0.1:0' });
  t.after(() => server.stop());
  await assert.rejects(local.becomeRemoteClone(snapshot.descriptor(), { vmid: 1, server: server.endpoint }), /forks on this host/);
  await assert.rejects(VirtualMachine.prepareClone({ memoryMiB: 64, remote: 'yes' as unknown as boolean }), { code: 'BAD_INPUT' });
});

test("three remote clones in multicast mode get their pages through the snapshot's group", { timeout: 60_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench] })) return;
  const { server, clones } = await remoteForkbench(t, { mode: 'multicast' }, 3, (s) => ({ group: s.group }));
  assert.equal(server.mode, 'multicast');
  // Derived from the snapshot id (239.x.y.z), on the server's own port.
  assert.match(server.group ?? '', new RegExp(`^239\\.\\d+\\.\\d+\\.\\d+:${server.endpoint.split(':')[1]}$`));
  const stats = server.stats();
  assert.ok(stats.multicastDatagrams > 0, JSON.stringify(stats));
  assert.equal(stats.unicastDatagrams, 0, 'members of the group are answered through it');
  assert.equal(stats.dropped, 0);
  assert.ok(stats.dataPagesMulticast > 0 && stats.dataPages >= stats.dataPagesMulticast);
  for (const c of clones) {
    assert.ok(c?.remote && c.remote.groupDatagrams > 0 && c.remote.groupBytesReceived > 0, JSON.stringify(c?.remote));
  }
});

test('remote clones outlive a memserver that pauses for 2.5 s: their page waits retry with back-off', { timeout: 60_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench] })) return;
  let stalled = 0;
  const { server, clones } = await remoteForkbench(t, {}, 2, (s) => {
    // Paused before the clones are made: their creation (blocking fetches) and their first faults both wait it out.
    if (stalled++ === 0) {
      s.stallForTest(true);
      setTimeout(() => s.stallForTest(false), 2500);
    }
    return {};
  });
  assert.ok(server.stats().pagesServed > 0);
  for (const c of clones) {
    assert.ok(c?.remote, 'a remote clone reports its page source');
    assert.equal(c.remote.timeouts, 0, JSON.stringify(c.remote));
  }
});

test('a clone whose memserver has stopped ends as crashed with the reason; bad arguments are refused', { timeout: 30_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench, hello] })) return;
  const live = await VirtualMachine.create({ memoryMiB: 64, image: hello, cmdline: 'interactive=1' });
  t.after(() => live.destroy());
  await live.boot();
  const snapshot = await live.fork();
  const server = startMemserver(snapshot, '127.0.0.1:0');
  assert.match(server.endpoint, /^127\.0\.0\.1:\d+$/);
  assert.throws(() => startMemserver(snapshot, 'not-an-address'), { code: 'BAD_INPUT' });
  await assert.rejects(VirtualMachine.createRemoteClone(Buffer.from('garbage'), { vmid: 1, server: server.endpoint }), /descriptor/);
  server.stop();
  snapshot.release();
  // Gone before (a new fork, so this host's mirror holds none of its pages): the clone cannot even be made.
  const second = await live.fork();
  const gone = startMemserver(second, '127.0.0.1:0');
  gone.stop();
  await assert.rejects(
    VirtualMachine.createRemoteClone(second.descriptor(), { vmid: 10, server: gone.endpoint, pageLivenessMs: 1000 }),
    /guest memory unavailable/,
  );
  second.release();
  // Gone after the clone was made: it holds the pages its creation needed and those its vCPU touches first,
  // but not the forkbench buffer it reads next, so it crashes with the reason once the server has been silent
  // for the clone's liveness window (here 1.5 s; 10 s by default). (An idle guest would never notice.)
  const master = await VirtualMachine.create({ memoryMiB: 64, image: forkbench, cmdline: 'clones=1 pages=2048 touch=512' });
  t.after(() => master.destroy());
  const crashed = new Promise<{ end: Awaited<ReturnType<VirtualMachine['waitForExit']>>; afterStop: number }>((resolve, reject) => {
    master.onGuestCall = async (call: GuestCall): Promise<GuestReply> => {
      if (call.nr === SfHypercall.TICKET_REQUEST) return { status: 0, count: 1, ticket: 'remote' };
      if (call.nr !== SfHypercall.CLONE_MASTER) return { status: -SfStatus.ENOSYS };
      try {
        const fork = await master.fork();
        t.after(() => fork.release());
        const source = startMemserver(fork, '127.0.0.1:0');
        const clone = await VirtualMachine.createRemoteClone(fork.descriptor(), {
          vmid: 1,
          server: source.endpoint,
          pageLivenessMs: 1500,
          cloneReply: { status: 0, vmid: 1, count: 1, ticket: 'remote' },
        });
        t.after(() => clone.destroy());
        source.stop();
        const stopped = Date.now();
        await clone.resume();
        const end = await clone.waitForExit(10_000);
        resolve({ end, afterStop: Date.now() - stopped });
      } catch (e) {
        reject(e);
      }
      return { status: -SfStatus.EUNAVAIL };
    };
  });
  await master.boot();
  const { end, afterStop } = await crashed;
  assert.equal(end.state, 'crashed');
  assert.match(end.reason, /guest memory unavailable/);
  assert.match(end.reason, /has not answered for 1500 ms/);
  assert.ok(afterStop < 1500 + 2000, `crashed ${afterStop} ms after the stop`);
});

test('memserver and remote-clone network options are checked with clear errors', { timeout: 30_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench] })) return;
  const live = await VirtualMachine.create({ memoryMiB: 64, image: hello, cmdline: 'interactive=1' });
  t.after(() => live.destroy());
  await live.boot();
  const snapshot = await live.fork();
  t.after(() => snapshot.release());
  const bad: [MemserverOptions, RegExp][] = [
    [{ bind: '127.0.0.1' }, /bind must be 'a\.b\.c\.d:port'/],
    [{ bind: '300.0.0.1:0' }, /bind must be/],
    [{ bind: '239.1.2.3:0' }, /bind must be a unicast address/],
    [{ bind: '127.0.0.1:0', mode: 'broadcast' as 'unicast' }, /mode must be 'multicast' or 'unicast'/],
    [{ bind: '127.0.0.1:0', mode: 'multicast', group: '10.1.2.3:5000' }, /group must be a multicast address/],
    [{ bind: '127.0.0.1:0', mode: 'multicast', group: '239.1.2.3' }, /group must be 'a\.b\.c\.d:port'/],
    [{ bind: '127.0.0.1:0', mode: 'multicast', interface: '127.0.0.1:9' }, /interface must be a unicast IPv4 address/],
    [{ bind: '127.0.0.1:0', mode: 'multicast', interface: '224.0.0.1' }, /interface must be a unicast IPv4 address/],
    [{ bind: '127.0.0.1:0', maxDatagram: 70000 }, /maxDatagram must be/],
    [{ bind: '127.0.0.1:0', maxDatagram: 10 }, /max_datagram 10 out of range/],
    [{ bind: '127.0.0.1:0', lossForTest: 0.9 }, /lossForTest must be a fraction from 0 to 0\.5/],
    [{ bind: '127.0.0.1:0', lossForTest: -1 }, /lossForTest/],
    [{ bind: '127.0.0.1:0', reap: 'yes' as unknown as boolean }, /reap must be a boolean/],
    [{ bind: '127.0.0.1:0', workingSet: { ramBytes: -1, pages: new Uint32Array() } }, /workingSet\.ramBytes/],
    [{ bind: '127.0.0.1:0', workingSet: { ramBytes: 4096, pages: 'all' as unknown as Uint32Array } }, /workingSet\.pages/],
    // An address this host does not have: multicast could not leave by it.
    [{ bind: '127.0.0.1:0', mode: 'multicast', interface: '198.18.255.254' }, /IP_MULTICAST_IF|198\.18\.255\.254/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => startMemserver(snapshot, options),
      (e: Error & { code?: string }) => {
        assert.equal(e.code, 'BAD_INPUT', `${JSON.stringify(options)}: ${e.message}`);
        assert.match(e.message, message, JSON.stringify(options));
        return true;
      },
    );
  }
  // A string is still the bind address; the group can be chosen; the interface defaults to the bind address.
  const plain = startMemserver(snapshot, '127.0.0.1:0');
  t.after(() => plain.stop());
  assert.deepEqual([plain.mode, plain.group], ['unicast', null]);
  const chosen = startMemserver(snapshot, { bind: '127.0.0.1:0', mode: 'multicast', group: '239.255.90.7:0', maxDatagram: 0 });
  t.after(() => chosen.stop());
  assert.equal(chosen.group, `239.255.90.7:${chosen.endpoint.split(':')[1]}`);

  const descriptor = snapshot.descriptor();
  const badClone: [Record<string, unknown>, RegExp][] = [
    [{ server: 'nowhere' }, /server must be 'a\.b\.c\.d:port'/],
    [{ server: plain.endpoint, group: '10.0.0.1:1' }, /group must be a multicast address/],
    [{ server: plain.endpoint, group: 17 }, /group must be 'a\.b\.c\.d:port'/],
    [{ server: plain.endpoint, interface: 'lo' }, /interface must be a unicast IPv4 address/],
    [{ server: plain.endpoint, dropForTest: 2 }, /dropForTest must be a fraction/],
    [{ server: plain.endpoint, pageLivenessMs: 50 }, /pageLivenessMs must be/],
  ];
  for (const [options, message] of badClone) {
    await assert.rejects(VirtualMachine.createRemoteClone(descriptor, { vmid: 1, ...options } as never), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'BAD_INPUT', `${JSON.stringify(options)}: ${e.message}`);
      assert.match(e.message, message, JSON.stringify(options));
      return true;
    });
  }
  // Clones of one snapshot on a host share one source: the first decides the group, a different one is refused.
  const first = await VirtualMachine.createRemoteClone(descriptor, { vmid: 1, server: chosen.endpoint, group: chosen.group });
  t.after(() => first.destroy());
  const same = await VirtualMachine.createRemoteClone(descriptor, { vmid: 2, server: chosen.endpoint, group: chosen.group });
  t.after(() => same.destroy());
  await assert.rejects(
    VirtualMachine.createRemoteClone(descriptor, { vmid: 3, server: chosen.endpoint, group: null }),
    (e: Error & { code?: string }) =>
      e.code === 'BAD_INPUT' && /already receive group 239\.255\.90\.7:\d+; this clone asks for unicast replies/.test(e.message),
  );
  await assert.rejects(
    VirtualMachine.createRemoteClone(descriptor, { vmid: 3, server: chosen.endpoint, group: '239.255.90.8:0' }),
    (e: Error & { code?: string }) => e.code === 'BAD_INPUT' && /this clone asks for group 239\.255\.90\.8/.test(e.message),
  );
  const stats = first.memtapStats();
  assert.ok(stats?.remote, 'a remote clone reports its page source');
  assert.deepEqual(Object.keys(stats.remote).sort(), [
    'bytesReceived',
    'datagramsReceived',
    'diskBlocksInstalled',
    'diskRequestsSent',
    'diskTimeouts',
    'dropped',
    'duplicates',
    'groupBytesReceived',
    'groupDatagrams',
    'mirrorHits',
    'mirrorMisses',
    'outOfRange',
    'pagesInstalled',
    'pagesRequested',
    'receiveRate',
    'requestsSent',
    'sendErrors',
    'testDrops',
    'timeouts',
    'zeroPagesInstalled',
  ]);
  // Its creation fetched the pages the restore needed, through the group.
  assert.ok(stats.remote.groupDatagrams > 0, JSON.stringify(stats.remote));
});

test('a later clone of a snapshot gets the working set an earlier one touched streamed in bulk (reap on vs off)', {
  timeout: 90_000,
}, async (t) => {
  if (skipUnlessKvm(t, { images: [forkbench] })) return;
  // Clone A runs to completion through a memserver; then clone B, on a fresh mirror (A is gone, so this
  // host's source for the snapshot is new: a new client to the server), does the same work. With reap the
  // server streams B what A asked for; without, B faults every page itself.
  const touch = 1024;
  const ids = { on: [1, 2], off: [3, 4] } as const;
  const n = 4;
  const master = await VirtualMachine.create({ memoryMiB: 256, image: forkbench, cmdline: `clones=${n} pages=8192 touch=${touch}` });
  const vms: VirtualMachine[] = [master];
  const servers: Memserver[] = [];
  t.after(async () => {
    for (const s of servers) s.stop();
    await Promise.all(vms.map((vm) => vm.destroy()));
  });
  const out = new Map<number, string>([[0, '']]);
  const exits = new Map<number, number>();
  const remote = new Map<number, CloneMemtapStats | null>();
  let descriptor: Buffer = Buffer.alloc(0);
  const runClone = async (server: Memserver, id: number) => {
    const clone = await VirtualMachine.createRemoteClone(descriptor, {
      vmid: id,
      server: server.endpoint,
      cloneReply: { status: 0, vmid: id, count: n, ticket: 'reap' },
    });
    vms.push(clone);
    out.set(id, '');
    clone.on('console', (c) => out.set(id, out.get(id)! + c.toString()));
    clone.onGuestCall = async (c) => {
      if (c.nr === SfHypercall.CLONE_EXIT) {
        remote.set(id, clone.memtapStats());
        exits.set(id, c.request.status);
        return { status: 0 };
      }
      return { status: -SfStatus.ENOSYS };
    };
    await clone.resume();
    const end = await clone.waitForExit(30_000);
    assert.equal(end.state, 'exited', out.get(id));
    await clone.destroy(); // its page source and mirror go with it: the next clone starts afresh
  };
  master.onGuestCall = async (call: GuestCall): Promise<GuestReply> => {
    switch (call.nr) {
      case SfHypercall.TICKET_REQUEST:
        return { status: 0, count: n, ticket: 'reap' };
      case SfHypercall.CLONE_MASTER: {
        const snapshot = await master.fork();
        descriptor = snapshot.descriptor();
        for (const reap of [true, false]) {
          const server = startMemserver(snapshot, { bind: '127.0.0.1:0', reap });
          servers.push(server);
          for (const id of reap ? ids.on : ids.off) await runClone(server, id);
        }
        return { status: 0, vmid: 0, count: n, ticket: 'reap' };
      }
      case SfHypercall.CLONE_JOIN:
        return joinReply(n, exits);
      default:
        return { status: -SfStatus.ENOSYS };
    }
  };
  master.on('console', (c) => out.set(0, out.get(0)! + c.toString()));
  await master.boot();
  const final = await master.waitForExit(60_000);
  assert.deepEqual([final.state, final.exitCode], ['exited', 0], out.get(0));
  assert.match(out.get(0)!, /forkbench result digest=0x[0-9a-f]+ items=\d+ verified OK/, out.get(0));
  for (let id = 1; id <= n; id++) assert.match(out.get(id)!, new RegExp(`forkbench vmid=${id} touched=${touch} verified OK`), out.get(id));

  const [on, off] = servers.map((s) => s.stats());
  const requests = (id: number) => remote.get(id)?.remote?.requestsSent ?? NaN;
  const touchNs = (id: number) => Number(/touch_ns=(\d+)/.exec(out.get(id)!)?.[1] ?? NaN);
  console.log(
    `reap: clone B sent ${requests(ids.on[1])} requests with reap (A: ${requests(ids.on[0])}), ${requests(ids.off[1])} without (A: ${requests(ids.off[0])}); ` +
      `B touched its ${touch} pages in ${(touchNs(ids.on[1]) / 1e6).toFixed(1)} ms with reap, ${(touchNs(ids.off[1]) / 1e6).toFixed(1)} ms without; ` +
      `streamed ${on!.streamedPages} pages in ${on!.streamedDatagrams} datagrams (working set ${on!.workingSetPages} pages)`,
  );
  assert.equal(on!.streamsStarted, 1, 'B was a new client; A found nothing recorded');
  assert.equal(off!.streamsStarted, 0);
  assert.equal(off!.streamedPages, 0);
  assert.ok(on!.streamedPages >= touch, JSON.stringify(on));
  // Both A's sent about the whole working set's worth of requests; B with reap a small fraction of it.
  assert.ok(requests(ids.off[1]) >= touch / 2, `B without reap: ${requests(ids.off[1])} requests`);
  assert.ok(
    requests(ids.on[1]) * 4 < requests(ids.off[1]),
    `B: ${requests(ids.on[1])} requests with reap vs ${requests(ids.off[1])} without`,
  );
  // The recorded set carries over: a memserver for the next fork can start from it.
  const ws = servers[0]!.workingSet();
  assert.equal(ws.ramBytes, 256 * 1024 * 1024);
  assert.ok(ws.pages.length >= touch && ws.pages.length === on!.workingSetPages, `${ws.pages.length} pages`);
  assert.ok(
    ws.pages.every((p, i) => i === 0 || p > ws.pages[i - 1]!),
    'sorted, distinct',
  );
});
