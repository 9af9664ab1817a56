// The stored states: schema.prisma's enums hold exactly the lists of common/states.ts (checked by the type
// checker and at run time), the client refuses a stored value outside them, and the ticket state machine
// allows exactly unused → outstanding → merged | unused → disposed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { $Enums } from '@snowflock/db';
import { TRPCError } from '@trpc/server';
import { SfError } from '../../common/errors.ts';
import { GiB, masterFixture } from '../../../test/support.ts';
import {
  assertTicketTransition,
  CLUSTER_STATES,
  canTransitionTicket,
  DOMAIN_STATES,
  HOST_STATES,
  OPERATION_STATUSES,
  TICKET_STATES,
  TOKEN_ROLES,
  type ClusterState,
  type DomainState,
  type HostState,
  type OperationStatus,
  type TicketState,
  type TokenRole,
} from './states.ts';

// Mutual assignability: a value added to either side only makes this `false`, and the line below stops compiling.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const schemaMatchesStates: [
  Same<$Enums.HostState, HostState>,
  Same<$Enums.ClusterState, ClusterState>,
  Same<$Enums.DomainState, DomainState>,
  Same<$Enums.TicketState, TicketState>,
  Same<$Enums.OperationStatus, OperationStatus>,
  Same<$Enums.TokenRole, TokenRole>,
] = [true, true, true, true, true, true];

test("schema.prisma's enums list exactly the states of common/states.ts, in the same order", () => {
  assert.ok(schemaMatchesStates.every(Boolean));
  assert.deepEqual(Object.values($Enums.HostState), [...HOST_STATES]);
  assert.deepEqual(Object.values($Enums.ClusterState), [...CLUSTER_STATES]);
  assert.deepEqual(Object.values($Enums.DomainState), [...DOMAIN_STATES]);
  assert.deepEqual(Object.values($Enums.TicketState), [...TICKET_STATES]);
  assert.deepEqual(Object.values($Enums.OperationStatus), [...OPERATION_STATUSES]);
  assert.deepEqual(Object.values($Enums.TokenRole), [...TOKEN_ROLES]);
});

// The client itself refuses the value on read (so sfmd answers INTERNAL with the value and the enum) and on write.
test('a stored state outside its enum is an internal error naming the value and the enum', async (t) => {
  const f = await masterFixture([{ name: 'alpha', cpus: 4, ram: 8 * GiB }]);
  t.after(() => f.close());
  await f.svc.db.$executeRawUnsafe(`UPDATE "Host" SET "state" = 'exploded' WHERE "name" = 'alpha'`);
  await assert.rejects((await f.admin()).state.hosts(), (err: unknown) => {
    assert.ok(err instanceof TRPCError, String(err));
    assert.equal(err.code, 'INTERNAL_SERVER_ERROR');
    assert.match(err.message, /'exploded'.*'HostState'/);
    return true;
  });
  await assert.rejects(f.svc.db.host.updateMany({ data: { state: 'exploded' as HostState } }), /exploded/);
});

const LEGAL = new Set(['unused>outstanding', 'unused>disposed', 'outstanding>merged']);

test('exactly the lifecycle transitions are legal', () => {
  for (const from of TICKET_STATES) {
    for (const to of TICKET_STATES) {
      assert.equal(canTransitionTicket(from, to), LEGAL.has(`${from}>${to}`), `${from} → ${to}`);
    }
  }
});

test('illegal transitions throw TICKET_STATE with advice', () => {
  const cases: [TicketState, TicketState, RegExp][] = [
    ['outstanding', 'disposed', /merge them/],
    ['merged', 'outstanding', /request a new ticket/],
    ['disposed', 'outstanding', /disposed/],
    ['unused', 'merged', /clone with it/],
    ['unused', 'unused', /cannot become unused/],
  ];
  for (const [from, to, advice] of cases) {
    assert.throws(
      () => assertTicketTransition('t-1', from, to),
      (err: unknown) => err instanceof SfError && err.code === 'TICKET_STATE' && advice.test(err.message) && err.message.includes('t-1'),
    );
  }
});
