// The Cluster View's tree: the master at the root, one branch per ticket with its clones in vmid order,
// reservations only for unused tickets, strays kept visible, counts and endings as people read them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DomainState, TicketState } from '@snowflock/daemon/states';
import { buildClusterTree, describeEnding, mergeableTickets, shutdownStops, type TreeDomain, type TreeTicket } from './cluster-tree.ts';

const T1 = '11111111-1111-4111-8111-111111111111';
const T2 = '22222222-2222-4222-8222-222222222222';

const dom = (vmid: number, state: DomainState, ticket: string | null, extra: Partial<TreeDomain> = {}): TreeDomain => ({
  clusterid: 1,
  vmid,
  host: 'kvm1',
  state,
  ip: null,
  mac: null,
  vcpus: 1,
  memory: 64 << 20,
  ticket,
  exitCode: null,
  endReason: null,
  createdAt: `2026-01-01T00:00:0${vmid}Z`,
  endedAt: null,
  ...extra,
});
const ticket = (id: string, state: TicketState, createdAt: string, vmids: number[]): TreeTicket => ({
  ticket: id,
  state,
  requested: vmids.length,
  granted: vmids.length,
  procs: false,
  createdAt,
  allocations: vmids.map((vmid) => ({ vmid, host: 'kvm1', processors: 1, memory: 64 << 20 })),
});

test('master at the root, a branch per ticket in creation order, clones by vmid', () => {
  const tree = buildClusterTree(
    [dom(0, 'running', null), dom(2, 'running', T2), dom(1, 'merged', T1), dom(1, 'running', T2), dom(2, 'merged', T1)],
    [ticket(T2, 'outstanding', '2026-01-01T00:01:00Z', [1, 2]), ticket(T1, 'merged', '2026-01-01T00:00:30Z', [1, 2])],
  );
  assert.equal(tree.master?.vmid, 0);
  assert.deepEqual(
    tree.branches.map((b) => b.ticket.ticket),
    [T1, T2],
  );
  assert.deepEqual(
    tree.branches[1]!.clones.map((c) => [c.vmid, c.state]),
    [
      [1, 'running'],
      [2, 'running'],
    ],
  );
  assert.deepEqual(tree.counts, { live: 3, ended: 2, clonesLive: 2 });
  assert.notEqual(
    tree.branches[0]!.clones[0]!.key,
    tree.branches[1]!.clones[0]!.key,
    'a vmid reused by a later generation gets its own key',
  );
  assert.deepEqual(mergeableTickets(tree), [T2]);
});

test('an unused ticket shows its reservations; merged and disposed ones do not', () => {
  const tree = buildClusterTree(
    [dom(0, 'running', null)],
    [ticket(T1, 'unused', '2026-01-01T00:00:01Z', [1, 2]), ticket(T2, 'disposed', '2026-01-01T00:00:02Z', [1])],
  );
  assert.deepEqual(
    tree.branches.map((b) => b.reserved.map((a) => a.vmid)),
    [[1, 2], []],
  );
});

test('a domain naming an unknown ticket is kept as a stray, and a cluster without master has none', () => {
  const tree = buildClusterTree([dom(3, 'running', T1)], []);
  assert.equal(tree.master, null);
  assert.deepEqual(
    tree.strays.map((s) => s.vmid),
    [3],
  );
});

test('endings read as people say them', () => {
  assert.equal(describeEnding({ state: 'running', exitCode: null, endReason: null }), null);
  assert.equal(describeEnding({ state: 'exited', exitCode: 0, endReason: null }), 'exited 0');
  assert.equal(describeEnding({ state: 'crashed', exitCode: null, endReason: 'triple fault' }), 'crashed: triple fault');
  assert.equal(describeEnding({ state: 'merged', exitCode: null, endReason: null }), 'merged');
});

test('several generations out at once sit side by side under the master; a shutdown would stop them all', () => {
  const T3 = '33333333-3333-4333-8333-333333333333';
  // Getting Started: sfdotix 1 + sfdoclone (vmid 1), then sfclone 2 while it runs (vmids 2, 3), then a spare ticket.
  const tree = buildClusterTree(
    [dom(0, 'running', null), dom(1, 'running', T1), dom(3, 'running', T2), dom(2, 'exited', T2)],
    [
      ticket(T1, 'outstanding', '2026-01-01T00:00:10Z', [1]),
      ticket(T2, 'outstanding', '2026-01-01T00:00:20Z', [2, 3]),
      ticket(T3, 'unused', '2026-01-01T00:00:30Z', [4]),
    ],
  );
  assert.deepEqual(
    tree.branches.map((b) => [b.ticket.ticket, b.clones.map((c) => c.vmid), b.reserved.map((r) => r.vmid)]),
    [
      [T1, [1], []],
      [T2, [2, 3], []],
      [T3, [], [4]],
    ],
  );
  assert.deepEqual(mergeableTickets(tree), [T1, T2]);
  const stops = shutdownStops(tree);
  assert.deepEqual(
    stops.clones.map((c) => c.vmid),
    [1, 3],
    'live clones only: the exited one needs no stopping',
  );
  assert.deepEqual(
    stops.tickets.map((t) => [t.ticket, t.state]),
    [
      [T1, 'outstanding'],
      [T2, 'outstanding'],
      [T3, 'unused'],
    ],
  );
  const done = buildClusterTree([dom(0, 'running', null), dom(1, 'merged', T1)], [ticket(T1, 'merged', '2026-01-01T00:00:10Z', [1])]);
  assert.deepEqual(shutdownStops(done), { clones: [], tickets: [] });
});
