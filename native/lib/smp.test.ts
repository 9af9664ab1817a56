// Multi-vCPU flat guests on real KVM: the SDK's smpcheck guest starts its secondaries (sfguest/smp.h), splits a
// sum over every vCPU, mallocs and prints from all of them at once, and checks the total against a serial run.
// A VM entered in kernel mode keeps to one vCPU (its secondaries would start without an IDT). A fork captures every
// vCPU, parked secondaries included, and a clone can run fewer of them (CloneOptions.vcpus), locally or remotely.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

import { skipUnlessKvm } from './kvm-test-skip.ts';
import { startMemserver } from './memserver.ts';
import { VirtualMachine } from './vm.ts';
import type { VirtualMachineOptions } from './vm-options.ts';

const smpcheck = fileURLToPath(new URL('../guest/build/bin/smpcheck.elf', import.meta.url));

async function run(vcpus: number, privilege: 'user' | 'kernel', cmdline = 'n=200000'): Promise<{ text: string; code: number | null }> {
  const vm = await VirtualMachine.create({ memoryMiB: 64, vcpus, image: smpcheck, cmdline, privilege });
  let text = '';
  vm.on('console', (chunk: Buffer) => {
    text += chunk.toString();
  });
  try {
    await vm.boot();
    const end = await vm.waitForExit();
    return { text, code: end.exitCode };
  } finally {
    await vm.destroy();
  }
}

// Every vCPU's own line, whole (the console lock keeps lines from different vCPUs apart).
function vcpuLines(text: string): number[] {
  return [...text.matchAll(/^smpcheck vmid=0 vcpu=(\d+) part=\d+$/gm)].map((m) => Number(m[1])).sort((a, b) => a - b);
}

test('a 4-vCPU guest computes on all four vCPUs and gets the serial answer', async (t) => {
  if (skipUnlessKvm(t, { images: [smpcheck] })) return;
  const { text, code } = await run(4, 'user');
  assert.match(text, /^smpcheck vmid=0 vcpus=4 ran=4 busy=4 total=\d+ ok$/m, text);
  assert.deepEqual(vcpuLines(text), [0, 1, 2, 3], text);
  assert.equal(code, 0, text);
});

test('runs back to back reuse the parked secondaries (32 vCPUs, the ABI maximum)', async (t) => {
  if (skipUnlessKvm(t, { images: [smpcheck] })) return;
  const { text, code } = await run(32, 'user', 'n=100000');
  assert.match(text, /^smpcheck vmid=0 vcpus=32 ran=32 busy=32 total=\d+ ok$/m, text);
  assert.equal(vcpuLines(text).length, 32, text);
  assert.equal(code, 0, text);
});

test('a guest entered in kernel mode runs on vCPU 0 alone, still correct', async (t) => {
  if (skipUnlessKvm(t, { images: [smpcheck] })) return;
  const { text, code } = await run(4, 'kernel', 'n=20000');
  assert.match(text, /^smpcheck vmid=0 vcpus=1 ran=1 busy=1 total=\d+ ok$/m, text);
  assert.equal(code, 0, text);
});

/** A VM's console, collected, with a way to wait for a line. */
function collect(vm: VirtualMachine): { text: () => string; line: (re: RegExp) => Promise<void> } {
  let text = '';
  const waiting: { re: RegExp; done: () => void }[] = [];
  vm.on('console', (chunk: Buffer) => {
    text += chunk.toString();
    for (const w of waiting.splice(0)) (w.re.test(text) ? w.done : () => waiting.push(w))();
  });
  return {
    text: () => text,
    line: (re) => (re.test(text) ? Promise.resolve() : new Promise((done) => waiting.push({ re, done }))),
  };
}

/** A 4-vCPU smpcheck master that has run once on all four (secondaries started, now parked) and waits to be forked. */
async function parkedMaster(
  options: Partial<VirtualMachineOptions> = {},
): Promise<{ vm: VirtualMachine; out: ReturnType<typeof collect> }> {
  const vm = await VirtualMachine.create({ memoryMiB: 64, vcpus: 4, image: smpcheck, cmdline: 'n=100000 forkwait=2', ...options });
  const out = collect(vm);
  await vm.boot();
  await out.line(/^smpcheck waiting$/m);
  assert.match(out.text(), /^smpcheck vmid=0 vcpus=4 ran=4 busy=4 total=\d+ ok$/m, out.text());
  return { vm, out };
}

async function finish(clone: VirtualMachine, out: ReturnType<typeof collect>): Promise<string> {
  await clone.resume();
  const end = await clone.waitForExit(20_000);
  assert.equal(end.exitCode, 0, out.text());
  return out.text();
}

test("a clone given k of its master's 4 vCPUs runs exactly k, parked secondaries included", { timeout: 60_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [smpcheck] })) return;
  const { vm: master } = await parkedMaster();
  t.after(() => master.destroy());
  const snapshot = await master.fork();
  t.after(() => snapshot.release());
  await assert.rejects(VirtualMachine.createClone(snapshot, { vmid: 9, vcpus: 5 }), /more vCPUs \(5\) than its parent has \(4\)/);
  await assert.rejects(VirtualMachine.createClone(snapshot, { vmid: 9, vcpus: 0 }), { code: 'BAD_INPUT' });
  for (const [vmid, vcpus, lazy] of [
    [1, 3, false],
    [2, 1, true],
    [3, 4, false],
  ] as const) {
    const clone = await VirtualMachine.createClone(snapshot, { vmid, vcpus, lazy });
    t.after(() => clone.destroy());
    const text = await finish(clone, collect(clone));
    assert.match(text, new RegExp(`^smpcheck vmid=${vmid} vcpus=${vcpus} ran=${vcpus} busy=${vcpus} total=\\d+ ok$`, 'm'), text);
    const lines = [...text.matchAll(new RegExp(`^smpcheck vmid=${vmid} vcpu=(\\d+) part=`, 'gm'))].map((m) => Number(m[1]));
    assert.deepEqual(lines.sort(), [...Array(vcpus).keys()], text);
  }
});

test('a remote clone (descriptor over the memserver) runs the vCPUs it is given', { timeout: 60_000 }, async (t) => {
  if (skipUnlessKvm(t, { images: [smpcheck] })) return;
  const { vm: master } = await parkedMaster();
  t.after(() => master.destroy());
  const snapshot = await master.fork();
  t.after(() => snapshot.release());
  const server = startMemserver(snapshot, '127.0.0.1:0');
  t.after(() => server.stop());
  const clone = await VirtualMachine.createRemoteClone(snapshot.descriptor(), { vmid: 5, server: server.endpoint, vcpus: 2 });
  t.after(() => clone.destroy());
  const text = await finish(clone, collect(clone));
  assert.match(text, /^smpcheck vmid=5 vcpus=2 ran=2 busy=2 total=\d+ ok$/m, text);
});
