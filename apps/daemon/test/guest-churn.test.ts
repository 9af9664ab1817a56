// Nothing piles up under a hostile guest: a real master VM loops ticket request / dispose / dispose again
// (refused) for 30 s against real daemons. sfld's open fds stay flat, the Operation table stays bounded by
// keep_operations, clone shells do not accumulate, and the per-VM limit holds the guest at its rate.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { createCommandContext } from '../src/cli/context.ts';
import { DEFAULT_GUEST_CALL_LIMITS, type GuestCallCounts } from '../src/local/guest-call-limit.ts';
import { PRUNE_EVERY } from '../src/master/operations.ts';
import { waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { vmCluster } from './vm-cluster.ts';

const CHURN_S = 30;
const KEEP = 100;
/** sfld's fds may wobble by this much after warm-up (a shell being made, a socket): growth is anything more. */
const FD_SLACK = 8;

interface Sample {
  t: number;
  fds: number;
  /** CPU seconds used so far by sfmd and by sfld (with its VMs' vCPU threads). */
  sfmdCpu: number;
  sfldCpu: number;
  rows: number;
  shells: number;
  calls: GuestCallCounts;
}

/** CPU seconds a process has used (utime + stime, /proc/PID/stat fields 14 and 15, in clock ticks of 10 ms). */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /s, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

test(`a guest looping request/dispose for ${CHURN_S} s leaves fds and the Operation table flat`, { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 2, ramGiB: 4 }, `keep_operations = ${KEEP}\n`);
  const pidOf = (id: string) => Number(readFileSync(path.join(c.home, 'run', `${id}.pid`), 'utf8').trim());
  const pid = pidOf('sfld-kvm1');
  const sfmdPid = pidOf('sfmd');
  const sfldPort = /local_listen_port = (\d+)/.exec(readFileSync(path.join(c.home, 'sfld.cfg'), 'utf8'))![1];
  const admin = createCommandContext({ home: c.home, json: true }).client();
  const started = Date.now();
  const sample = async (): Promise<Sample> => {
    const health = (await (await fetch(`http://127.0.0.1:${sfldPort}/healthz`)).json()) as { shells: number; guestCalls: GuestCallCounts };
    return {
      t: (Date.now() - started) / 1000,
      fds: readdirSync(`/proc/${pid}/fd`).length,
      sfmdCpu: cpuSeconds(sfmdPid),
      sfldCpu: cpuSeconds(pid),
      rows: (await admin.operations.stats.query()).rows,
      shells: health.shells,
      calls: health.guestCalls,
    };
  };

  const before = await sample();
  const { clusterid } = await c.seed(guestImage('hello'), `churn=${CHURN_S}`);
  const samples: Sample[] = [];
  const seeded = Date.now();
  while (Date.now() - seeded < (CHURN_S + 2) * 1000) {
    await new Promise((r) => setTimeout(r, 1500));
    samples.push(await sample());
  }
  const done = await waitUntil('the guest to finish its loop', 30_000, async () =>
    /churn done: (\d+) rounds, (\d+) calls in (\d+) ms \((\d+) calls\/s\), (\d+) failed/.exec(await c.consoleText(`${clusterid}:0`)),
  );
  const [rounds, guestCalls, ms, , failed] = done.slice(1).map(Number) as [number, number, number, number, number];
  await c.ended(`${clusterid}:0`);
  const after = await sample();
  const stats = await admin.operations.stats.query();

  console.log('# t(s)  sfld fds  Operation rows  shells  calls→sfmd  delayed  refused  sfmd cpu  sfld cpu');
  const all = [before, ...samples, after];
  all.forEach((s, i) => {
    const prev = all[Math.max(0, i - 1)]!;
    const share = (cpu: number, was: number) => (s.t > prev.t ? `${Math.round((100 * (cpu - was)) / (s.t - prev.t))}%` : '-');
    const cols = [
      s.fds,
      s.rows,
      s.shells,
      s.calls.calls,
      s.calls.delayed,
      s.calls.refused,
      share(s.sfmdCpu, prev.sfmdCpu),
      share(s.sfldCpu, prev.sfldCpu),
    ];
    const widths = [8, 14, 6, 10, 7, 7, 8, 8];
    console.log(`# ${s.t.toFixed(1).padStart(5)}  ${cols.map((v, j) => String(v).padStart(widths[j]!)).join('  ')}`);
  });
  const rate = (guestCalls * 1000) / ms;
  console.log(
    `# guest: ${rounds} rounds, ${guestCalls} calls in ${ms} ms = ${rate.toFixed(1)} calls/s, ${failed} failed; ` +
      `sfmd: ${stats.rows} Operation rows kept (keep ${stats.keep}), refusals counted ${stats.guestRefusals.total}`,
  );

  // Every call was answered, and answered right: the limit slows a guest, it drops or garbles nothing.
  assert.equal(failed, 0, 'every reply was the right one');
  assert.equal(after.calls.calls + after.calls.refused - before.calls.calls - before.calls.refused, guestCalls, 'sfld saw every call');
  assert.equal(after.calls.refused, 0, 'a single-vCPU guest is slowed, never refused');

  // The limit: at most the burst plus the rate over the loop (5% for timer slack).
  const { ratePerSec, burst } = DEFAULT_GUEST_CALL_LIMITS;
  assert.ok(guestCalls <= burst + (ratePerSec * ms * 1.05) / 1000, `${guestCalls} calls in ${ms} ms: over ${ratePerSec}/s`);
  // Past the burst, every interval at the rate (10 % and one call for the sampling's own timing).
  const busy = samples.filter((s) => s.t >= 8 && s.t <= CHURN_S);
  for (let i = 1; i < busy.length; i++) {
    const [a, b] = [busy[i - 1]!, busy[i]!];
    const allowed = ratePerSec * (b.t - a.t) * 1.1 + 1;
    assert.ok(b.calls.calls - a.calls.calls <= allowed, `${b.calls.calls - a.calls.calls} calls between ${a.t}s and ${b.t}s`);
  }
  // Unlimited, this loop makes 40-65 calls/s on the build machines: the limit is what held it.
  assert.ok(after.calls.delayed > 0, 'calls were held back by the limit');

  // fds flat after warm-up; rows bounded by keep_operations though the loop made far more operations.
  const warm = samples.filter((s) => s.t >= 6);
  assert.ok(warm.length >= 10, `sampled through the loop (${warm.length} samples)`);
  const baseline = warm[0]!.fds;
  for (const s of warm) assert.ok(s.fds <= baseline + FD_SLACK, `sfld fds grew: ${s.fds} at ${s.t}s, ${baseline} after warm-up`);
  assert.ok(after.fds <= before.fds + FD_SLACK, `sfld fds after the VM ended: ${after.fds}, before it: ${before.fds}`);
  assert.ok(2 * rounds > 2 * KEEP, `the loop made more operations (${2 * rounds}) than are kept`);
  for (const s of [...samples, after]) assert.ok(s.rows <= KEEP + PRUNE_EVERY + 4, `${s.rows} Operation rows at ${s.t}s`);
  assert.equal(stats.keep, KEEP);
  assert.ok(samples.every((s) => s.shells <= 2) && after.shells === 0, 'shells do not pile up');
  assert.ok(stats.guestRefusals.total >= rounds, 'each refused second dispose was counted');
});
