// align split over 8 clones that Slurm placed, through every real daemon: two namespaced hosts (the multi-host
// harness) whose sfmd has allocator = 'slurm', and a Slurm with one node per host (h1, h2) placing the clones.
import assert from 'node:assert/strict';
import { appendFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { json, runSf, waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { ALIGN_RESULT, cannotRunHarness, domains, masterOutput, seed, upHosts, type HostRow } from './harness.ts';
import { cannotRunScheduler, schedulerDaemons } from './scheduler-fixture.ts';

const why = cannotRunHarness() ?? cannotRunVms() ?? cannotRunScheduler('slurm');

test('align split over 8 clones placed by Slurm on two namespaced hosts prints the verified line; the slots go back after', {
  timeout: 240_000,
}, async (t) => {
  if (skipIf(t, why)) return;
  const slurm = schedulerDaemons('slurm', ['h1:4', 'h2:4']);
  t.after(() => slurm.down());
  const { status, home, env } = await upHosts(t, 'slm', { count: 2, cpus: 4, ramGiB: 2 });
  // The harness names hosts by address; Slurm knows them as h1 and h2.
  const nodeOf = Object.fromEntries(status.hosts.map((h, i) => [h.address, `h${i + 1}`]));
  appendFileSync(
    path.join(home, 'sfmd.cfg'),
    `allocator = 'slurm'\nscheduler_node_names = {${Object.entries(nodeOf)
      .map(([h, n]) => `'${h}': '${n}'`)
      .join(', ')}}\nscheduler_env = {'SLURM_CONF': '${slurm.env.SLURM_CONF}'}\n`,
  );
  await runSf(['sfmd', 'stop'], env);
  const restarted = await runSf(['sfmd', 'start'], env);
  assert.equal(restarted.code, 0, `${restarted.stdout}${restarted.stderr}`);
  await waitUntil('both hosts back online with Slurm in charge', 30_000, async () => {
    const hosts = (await json<{ hosts: (HostRow & { allocator: string })[] }>(runSf(['sfstate', '--json'], env))).hosts;
    return hosts.length === 2 && hosts.every((h) => h.state === 'online' && h.allocator === 'slurm');
  });

  const started = Date.now();
  const clusterid = await seed(env, home, guestImage('align'), 'queries=16 db=32 clones=8');
  const text = await masterOutput(env, clusterid);
  t.diagnostic(`align over 8 Slurm-placed clones: ${Date.now() - started} ms`);
  assert.match(text, /forked 8 clones/, text);
  assert.match(text.match(ALIGN_RESULT)?.[0] ?? '', /verified OK$/, text);

  // 8 one-vcpu tasks on two 4-CPU nodes: Slurm can only place them 4 and 4, and the clones went where it did.
  const perNode: Record<string, number> = {};
  for (const d of (await domains(env)).filter((r) => r.domain.startsWith(`${clusterid}:`) && r.domain !== `${clusterid}:0`)) {
    assert.equal(d.state, 'exited', JSON.stringify(d));
    perNode[nodeOf[d.host]!] = (perNode[nodeOf[d.host]!] ?? 0) + 1;
  }
  assert.deepEqual(perNode, { h1: 4, h2: 4 });
  await waitUntil('the placeholder job to leave the queue', 15_000, async () => slurm.cli('squeue', '-h').trim() === '');
});
