// VM fork through the real daemons on one host: a guest calls sf_clone, sfmd has its sfld fork it, each
// clone runs its share from lazily fetched memory and hands its result back through the master's join.
// The results must equal a single-VM run; a crashing clone must reach the join and the record.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { DomainState, OperationStatus } from '../src/master/store/states.ts';
import { json, runSf, waitUntil } from './cli-runner.ts';
import { domains } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { vmCluster } from './vm-cluster.ts';

const RESULT = /^(\w+) result digest=0x[0-9a-f]+ items=\d+ verified (OK|FAILED)$/m;

interface OpRow {
  kind: string;
  status: OperationStatus;
  requester: string;
  target: string;
  detail?: Record<string, unknown>;
}

test('a guest that clones itself 8 times runs align to the same verified result as one VM', { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 16, ramGiB: 16 });
  const args = 'queries=16 db=48';

  const single = await c.seed(guestImage('align'), args);
  const singleEnd = await c.ended(`${single.clusterid}:0`);
  const singleText = await c.consoleText(`${single.clusterid}:0`);
  assert.equal(singleEnd.exitCode, 0, singleText);
  const expected = singleText.match(RESULT)?.[0];
  assert.ok(expected?.endsWith('verified OK'), singleText);

  const forked = await c.seed(guestImage('align'), `${args} clones=8`);
  const master = `${forked.clusterid}:0`;
  const end = await c.ended(master);
  const text = await c.consoleText(master);
  assert.deepEqual([end.state, end.exitCode], ['exited', 0], text);
  assert.match(text, /forked 8 clones with ticket/);
  assert.equal(text.match(RESULT)?.[0], expected, `the 9-VM result equals the single-VM one:\n${text}`);

  // Every clone ran here and exited by itself; each did its own share (its console shows its queries).
  for (let vmid = 1; vmid <= 8; vmid++) {
    const clone = await c.domain(`${forked.clusterid}:${vmid}`);
    assert.equal(clone.state, 'exited', `clone ${vmid}: ${clone.endReason}`);
    assert.equal(clone.host, 'kvm1');
    const out = await c.consoleText(`${forked.clusterid}:${vmid}`);
    assert.match(out, new RegExp(`clone ${vmid} of 8 running`), out);
    assert.match(out, new RegExp(`align vmid=${vmid} nvms=9 .* OK`), out);
  }
  // The record: a clone.master operation with the fork's figures, a join, eight exits.
  const ops = await json<OpRow[]>(runSf(['ops', '--limit', '100', '--json'], c.env));
  const mine = ops.filter((o) => o.requester.startsWith(`domain:${forked.clusterid}:`));
  const fork = mine.find((o) => o.kind === 'clone.master');
  assert.equal(fork?.status, 'succeeded');
  // The shells prepared when the ticket was granted became the clones; the pause was short.
  assert.equal(fork?.detail?.fromShells, 8, JSON.stringify(fork?.detail));
  assert.ok(Number(fork?.detail?.pauseMs) < 50, JSON.stringify(fork?.detail));
  // Where the fork's time went: sfmd's stages add up to its total, and the sfld's own split fits in the fork
  // command's round trip (its capture holds the pause).
  const stages = fork?.detail?.stages as Record<string, number> | undefined;
  const timing = fork?.detail?.forkTiming as Record<string, number> | null | undefined;
  assert.ok(stages && timing, JSON.stringify(fork?.detail));
  const sfmdParts = stages.txMs! + stages.sendMs! + stages.forkMs! + stages.remoteMs! + stages.recordMs!;
  assert.ok(Math.abs(stages.totalMs! - sfmdParts) < 0.01, JSON.stringify(stages));
  assert.deepEqual(Object.keys(timing), ['networkMs', 'snapshotMs', 'shellsMs', 'createMs', 'startMs', 'serveMs']);
  const sfldParts = Object.values(timing).reduce((a, b) => a + b, 0);
  assert.ok(sfldParts <= stages.forkMs! + 0.01, `the sfld's split within the command's round trip: ${JSON.stringify(fork?.detail)}`);
  assert.ok(timing.snapshotMs! + 0.01 >= Number(fork?.detail?.pauseMs), JSON.stringify(fork?.detail));
  assert.equal(mine.filter((o) => o.kind === 'clone.exit' && o.status === 'succeeded').length, 8);
  assert.equal(mine.find((o) => o.kind === 'clone.join')?.status, 'succeeded');
});

test('render split over 4 clones matches one VM; a clone that crashes is reported to the join', { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 8, ramGiB: 8 });

  const single = await c.seed(guestImage('render'), '');
  await c.ended(`${single.clusterid}:0`);
  const expected = (await c.consoleText(`${single.clusterid}:0`)).match(RESULT)?.[0];
  assert.ok(expected?.endsWith('verified OK'));

  const forked = await c.seed(guestImage('render'), 'clones=4');
  await c.ended(`${forked.clusterid}:0`);
  assert.equal((await c.consoleText(`${forked.clusterid}:0`)).match(RESULT)?.[0], expected);

  // Clone 2 panics right after the fork: the master's join learns it, its result says FAILED, and the
  // record keeps the crash reason. The other clones and the daemons carry on.
  const broken = await c.seed(guestImage('render'), 'clones=3 crash=2');
  const master = `${broken.clusterid}:0`;
  const end = await c.ended(master);
  const text = await c.consoleText(master);
  assert.equal(end.state, 'exited');
  assert.notEqual(end.exitCode, 0, text);
  assert.match(text, /clone 2 crashed/, text);
  assert.match(text, /render result digest=0x[0-9a-f]+ items=\d+ verified FAILED/, text);
  const crashed = await c.domain(`${broken.clusterid}:2`);
  assert.equal(crashed.state, 'crashed');
  assert.match(crashed.endReason ?? '', /crashes on purpose/);
  for (const vmid of [1, 3]) assert.equal((await c.domain(`${broken.clusterid}:${vmid}`)).state, 'exited');

  // The host is whole again: a new cluster still forks.
  const again = await c.seed(guestImage('render'), 'clones=2');
  await c.ended(`${again.clusterid}:0`);
  assert.equal((await c.consoleText(`${again.clusterid}:0`)).match(RESULT)?.[0], expected);
});

test('fewer clones granted than asked: the VMs that exist share the work and the result is the same', { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  // 4 cpus: the master holds one, so a ticket for 8 clones is granted 3.
  const c = await vmCluster(t, { cpus: 4, ramGiB: 8 });
  const args = 'queries=12 db=32';
  const single = await c.seed(guestImage('align'), args);
  await c.ended(`${single.clusterid}:0`);
  const expected = (await c.consoleText(`${single.clusterid}:0`)).match(RESULT)?.[0];
  assert.ok(expected?.endsWith('verified OK'));

  const forked = await c.seed(guestImage('align'), `${args} clones=8`);
  await c.ended(`${forked.clusterid}:0`);
  const text = await c.consoleText(`${forked.clusterid}:0`);
  assert.match(text, /3 of 8 clones granted/, text);
  assert.match(text, /forked 3 clones/, text);
  assert.equal(text.match(RESULT)?.[0], expected, text);
  const clones = (
    await json<{ domains: { domain: string; state: DomainState }[] }>(runSf(['state', '--all', '--json'], c.env))
  ).domains.filter((d) => d.domain.startsWith(`${forked.clusterid}:`) && d.domain !== `${forked.clusterid}:0`);
  assert.deepEqual(
    clones.map((d) => d.state),
    ['exited', 'exited', 'exited'],
  );
});

test("the admin's sf exit for a running clone destroys its VM on the host, not only in the record", { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 4, ramGiB: 8 });
  // Long enough per clone (6 long queries: many seconds) that the clones still compute when the admin ends them,
  // and short enough that the master's own third ends well within the test file's time on a busy machine.
  const { clusterid } = await c.seed(guestImage('align'), 'queries=18 db=512 len=4096 qlen=256 clones=2');
  const live = (rows: Awaited<ReturnType<typeof domains>>) =>
    rows.filter((d) => d.domain.startsWith(`${clusterid}:`) && ['booting', 'running', 'paused', 'cloning', 'defined'].includes(d.state));
  await waitUntil('both clones to run', 60_000, async () => {
    const rows = live(await domains(c.env));
    return rows.length === 3 && rows.every((d) => d.state === 'running') ? rows : null;
  });
  for (const vmid of [1, 2]) {
    const r = await runSf(['exit', '5', '--domain', `${clusterid}:${vmid}`], c.env);
    assert.equal(r.code, 0, r.stderr);
    const d = await c.domain(`${clusterid}:${vmid}`);
    assert.deepEqual([d.state, d.exitCode], ['exited', 5]);
    assert.match(d.endReason ?? '', /^ended by the admin with clone\.exit \(status 5\): its VM was destroyed on host /);
  }
  // The host's own count of running VMs follows the record: the clones' VMs are gone, not just recorded gone.
  await waitUntil('the host to run no more VMs than the record says', 15_000, async () => {
    const state = await json<{ hosts: { metrics: { domainsRunning: number; sampledAt: number } | null }[] }>(
      runSf(['state', '--json'], c.env),
    );
    const running = state.hosts[0]?.metrics?.domainsRunning;
    return running !== undefined && running <= live(await domains(c.env)).length ? true : null;
  });
  // The master still computes its own third of the job (6 long queries): up to a minute on a busy machine.
  const master = await c.ended(`${clusterid}:0`, 90_000);
  const text = await c.consoleText(`${clusterid}:0`);
  assert.equal(master.state, 'exited', text);
  assert.match(text, /verified FAILED/, 'the join saw the clones end early: no result is passed off as verified');
});
