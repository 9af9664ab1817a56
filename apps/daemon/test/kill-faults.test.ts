// Records stay true after a daemon is killed (issue 11): real sfmd and sfld processes, a real guest that forks;
// sfld is SIGKILLed before, during and after a fork, and sfmd while clones run. After each restart the record
// says what happened, every end with its reason, and `sf doctor` finds nothing to repair.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { io, type Socket } from 'socket.io-client';
import { openDatabase } from '@snowflock/db';
import { daemonStatus, isAlive } from '../src/cli/daemon-control.ts';
import { DASHBOARD_NAMESPACE, type DomainStateEvent, type OperationProgressEvent } from '../src/common/events.ts';
import { snowflockPaths } from '../src/common/paths.ts';
import { createCommandContext } from '../src/cli/context.ts';
import { readSecretFile } from '../src/common/secret-file.ts';
import { isLiveDomainState } from '../src/master/store/states.ts';
import type { DoctorReport } from '../src/master/doctor.ts';
import { json, runSf, waitUntil } from './cli-runner.ts';
import { DOCTOR_DIFFERENCES_EXIT } from '../src/cli/commands/doctor.ts';
import { domains, type DomainRow } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { vmCluster } from './vm-cluster.ts';

/** A master that takes a ticket for 2 clones, builds its data, forks; the VMs then compute for half a minute or more. */
const FORKING = 'queries=40 db=512 len=4096 qlen=256 clones=2';

test('SIGKILL of sfld before, during and after a fork, and of sfmd while clones run: sf doctor finds nothing', {
  timeout: 240_000,
}, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  if (skipIf(t, process.getuid?.() === 0 ? null : 'not root: the daemons are killed and restarted as real processes')) return;
  const c = await vmCluster(t, { cpus: 8, ramGiB: 8 });
  const paths = snowflockPaths(c.home);
  const pidOf = (id: string) => {
    const status = daemonStatus(paths, id);
    assert.ok(status.pid, `${id} runs`);
    return status.pid;
  };
  const killed = async (pid: number) => waitUntil(`pid ${pid} to die`, 5_000, async () => !isAlive(pid));
  const restartSfld = async () => {
    const started = await json<{ registered: boolean }>(runSf(['sfld', 'start', '--json'], c.env));
    assert.equal(started.registered, true, 'the restarted sfld registered');
  };
  const cluster = async (clusterid: number) => (await domains(c.env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const running = (rows: DomainRow[]) => rows.filter((d) => d.state === 'running');
  const client = createCommandContext({ home: c.home, json: true }).client();
  const fetchCluster = (clusterid: number) => client.cluster.get.query({ clusterid });
  const opsOf = async (clusterid: number) =>
    (await client.operations.list.query({ limit: 200 })).filter((o) => o.requester === `domain:${clusterid}:0`);
  const registeredAt = async () => (await client.state.hosts.query())[0]?.registeredAt ?? null;

  // sfmd's own feed (as the dashboard gets it): the moment to kill comes from the record's changes as they happen.
  const feed: Socket = io(`${c.url}${DASHBOARD_NAMESPACE}`, {
    auth: { token: readSecretFile(paths.adminToken) },
    transports: ['websocket'],
    ...c.socketOptions,
  });
  t.after(() => feed.close());
  await waitUntil('the dashboard feed', 5_000, async () => feed.connected);

  /** `sf doctor --json` (the CLI a user runs): nothing to repair, exit status 0. */
  const doctorIsClean = async (when: string) => {
    const r = await runSf(['doctor', '--json'], c.env);
    const report = JSON.parse(r.stdout) as DoctorReport;
    assert.deepEqual(report.findings, [], `${when}: sf doctor finds nothing (${r.stderr})`);
    assert.equal(r.code, 0);
    assert.deepEqual(
      report.hosts.map((h) => [h.name, h.checked]),
      [['kvm1', true]],
      `${when}: the host was asked`,
    );
    return report;
  };
  /** Every domain that ended says why; none looks like an orderly stop it was not. */
  const everyEndHasAReason = async () => {
    const unexplained = (await domains(c.env)).filter((d) => !isLiveDomainState(d.state) && !d.endReason);
    assert.deepEqual(unexplained, [], 'no domain ended without a reason');
  };
  /** The cluster of (b): its fork operation ends later, checked after (c). */
  let duringFork = -1;

  await t.test('(a) before the fork: master running with its ticket granted, sfld killed and restarted', async () => {
    // Kill as soon as the master's ticket is granted: it is building its data, the fork still to come.
    const sfld = pidOf('sfld-kvm1');
    const granted = new Promise<void>((resolve) => {
      const on = (e: OperationProgressEvent) => {
        if (e.kind === 'ticket.request' && e.status === 'succeeded') {
          process.kill(sfld, 'SIGKILL');
          feed.off('operation:progress', on);
          resolve();
        }
      };
      feed.on('operation:progress', on);
    });
    // A larger database than FORKING's: the master builds it for most of a second between ticket and fork
    // (measured 0.4-0.8 s; FORKING's takes 60-250 ms), far more than the kill takes to land.
    const cid = (await c.seed(guestImage('align'), 'queries=40 db=2048 len=8192 qlen=256 clones=2', 128)).clusterid;
    await granted;
    await killed(sfld);
    await restartSfld();

    const rows = await cluster(cid);
    assert.deepEqual(
      rows.map((d) => d.domain),
      [`${cid}:0`],
      'no clone was made',
    );
    const master = rows[0]!;
    console.log(`# (a) master ${master.state}: ${master.endReason}`);
    assert.ok(['crashed', 'lost'].includes(master.state), master.state);
    assert.match(master.endReason ?? '', /its sfld restarted|host kvm1 went offline/);
    const record = await fetchCluster(cid);
    assert.equal(record.state, 'lost');
    assert.deepEqual(
      record.tickets.map((tk) => tk.state),
      ['disposed'],
      'the unused ticket ended with its cluster',
    );
    await everyEndHasAReason();
    await doctorIsClean('(a)');
  });

  await t.test('(b) during the fork: sfld killed as the clone records are made and the fork command sent', async () => {
    const sfld = pidOf('sfld-kvm1');
    const forking = new Promise<void>((resolve) => {
      const on = (e: DomainStateEvent) => {
        if (e.clusterid === duringFork && e.vmid > 0 && e.state === 'defined') {
          process.kill(sfld, 'SIGKILL');
          feed.off('domain:state', on);
          resolve();
        }
      };
      feed.on('domain:state', on);
    });
    // The cluster id is the next one: known before the seed answers, so the trigger can match it.
    const before = await domains(c.env);
    const cid = Math.max(0, ...before.map((d) => Number(d.domain.split(':')[0]))) + 1;
    duringFork = cid;
    const seeded = await c.seed(guestImage('align'), FORKING);
    assert.equal(seeded.clusterid, cid);
    await forking;
    await killed(sfld);
    await restartSfld();

    const rows = await cluster(cid);
    for (const d of rows) console.log(`# (b) ${d.domain} ${d.state}: ${d.endReason}`);
    assert.deepEqual(
      rows.map((d) => d.domain),
      [0, 1, 2].map((v) => `${cid}:${v}`),
    );
    assert.equal(running(rows).length, 0, 'nothing runs: the VMs died with their sfld');
    const [master, ...clones] = rows;
    assert.ok(['crashed', 'lost'].includes(master!.state), master!.state);
    assert.match(master!.endReason ?? '', /its sfld restarted|host kvm1 went offline/);
    for (const clone of clones) {
      assert.ok(['stopped', 'crashed', 'lost'].includes(clone.state), clone.state);
      assert.match(clone.endReason ?? '', /was lost: its master|the fork of .* failed|its sfld restarted|host kvm1 went offline/);
    }
    const record = await fetchCluster(cid);
    assert.equal(record.state, 'lost');
    assert.deepEqual(
      record.tickets.map((tk) => tk.state),
      ['merged'],
      'the used ticket ended with its cluster, not outstanding forever',
    );
    await everyEndHasAReason();
    await doctorIsClean('(b)');
  });

  await t.test('(c) after the fork: sfld killed while the clones compute, restarted', async () => {
    const { clusterid: cid } = await c.seed(guestImage('align'), FORKING);
    await waitUntil('master and both clones running', 30_000, async () => running(await cluster(cid)).length === 3);
    const ops = await opsOf(cid);
    const at = (kind: string) => Date.parse(ops.find((o) => o.kind === kind)!.startedAt);
    // What (a) relies on: the master works a while between its ticket and its fork.
    console.log(`# ticket granted → fork asked: ${at('clone.master') - at('ticket.request')} ms`);
    const sfld = pidOf('sfld-kvm1');
    process.kill(sfld, 'SIGKILL');
    await killed(sfld);
    await restartSfld();

    const rows = await cluster(cid);
    for (const d of rows) console.log(`# (c) ${d.domain} ${d.state}: ${d.endReason}`);
    assert.equal(running(rows).length, 0);
    for (const d of rows) {
      assert.ok(['crashed', 'lost'].includes(d.state), `${d.domain} ${d.state}: a crash is no orderly stop`);
      assert.match(d.endReason ?? '', /its sfld restarted|host kvm1 went offline/);
    }
    const record = await fetchCluster(cid);
    assert.equal(record.state, 'lost');
    assert.deepEqual(
      record.tickets.map((tk) => tk.state),
      ['merged'],
    );
    await everyEndHasAReason();
    await doctorIsClean('(c)');
  });

  await t.test('(b) later: sfmd gives up the fork command that died with the sfld, and the record still agrees', async () => {
    // sfmd's clone.master gives up on the fork command (a timeout, or at once if it saw the sfld gone) and records
    // that too; (c) ran meanwhile. Before (d) kills sfmd, which would take the operation with it.
    const fork = await waitUntil('the fork operation to end', 45_000, async () => {
      const op = (await opsOf(duringFork)).find((o) => o.kind === 'clone.master');
      return op && op.status !== 'running' ? op : null;
    });
    console.log(`# (b) clone.master ${fork.status}: ${fork.error}`);
    assert.equal(fork.status, 'failed');
    for (const d of await cluster(duringFork)) console.log(`# (b) afterwards ${d.domain} ${d.state}: ${d.endReason}`);
    await everyEndHasAReason();
    await doctorIsClean('(b), after the fork operation ended');
  });

  await t.test('(d) sfmd killed while the clones compute and restarted: they are still running, in the record too', async () => {
    const { clusterid: cid } = await c.seed(guestImage('align'), FORKING);
    await waitUntil('master and both clones running', 30_000, async () => running(await cluster(cid)).length === 3);
    const sfmd = pidOf('sfmd');
    const sfld = pidOf('sfld-kvm1');
    const registered = await registeredAt();
    process.kill(sfmd, 'SIGKILL');
    await killed(sfmd);
    await json(runSf(['sfmd', 'start', '--json'], c.env));
    await waitUntil('sfld registered with the new sfmd', 15_000, async () => (await registeredAt()) !== registered);
    assert.equal(pidOf('sfld-kvm1'), sfld, 'sfld lived on');

    const rows = await cluster(cid);
    for (const d of rows) console.log(`# (d) ${d.domain} ${d.state}: ${d.endReason}`);
    assert.deepEqual(
      rows.map((d) => d.state),
      ['running', 'running', 'running'],
      'the VMs still run, and the record says so',
    );
    const report = await doctorIsClean('(d)');
    assert.ok(report.domains >= 3, 'the running domains were compared with the VMs');
    await everyEndHasAReason();

    // A difference made behind sfmd's back (a clone recorded exited while its VM runs, as a lost destroy would
    // leave it): sf doctor lists it and exits 20; --repair destroys the VM on the host, and all agree again.
    const db = await openDatabase(paths.database);
    try {
      await db.domain.updateMany({
        where: { vmid: 2, cluster: { clusterid: cid } },
        data: { state: 'exited', exitCode: 0, endedAt: new Date(), endReason: 'written by the test' },
      });
    } finally {
      await db.$disconnect();
    }
    const found = await runSf(['doctor'], c.env);
    assert.equal(found.code, DOCTOR_DIFFERENCES_EXIT, found.stdout + found.stderr);
    assert.match(
      found.stdout,
      new RegExp(`vm-unrecorded +${cid}:2 +kvm1 +exited\\(0\\): written by the test +its VM is running +destroy the VM on host kvm1`),
    );
    const repaired = await runSf(['doctor', '--repair', '--json'], c.env);
    const mended = JSON.parse(repaired.stdout) as DoctorReport;
    assert.equal(repaired.code, 0, repaired.stdout + repaired.stderr);
    assert.deepEqual(
      mended.findings.map((f) => [f.kind, f.subject, f.repaired]),
      [['vm-unrecorded', `${cid}:2`, true]],
    );
    assert.deepEqual(mended.after, []);
    const clean = await runSf(['doctor'], c.env);
    assert.equal(clean.code, 0);
    assert.match(clean.stdout, /^record and hosts agree: 1 host checked, \d+ domains?$/m);
  });
});
