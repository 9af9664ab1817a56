// `sf join` waits like waitpid through the real daemons: with the CLI's HTTP requests limited to 1.5 s
// (SNOWFLOCK_HTTP_TIMEOUT_MS), a join whose clone runs on for several seconds still ends with its exit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { json, runBin, runSf } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { vmCluster } from './vm-cluster.ts';

test('sf join outlasts the HTTP client time limit and returns the clone exit', { timeout: 120_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 2, ramGiB: 2 });
  const seeded = await c.seed(guestImage('hello'), 'interactive=1');
  const master = ['--domain', `${seeded.clusterid}:0`];
  const cloned = await json<{ ticket: string; nclones: number }>(runBin('sfclone', ['1', ...master, '--json'], c.env));
  assert.equal(cloned.nclones, 1);

  const started = Date.now();
  let joinedAfter: number | null = null;
  const join = runSf(['join', cloned.ticket, ...master, '--json'], { ...c.env, SNOWFLOCK_HTTP_TIMEOUT_MS: '1500' }).then((r) => {
    joinedAfter = Date.now() - started;
    return r;
  });
  await new Promise((r) => setTimeout(r, 6000));
  assert.equal(joinedAfter, null, 'the join still waits after 4 times the HTTP limit');
  const exited = await runSf(['exit', '4', '--domain', `${seeded.clusterid}:1`], c.env);
  assert.equal(exited.code, 0, exited.stderr);
  const r = await join;
  assert.equal(r.code, 0, r.stderr);
  const result = JSON.parse(r.stdout) as { clones: number; exits: { vmid: number; how: string; status: number }[] };
  assert.deepEqual(
    result.exits.map((e) => [e.vmid, e.how, e.status]),
    [[1, 'exited', 4]],
  );
  t.diagnostic(`join returned after ${joinedAfter} ms`);
  assert.ok(joinedAfter! >= 6000);
  assert.equal((await json<{ state: string }>(runBin('sfshutdown', [...master, '--json'], c.env))).state, 'shutdown');
});
