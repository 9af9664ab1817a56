// VMs with the `net` option on a real tap: the guest finds its NIC in device slot 0 (bootinfo.ndevices, the
// virtio-mmio registers, the MAC in its config space), the NIC thread runs once the driver says DRIVER_OK, a
// missing tap is a clear BAD_INPUT, destroy() releases the tap and every fd, and clones need their own NIC. Needs /dev/kvm, gcc and root
// (to make taps with `ip tuntap`); skips with the reason otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';

import { rejectsWith } from './vm-error-assert.ts';
import { VirtualMachine } from './vm.ts';

const nativeDir = fileURLToPath(new URL('..', import.meta.url));

// Probes slot 0, brings the driver to DRIVER_OK and notifies once (no queues: only the wiring is under test
// here; the notify wakes the NIC thread, which otherwise sleeps until a driver gives it something to do).
const guestSource = String.raw`
#include <snowflock/abi.h>
typedef unsigned long u64;
typedef unsigned int u32;
__attribute__((used)) static char stack[16384] __attribute__((aligned(16)));
static inline void outb(unsigned short port, unsigned char v) { __asm__ volatile("outb %0, %1" ::"a"(v), "Nd"(port)); }
static void puts_(const char* s) { while (*s) outb(SF_SERIAL_PORT, (unsigned char)*s++); }
static void hex2(unsigned v) { const char* d = "0123456789abcdef"; outb(SF_SERIAL_PORT, d[v >> 4]); outb(SF_SERIAL_PORT, d[v & 15]); }
static volatile u32* reg(u32 off) { return (volatile u32*)(SF_VIRTIO_MMIO_GPA + off); }
static __attribute__((noreturn)) void exit_(int code) {
  u64 rdx = SF_HC_PORT, a0 = (u32)code, nr = SF_HC_EXIT;
  __asm__ volatile("outl %%eax, %%dx" : "+a"(nr), "+D"(a0), "+d"(rdx) : : "rsi", "r10", "memory");
  for (;;) {}
}
void guest_main(struct sf_bootinfo* bi) {
  puts_("ndevices=");
  outb(SF_SERIAL_PORT, (unsigned char)('0' + bi->ndevices));
  if (bi->ndevices == 0) { puts_("\n"); exit_(0); }
  if (*reg(0) != 0x74726976u || *reg(4) != 2 || *reg(8) != 1) { puts_(" bad registers\n"); exit_(2); }
  puts_(" mac=");
  for (int i = 0; i < 6; ++i) { if (i) outb(SF_SERIAL_PORT, ':'); hex2(*(volatile unsigned char*)(SF_VIRTIO_MMIO_GPA + 0x100 + i)); }
  *reg(0x70) = 1; *reg(0x70) = 3;
  *reg(0x24) = 1; *reg(0x20) = 1; *reg(0x24) = 0; *reg(0x20) = (1u << 5) | (1u << 16);
  *reg(0x70) = 11;
  if ((*reg(0x70) & 8) == 0) { puts_(" features refused\n"); exit_(3); }
  *reg(0x70) = 15;
  puts_(" driver ok\n");
  *reg(0x50) = 1;
  for (volatile u64 spin = 0; spin < 20000000ul; ++spin) {}
  exit_(0);
}
__asm__(".globl _start\n_start:\n lea stack+16384(%rip), %rsp\n call guest_main\n1: hlt\n jmp 1b\n");
`;

const env: { dir?: string; guest?: string; reason?: string; taps: string[] } = { taps: [] };

before(() => {
  try {
    closeSync(openSync('/dev/kvm', 'r+'));
  } catch (error) {
    env.reason = `/dev/kvm cannot be opened: ${(error as Error).message}`;
    return;
  }
  if (process.getuid?.() !== 0) {
    env.reason = 'needs root to make taps (ip tuntap add)';
    return;
  }
  try {
    closeSync(openSync('/dev/net/tun', 'r+'));
  } catch (error) {
    env.reason = `/dev/net/tun cannot be opened: ${(error as Error).message}`;
    return;
  }
  env.dir = mkdtempSync(join(tmpdir(), 'sf-net-test-'));
  const source = join(env.dir, 'guest.c');
  env.guest = join(env.dir, 'guest.elf');
  writeFileSync(source, guestSource);
  try {
    execFileSync(
      'gcc',
      [
        ...['-O1', '-ffreestanding', '-nostdlib', '-static', '-fno-pic', '-no-pie', '-mno-red-zone', '-mgeneral-regs-only'],
        ...['-fno-builtin', '-fno-stack-protector', '-fno-asynchronous-unwind-tables', '-I', join(nativeDir, 'guest', 'include')],
        ...['-Wl,-Ttext-segment=0x100000', '-Wl,--build-id=none', '-e', '_start', '-o', env.guest, source],
      ],
      { stdio: 'pipe' },
    );
  } catch (error) {
    env.reason = `cannot compile the test guest with gcc: ${(error as Error).message}`;
  }
});

after(() => {
  for (const tap of env.taps) execFileSync('ip', ['link', 'del', 'dev', tap], { stdio: 'ignore' });
  if (env.dir) rmSync(env.dir, { recursive: true, force: true });
});

function ready(t: TestContext): boolean {
  if (!env.reason) return true;
  t.skip(env.reason);
  return false;
}

/** A persistent tap, up, as sfld makes them; deleted after the tests. */
function makeTap(): string {
  const name = `sfnj${process.pid % 100000}${env.taps.length}`;
  execFileSync('ip', ['tuntap', 'add', 'dev', name, 'mode', 'tap'], { stdio: 'pipe' });
  env.taps.push(name);
  execFileSync('ip', ['link', 'set', 'dev', name, 'up'], { stdio: 'pipe' });
  return name;
}

const net = (tap: string) => ({ tap, mac: '02:00:00:05:00:07', ip: '10.5.0.8', prefixLength: 24, gateway: '10.5.0.254', dns: [] });
const openFds = () => readdirSync('/proc/self/fd').length;

test('the guest finds its NIC in slot 0 and the NIC thread runs; destroy releases the tap and every fd', async (t) => {
  if (!ready(t)) return;
  const tap = makeTap();
  const fds = openFds();
  const vm = await VirtualMachine.create({ memoryMiB: 16, image: env.guest!, cmdline: 'net', net: net(tap) });
  const chunks: Buffer[] = [];
  vm.on('console', (c) => chunks.push(c));
  await vm.boot();
  const end = await vm.waitForExit(10_000);
  const console = Buffer.concat(chunks).toString();
  assert.equal(end.state, 'exited', console);
  assert.equal(end.exitCode, 0, console);
  assert.match(console, /ndevices=1 mac=02:00:00:05:00:07 driver ok/);
  const stats = vm.netStats();
  assert.ok(stats, 'a VM with a NIC has net stats');
  assert.ok(stats.wakeups > 0, `the NIC thread ran after DRIVER_OK: ${JSON.stringify(stats)} ${JSON.stringify(vm.stats())}`);
  assert.ok(vm.stats().exits.mmio >= 10, JSON.stringify(vm.stats()));
  await vm.destroy();
  assert.equal(vm.netStats()?.txPackets, stats.txPackets, 'the final counters outlive the VM');
  assert.equal(openFds(), fds, 'the tap fd, the eventfd and the VM fds are closed');
  // The tap is free again: another VM (a restarted one) attaches to it.
  const again = await VirtualMachine.create({ memoryMiB: 16, image: env.guest!, net: net(tap) });
  await again.destroy();
});

test('without net the guest sees no devices and netStats() is null', async (t) => {
  if (!ready(t)) return;
  const vm = await VirtualMachine.create({ memoryMiB: 16, image: env.guest!, cmdline: 'net' });
  const chunks: Buffer[] = [];
  vm.on('console', (c) => chunks.push(c));
  await vm.boot();
  assert.equal((await vm.waitForExit(10_000)).exitCode, 0);
  assert.match(Buffer.concat(chunks).toString(), /ndevices=0/);
  assert.equal(vm.netStats(), null);
  await vm.destroy();
});

test('a tap that does not exist is a BAD_INPUT that says who makes it', async (t) => {
  if (!ready(t)) return;
  const fds = openFds();
  await rejectsWith(
    VirtualMachine.create({ memoryMiB: 16, image: env.guest!, net: net('sfnj-none') }),
    'BAD_INPUT',
    /tap sfnj-none does not exist: sfld creates it/,
  );
  assert.equal(openFds(), fds);
});

test('a clone of a VM with a NIC needs its own net and comes up on its own tap', async (t) => {
  if (!ready(t)) return;
  const vm = await VirtualMachine.create({ memoryMiB: 16, image: env.guest!, cmdline: 'net', net: net(makeTap()) });
  const clones: VirtualMachine[] = [];
  try {
    await vm.boot();
    const snapshot = await vm.fork();
    await rejectsWith(VirtualMachine.createClone(snapshot, { vmid: 1 }), 'BAD_INPUT', /needs its own net option/);
    const clone = await VirtualMachine.createClone(snapshot, {
      vmid: 1,
      net: { ...net(makeTap()), mac: '02:00:00:05:00:09', ip: '10.5.0.9' },
    });
    clones.push(clone);
    await clone.resume();
    assert.ok(clone.netStats(), 'the clone has its own NIC');
    snapshot.release();
  } finally {
    await Promise.all([vm, ...clones].map((v) => v.destroy()));
  }
});
