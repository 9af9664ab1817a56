// Clones across namespaced hosts through the real daemons: align split over 16 clones on 4 hosts (each made in a
// shell its host prepared when the ticket was granted) gives the single-VM result over mcdist multicast; under 5 % packet loss and in unicast mode too; garbage at the
// memserver changes nothing; a host lost mid-run fails its clones with the reason and nothing else.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { json, runSf, waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import {
  ALIGN_RESULT,
  cannotRunHarness,
  domains,
  lastOperation,
  masterOutput,
  seed,
  upHosts,
  type DomainRow,
  type HarnessHost,
  type HostRow,
  type OperationDetail,
} from './harness.ts';

const align = guestImage('align');

/** Runs align alone and split over `clones`; asserts the same verified line and returns the clones' rows. */
async function alignMatchesSingleVm(env: NodeJS.ProcessEnv, home: string, work: string, clones: number) {
  const single = await masterOutput(env, await seed(env, home, align, work));
  const expected = single.match(ALIGN_RESULT)?.[0];
  assert.ok(expected?.endsWith('verified OK'), single);
  const clusterid = await seed(env, home, align, `${work} clones=${clones}`);
  const text = await masterOutput(env, clusterid);
  assert.match(text, new RegExp(`forked ${clones} clones`), text);
  assert.equal(text.match(ALIGN_RESULT)?.[0], expected, text);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const master = rows.find((d) => d.domain === `${clusterid}:0`)!;
  const cloneRows = rows.filter((d) => d !== master);
  assert.equal(cloneRows.length, clones);
  assert.ok(
    cloneRows.every((d) => d.state === 'exited'),
    JSON.stringify(cloneRows),
  );
  return { clusterid, master, clones: cloneRows };
}

// Sends garbage and forged page messages at a UDP endpoint from inside a host's namespace until killed.
const FLOOD = `
const dgram = require('node:dgram');
const crypto = require('node:crypto');
const [address, port] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
let n = 0;
const blast = () => {
  for (let i = 0; i < 200; i++) {
    const size = [8, 40, 64, 1472][n % 4];
    const b = crypto.randomBytes(size);
    if (n % 3 === 0) b.writeUInt32LE(0x53465047, 0); // a plausible magic, then garbage and a wrong MAC
    s.send(b, Number(port), address);
    n++;
  }
  setTimeout(blast, 5);
};
blast();
`;

test('align split over 16 clones on 4 namespaced hosts gives the verified single-VM result over multicast, a garbage flood changes nothing', {
  timeout: 600_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  const { status, home, env } = await upHosts(t, 'mx', { count: 4, cpus: 5, ramGiB: 4 });
  const started = Date.now();
  const run = await alignMatchesSingleVm(env, home, 'queries=32 db=48', 16);
  t.diagnostic(`align over 16 clones on 4 hosts: ${Date.now() - started} ms (with the single-VM run)`);
  const hosts = new Set(run.clones.map((c) => c.host));
  assert.ok(hosts.size >= 3, `clones spread over the hosts: ${[...hosts].join(', ')}`);
  const op = await lastOperation(env, 'clone.master');
  assert.equal(op.detail.network?.mode, 'multicast');
  assert.match(op.detail.network?.group ?? '', /^239\.\d+\.\d+\.\d+:\d+$/);
  assert.equal(op.detail.started, 16);
  // Every clone was made in a shell its host prepared when the ticket was granted, on the master's host and
  // elsewhere (ticket:shells), and still gave the single-VM result above.
  const remote = run.clones.filter((c) => c.host !== run.master.host).length;
  assert.deepEqual([op.detail.fromShells, op.detail.remoteFromShells], [16 - remote, remote], JSON.stringify(op.detail));

  // Garbage and forged datagrams at the next fork's memserver while its clones fetch pages.
  const flooder = status.hosts.find((h) => h.address !== run.master.host) as HarnessHost;
  const clusterid = await seed(env, home, align, 'queries=24 db=64 len=2048 qlen=128 clones=8');
  const port = await waitUntil('the fork to be served', 60_000, async () => {
    const ops = await json<{ requester: string; detail: OperationDetail }[]>(
      runSf(['ops', '--kind', 'clone.master', '--limit', '1', '--json'], env),
    );
    return ops[0]?.requester === `domain:${clusterid}:0` ? ops[0].detail.network?.memserverPort : null;
  });
  const master = (await domains(env)).find((d) => d.domain === `${clusterid}:0`)!;
  const flood = spawn('ip', ['netns', 'exec', flooder.netns, process.execPath, '-e', FLOOD, master.host, String(port)], {
    stdio: 'ignore',
  });
  t.after(() => flood.kill('SIGKILL'));
  const text = await masterOutput(env, clusterid);
  flood.kill('SIGKILL');
  assert.match(text, ALIGN_RESULT);
  assert.ok(text.match(ALIGN_RESULT)![0].endsWith('verified OK'), text);
});

test('under 5 % injected packet loss every clone still converges to the right memory', { timeout: 300_000 }, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  const { home, env } = await upHosts(t, 'ml', { count: 3, cpus: 4, ramGiB: 4, env: { SNOWFLOCK_TEST_PAGE_LOSS: '0.05' } });
  const run = await alignMatchesSingleVm(env, home, 'queries=24 db=48', 8);
  assert.ok(new Set(run.clones.map((c) => c.host)).size >= 2, 'clones on several hosts');
});

test('unicast mode (network_mode = unicast) end to end', { timeout: 300_000 }, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  const { home, env } = await upHosts(t, 'mu', { count: 2, cpus: 4, ramGiB: 4, networkMode: 'unicast' });
  const run = await alignMatchesSingleVm(env, home, 'queries=12 db=32', 4);
  assert.ok(
    run.clones.some((c) => c.host !== run.master.host),
    'some clones on the other host',
  );
  const op = await lastOperation(env, 'clone.master');
  assert.deepEqual([op.detail.network?.mode, op.detail.network?.group], ['unicast', null]);
  // The other host's clone-remote is timed per host from when it went, with the fork command; the clone.master
  // waited for the fork's answer and then for the slowest host.
  const stages = op.detail.stages;
  const other = run.clones.find((c) => c.host !== run.master.host)!.host;
  assert.ok(stages, JSON.stringify(op.detail));
  assert.deepEqual(Object.keys(stages.remoteHostMs), [other]);
  const hostMs = stages.remoteHostMs[other]!;
  assert.ok(hostMs > 0 && hostMs <= stages.forkMs + stages.remoteMs + 0.01, JSON.stringify(stages));
});

test('a host lost mid-run fails its clones with the reason, frees what it held, and the master and other clones go on', {
  timeout: 300_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  const { status, home, env } = await upHosts(t, 'mk', { count: 3, cpus: 3, ramGiB: 4 });
  // Long enough per clone (seconds) that the kill lands while they compute.
  const clusterid = await seed(env, home, align, 'queries=14 db=512 len=4096 qlen=256 clones=6');
  const seen: string[] = [];
  const running = await waitUntil('clones to run', 60_000, async () => {
    let rows: DomainRow[];
    try {
      rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
    } catch (err) {
      seen.push(String(err));
      throw err;
    }
    seen.push(rows.map((d) => `${d.domain}=${d.state}`).join(','));
    return rows.length === 7 && rows.every((d) => d.state === 'running') ? rows : null;
  }).catch((err: Error) => assert.fail(`${err.message}: ${[...new Set(seen)].join(' | ')}`));
  const masterHost = running.find((d) => d.domain === `${clusterid}:0`)!.host;
  const victim = status.hosts.find((h) => h.address !== masterHost && running.some((d) => d.host === h.address))!;
  process.kill(victim.pid!, 'SIGKILL');
  const text = await masterOutput(env, clusterid);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const lost = rows.filter((d) => d.host === victim.address);
  assert.ok(lost.length > 0);
  for (const d of lost) {
    assert.equal(d.state, 'lost', JSON.stringify(d));
    assert.match(d.endReason ?? '', new RegExp(`host ${victim.address.replace(/\./g, '\\.')} went offline`));
    assert.match(text, new RegExp(`clone ${d.domain.split(':')[1]} crashed`), text);
  }
  const master = rows.find((d) => d.domain === `${clusterid}:0`)!;
  assert.equal(master.state, 'exited', 'the master finished its join');
  assert.ok(
    rows.filter((d) => d.host !== victim.address && d !== master).every((d) => d.state === 'exited'),
    JSON.stringify(rows),
  );
  assert.match(text, /verified FAILED/, 'a result missing clones is not passed off as verified');
  const hosts = (await json<{ hosts: HostRow[] }>(runSf(['state', '--json'], env))).hosts;
  assert.equal(hosts.find((h) => h.name === victim.address)?.state, 'offline');
  for (const h of hosts.filter((x) => x.state === 'online')) assert.equal(h.cpusUsed, 0, `${h.name} holds nothing after the cluster ended`);
});

test("the master's host lost mid-run: its clones on the other hosts end with a reason (destroyed and stopped, or crashed without its memory), nothing is held", {
  timeout: 300_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  const { status, home, env } = await upHosts(t, 'mm', { count: 3, cpus: 3, ramGiB: 4 });
  const clusterid = await seed(env, home, align, 'queries=14 db=512 len=4096 qlen=256 clones=6');
  const running = await waitUntil('clones to run', 60_000, async () => {
    const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
    return rows.length === 7 && rows.every((d) => d.state === 'running') ? rows : null;
  });
  const masterHost = running.find((d) => d.domain === `${clusterid}:0`)!.host;
  const victim = status.hosts.find((h) => h.address === masterHost)!;
  const elsewhere = running.filter((d) => d.host !== masterHost).map((d) => d.domain);
  assert.ok(elsewhere.length > 0, JSON.stringify(running));
  process.kill(victim.pid!, 'SIGKILL');

  await waitUntil('the master to be lost with its host', 60_000, async () => {
    const master = (await domains(env)).find((d) => d.domain === `${clusterid}:0`);
    return master?.state === 'lost' ? master : null;
  });
  const rows = await waitUntil('the clones elsewhere to end', 60_000, async () => {
    const now = (await domains(env)).filter((d) => elsewhere.includes(d.domain));
    return now.every((d) => d.state !== 'running') ? now : null;
  });
  const why = new RegExp(
    `^cluster ${clusterid} was lost: its master ${clusterid}:0 was lost with host ${masterHost.replace(/\./g, '\\.')} \\(`,
  );
  // A clone still fetching memory from the master's host may crash first (its pages are gone): that is true and
  // says so; the others are destroyed on their hosts by sfmd and recorded stopped with the master's loss.
  for (const d of rows) {
    assert.ok(['stopped', 'crashed'].includes(d.state), JSON.stringify(d));
    assert.match(d.endReason ?? '', d.state === 'stopped' ? why : /./, JSON.stringify(d));
  }
  const state = await json<{ hosts: HostRow[]; domains: DomainRow[] }>(runSf(['state', '--json'], env));
  assert.equal(state.hosts.find((h) => h.name === masterHost)?.state, 'offline');
  for (const h of state.hosts.filter((x) => x.state === 'online'))
    assert.equal(h.cpusUsed, 0, `${h.name} holds nothing after the cluster ended`);
  assert.deepEqual(
    state.domains.filter((d) => d.domain.startsWith(`${clusterid}:`)),
    [],
    'nothing of the cluster is recorded live',
  );
});
