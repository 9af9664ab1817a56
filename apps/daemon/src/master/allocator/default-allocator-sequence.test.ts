// Property tests of the default allocator over sequences of ticket requests and releases (seed §9): what
// hosts already run counts, so "no host runs more than one clone more than another" holds across requests,
// not only within one. Seeded (mulberry32): a failure prints the seed and step to replay it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultAllocator } from './default-allocator.ts';
import type { AllocationRequest, HostCapacity, Placement } from './types.ts';
import { chance, mulberry32, pick, randInt } from './test-random.ts';

const GiB = 1024 ** 3;
const SEQUENCES = 300;
const STEPS = 40;

interface Host {
  hostId: string;
  cpus: number;
  ram: number;
}

interface Clone {
  hostId: string;
  processors: number;
  memory: number;
}

/** A pool of hosts and the clones they run, as sfmd's record would hold them. */
class Pool {
  clones: Clone[] = [];
  constructor(readonly hosts: Host[]) {}

  count(hostId: string): number {
    return this.clones.filter((c) => c.hostId === hostId).length;
  }

  capacity(): HostCapacity[] {
    return this.hosts.map((h) => {
      const mine = this.clones.filter((c) => c.hostId === h.hostId);
      return {
        hostId: h.hostId,
        name: h.hostId,
        cpusFree: h.cpus - mine.reduce((n, c) => n + c.processors, 0),
        ramFree: h.ram - mine.reduce((n, c) => n + c.memory, 0),
        running: mine.length,
      };
    });
  }
}

const fitsOne = (h: HostCapacity, r: AllocationRequest) => h.cpusFree >= (r.procs ? 1 : r.masterVcpus) && h.ramFree >= r.memory;

/**
 * Replays the placements one by one from the capacity before the request: each must go to a host with the
 * fewest clones among those that could take one at that moment, and no host may ever be overcommitted.
 */
function assertPlacedFairly(before: HostCapacity[], request: AllocationRequest, placements: Placement[], where: string): void {
  const state = new Map(before.map((h) => [h.hostId, { ...h, running: h.running ?? 0 }]));
  for (const [i, p] of placements.entries()) {
    const fitting = [...state.values()].filter((h) => fitsOne(h, request));
    const chosen = state.get(p.hostId);
    assert.ok(chosen && fitsOne(chosen, request), `${where}: placement ${i} on ${p.hostId}, which cannot fit a VM`);
    const fewest = Math.min(...fitting.map((h) => h.running));
    assert.equal(
      chosen.running,
      fewest,
      `${where}: placement ${i} went to ${p.hostId} with ${chosen.running} clones, another had ${fewest}`,
    );
    chosen.cpusFree -= p.processors;
    chosen.ramFree -= p.memory;
    chosen.running += 1;
    assert.ok(chosen.cpusFree >= 0 && chosen.ramFree >= 0, `${where}: ${p.hostId} overcommitted`);
  }
}

function randomHosts(rng: () => number, uniform: boolean): Host[] {
  const n = randInt(rng, 2, 6);
  const cpus = randInt(rng, 2, 16);
  return Array.from({ length: n }, (_, k) => ({
    hostId: `h${k}`,
    cpus: uniform ? cpus : randInt(rng, 0, 16),
    ram: uniform ? 64 * GiB : randInt(rng, 0, 16) * GiB,
  }));
}

test('sequences of requests and releases: every clone goes to a host with the fewest clones that fits one; no overcommit', () => {
  for (let s = 0; s < SEQUENCES; s++) {
    const seed = 11_000_000 + s;
    const rng = mulberry32(seed);
    const pool = new Pool(randomHosts(rng, false));
    for (let step = 0; step < STEPS; step++) {
      const where = `seed=${seed} step=${step}`;
      if (pool.clones.length > 0 && chance(rng, 0.3)) {
        // A ticket merged, clones exited: some clones go, from any hosts.
        pool.clones = pool.clones.filter(() => !chance(rng, 0.4));
        continue;
      }
      const procs = chance(rng, 0.3);
      const request: AllocationRequest = {
        amount: randInt(rng, 1, 8),
        procs,
        min: 0,
        masterVcpus: pick(rng, [1, 1, 2, 4]),
        memory: pick(rng, [256 * 1024 ** 2, GiB, 2 * GiB]),
      };
      const before = pool.capacity();
      const placements = defaultAllocator.allocate(before, request, rng);
      assertPlacedFairly(before, request, placements, where);
      for (const p of placements) pool.clones.push({ hostId: p.hostId, processors: p.processors, memory: p.memory });
    }
  }
});

test('sequences of one-clone requests on equal hosts stay balanced within one clone across requests', () => {
  for (let s = 0; s < SEQUENCES; s++) {
    const seed = 12_000_000 + s;
    const rng = mulberry32(seed);
    const pool = new Pool(randomHosts(rng, true));
    const request: AllocationRequest = { amount: 1, procs: false, min: 1, masterVcpus: 1, memory: GiB };
    for (let step = 0; step < STEPS; step++) {
      const where = `seed=${seed} step=${step}`;
      const placements = defaultAllocator.allocate(pool.capacity(), { ...request, amount: randInt(rng, 1, 3) }, rng);
      for (const p of placements) pool.clones.push({ hostId: p.hostId, processors: p.processors, memory: p.memory });
      // Hosts that can still take a clone are within one of every other host (full ones may lag behind).
      const free = pool.capacity().filter((h) => fitsOne(h, request));
      for (const a of pool.hosts) {
        for (const b of free) {
          const [na, nb] = [pool.count(a.hostId), pool.count(b.hostId)];
          assert.ok(na <= nb + 1, `${where}: ${a.hostId} runs ${na} clones while ${b.hostId} runs ${nb} and could take another`);
        }
      }
    }
  }
});

test('a host already running clones is passed over until the others catch up', () => {
  const hosts: HostCapacity[] = [
    { hostId: 'busy', name: 'busy', cpusFree: 8, ramFree: 8 * GiB, running: 3 },
    { hostId: 'idle', name: 'idle', cpusFree: 8, ramFree: 8 * GiB, running: 0 },
  ];
  const placements = defaultAllocator.allocate(hosts, { amount: 4, procs: false, min: 4, masterVcpus: 1, memory: GiB }, mulberry32(7));
  // Three to the idle host (3:3 then), the fourth to either.
  assert.deepEqual(
    placements.slice(0, 3).map((p) => p.hostId),
    ['idle', 'idle', 'idle'],
  );
  assert.equal(placements.length, 4);
});
