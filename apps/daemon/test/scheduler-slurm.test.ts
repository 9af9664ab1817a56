// allocator = 'slurm' against real Slurm daemons (munged, slurmctld, three slurmds: sfa and sfb are the Snowflock
// hosts alpha and beta, sfc is a node of the site's only): where tickets are granted, what waits for the site's
// other jobs, that every release gives the slots back, the reconcile after a restart, and a controller that is down.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, test, type TestContext } from 'node:test';
import { startSfmd } from '../src/master/main.ts';
import { installationTag, jobName, startSchedulerAllocation } from '../src/master/scheduler/index.ts';
import { quietLog } from './in-process.ts';
import { skipIf } from './guests.ts';
import { cannotRunScheduler, scheduledMaster, schedulerDaemons, type ScheduledMaster, type SchedulerDaemons } from './scheduler-fixture.ts';
import { GiB, seedConfig, silenceHost, tempHome } from './support.ts';

const why = cannotRunScheduler('slurm');
let d: SchedulerDaemons | null = null;
before(() => {
  if (!why) d = schedulerDaemons('slurm', ['sfa:4', 'sfb:4', 'sfc:4']);
});
after(() => d?.down());

const HOSTS = [
  { name: 'alpha', cpus: 4, ram: 8 * GiB },
  { name: 'beta', cpus: 4, ram: 8 * GiB },
];
const NODES = { alpha: 'sfa', beta: 'sfb' };
const HOST_OF: Record<string, string> = { sfa: 'alpha', sfb: 'beta' };

const refused = (promise: Promise<unknown>, code: string, pattern: RegExp) =>
  assert.rejects(promise, (err: Error & { cause?: { code?: string } }) => {
    assert.equal(err.cause?.code, code, err.message);
    assert.match(err.message, pattern);
    return true;
  });

/** squeue's own listing: `name state node` per task (array tasks one per line); tasks completing hold nothing. */
function squeue(): { name: string; state: string; node: string }[] {
  return d!
    .cli('squeue', '-h', '-r', '-o', '%j %T %N')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      const [name = '', state = '', node = ''] = l.trim().split(/\s+/);
      return { name, state, node };
    })
    .filter((j) => j.state !== 'COMPLETING');
}

/** A job of someone else holding all 4 CPUs of `node`; resolves once it runs. */
async function foreignJob(node: string): Promise<string> {
  const id = d!
    .cli('sbatch', '--parsable', '-J', 'someone-else', '-w', node, '-c', '4', '-o', '/dev/null', '--chdir=/', '--wrap', 'exec sleep 600')
    .trim();
  await until(
    () => squeue().some((j) => j.name === 'someone-else' && j.node === node && j.state === 'RUNNING'),
    `the foreign job on ${node} to run`,
  );
  return id;
}

async function until(check: () => boolean, what: string, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; squeue: ${JSON.stringify(squeue())}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One sfmd with alpha and beta online and cluster 1 (a 2-vcpu master) seeded; the queue is emptied after. */
async function scheduled(
  t: TestContext,
  settings = {},
): Promise<{ m: ScheduledMaster; master: Awaited<ReturnType<ScheduledMaster['f']['admin']>> }> {
  const m = await scheduledMaster(d!, HOSTS, NODES, settings);
  t.after(async () => {
    await m.close();
    d!.cli('scancel', '--user=root');
    await until(() => squeue().length === 0, 'an empty queue');
  });
  await m.f.online('alpha', 'beta');
  await (await m.f.admin()).cluster.seed({ config: seedConfig(2, 256) });
  return { m, master: await m.f.admin('1:0') };
}

test('a ticket is granted where Slurm runs its tasks, only on Snowflock hosts, and the tasks that could not start are cancelled', async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  // 5 clones of 2 vcpus: sfa and sfb hold 2 each; sfc has room but is no Snowflock host.
  const ticket = await master.ticket.request({ nclones: 5 });
  assert.equal(ticket.granted, 4);
  const tasks = squeue();
  assert.equal(tasks.length, 4, JSON.stringify(tasks));
  const perNode: Record<string, number> = {};
  for (const task of tasks) {
    assert.equal(task.name, jobName(m.alloc.ctx.tag, ticket.ticket), 'the placeholder job is named after its ticket');
    assert.equal(task.state, 'RUNNING');
    perNode[HOST_OF[task.node]!] = (perNode[HOST_OF[task.node]!] ?? 0) + 1;
  }
  const perHost: Record<string, number> = {};
  for (const a of ticket.allocations) perHost[a.host] = (perHost[a.host] ?? 0) + 1;
  assert.deepEqual(perHost, perNode, 'clones go where the scheduler runs their tasks');
  assert.deepEqual(perHost, { alpha: 2, beta: 2 });
  assert.ok(ticket.allocations.every((a) => a.processors === 2));

  await master.ticket.dispose({ ticket: ticket.ticket });
  await m.alloc.sync();
  assert.deepEqual(squeue(), [], 'disposing gives every slot back');
});

test("a procs ticket holds one Slurm task per processor; each host's processors become VMs of at most the master's vcpus", async (t) => {
  if (skipIf(t, why)) return;
  const { master } = await scheduled(t);
  const ticket = await master.ticket.request({ nclones: 7, procs: true });
  assert.equal(ticket.granted, 7);
  const perNode: Record<string, number> = {};
  for (const task of squeue()) perNode[HOST_OF[task.node]!] = (perNode[HOST_OF[task.node]!] ?? 0) + 1;
  const perHost: Record<string, number> = {};
  for (const a of ticket.allocations) {
    assert.ok(a.processors >= 1 && a.processors <= 2, `a VM of ${a.processors} processors`);
    perHost[a.host] = (perHost[a.host] ?? 0) + a.processors;
  }
  assert.deepEqual(perHost, perNode, 'processors where Slurm runs the tasks');
  // Fewest VMs: on each host all but at most one have the master's 2 vcpus.
  for (const host of Object.keys(perHost)) {
    const vms = ticket.allocations.filter((a) => a.host === host);
    assert.equal(vms.length, Math.ceil(perHost[host]! / 2));
  }
});

test("a host busy with the site's other work gets no clone, less than min cancels the whole job, sfstate shows both", async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  await foreignJob('sfa');
  const ticket = await master.ticket.request({ nclones: 4 });
  assert.equal(ticket.granted, 2);
  assert.deepEqual(
    ticket.allocations.map((a) => a.host),
    ['beta', 'beta'],
  );
  await refused(master.ticket.request({ nclones: 2, min: 2 }), 'NO_RESOURCES', /started 0 at once on Snowflock hosts/);
  assert.deepEqual(
    squeue()
      .map((j) => `${j.name === 'someone-else' ? 'foreign' : 'ours'}@${j.node}`)
      .sort(),
    ['foreign@sfa', 'ours@sfb', 'ours@sfb'],
    'the refused request left nothing queued',
  );
  assert.deepEqual((await master.ticket.list()).unused, [ticket.ticket]);
  // What sfstate and the Host View show: Slurm in charge, and its count of each host's CPUs.
  await m.alloc.sync();
  const hosts = await (await m.f.admin()).state.hosts();
  assert.deepEqual(
    hosts.map((h) => [h.name, h.allocator, h.scheduler]),
    [
      ['alpha', 'slurm', { node: 'sfa', cpus: 4, bySnowflock: 0, byOthers: 4 }],
      ['beta', 'slurm', { node: 'sfb', cpus: 4, bySnowflock: 4, byOthers: 0 }],
    ],
  );
});

test("a blocking request waits until the site's job on a Snowflock host ends, then is granted there", async (t) => {
  if (skipIf(t, why)) return;
  const { master } = await scheduled(t);
  await foreignJob('sfa');
  const onB = await foreignJob('sfb');
  let settled = false;
  const request = master.ticket.request({ nclones: 2, block: true, timeoutMs: 20_000 }).finally(() => {
    settled = true;
  });
  await new Promise((r) => setTimeout(r, 1500));
  assert.equal(settled, false, 'nothing is free: the request waits');
  assert.ok(
    squeue().some((j) => j.name.startsWith('sf-') && j.state === 'PENDING'),
    'its job waits in the queue',
  );
  const freedAt = Date.now();
  d!.cli('scancel', onB);
  const ticket = await request;
  console.log(`# granted ${Date.now() - freedAt} ms after the foreign job was cancelled`);
  assert.deepEqual(
    ticket.allocations.map((a) => a.host),
    ['beta', 'beta'],
  );
});

test('a polling client (STILL_WAITING) keeps one job queued across its calls and is granted on the call after the slots free', async (t) => {
  if (skipIf(t, why)) return;
  const { master } = await scheduled(t);
  await foreignJob('sfa');
  const onB = await foreignJob('sfb');
  const ask = () => master.ticket.request({ nclones: 2, block: true, pollMs: 500 });
  await refused(ask(), 'STILL_WAITING', /still waiting for the slurm scheduler/);
  const queued = squeue().filter((j) => j.name.startsWith('sf-'));
  assert.ok(queued.length > 0 && queued.every((j) => j.state === 'PENDING'), 'its job waits in the queue between the calls');
  await refused(ask(), 'STILL_WAITING', /still waiting/);
  assert.deepEqual(
    [
      ...new Set(
        squeue()
          .filter((j) => j.name.startsWith('sf-'))
          .map((j) => j.name),
      ),
    ],
    [...new Set(queued.map((j) => j.name))],
    'the second call waits on the same job, not a new one',
  );
  d!.cli('scancel', onB);
  let ticket: Awaited<ReturnType<typeof ask>> | null = null;
  for (let i = 0; i < 20 && !ticket; i++) ticket = await ask().catch(() => null);
  assert.ok(ticket, 'granted once the foreign job ended');
  assert.ok(queued[0]!.name.endsWith(ticket.ticket), `the ticket is the queued job's (${queued[0]!.name})`);
  assert.deepEqual(
    ticket.allocations.map((a) => a.host),
    ['beta', 'beta'],
  );
});

test('clone exit, merge and dispose give the slots back to Slurm', async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  const used = await master.ticket.request({ nclones: 2 });
  const spare = await master.ticket.request({ nclones: 1 });
  await master.clone.master({ ticket: used.ticket });
  assert.equal(squeue().length, 3);
  await (await m.f.admin('1:1')).clone.exit({ status: 0 });
  await m.alloc.sync();
  const left = squeue();
  assert.equal(left.length, 2, `one clone exited: its task is cancelled (${JSON.stringify(left)})`);
  await master.clone.merge({ ticket: used.ticket });
  await m.alloc.sync();
  assert.deepEqual(
    squeue().map((j) => j.name),
    [jobName(m.alloc.ctx.tag, spare.ticket)],
  );
  await master.ticket.dispose({ ticket: spare.ticket });
  await m.alloc.sync();
  assert.deepEqual(squeue(), []);
});

test("a lost host's slots go back to Slurm; the ticket keeps the rest", async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  const ticket = await master.ticket.request({ nclones: 4 });
  const masterHost = (await (await m.f.admin()).state.domains())[0]!.host;
  const lost = masterHost === 'alpha' ? 'beta' : 'alpha';
  await silenceHost(m.f, lost, masterHost);
  await m.alloc.sync();
  assert.deepEqual(
    squeue().map((j) => HOST_OF[j.node]),
    [masterHost, masterHost],
    `the tasks on ${lost} are cancelled`,
  );
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).granted, 2);
});

test("an admin's scancel of a ticket in use stops its clones, saying why: they would run on slots Slurm gave away", async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  const ticket = await master.ticket.request({ nclones: 2 });
  await master.clone.master({ ticket: ticket.ticket });
  d!.cli('scancel', '-n', jobName(m.alloc.ctx.tag, ticket.ticket));
  await until(() => squeue().length === 0, 'the job cancelled');
  await m.alloc.sync();
  const clones = (await (await m.f.admin()).state.domains({ all: true })).filter((r) => r.domain !== '1:0');
  assert.deepEqual(
    clones.map((c) => c.state),
    ['stopped', 'stopped'],
  );
  assert.match(clones[0]!.endReason ?? '', /batch scheduler no longer holds the slots of ticket/);
});

test('sfmd restarted reconciles: an orphan job is cancelled, a ticket whose job vanished is disposed, the rest kept', async (t) => {
  if (skipIf(t, why)) return;
  const { m, master } = await scheduled(t);
  const kept = await master.ticket.request({ nclones: 1 });
  const lost = await master.ticket.request({ nclones: 1 });
  // sfmd stops; meanwhile an admin cancels one ticket's job, and a job submitted just before sfmd died is left
  // without a ticket (it never recorded one).
  m.alloc.stop();
  const lostJob = d!.cli('squeue', '-h', '-o', '%A', '-n', jobName(m.alloc.ctx.tag, lost.ticket)).trim();
  d!.cli('scancel', lostJob);
  const orphan = jobName(m.alloc.ctx.tag, randomUUID());
  d!.cli('sbatch', '--parsable', '-J', orphan, '-c', '2', '-o', '/dev/null', '--chdir=/', '--wrap', 'exec sleep 600');
  await until(
    () => squeue().some((j) => j.name === orphan && j.state === 'RUNNING') && !squeue().some((j) => j.name.endsWith(lost.ticket)),
    'the orphan running',
  );

  const again = await startSchedulerAllocation(m.f.svc, m.alloc.ctx.scheduler, m.settings, m.f.paths.home, { syncEveryMs: 600_000 });
  t.after(() => again.stop());
  assert.deepEqual(
    squeue().map((j) => j.name),
    [jobName(m.alloc.ctx.tag, kept.ticket)],
    'only the live ticket keeps its job',
  );
  assert.deepEqual(await master.ticket.list(), { unused: [kept.ticket], outstanding: [] });
  assert.equal((await master.ticket.info({ ticket: lost.ticket })).state, 'disposed');
});

test('Slurm down: the request fails UNAVAILABLE saying what to check, and nothing is granted or queued', async (t) => {
  if (skipIf(t, why)) return;
  // A slurm.conf naming a controller port nobody listens on: to sfmd, exactly a slurmctld that is down.
  const conf = path.join(d!.dir, 'down.conf');
  writeFileSync(conf, `${readFileSync(d!.env.SLURM_CONF!, 'utf8').replace(/^SlurmctldPort=.*$/m, 'SlurmctldPort=1')}MessageTimeout=1\n`);
  const { master } = await scheduled(t, { env: { SLURM_CONF: conf } });
  await refused(master.ticket.request({ nclones: 1 }), 'UNAVAILABLE', /Unable to contact slurm controller.*check that slurmctld runs/);
  assert.deepEqual(await master.ticket.list(), { unused: [], outstanding: [] });
  assert.deepEqual(squeue(), []);
});

test("sfmd started with allocator = 'slurm' in sfmd.cfg puts Slurm in charge and reconciles before it serves", async (t) => {
  if (skipIf(t, why)) return;
  const home = tempHome();
  t.after(() => rmSync(home, { recursive: true, force: true }));
  writeFileSync(
    path.join(home, 'sfmd.cfg'),
    "cluster_hosts = [{'host': 'alpha', 'cpus': 4, 'RAM': 8 << 30}]\nallocator = 'slurm'\n" +
      `scheduler_node_names = {'alpha': 'sfa'}\nscheduler_env = {'SLURM_CONF': '${d!.env.SLURM_CONF}'}\n`,
  );
  // Left by an earlier run of this sfmd that died before recording the ticket.
  const orphan = jobName(installationTag(home), randomUUID());
  d!.cli('sbatch', '--parsable', '-J', orphan, '-c', '1', '-o', '/dev/null', '--chdir=/', '--wrap', 'exec sleep 600');
  await until(() => squeue().some((j) => j.name === orphan), 'the orphan queued');
  const sfmd = await startSfmd({ home, port: 0, listen: '127.0.0.1', log: quietLog() });
  t.after(() => sfmd.stop());
  assert.equal(sfmd.svc.allocator.name, 'slurm');
  assert.deepEqual(squeue(), [], 'the orphan was cancelled at start');
});
