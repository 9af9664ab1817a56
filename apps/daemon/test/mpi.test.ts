// mpi.h and sfmpirun through the real daemons on 3 namespace hosts (the cluster network spans them), one set of
// hosts for the file, each job a cluster of its own: libsfmpi's MPI_Init forks the master into the clones the
// ranks need, one rank per vCPU (processor mode, the default) or per VM (-v), ranks of a VM over shared memory and
// VMs meshed over TCP; mpitest checks every call against answers each rank computes alone (1, 2, 5 and 8 ranks,
// non-powers of two and a 2+2+1 layout included; 7 ranks on a 4-vCPU master as 4+3); heat in processor mode
// prints the verified residual with every rank's output prefixed; mpialign's digest matches its one-rank run; a
// rank that crashes or quits mid-job ends the job naming it; a short reservation says so; Ctrl-C mid-job and
// every other end leave no VM running.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { BIN_DIR, runBin, runSf } from './cli-runner.ts';
import { consoleText } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { cannotRunHarness, domains, masterOutput, seed, upHosts } from './harness.ts';
import { cannotBuildNetLab } from './net-lab.ts';

const vmidOf = (d: { domain: string }) => Number(d.domain.split(':')[1]);
const EXAMPLES = fileURLToPath(new URL('../../../native/guest/examples/', import.meta.url));

test('mpi over 3 hosts: both modes, mpitest/heat/mpialign verified, dead ranks end the job, a short reservation', {
  timeout: 600_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms() ?? cannotBuildNetLab())) return;
  // 4 processors a host: a 4-vCPU master fills one, so its clone runs on another.
  const { home, env } = await upHosts(t, 'mp', { count: 3, cpus: 4, ramGiB: 2 });
  const clusterRows = async (clusterid: number) =>
    (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`)).sort((a, b) => vmidOf(a) - vmidOf(b));
  const lastCluster = async () => Math.max(...(await domains(env)).map((d) => Number(d.domain.split(':')[0])));
  /** An example's cfg with another vcpus (the master's: processor mode runs a rank on each). */
  const withVcpus = (example: 'mpitest' | 'heat', vcpus: number) => {
    const file = path.join(home, `${example}-${vcpus}.cfg`);
    writeFileSync(file, `kernel = '${guestImage(example)}'\nvcpus = ${vcpus}\nmemory = 64\n`);
    return file;
  };
  const noVmLeft = async (clusterid: number) => {
    for (const d of await clusterRows(clusterid))
      assert.ok(!['running', 'booting', 'defined', 'paused', 'cloning'].includes(d.state), `${d.domain} left ${d.state}`);
  };

  await t.test('mpitest verifies every call on 1, 2, 5 (as 2+2+1) and 8 ranks (seeded directly with np=N)', async () => {
    for (const [np, vcpus] of (process.env.MPI_TEST_NP ?? '1,2,5:2,8').split(',').map((x) => x.split(':').map(Number))) {
      const started = Date.now();
      const clusterid = await seed(env, home, guestImage('mpitest'), `np=${np}`, 64, vcpus ?? 1);
      const text = await masterOutput(env, clusterid, 60_000).catch(async (e) => {
        for (const d of await clusterRows(clusterid))
          t.diagnostic(`${d.domain} ${d.state} on ${d.host}:\n${await consoleText(env, d.domain)}`);
        throw e;
      });
      assert.match(text, new RegExp(`mpitest ranks=${np} checks=\\d+ failed=0 us=\\d+ verified OK`), text);
      const rows = await clusterRows(clusterid);
      // One rank per vCPU: the ticket never gives a clone more than the master's vCPUs, so at least ceil(np/vcpus).
      assert.ok(rows.length >= Math.ceil(np! / (vcpus ?? 1)), `${rows.length} VMs for ${np} ranks`);
      assert.equal(
        rows.reduce((n, d) => n + d.vcpus, 0) - Math.max(0, (vcpus ?? 1) - np!),
        np,
        `a vCPU per rank: ${rows.map((d) => d.vcpus)}`,
      );
      for (const d of rows) assert.equal(d.state, 'exited', JSON.stringify(d));
      if (np === 8) assert.ok(new Set(rows.map((d) => d.host)).size >= 2, `ranks on several hosts: ${rows.map((d) => d.host).join(' ')}`);
      t.diagnostic(
        `mpitest np=${np} on ${rows.map((d) => d.vcpus).join('+')} vCPUs: ${Date.now() - started} ms from seed to the master's end; ${text.match(/mpitest ranks.*/)?.[0]}`,
      );
    }
  });

  await t.test('processor mode: sfmpirun 7 on a 4-vCPU master runs 4 + 3 ranks, every collective verified', async () => {
    const started = Date.now();
    const r = await runBin('sfmpirun', ['7', withVcpus('mpitest', 4)], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^\[0\] mpitest ranks=7 checks=\d+ failed=0 us=\d+ verified OK$/m, r.stdout);
    for (let rank = 0; rank < 7; rank++)
      assert.match(r.stdout, new RegExp(`^\\[${rank}\\] mpitest rank ${rank} of 7 ready at_ns=\\d+$`, 'm'), r.stdout);
    const rows = await clusterRows(await lastCluster());
    assert.deepEqual(
      rows.map((d) => [vmidOf(d), d.vcpus, d.state]),
      [
        [0, 4, 'exited'],
        [1, 3, 'exited'],
      ],
    );
    assert.notEqual(rows[0]!.host, rows[1]!.host, 'the 3-rank clone runs on another host');
    t.diagnostic(`sfmpirun 7 (4+3): ${Date.now() - started} ms; ${r.stdout.match(/mpitest ranks.*/)?.[0]}`);
  });

  await t.test('heat in processor mode (8 ranks, 4 + 4) prints the verified residual; -v runs a rank per VM', async () => {
    let started = Date.now();
    const heat = await runBin('sfmpirun', ['8', withVcpus('heat', 4), 'n=256', 'iters=300'], env);
    assert.equal(heat.code, 0, heat.stderr + heat.stdout);
    assert.match(heat.stdout, /^\[0\] heat n=256 iters=300 ranks=8 residual=(\S+) serial=\1 sum=\S+ ms=[\d.]+ verified OK$/m, heat.stdout);
    assert.deepEqual(
      (await clusterRows(await lastCluster())).map((d) => d.vcpus),
      [4, 4],
    );
    t.diagnostic(`sfmpirun 8 heat (4+4): ${Date.now() - started} ms; ${heat.stdout.match(/heat n=.*/)?.[0]}`);
    const heatCluster = await lastCluster();
    started = Date.now();
    const mt = await runBin('sfmpirun', ['-v', '5', `${EXAMPLES}mpitest/mpitest.cfg`], env);
    assert.equal(mt.code, 0, mt.stderr + mt.stdout);
    for (let r = 0; r < 5; r++) assert.match(mt.stdout, new RegExp(`^\\[${r}\\] mpitest rank ${r} of 5 ready at_ns=\\d+$`, 'm'), mt.stdout);
    assert.match(mt.stdout, /^\[0\] mpitest ranks=5 checks=\d+ failed=0 us=\d+ verified OK$/m);
    assert.equal((await clusterRows(await lastCluster())).length, 5, 'one VM per rank');
    t.diagnostic(`sfmpirun -v 5 mpitest.cfg: ${Date.now() - started} ms`);
    for (const id of [heatCluster, await lastCluster()])
      for (const d of await clusterRows(id)) assert.equal(d.state, 'exited', `${d.domain} left ${d.state}`);
  });

  await t.test('a textbook MPI program built with sf guest build runs unchanged under sfmpirun', async () => {
    const src = path.join(home, 'hello-mpi.c');
    writeFileSync(
      src,
      '#include <mpi.h>\n#include <stdio.h>\nint main(int argc, char **argv) {\n  int rank, size, sum;\n' +
        '  MPI_Init(&argc, &argv);\n  MPI_Comm_rank(MPI_COMM_WORLD, &rank);\n  MPI_Comm_size(MPI_COMM_WORLD, &size);\n' +
        '  printf("Hello from rank %d of %d\\n", rank, size);\n' +
        '  MPI_Reduce(&rank, &sum, 1, MPI_INT, MPI_SUM, 0, MPI_COMM_WORLD);\n' +
        '  if (rank == 0) printf("sum of ranks %d\\n", sum);\n  MPI_Finalize();\n  return 0;\n}\n',
    );
    const built = await runSf(['guest', 'build', src, '-o', path.join(home, 'hello-mpi.elf')], env);
    assert.equal(built.code, 0, built.stderr);
    const cfg = path.join(home, 'hello-mpi.cfg');
    writeFileSync(cfg, "kernel = 'hello-mpi.elf'\nvcpus = 2\nmemory = 64\n"); /* ranks 0, 1 in the master, 2 in a clone */
    const r = await runBin('sfmpirun', ['3', cfg], env);
    if (r.code !== 0)
      for (const d of await clusterRows(await lastCluster()))
        t.diagnostic(`${d.domain} ${d.state} ${d.endReason}: ${await consoleText(env, d.domain)}`);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (let rank = 0; rank < 3; rank++) assert.match(r.stdout, new RegExp(`^\\[${rank}\\] Hello from rank ${rank} of 3$`, 'm'), r.stdout);
    assert.match(r.stdout, /^\[0\] sum of ranks 3$/m);
  });

  await t.test('mpialign over 2 + 2 + 1 ranks: the reduced digest matches the one-rank run', async () => {
    const started = Date.now();
    const r = await runBin('sfmpirun', ['5', `${EXAMPLES}mpialign/mpialign.cfg`], env);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^\[0\] mpialign ranks=5 queries=8 digest=(0x[0-9a-f]{8}) serial=\1 failed=0 ms=\d+ verified OK$/m, r.stdout);
    t.diagnostic(`sfmpirun 5 mpialign.cfg: ${Date.now() - started} ms; ${r.stdout.match(/mpialign ranks.*/)?.[0]}`);
  });

  await t.test('a rank that quits mid-job ends the job within seconds, naming it, with no VM left', async () => {
    // Rank 5 is the clone's second vCPU: its exit ends that VM; the others must learn it, not wait forever.
    const started = Date.now();
    const r = await runBin('sfmpirun', ['7', withVcpus('mpitest', 4), 'quit=5'], env);
    const took = Date.now() - started;
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /rank 5 failed and the job was aborted/, r.stderr);
    assert.match(r.stdout, /^\[5\] mpitest: rank 5 quits mid-job/m, r.stdout);
    // Whichever rank of the master's VM learnt it first ends that VM.
    assert.match(r.stdout, /^\[[0-3]\] mpi: job aborted: rank 5 failed$/m, r.stdout);
    // Well inside the 60 s silence timeout: the exit itself told the others.
    assert.ok(took < 30_000, `the job took ${took} ms to end`);
    await noVmLeft(await lastCluster());
    t.diagnostic(`sfmpirun 7 quit=5: failed in ${took} ms`);
  });

  await t.test('without sfmpirun, a crashed rank falls silent and the job ends itself within mpi_timeout', async () => {
    // A panic leaves no word on the network: the survivors must notice the silence, not wait forever.
    const started = Date.now();
    const clusterid = await seed(env, home, guestImage('mpitest'), 'np=3 crash=2 mpi_timeout=5');
    const text = await masterOutput(env, clusterid, 60_000);
    const took = Date.now() - started;
    assert.match(text, /heard nothing from rank 2 \(vm 2\) for 5 s|rank 2 failed/, text);
    assert.match(text, /^\[0\] mpi: job aborted: rank 2 failed$/m, text); /* the master runs one rank */
    const rows = await clusterRows(clusterid);
    assert.equal(rows[0]!.exitCode, 2, JSON.stringify(rows[0]));
    await noVmLeft(clusterid);
    t.diagnostic(`np=3 crash=2 mpi_timeout=5, seeded directly: the master ended in ${took} ms from the seed`);
  });

  await t.test('a rank that crashes fails sfmpirun naming it, and the cluster is shut down', async () => {
    const r = await runBin('sfmpirun', ['4', `${EXAMPLES}mpitest/mpitest.cfg`, 'crash=2'], env);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /rank 2 crashed/, r.stderr);
    assert.match(r.stdout, /^\[2\] panic: mpitest: rank 2 crashes on purpose/m, r.stdout);
    const rows = await clusterRows(await lastCluster());
    assert.equal(rows.length, 4);
    for (const d of rows)
      assert.ok(!['running', 'booting', 'defined', 'paused', 'cloning'].includes(d.state), `${d.domain} left ${d.state}`);
  });

  await t.test('a reservation too short for the ranks fails with NO_RESOURCES and says so', async () => {
    const r = await runBin('sfmpirun', ['20', `${EXAMPLES}mpitest/mpitest.cfg`], env);
    if (r.code !== 6) t.diagnostic(`the master's console: ${await consoleText(env, `${await lastCluster()}:0`)}`);
    assert.equal(r.code, 6, r.stderr + r.stdout);
    assert.match(r.stderr, /NO_RESOURCES: the reservation is short: np=20 needs 19 more processors/, r.stderr);
    for (const d of await clusterRows(await lastCluster())) assert.notEqual(d.state, 'running', `${d.domain} left running`);
  });

  await t.test('Ctrl-C mid-job shuts the cluster down: sfmpirun exits 130 and no rank is left running', async () => {
    const child = spawn(process.execPath, [`${BIN_DIR}sfmpirun.mjs`, '4', `${EXAMPLES}heat/heat.cfg`, 'iters=200000', 'serial=0'], {
      env: { ...process.env, SNOWFLOCK_LOG_LEVEL: 'warn', ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
    const deadline = Date.now() + 60_000;
    // Every rank is up once all 4 VMs run (heat prints nothing until it ends).
    for (;;) {
      const id = /sfmpirun: cluster (\d+)/.exec(stderr)?.[1];
      const rows = id ? await clusterRows(Number(id)) : [];
      if (rows.length === 4 && rows.every((d) => d.state === 'running')) break;
      assert.ok(Date.now() < deadline, `the job never got all 4 ranks running: ${stderr}`);
      await new Promise((r) => setTimeout(r, 300));
    }
    child.kill('SIGINT');
    assert.equal(await code, 130, stderr + stdout);
    assert.match(stderr, /interrupted: shutting cluster \d+ down/);
    const rows = await clusterRows(Number(/sfmpirun: cluster (\d+)/.exec(stderr)?.[1]));
    for (const d of rows)
      assert.ok(!['running', 'booting', 'defined', 'paused', 'cloning'].includes(d.state), `${d.domain} left ${d.state}`);
  });
});
