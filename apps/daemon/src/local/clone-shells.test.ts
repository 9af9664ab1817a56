// Clone shells do not pile up: released when their ticket is disposed of, merged or joined, after
// their lifetime, and a host keeps at most a fixed number (the oldest go first). The VM factory is a
// fake that counts what is live (the real shells are KVM VMs, covered by the fork tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { SfHypercall, SfStatus, type GuestCall, type GuestReply, type VirtualMachine } from '@snowflock/native';
import { createLogger } from '../common/logger.ts';
import { CloneShells } from './clone-shells.ts';

function fakeFactory() {
  const live = new Set<object>();
  let made = 0;
  const make = async () => {
    await sleep(1);
    made++;
    const vm = {
      destroy: async () => {
        live.delete(vm);
      },
    };
    live.add(vm);
    return vm as unknown as VirtualMachine;
  };
  return { make, live, made: () => made };
}

const log = createLogger('test');
log.level = 'silent';
const shape = { memoryMiB: 64, vcpus: 1 };
const call = (nr: number, ticket = '') => ({ nr, request: { ticket } }) as unknown as GuestCall;
const ok = (extra: Partial<GuestReply> = {}) => ({ status: SfStatus.OK, ...extra }) as GuestReply;

async function settle(shells: CloneShells, live: Set<object>, expected: number) {
  for (let i = 0; i < 200 && live.size !== expected; i++) await sleep(5);
  assert.equal(live.size, expected, `expected ${expected} live shells (count ${shells.count})`);
}

test('a master looping ticket request/dispose leaves no shells behind', async () => {
  const f = fakeFactory();
  const shells = new CloneShells(log, 60_000, f.make);
  for (let i = 0; i < 200; i++) {
    const ticket = `t${i}`;
    shells.afterGuestCall(call(SfHypercall.TICKET_REQUEST), ok({ ticket, count: 4 }), shape);
    assert.ok(shells.count <= 4);
    shells.afterGuestCall(call(SfHypercall.TICKET_DISPOSE, ticket), ok(), shape);
  }
  assert.equal(shells.count, 0);
  await settle(shells, f.live, 0);
  assert.ok(f.made() <= 200 * 4);
});

test('merged and joined tickets release their shells; refused calls and unknown tickets change nothing', async () => {
  const f = fakeFactory();
  const shells = new CloneShells(log, 60_000, f.make);
  shells.afterGuestCall(call(SfHypercall.TICKET_REQUEST), ok({ ticket: 'a', count: 2 }), shape);
  shells.afterGuestCall(call(SfHypercall.TICKET_REQUEST), ok({ ticket: 'b', count: 3 }), shape);
  shells.afterGuestCall(call(SfHypercall.TICKET_REQUEST), ok({ ticket: 'c', count: 1 }), null); // no shape: nothing
  await settle(shells, f.live, 5);
  shells.afterGuestCall(call(SfHypercall.TICKET_DISPOSE, 'b'), { status: -SfStatus.ESTATE } as GuestReply, shape);
  shells.afterGuestCall(call(SfHypercall.TICKET_DISPOSE, 'zzz'), ok(), shape);
  assert.equal(shells.count, 5);
  shells.afterGuestCall(call(SfHypercall.CLONE_MERGE, 'a'), ok(), shape);
  await settle(shells, f.live, 3);
  shells.afterGuestCall(call(SfHypercall.CLONE_JOIN, 'b'), ok(), shape);
  await settle(shells, f.live, 0);
  assert.equal(shells.count, 0);
});

test('a host keeps at most its cap of shells, releasing the oldest ticket first; unused shells expire', async () => {
  const f = fakeFactory();
  const shells = new CloneShells(log, 200, f.make, 10);
  for (const ticket of ['a', 'b', 'c']) shells.prepare(ticket, shape, 4);
  assert.equal(shells.count, 8, 'a (the oldest) made room for c');
  await settle(shells, f.live, 8);
  assert.equal((await shells.take('a', 4)).length, 0, 'a is gone');
  const b = await shells.take('b', 2);
  assert.equal(b.length, 2);
  await settle(shells, f.live, 6); // b's other two destroyed; b's two taken ones are the fork's now
  await sleep(300); // c outlives its lifetime
  await settle(shells, f.live, 2);
  assert.equal(shells.count, 0);
});

test("what was prepared with a ticket's shells is released with them, never when a fork takes them", async () => {
  const f = fakeFactory();
  const released: string[] = [];
  const shells = new CloneShells(log, 200, f.make, 10, (ticket) => released.push(ticket));
  for (const ticket of ['disposed', 'forked', 'expired', 'evicted']) shells.prepare(ticket, shape, 2);
  await shells.release('disposed');
  await shells.take('forked', 2); // the fork's now: its taps are the clones'
  await shells.release('unknown'); // nothing held: nothing to say
  shells.prepare('late', shape, 4); // over the cap of 10: the oldest held ('expired') makes room
  await sleep(300); // the rest outlive their lifetime
  await settle(shells, f.live, 2); // the fork's two
  assert.deepEqual(released.sort(), ['disposed', 'evicted', 'expired', 'late']);
});

test("sfmd's share for this host bounds the shells the guest's reply started, whichever comes first; a share of 0 makes none", async () => {
  const f = fakeFactory();
  const shells = new CloneShells(log, 60_000, f.make);
  // The guest's reply counts all 6 clones of the ticket; sfmd says 2 are placed here.
  shells.afterGuestCall(call(SfHypercall.TICKET_REQUEST), ok({ ticket: 'a', count: 6 }), shape);
  shells.prepare('a', shape, 2, true);
  const taken = await shells.take('a', 6);
  assert.equal(taken.length, 2);
  await settle(shells, f.live, 2);
  // sfmd's word first: the guest's reply changes nothing, and a share of 0 means no shell at all.
  shells.prepare('b', shape, 0, true);
  shells.afterGuestCall(call(SfHypercall.TICKET_REQUEST), ok({ ticket: 'b', count: 4 }), shape);
  shells.prepare('c', shape, 1, true);
  shells.afterGuestCall(call(SfHypercall.TICKET_REQUEST), ok({ ticket: 'c', count: 4 }), shape);
  assert.deepEqual([(await shells.take('b', 4)).length, (await shells.take('c', 4)).length], [0, 1]);
  assert.ok(f.made() <= 2 + 1 + 1, `made ${f.made()}: at most one beyond the share before sfmd's word stopped it`);
});
