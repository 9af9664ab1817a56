// The counter sets the addon reports (memserver, remote source, memtap, VM) against their TypeScript types.
// Each key list below is checked by the compiler to name every key of its type and nothing else; at run time
// the objects a real VM, clone and memserver return must carry exactly those keys. The C++ side declares each
// set once (native/src/core/**/*_stats.h) and the binding loops over that list, so a field added or renamed
// there without its TS type shows up here.
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { startMemserver, VirtualMachine, type MemserverStats, type MemtapStats, type RemoteSourceStats, type VmStats } from './index.ts';
import { skipUnlessKvm } from './kvm-test-skip.ts';

// `satisfies Record<keyof T, true>` on an object literal: a missing key and an extra key both fail tsc.
const MEMSERVER_KEYS = {
  requests: true,
  pagesServed: true,
  zeroPages: true,
  datagramsSent: true,
  bytesSent: true,
  sendErrors: true,
  outOfRange: true,
  dropped: true,
  multicastDatagrams: true,
  unicastDatagrams: true,
  lockstepSuppressed: true,
  queuedDuplicates: true,
  endgameUnicastPages: true,
  endgame: true,
  dataPages: true,
  dataPagesMulticast: true,
  rateReports: true,
  clientRate: true,
  pace: true,
  pacedWaits: true,
  backlogPages: true,
  backlogFull: true,
  testSendDrops: true,
  workingSetPages: true,
  workingSetSeeded: true,
  workingSetRecorded: true,
  streamsStarted: true,
  streamsRefused: true,
  streamsActive: true,
  streamedPages: true,
  streamedDatagrams: true,
  streamSkipped: true,
  diskBlocks: true,
  diskRequests: true,
  diskBlocksServed: true,
  diskZeroBlocks: true,
  diskBytesSent: true,
  diskBlocksMulticast: true,
  diskEndgame: true,
} satisfies Record<keyof MemserverStats, true>;

const REMOTE_SOURCE_KEYS = {
  requestsSent: true,
  pagesRequested: true,
  sendErrors: true,
  mirrorHits: true,
  mirrorMisses: true,
  datagramsReceived: true,
  groupDatagrams: true,
  bytesReceived: true,
  groupBytesReceived: true,
  pagesInstalled: true,
  zeroPagesInstalled: true,
  duplicates: true,
  outOfRange: true,
  dropped: true,
  timeouts: true,
  testDrops: true,
  receiveRate: true,
  diskRequestsSent: true,
  diskBlocksInstalled: true,
  diskTimeouts: true,
} satisfies Record<keyof RemoteSourceStats, true>;

const MEMTAP_KEYS = {
  faults: true,
  pagesCopied: true,
  zeroPages: true,
  prefetched: true,
  freshHints: true,
  alreadyPresent: true,
  present: true,
  p50Ns: true,
  p99Ns: true,
  maxNs: true,
  faultNsSum: true,
  faultsWithin10us: true,
  faultsWithin25us: true,
  faultsWithin50us: true,
  faultsWithin100us: true,
  faultsWithin250us: true,
  faultsWithin500us: true,
  faultsWithin1ms: true,
  faultsWithin2500us: true,
  faultsWithin10ms: true,
  faultsWithin100ms: true,
  faultsOver100ms: true,
} satisfies Record<keyof MemtapStats, true>;

const VM_KEYS = {
  exits: true,
  ioUnhandled: true,
  hypercalls: true,
  consoleBytes: true,
  consoleBytesDropped: true,
  freshPageHints: true,
  vcpuTimeNs: true,
  pagesTouched: true,
} satisfies Record<keyof VmStats, true>;

const VM_EXIT_KEYS = { io: true, mmio: true, hlt: true, other: true } satisfies Record<keyof VmStats['exits'], true>;

// The addon's own VM stats object is flat and named after the C++ fields; VirtualMachine.stats() reshapes it.
// Each raw key names the VmStats key it feeds, so a rename on either side fails tsc or the test below.
const RAW_VM_KEYS = {
  exitsIo: 'exits',
  exitsMmio: 'exits',
  exitsHlt: 'exits',
  exitsOther: 'exits',
  ioUnhandled: 'ioUnhandled',
  hypercalls: 'hypercalls',
  serialBytes: 'consoleBytes',
  freshPageHints: 'freshPageHints',
  vcpuRunNs: 'vcpuTimeNs',
  pagesTouched: 'pagesTouched',
  consoleBytesDropped: 'consoleBytesDropped',
} as const satisfies Record<string, keyof VmStats>;

const keysOf = (o: object): string[] => Object.keys(o).sort();

function assertKeys(actual: unknown, expected: object, what: string): void {
  assert.ok(typeof actual === 'object' && actual !== null, `${what}: not an object (${String(actual)})`);
  assert.deepEqual(keysOf(actual), keysOf(expected), `${what}: keys differ from the TypeScript type`);
}

const hello = fileURLToPath(new URL('../guest/build/bin/hello.elf', import.meta.url));

/** A running VM forked once; the snapshot is released and the VM destroyed when the test ends. */
async function forkedVm(t: TestContext) {
  const live = await VirtualMachine.create({ memoryMiB: 32, image: hello, cmdline: 'interactive=1' });
  t.after(() => live.destroy());
  await live.boot();
  const snapshot = await live.fork();
  t.after(() => snapshot.release());
  return { live, snapshot };
}

test('VM stats carry exactly the keys of VmStats', { timeout: 30_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [hello] })) return;
  const { live } = await forkedVm(t);
  const stats = live.stats();
  assertKeys(stats, VM_KEYS, 'VirtualMachine.stats()');
  assertKeys(stats.exits, VM_EXIT_KEYS, 'VirtualMachine.stats().exits');
  await live.destroy();
  assertKeys(live.stats(), VM_KEYS, 'VirtualMachine.stats() after destroy()');
});

test('memserver stats carry exactly the keys of MemserverStats', { timeout: 30_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [hello] })) return;
  const { snapshot } = await forkedVm(t);
  const server = startMemserver(snapshot, '127.0.0.1:0');
  t.after(() => server.stop());
  const stats = server.stats();
  assertKeys(stats, MEMSERVER_KEYS, 'Memserver.stats()');
  assert.equal(typeof stats.endgame, 'boolean');
  assert.equal(typeof stats.diskEndgame, 'boolean');
  for (const [k, v] of Object.entries(stats)) if (k !== 'endgame' && k !== 'diskEndgame') assert.equal(typeof v, 'number', k);
  server.stop();
  assertKeys(server.stats(), MEMSERVER_KEYS, 'Memserver.stats() after stop()');
});

test('memtap and remote-source stats carry exactly the keys of MemtapStats and RemoteSourceStats', { timeout: 30_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [hello], kernelFaults: true })) return;
  const { snapshot } = await forkedVm(t);
  const local = await VirtualMachine.createClone(snapshot, { vmid: 1, lazy: true });
  t.after(() => local.destroy());
  const localStats = local.memtapStats();
  assert.ok(localStats, 'a lazy clone has memtap stats');
  const { remote: none, ...localMemtap } = localStats;
  assert.equal(none, null, 'a local clone has no remote source');
  assertKeys(localMemtap, MEMTAP_KEYS, 'memtapStats() of a local lazy clone');

  const server = startMemserver(snapshot, '127.0.0.1:0');
  t.after(() => server.stop());
  const remoteClone = await VirtualMachine.createRemoteClone(snapshot.descriptor(), { vmid: 2, server: server.endpoint });
  t.after(() => remoteClone.destroy());
  remoteClone.prefetch(0, 4); // some traffic, so the figures are not all zero
  const cloneStats = remoteClone.memtapStats();
  assert.ok(cloneStats?.remote, 'a remote clone reports its page source');
  const { remote, ...memtap } = cloneStats;
  assertKeys(memtap, MEMTAP_KEYS, 'memtapStats() of a remote clone');
  assertKeys(remote, REMOTE_SOURCE_KEYS, 'memtapStats().remote');
  assert.ok(remote.requestsSent > 0, JSON.stringify(remote));
  // The wrapper copies the keys it knows: check the addon's own object too (see rawAddon below).
  assertKeys(rawAddon().remoteSourceStats(snapshot.id), REMOTE_SOURCE_KEYS, "the addon's remoteSourceStats()");
});

// The typed wrappers (vm.ts, memserver.ts) copy the keys they know, so an extra key from the addon would vanish
// there: the addon's own objects are checked too. It is loaded the way lib/addon.ts loads it (the same file,
// already loaded by then), and only the exports and handle methods lib/*.ts use are called.
interface RawVm {
  onConsole: (chunk: Buffer) => void;
  onState: (state: string, exitCode: number, reason: string) => void;
  onGuestCall: (call: unknown) => void;
  makeError: (statusCode: number, message: string, operation: string) => Error;
  create(config: object): Promise<void>;
  boot(): Promise<void>;
  fork(): Promise<{ release(): void }>;
  createClone(snapshot: unknown, options: object): Promise<void>;
  memtapStats(): unknown;
  stats(): unknown;
  destroy(): Promise<void>;
}
interface RawAddon {
  NativeVm: new () => RawVm;
  remoteSourceStats(snapshotId: string): unknown;
}

function rawAddon(): RawAddon {
  const path = fileURLToPath(new URL('../build/Release/snowflock.node', import.meta.url));
  return createRequire(import.meta.url)(path) as RawAddon;
}

function rawVm(addon: RawAddon): RawVm {
  const vm = new addon.NativeVm();
  vm.onConsole = () => {};
  vm.onState = () => {};
  vm.onGuestCall = () => {};
  vm.makeError = (code, message, operation) => new Error(`${operation}: ${message} (${code})`);
  return vm;
}

test("the addon's own VM and memtap stats objects carry exactly the listed keys", { timeout: 30_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [hello], kernelFaults: true })) return;
  const addon = rawAddon();
  const master = rawVm(addon);
  t.after(() => master.destroy());
  await master.create({
    vcpus: 1,
    ramBytes: 32 << 20,
    cmdline: 'interactive=1',
    clusterid: 0,
    vmid: 0,
    imagePath: hello,
    privilege: 'kernel',
  });
  await master.boot();
  const raw = master.stats() as Record<string, unknown>;
  assertKeys(raw, RAW_VM_KEYS, 'NativeVm.stats()');
  assert.deepEqual([...new Set(Object.values(RAW_VM_KEYS))].sort(), keysOf(VM_KEYS), 'every VmStats key is fed by the addon');
  for (const [k, v] of Object.entries(raw)) assert.equal(typeof v, 'number', k);

  const snapshot = await master.fork();
  t.after(() => snapshot.release());
  const clone = rawVm(addon);
  t.after(() => clone.destroy());
  await clone.createClone(snapshot, { vmid: 1, lazy: true, cloneReply: null });
  assertKeys(clone.memtapStats(), MEMTAP_KEYS, 'NativeVm.memtapStats()');
});
