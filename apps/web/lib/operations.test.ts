// The operations panel's list under live progress events, and the words it shows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { OperationStatus } from '@snowflock/daemon/states';
import type { Operation } from './api-types.ts';
import { applyProgress, clusterOf, kindLabel, requesterLabel, targetLabel } from './operations.ts';

const op = (id: string, status: OperationStatus = 'running'): Operation => ({
  id,
  kind: 'clone.merge',
  target: 'cluster:1',
  requester: 'admin',
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
  assert.equal(requesterLabel('host:kvm1'), 'sfld on kvm1');
  assert.equal(clusterOf({ target: 'ticket:x', requester: 'domain:7:0' }), 7);
  assert.equal(clusterOf({ target: 'kvm1', requester: 'sfmd' }), null);
});
