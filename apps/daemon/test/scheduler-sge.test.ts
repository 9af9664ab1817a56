// allocator = 'sge' against real Grid Engine daemons (qmaster and one execd: this machine, 4 slots, is the
// Snowflock host alpha; beta is a Snowflock host Grid Engine does not run): where tickets are granted, what waits
// for the site's other jobs, that every release gives the slots back, the reconcile after a restart, qmaster down.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import os from 'node:os';
import { after, before, test, type TestContext } from 'node:test';
import { jobName, startSchedulerAllocation } from '../src/master/scheduler/index.ts';
import { skipIf } from './guests.ts';
import { cannotRunScheduler, scheduledMaster, schedulerDaemons, type ScheduledMaster, type SchedulerDaemons } from './scheduler-fixture.ts';
import { GiB, seedConfig } from './support.ts';

const why = cannotRunScheduler('sge');
const NODE = os.hostname();
let d: SchedulerDaemons | null = null;
before(() => {
  if (!why) d = schedulerDaemons('sge', [`${NODE}:4`]);
});
after(() => d?.down());

const HOSTS = [
  { name: 'alpha', cpus: 4, ram: 8 * GiB },
  { name: 'beta', cpus: 4, ram: 8 * GiB },
];

const refused = (promise: Promise<unknown>, code: string, pattern: RegExp) =>
  assert.rejects(promise, (err: Error & { cause?: { code?: string } }) => {
    assert.equal(err.cause?.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });

/** qstat's own listing, one entry per task; tasks being deleted are left out (they hold nothing any more). */
function qstat(): { id: string; name: string; state: string; node: string }[] {
  const xml = d!.cli('qstat', '-u', '*', '-xml');
  const tag = (b: string, t: string) => b.match(new RegExp(`<${t}>([^<]*)</${t}>`))?.[1] ?? '';
  return [...xml.matchAll(/<job_list state="\w+">([\s\S]*?)<\/job_list>/g)]
    .map((m) => ({
      id: tag(m[1]!, 'JB_job_number'),
      name: tag(m[1]!, 'JB_name'),
      state: tag(m[1]!, 'state'),
      node: tag(m[1]!, 'queue_name').split('@')[1] ?? '',
    }))
    .filter((j) => !j.state.includes('d'));
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; qstat: ${JSON.stringify(qstat())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** A job of someone else holding all 4 slots of this machine; resolves once it runs. */
async function foreignJob(): Promise<string> {
  const id = d!
    .cli('qsub', '-terse', '-N', 'someone-else', '-pe', 'smp', '4', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'sleep', '600')
    .trim();
  await until(() => qstat().some((j) => j.name === 'someone-else' && j.state === 'r'), 'the foreign job to run');
  return id;
}

async function scheduled(
  t: TestContext,
  settings = {},
): Promise<{ m: ScheduledMaster; master: Awaited<ReturnType<ScheduledMaster['f']['admin']>> }> {
  const m = await scheduledMaster(d!, HOSTS, { alpha: NODE }, settings);
  t.after(async () => {
    await m.close();
    d!.cli('qdel', '-u', 'root');
    await until(() => qstat().length === 0, 'an empty queue');
  });
  await m.f.online('alpha', 'beta');
  await (await m.f.admin()).cluster.seed({ config: seedConfig(2, 256) });
  return { m, master: await m.f.admin('1:0') };
}

test('a ticket is granted where Grid Engine runs its tasks (never on a host it does not run), the rest cancelled', async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  const ticket = await master.ticket.request({ nclones: 3 });
  assert.equal(ticket.granted, 2, '4 slots hold two 2-vcpu clones');
  assert.deepEqual(
    ticket.allocations.map((a) => [a.host, a.processors]),
    [
      ['alpha', 2],
      ['alpha', 2],
    ],
  );
  await until(() => qstat().length === 2, 'the third task cancelled');
  for (const j of qstat()) assert.deepEqual([j.name, j.state, j.node], [jobName(m.alloc.ctx.tag, ticket.ticket), 'r', NODE]);
  await master.ticket.dispose({ ticket: ticket.ticket });
  await m.alloc.sync();
  await until(() => qstat().length === 0, 'disposing to give the slots back');
});

test("a host busy with the site's other work gets no clone, a refused request leaves nothing queued, sfstate shows it", async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  await foreignJob();
  await refused(master.ticket.request({ nclones: 1 }), 'NO_RESOURCES', /sge scheduler started 0 at once/);
  await until(() => qstat().length === 1, 'only the foreign job left');
  assert.equal(qstat()[0]!.name, 'someone-else');
  // What sfstate and the Host View show: Grid Engine in charge, its count of alpha's slots, nothing for beta.
  await m.alloc.sync();
  const hosts = await (await m.f.admin()).state.hosts();
  assert.deepEqual(
    hosts.map((h) => [h.name, h.allocator, h.scheduler]),
    [
      ['alpha', 'sge', { node: NODE, cpus: 4, bySnowflock: 0, byOthers: 4 }],
      ['beta', 'sge', null],
    ],
  );
});

test("a blocking request waits until the site's job ends, then is granted", async (t) => {
  if (skipIf(t, why)) return;
  const { master } = await scheduled(t);
  const foreign = await foreignJob();
  let settled = false;
  const request = master.ticket.request({ nclones: 2, block: true, timeoutMs: 20_000 }).finally(() => {
    settled = true;
  });
  await new Promise((r) => setTimeout(r, 2000));
  assert.equal(settled, false, 'nothing is free: the request waits');
  const freedAt = Date.now();
  d!.cli('qdel', foreign);
  const ticket = await request;
  console.log(`# granted ${Date.now() - freedAt} ms after the foreign job was deleted`);
  assert.deepEqual(
    ticket.allocations.map((a) => a.host),
    ['alpha', 'alpha'],
  );
});

test('clone exit, merge and dispose give the slots back to Grid Engine', async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  const used = await master.ticket.request({ nclones: 1 });
  const spare = await master.ticket.request({ nclones: 1 });
  await master.clone.master({ ticket: used.ticket });
  await (await m.f.admin('1:1')).clone.exit({ status: 0 });
  await m.alloc.sync();
  await until(() => qstat().length === 1, "the exited clone's task cancelled");
  assert.equal(qstat()[0]!.name, jobName(m.alloc.ctx.tag, spare.ticket));
  await master.clone.merge({ ticket: used.ticket }); // nothing left to release: the merge must not touch the spare
  await m.alloc.sync();
  assert.equal(qstat().length, 1);
  await master.ticket.dispose({ ticket: spare.ticket });
  await m.alloc.sync();
  await until(() => qstat().length === 0, 'disposing to give the slots back');
});

test('sfmd restarted reconciles: an orphan job is deleted, a ticket whose job vanished is disposed, the rest kept', async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  const kept = await master.ticket.request({ nclones: 1 });
  const lost = await master.ticket.request({ nclones: 1 });
  m.alloc.stop();
  const lostJob = qstat().find((j) => j.name === jobName(m.alloc.ctx.tag, lost.ticket))!;
  d!.cli('qdel', lostJob.id);
  // A job submitted just before sfmd died, which it never recorded a ticket for.
  const orphan = jobName(m.alloc.ctx.tag, randomUUID());
  d!.cli('qsub', '-N', orphan, '-pe', 'smp', '1', '-b', 'y', '-o', '/dev/null', '-e', '/dev/null', 'sleep', '600');
  await until(() => qstat().some((j) => j.name === orphan) && !qstat().some((j) => j.name.endsWith(lost.ticket)), 'the orphan queued');

  const again = await startSchedulerAllocation(m.f.svc, m.alloc.ctx.scheduler, m.settings, m.f.paths.home, { syncEveryMs: 600_000 });
  t.after(() => again.stop());
  await until(() => qstat().length === 1, 'the orphan deleted');
  assert.equal(qstat()[0]!.name, jobName(m.alloc.ctx.tag, kept.ticket));
  assert.deepEqual(await master.ticket.list(), { unused: [kept.ticket], outstanding: [] });
  assert.equal((await master.ticket.info({ ticket: lost.ticket })).state, 'disposed');
});

test('qmaster down: the request fails UNAVAILABLE saying what to check, and nothing is granted or queued', async (t) => {
  if (skipIf(t, why)) return;
  // A qmaster port nobody listens on: to sfmd, exactly a qmaster that is down.
  const { master } = await scheduled(t, { env: { ...d!.env, SGE_QMASTER_PORT: '1' } });
  await refused(master.ticket.request({ nclones: 1 }), 'UNAVAILABLE', /unable to send message to qmaster.*check that sge_qmaster runs/);
  assert.deepEqual(await master.ticket.list(), { unused: [], outstanding: [] });
  assert.deepEqual(qstat(), []);
});
