// sfmd's own stall is no host's silence: sfmd runs in this process and its event loop is blocked for 5 s
// (as a flood of API work did), while a real sfld in a child process beats on with a real VM. When the loop
// resumes, the beats that waited in the socket are read: the host was never released, its VM never lost.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { seedCluster } from '../src/master/clusters.ts';
import { getHost } from '../src/master/queries.ts';
import { soloFetch, soloSnowflock } from './in-process.ts';
import { waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';

test("a 5 s stall of sfmd's event loop takes no host offline and loses no VM", { timeout: 90_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const solo = await soloSnowflock(t, 'sf-loop-stall-', { sfld: 'child' });
  const { svc } = solo.sfmd;
  const seed = { name: null, diskImage: null, kernel: guestImage('hello'), args: 'interactive=1', vcpus: 1, memoryMiB: 64 };
  const { clusterid } = await seedCluster(svc, seed, 'test');
  await waitUntil(`the prompt of ${clusterid}:0`, 15_000, async () => {
    const { data } = await svc.links.command('solo', 'domain:console-replay', { clusterid, vmid: 0 });
    return /hello> $/.test(data.toString());
  });
  const states: string[] = [];
  svc.events.on('host:state', (e) => states.push(e.state));
  // Beats in the steady state first, so that the stall's gap stands out against them.
  await new Promise((r) => setTimeout(r, 2500));

  const blockedAt = Date.now();
  while (Date.now() - blockedAt < 5000) {
    // sfmd's loop is blocked: no timer, no socket read (a synchronous API call that does not end).
  }
  // Long enough for the sweeper to judge several times, and for a host really silent to be found.
  await new Promise((r) => setTimeout(r, svc.timing.offlineAfterMs + 1500));

  const host = await getHost(svc, 'solo');
  assert.deepEqual(states, [], 'the host never changed state');
  assert.equal(host.state, 'online');
  assert.equal(await svc.db.operation.count({ where: { kind: 'host.release' } }), 0, 'no host.release on record');
  const master = await svc.db.domain.findFirstOrThrow({ where: { vmid: 0, cluster: { clusterid } } });
  assert.deepEqual([master.state, master.endReason], ['running', null]);
  const { data } = await svc.links.command('solo', 'domain:console-replay', { clusterid, vmid: 0 });
  assert.match(data.toString(), /hello> $/, 'its sfld still has it, waiting at its prompt');

  // What an operator sees: the gap the stall made, counted late because sfmd (not the host) was stalled.
  const beats = host.heartbeat!;
  console.log(`# heartbeat figures after the stall: ${JSON.stringify(beats)}`);
  assert.ok(beats.maxGapMs >= 4500, `the stall's gap is in the figures: ${JSON.stringify(beats)}`);
  assert.ok(beats.lateWhileSfmdStalled >= 1 && beats.late >= beats.lateWhileSfmdStalled, JSON.stringify(beats));
  assert.ok(Date.parse(beats.lastAt) > blockedAt + 5000 + svc.timing.heartbeatMs, 'beats are read again after the stall');
  const health = (await (await soloFetch(`${solo.url}/healthz`)).json()) as { loopStallMaxMs: number; loopStalls: number };
  assert.ok(health.loopStallMaxMs >= 4500 && health.loopStalls >= 1, JSON.stringify(health));
});
