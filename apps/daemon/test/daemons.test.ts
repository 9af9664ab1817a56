// End to end with real processes: sfmd and three sflds started by the real CLI in the background,
// registration, an sfld killed (offline within 5 s, reservations released), sfmd restarted with
// its state intact, and the killed host coming back.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DomainState, HostState } from '../src/master/store/states.ts';
import { tempHome } from './support.ts';
import { freePort, json, runBin, runSf, waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, seedFile, skipIf } from './guests.ts';
import { NO_CLUSTER_NETWORK } from './one-host.ts';

interface HostRow {
  name: string;
  state: HostState;
  cpus: number;
  ram: number;
  cpusUsed: number;
  kvm: boolean;
}

/** What `sfdotix --json` and `sf ticket --json` print, as far as this test reads it. */
interface TicketInfo {
  ticket: string;
  granted: number;
  allocations: { host: string }[];
}

test('sfmd + three sflds: registration, a lost host, an sfmd restart', { timeout: 150_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const home = tempHome('sf-e2e-');
  const masterPort = await freePort();
  const names = ['node1', 'node2', 'node3'];
  writeFileSync(
    path.join(home, 'sfmd.cfg'),
    `master_listen_port = ${masterPort}
cluster_hosts = [
${names.map((n) => `  {'host': '${n}', 'cpus': 2, 'RAM': 2 * 1024 * 1024 * 1024},`).join('\n')}
]
clusterid = 1
`,
  );
  const sfldConfigs: Record<string, string> = {};
  for (const name of names) {
    sfldConfigs[name] = path.join(home, `${name}.cfg`);
    writeFileSync(
      sfldConfigs[name]!,
      `hostname = '${name}'\nmaster_host = '127.0.0.1'\nmaster_port = ${masterPort}\nlocal_listen_port = ${await freePort()}\n${NO_CLUSTER_NETWORK}`,
    );
  }
  const env = { SNOWFLOCK_HOME: home };
  const sf = (...args: string[]) => runSf(args, env);
  t.after(async () => {
    for (const name of names) await sf('sfld', 'stop', '--config', sfldConfigs[name]!);
    await sf('sfmd', 'stop');
    rmSync(home, { recursive: true, force: true });
  });

  const started = await json<{ alreadyRunning: boolean; adminToken?: string }>(sf('sfmd', 'start', '--json'));
  assert.equal(started.alreadyRunning, false);
  assert.ok(started.adminToken, 'first start announces the admin token once');
  assert.equal(readFileSync(path.join(home, 'admin.token'), 'utf8').trim(), started.adminToken);
  assert.equal((await json<{ alreadyRunning: boolean }>(sf('sfmd', 'start', '--json'))).alreadyRunning, true);

  for (const name of names) {
    const r = await json<{ registered: boolean }>(sf('sfld', 'start', '--config', sfldConfigs[name]!, '--json'));
    assert.equal(r.registered, true, `${name} registered`);
  }
  const state = await json<{ hosts: HostRow[] }>(runBin('sfstate', ['--json'], env));
  assert.deepEqual(
    state.hosts.map((h) => [h.name, h.state, h.cpus, h.ram]),
    names.map((n) => [n, 'online', 2, 2 * 2 ** 30]),
  );

  // A master on one host and a ticket spread over all three.
  const seedCfg = path.join(home, 'seed.cfg');
  // An interactive hello waits for console input: a master that stays up through the whole test.
  writeFileSync(seedCfg, seedFile(guestImage('hello'), 'interactive=1'));
  const cluster = await json<{ domains: { host: string }[] }>(runBin('sfseed', [seedCfg, '--json'], env));
  const masterHost = cluster.domains[0]!.host;
  const ticket = await json<TicketInfo>(runBin('sfdotix', ['5', '--domain', '1:0', '--json'], env));
  assert.equal(ticket.granted, 5);
  const victim = names.find((n) => n !== masterHost)!;
  const victimShare = ticket.allocations.filter((a) => a.host === victim).length;
  assert.ok(victimShare >= 1);

  // Kill the victim's sfld outright: sfmd notices within 5 s and releases its reservations.
  const status = await json<{ pid: number }>(sf('sfld', 'status', '--config', sfldConfigs[victim]!, '--json'));
  process.kill(status.pid, 'SIGKILL');
  const killedAt = Date.now();
  await waitUntil(`${victim} offline`, 8000, async () => {
    const s = await json<{ hosts: HostRow[] }>(sf('sfstate', '--json'));
    return s.hosts.find((h) => h.name === victim)?.state === 'offline';
  });
  const detectMs = Date.now() - killedAt;
  t.diagnostic(`host offline after ${detectMs} ms`);
  assert.ok(detectMs <= 5000 + 1500, `offline within 5 s (+ CLI latency), took ${detectMs} ms`);
  const info = await json<TicketInfo>(sf('ticket', ticket.ticket, '--domain', '1:0', '--json'));
  assert.equal(info.granted, 5 - victimShare);
  assert.ok(info.allocations.every((a) => a.host !== victim));

  // Restart sfmd: nothing lost, and the live sflds stay online through it.
  assert.equal((await sf('sfmd', 'stop')).code, 0);
  assert.equal((await sf('sfstate')).code, 12, 'UNAVAILABLE while sfmd is down');
  await json(sf('sfmd', 'start', '--json'));
  await new Promise((r) => setTimeout(r, 6000)); // longer than the offline timeout
  const after = await json<{ hosts: HostRow[]; domains: { domain: string; state: DomainState }[] }>(sf('sfstate', '--json'));
  assert.deepEqual(
    after.hosts.map((h) => [h.name, h.state]),
    names.map((n) => [n, n === victim ? 'offline' : 'online']),
  );
  assert.deepEqual(
    after.domains.map((d) => [d.domain, d.state]),
    [['1:0', 'running']],
  );
  const again = await json<TicketInfo>(sf('ticket', ticket.ticket, '--domain', '1:0', '--json'));
  assert.deepEqual(again.allocations, info.allocations);

  // The killed host returns and registers cleanly.
  assert.equal((await json<{ registered: boolean }>(sf('sfld', 'start', '--config', sfldConfigs[victim]!, '--json'))).registered, true);
  const back = await json<{ hosts: HostRow[] }>(sf('sfstate', '--json'));
  assert.equal(back.hosts.find((h) => h.name === victim)!.state, 'online');
});

test('CLI errors carry the error table exit codes', { timeout: 60_000 }, async (t) => {
  const home = tempHome('sf-cli-');
  t.after(() => rmSync(home, { recursive: true, force: true }));
  const env = { SNOWFLOCK_HOME: home, SNOWFLOCK_URL: `http://127.0.0.1:${await freePort()}`, SNOWFLOCK_TOKEN: 'x' };
  const down = await runSf(['state'], env);
  assert.equal(down.code, 12);
  assert.match(down.stderr, /UNAVAILABLE: sfmd is not reachable .* start it/);
  const noDomain = await runBin('sfdotix', ['2'], env);
  assert.equal(noDomain.code, 2);
  assert.match(noDomain.stderr, /--domain CLUSTER:VMID/);
  const badCount = await runBin('sfdotix', ['two', '--domain', '1:0'], env);
  assert.match(badCount.stderr, /whole number/);
  const unknownFlag = await runSf(['state', '--bogus'], env);
  assert.equal(unknownFlag.code, 2);
  const jsonError = await runSf(['state', '--json'], env);
  assert.deepEqual(JSON.parse(jsonError.stdout).error.code, 'UNAVAILABLE');
  const missingCfg = await runBin('sfseed', [path.join(home, 'nope.cfg')], env);
  assert.equal(missingCfg.code, 3);
  const help = await runBin('sfdotix', ['--help'], env);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /Examples:\n {2}sfdotix 4 --domain 1:0/);
  assert.match((await runSf(['help'], env)).stdout, /sfstate/);
});
