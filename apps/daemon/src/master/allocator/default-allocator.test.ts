// Property and example tests for the default allocator: no overcommit, balance within one, maximality,
// vcpu rules of clone/procs mode, vmid numbering, determinism and fair tie-breaking. Seeds print on failure.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { messageOf } from '../../common/errors.ts';
import { defaultAllocator } from './default-allocator.ts';
import { placedAmount, type AllocationRequest, type HostCapacity, type Placement } from './types.ts';
import { chance, mulberry32, pick, randInt } from './test-random.ts';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
const CASES = 2000;

interface Case {
  seed: number;
  hosts: HostCapacity[];
  request: AllocationRequest;
}

// Memory sizes mix round figures (so RAM binds exactly at boundaries) with odd byte counts, and 0.
function randomCase(seed: number, mode?: 'clone' | 'procs'): Case {
  const rng = mulberry32(seed);
  const coin = chance(rng, 0.5);
  const procs = mode === undefined ? coin : mode === 'procs';
  const masterVcpus = pick(rng, [1, 1, 2, 2, 3, 4, 4, 8, 16, randInt(rng, 1, 64)]);
  const memory = chance(rng, 0.05)
    ? 0
    : chance(rng, 0.5)
      ? pick(rng, [256 * MiB, 512 * MiB, GiB, 2 * GiB, 4 * GiB, 8 * GiB, 16 * GiB, 32 * GiB])
      : randInt(rng, 1, 64 * GiB);
  const nhosts = randInt(rng, 1, 12);
  const hosts: HostCapacity[] = [];
  for (let i = 0; i < nhosts; i++) {
    const cpusFree = chance(rng, 0.1) ? 0 : randInt(rng, 0, 64);
    let ramFree: number;
    const r = rng();
    if (r < 0.1) ramFree = 0;
    else if (r < 0.35 && memory > 0)
      ramFree = Math.min(256 * GiB, randInt(rng, 0, 16) * memory); // exact multiples
    else ramFree = randInt(rng, 0, 256 * GiB);
    hosts.push({ hostId: `h${i}`, name: `host-${i}`, cpusFree, ramFree });
  }
  const amount = procs ? randInt(rng, 1, chance(rng, 0.5) ? 32 : 512) : randInt(rng, 1, chance(rng, 0.5) ? 8 : 128);
  const min = randInt(rng, 0, amount);
  return { seed, hosts, request: { amount, procs, min, masterVcpus, memory } };
}

const allocRandom = (seed: number) => mulberry32((seed ^ 0x9e3779b9) >>> 0);

function run(c: Case): Placement[] {
  return defaultAllocator.allocate(c.hosts, c.request, allocRandom(c.seed));
}

function describe(c: Case, placements?: Placement[]): string {
  const out = `\n  seed=${c.seed}\n  request=${JSON.stringify(c.request)}\n  hosts=${JSON.stringify(c.hosts)}`;
  return placements ? `${out}\n  placements=${JSON.stringify(placements)}` : out;
}

/** Runs `check` on CASES random cases; any assertion failure is re-thrown with the seed and the case. */
function forAll(base: number, check: (c: Case, placements: Placement[]) => void, mode?: 'clone' | 'procs'): void {
  for (let i = 0; i < CASES; i++) {
    const c = randomCase(base + i, mode);
    let placements: Placement[] | undefined;
    try {
      placements = run(c);
      check(c, placements);
    } catch (err) {
      const msg = messageOf(err);
      assert.fail(`${msg}${describe(c, placements)}`);
    }
  }
}

interface Usage {
  count: number;
  cpus: number;
  ram: number;
}

function usageByHost(placements: readonly Placement[]): Map<string, Usage> {
  const m = new Map<string, Usage>();
  for (const p of placements) {
    const u = m.get(p.hostId) ?? { count: 0, cpus: 0, ram: 0 };
    u.count += 1;
    u.cpus += p.processors;
    u.ram += p.memory;
    m.set(p.hostId, u);
  }
  return m;
}

const ZERO: Usage = { count: 0, cpus: 0, ram: 0 };

/** Whether `h`, after `u` has been placed on it, could take one more VM of this request. */
function canFitOneMore(h: HostCapacity, u: Usage, r: AllocationRequest): boolean {
  const cpusLeft = h.cpusFree - u.cpus;
  const ramLeft = h.ramFree - u.ram;
  return cpusLeft >= (r.procs ? 1 : r.masterVcpus) && ramLeft >= r.memory;
}

/** Independent figure of what the cluster can hold of this request, in the request's unit. */
function capacity(hosts: readonly HostCapacity[], r: AllocationRequest): number {
  let total = 0;
  for (const h of hosts) {
    if (h.cpusFree < 1 || h.ramFree < r.memory) continue;
    const byRam = r.memory > 0 ? Math.floor(h.ramFree / r.memory) : Infinity;
    total += r.procs ? Math.min(h.cpusFree, byRam * r.masterVcpus) : Math.min(Math.floor(h.cpusFree / r.masterVcpus), byRam);
  }
  return total;
}

test('property: no host is ever overcommitted (cpus and RAM), and unusable hosts get nothing', () => {
  forAll(1_000_000, (c, placements) => {
    const usage = usageByHost(placements);
    const byId = new Map(c.hosts.map((h) => [h.hostId, h]));
    for (const [hostId, u] of usage) {
      const h = byId.get(hostId);
      assert.ok(h, `placement on unknown host ${hostId}`);
      assert.ok(u.cpus <= h.cpusFree, `host ${hostId}: ${u.cpus} processors placed > ${h.cpusFree} free`);
      assert.ok(u.ram <= h.ramFree, `host ${hostId}: ${u.ram} bytes placed > ${h.ramFree} free`);
      assert.ok(h.cpusFree > 0 && h.ramFree >= c.request.memory, `host ${hostId} cannot fit a VM yet got ${u.count}`);
    }
    for (const p of placements) assert.equal(p.memory, c.request.memory, `vm ${p.vmid} memory`);
  });
});

test('property: never more than the amount is placed', () => {
  forAll(2_000_000, (c, placements) => {
    const placed = placedAmount(c.request, placements);
    assert.ok(placed <= c.request.amount, `placed ${placed} > amount ${c.request.amount}`);
  });
});

test('property: balance within one — a host two VMs behind another could not take one more', () => {
  forAll(3_000_000, (c, placements) => {
    const usage = usageByHost(placements);
    for (const a of c.hosts) {
      for (const b of c.hosts) {
        const ua = usage.get(a.hostId) ?? ZERO;
        const ub = usage.get(b.hostId) ?? ZERO;
        if (ua.count >= ub.count + 2) {
          assert.ok(
            !canFitOneMore(b, ub, c.request),
            `host ${a.hostId} has ${ua.count} VMs, host ${b.hostId} only ${ub.count} but could still fit one`,
          );
        }
      }
    }
  });
});

test('property: maximality — if less than the amount is placed, no host can fit another VM', () => {
  forAll(4_000_000, (c, placements) => {
    if (placedAmount(c.request, placements) >= c.request.amount) return;
    const usage = usageByHost(placements);
    for (const h of c.hosts) {
      assert.ok(!canFitOneMore(h, usage.get(h.hostId) ?? ZERO, c.request), `host ${h.hostId} could still fit a VM`);
    }
  });
});

test('property: clone mode gives every VM exactly masterVcpus and places min(amount, what fits) clones', () => {
  forAll(
    5_000_000,
    (c, placements) => {
      for (const p of placements) assert.equal(p.processors, c.request.masterVcpus, `vm ${p.vmid} processors`);
      assert.equal(placements.length, Math.min(c.request.amount, capacity(c.hosts, c.request)), 'clone count');
    },
    'clone',
  );
});

test('property: procs mode gives every VM 1..masterVcpus and places min(amount, what fits) processors', () => {
  forAll(
    6_000_000,
    (c, placements) => {
      for (const p of placements) {
        assert.ok(
          Number.isInteger(p.processors) && p.processors >= 1 && p.processors <= c.request.masterVcpus,
          `vm ${p.vmid} has ${p.processors} processors, want 1..${c.request.masterVcpus}`,
        );
      }
      assert.equal(placedAmount(c.request, placements), Math.min(c.request.amount, capacity(c.hosts, c.request)), 'processor sum');
    },
    'procs',
  );
});

test('property: procs mode with ample capacity makes exactly ceil(N / masterVcpus) VMs', () => {
  for (let i = 0; i < CASES; i++) {
    const seed = 7_000_000 + i;
    const rng = mulberry32(seed);
    const masterVcpus = randInt(rng, 1, 16);
    const amount = randInt(rng, 1, 256);
    const memory = randInt(rng, 0, 4) * GiB;
    const vms = Math.ceil(amount / masterVcpus);
    const hosts = Array.from({ length: randInt(rng, 1, 12) }, (_, k) => ({
      hostId: `h${k}`,
      name: `host-${k}`,
      cpusFree: amount + randInt(rng, 0, 64),
      ramFree: vms * memory + randInt(rng, 0, GiB),
    }));
    const c: Case = { seed, hosts, request: { amount, procs: true, min: randInt(rng, 0, amount), masterVcpus, memory } };
    const placements = run(c);
    const ctx = describe(c, placements);
    assert.equal(placements.length, vms, `VM count${ctx}`);
    assert.equal(placedAmount(c.request, placements), amount, `processor sum${ctx}`);
  }
});

test('property: vmids are 1..n in the order returned', () => {
  forAll(8_000_000, (_c, placements) => {
    for (const [i, p] of placements.entries()) assert.equal(p.vmid, i + 1, `placement ${i} has vmid ${p.vmid}`);
  });
});

test('property: the same seed gives the same placements, and the input is left untouched', () => {
  forAll(9_000_000, (c, placements) => {
    const frozen = c.hosts.map((h) => Object.freeze({ ...h }));
    const before = JSON.stringify(frozen);
    const again = defaultAllocator.allocate(frozen, Object.freeze({ ...c.request }), allocRandom(c.seed));
    assert.deepEqual(again, placements, 'second run with the same seed differs');
    assert.equal(JSON.stringify(frozen), before, 'hosts were modified');
  });
});

test('randomness: with 4 identical hosts and 1 clone, each host is picked at least 50 times in 400 runs', () => {
  const hosts = [0, 1, 2, 3].map((k) => ({ hostId: `h${k}`, name: `host-${k}`, cpusFree: 8, ramFree: 16 * GiB }));
  const request: AllocationRequest = { amount: 1, procs: false, min: 1, masterVcpus: 2, memory: GiB };
  const seed = 424242;
  const random = mulberry32(seed);
  const picks = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const [p] = defaultAllocator.allocate(hosts, request, random);
    assert.ok(p, 'one clone must be placed');
    picks.set(p.hostId, (picks.get(p.hostId) ?? 0) + 1);
  }
  for (const h of hosts) {
    const n = picks.get(h.hostId) ?? 0;
    assert.ok(n >= 50, `host ${h.hostId} picked ${n} times (seed=${seed}, picks=${JSON.stringify([...picks])})`);
  }
});

test('example: 3 hosts x 4 cpus, master 2 vcpus, 5 clones -> {2,2,1}', () => {
  const hosts = [0, 1, 2].map((k) => ({ hostId: `h${k}`, name: `host-${k}`, cpusFree: 4, ramFree: 64 * GiB }));
  const placements = defaultAllocator.allocate(hosts, { amount: 5, procs: false, min: 5, masterVcpus: 2, memory: GiB }, mulberry32(1));
  assert.equal(placements.length, 5);
  const counts = [...usageByHost(placements).values()].map((u) => u.count).sort();
  assert.deepEqual(counts, [1, 2, 2]);
  assert.ok(placements.every((p) => p.processors === 2));
});

test('example: procs mode, 10 processors, master 4 vcpus, one big host -> [4,4,2]', () => {
  const hosts = [{ hostId: 'big', name: 'big', cpusFree: 64, ramFree: 256 * GiB }];
  const placements = defaultAllocator.allocate(hosts, { amount: 10, procs: true, min: 10, masterVcpus: 4, memory: 2 * GiB }, mulberry32(2));
  assert.deepEqual(
    placements.map((p) => p.processors),
    [4, 4, 2],
  );
  assert.deepEqual(
    placements.map((p) => p.vmid),
    [1, 2, 3],
  );
});

test('example: hosts without cpus or RAM get nothing', () => {
  const hosts = [
    { hostId: 'nocpu', name: 'nocpu', cpusFree: 0, ramFree: 64 * GiB },
    { hostId: 'negcpu', name: 'negcpu', cpusFree: -2, ramFree: 64 * GiB },
    { hostId: 'noram', name: 'noram', cpusFree: 32, ramFree: GiB - 1 },
    { hostId: 'ok', name: 'ok', cpusFree: 4, ramFree: 4 * GiB },
  ];
  for (const procs of [false, true]) {
    const placements = defaultAllocator.allocate(hosts, { amount: 20, procs, min: 0, masterVcpus: 1, memory: GiB }, mulberry32(3));
    assert.ok(placements.length > 0);
    assert.ok(
      placements.every((p) => p.hostId === 'ok'),
      JSON.stringify(placements),
    );
  }
  const none = defaultAllocator.allocate(hosts.slice(0, 3), { amount: 3, procs: false, min: 0, masterVcpus: 1, memory: GiB });
  assert.deepEqual(none, []);
});

test('example: a request larger than the cluster returns what fits', () => {
  const hosts = [
    { hostId: 'a', name: 'a', cpusFree: 8, ramFree: 64 * GiB },
    { hostId: 'b', name: 'b', cpusFree: 6, ramFree: 2 * GiB },
  ];
  // a: 4 clones by cpus; b: 3 by cpus but 2 by RAM.
  const clones = defaultAllocator.allocate(hosts, { amount: 100, procs: false, min: 1, masterVcpus: 2, memory: GiB }, mulberry32(4));
  assert.equal(clones.length, 6);
  assert.equal(clones.filter((p) => p.hostId === 'b').length, 2);
  // procs: a gives 8 processors; b holds 2 VMs of at most 2 vcpus = 4 processors.
  const procs = defaultAllocator.allocate(hosts, { amount: 100, procs: true, min: 1, masterVcpus: 2, memory: GiB }, mulberry32(5));
  assert.equal(placedAmount({ amount: 100, procs: true, min: 1, masterVcpus: 2, memory: GiB }, procs), 12);
});

test('invalid requests and duplicate hosts are rejected with BAD_INPUT', () => {
  const hosts = [{ hostId: 'a', name: 'a', cpusFree: 8, ramFree: 8 * GiB }];
  const base: AllocationRequest = { amount: 2, procs: false, min: 1, masterVcpus: 1, memory: GiB };
  const bad: AllocationRequest[] = [
    { ...base, amount: 0 },
    { ...base, amount: 1.5 },
    { ...base, min: 3 },
    { ...base, min: -1 },
    { ...base, masterVcpus: 0 },
    { ...base, memory: -1 },
    { ...base, memory: Number.NaN },
  ];
  for (const r of bad) {
    assert.throws(() => defaultAllocator.allocate(hosts, r), { name: 'SfError', code: 'BAD_INPUT' }, JSON.stringify(r));
  }
  assert.throws(() => defaultAllocator.allocate([...hosts, ...hosts], base), { name: 'SfError', code: 'BAD_INPUT' });
});
