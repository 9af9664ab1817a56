// Checks that the built snowflock.node has every export NativeAddon declares, and each class every method, so a
// rename on the C++ side fails here by name. Boundary: names and kinds only; each wrapper's test exercises behaviour.
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { loadAddon, type NativeAddon, type NativeMemserverHandle, type NativeSnapshotHandle, type NativeVmHandle } from './addon.ts';

// `satisfies Record<…, true>` makes the compiler insist each list names every member of its interface.
const addonExports = {
  hostCapabilities: true,
  shmemHugePages: true,
  allowShmemHugePages: true,
  NativeVm: true,
  NativeSnapshot: true,
  inspectDescriptor: true,
  NativeMemserver: true,
  startMemserver: true,
  remoteSourceStats: true,
  sweepOverlays: true,
} as const satisfies Record<keyof NativeAddon, true>;

type VmHook = 'onConsole' | 'onState' | 'onGuestCall' | 'makeError';
const vmMethods = {
  create: true,
  createClone: true,
  fork: true,
  forkInto: true,
  prepareClone: true,
  createRemoteClone: true,
  becomeClone: true,
  becomeRemoteClone: true,
  memtapStats: true,
  netStats: true,
  diskStats: true,
  prefetch: true,
  boot: true,
  pause: true,
  resume: true,
  destroy: true,
  answerCall: true,
  consoleInput: true,
  stats: true,
  state: true,
  exitCode: true,
  reason: true,
} as const satisfies Record<Exclude<keyof NativeVmHandle, VmHook>, true>;

const snapshotMethods = {
  descriptor: true,
  ramBytes: true,
  timing: true,
  release: true,
  released: true,
} as const satisfies Record<keyof NativeSnapshotHandle, true>;

const memserverMethods = {
  endpoint: true,
  mode: true,
  group: true,
  stats: true,
  workingSet: true,
  stop: true,
  stallForTest: true,
} as const satisfies Record<keyof NativeMemserverHandle, true>;

test('the addon exports everything NativeAddon declares, as functions', () => {
  const addon = loadAddon();
  for (const name of Object.keys(addonExports) as (keyof NativeAddon)[]) assert.equal(typeof addon[name], 'function', name);
});

test('its classes have every method their handle interfaces declare', () => {
  const addon = loadAddon();
  const classes: [string, { prototype: object }, object][] = [
    ['NativeVm', addon.NativeVm, vmMethods],
    ['NativeSnapshot', addon.NativeSnapshot, snapshotMethods],
    ['NativeMemserver', addon.NativeMemserver, memserverMethods],
  ];
  for (const [name, ctor, methods] of classes) {
    for (const method of Object.keys(methods)) {
      assert.equal(typeof Reflect.get(ctor.prototype, method), 'function', `${name}.${method}`);
    }
  }
});
