// The lines sf events prints for people: the time, what changed and where, one event per line.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { eventLine } from './events.ts';

test('each event kind reads as one line: time, subject, new state', () => {
  const at = '2026-12-07T12:03:04.567Z';
  assert.equal(eventLine({ event: 'host:state', at, host: 'node2', state: 'offline' }), '12:03:04  host      node2 is offline');
  assert.equal(
    eventLine({ event: 'domain:state', at, clusterid: 1, vmid: 3, host: 'node1', state: 'running' }),
    '12:03:04  domain    1:3 is running on node1',
  );
  assert.equal(
    eventLine({ event: 'operation:progress', at, kind: 'clone.master', target: 'ticket:t', status: 'running', progress: 0.5, error: null }),
    '12:03:04  operation clone.master ticket:t running 50%',
  );
  assert.equal(
    eventLine({ event: 'operation:progress', at, kind: 'cluster.seed', target: 'x', status: 'failed', progress: 1, error: 'no host fits' }),
    '12:03:04  operation cluster.seed x failed: no host fits',
  );
  assert.equal(
    eventLine({ event: 'host:metrics', at, host: 'node1', cpuUtilization: 0.25, domainsRunning: 2 }),
    '12:03:04  metrics   node1 cpu 25%, 2 VMs running',
  );
});
