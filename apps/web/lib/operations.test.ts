// The operations panel's list under live progress events, and the words it shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OperationStatus } from '@snowflock/daemon/states';
import type { Operation } from './api-types.ts';
import { applyProgress, clusterOf, kindLabel, mergeNewest, operationsUrl, requesterLabel, targetLabel } from './operations.ts';

const op = (id: string, status: OperationStatus = 'running'): Operation => ({
  id,
  kind: 'clone.merge',
  target: 'cluster:1',
  requester: 'admin',
  clusterid: 1,
  status,
  progress: 0,
  error: null,
  detail: {},
  startedAt: '2026-01-01T00:00:00.000Z',
  finishedAt: null,
});
const now = new Date('2026-01-01T00:00:05.000Z');

test('progress updates its operation in place and keeps it after it finishes', () => {
  const list = [op('b'), op('a', 'succeeded')];
  const mid = applyProgress(
    list,
    { id: 'b', kind: 'clone.merge', target: 'cluster:1', status: 'running', progress: 0.5, error: null },
    now,
  );
  assert.equal(mid.unknown, false);
  assert.deepEqual([mid.list[0]!.progress, mid.list[0]!.finishedAt], [0.5, null]);
  const done = applyProgress(
    mid.list,
    { id: 'b', kind: 'clone.merge', target: 'cluster:1', status: 'failed', progress: 0, error: 'HOST_LOST: gone' },
    now,
  );
  assert.deepEqual([done.list[0]!.status, done.list[0]!.error, done.list[0]!.finishedAt], ['failed', 'HOST_LOST: gone', now.toISOString()]);
  assert.equal(done.list.length, 2, 'finished operations stay');
});

test('an operation the list did not have goes on top and asks for a refetch', () => {
  const r = applyProgress(
    [op('a')],
    { id: 'new', kind: 'cluster.seed', target: 'hello', status: 'running', progress: 0, error: null },
    now,
  );
  assert.equal(r.unknown, true);
  assert.deepEqual(
    r.list.map((o) => o.id),
    ['new', 'a'],
  );
});

test('labels for kinds, targets and requesters, and the cluster an operation belongs to', () => {
  assert.equal(kindLabel('clone.merge'), 'Merge clones');
  assert.equal(kindLabel('something.new'), 'something.new');
  assert.equal(targetLabel('ticket:3f2a1b2c-0000-4000-8000-000000000000'), 'ticket 3f2a1b2c');
  assert.equal(targetLabel('domain:1:2'), 'domain 1:2');
  assert.equal(requesterLabel('domain:1:0'), 'VM 1:0');
  assert.equal(requesterLabel('token:alice'), 'alice (token)');
  assert.equal(targetLabel('token:alice'), 'token alice');
  assert.equal(requesterLabel('host:kvm1'), 'sfld on kvm1');
  assert.equal(clusterOf({ target: 'ticket:x', requester: 'domain:7:0' }), 7);
  assert.equal(clusterOf({ target: 'kvm1', requester: 'sfmd' }), null);
});

test('a refreshed newest page keeps the older pages the viewer loaded, without repeats, and their cursor', () => {
  const at = (id: string, s: number, status: OperationStatus = 'succeeded') => ({
    ...op(id, status),
    startedAt: new Date(s * 1000).toISOString(),
  });
  const shown = { operations: [at('e', 5, 'running'), at('d', 4), at('c', 3), at('b', 2)], nextCursor: 'past-b' };
  const fresh = { operations: [at('f', 6), at('e', 5), at('d', 4)], nextCursor: 'past-d' };
  const merged = mergeNewest(shown, fresh, true);
  assert.deepEqual(
    merged.operations.map((o) => [o.id, o.status]),
    [
      ['f', 'succeeded'],
      ['e', 'succeeded'],
      ['d', 'succeeded'],
      ['c', 'succeeded'],
      ['b', 'succeeded'],
    ],
  );
  assert.equal(merged.nextCursor, 'past-b', 'the next page still follows the oldest one shown');
  assert.deepEqual(mergeNewest(shown, fresh, false), fresh, 'with only the first page loaded, the fresh page is the list');
});

test('the route a page comes from carries only the filters set', () => {
  assert.equal(operationsUrl({ kind: '', outcome: '' }), '/api/operations');
  assert.equal(
    operationsUrl({ clusterid: 3, kind: 'clone.merge', outcome: 'failed', cursor: 'abc=' }),
    '/api/operations?clusterid=3&kind=clone.merge&outcome=failed&cursor=abc%3D',
  );
});
