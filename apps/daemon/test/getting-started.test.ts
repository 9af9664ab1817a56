// The seed's Getting Started walkthrough (§3 steps 1-12) through the real daemons and the classic commands,
// with configs written the seed's way: sfmd.cfg's master_listen_port and no clusterid (the first cluster is
// 0), sfld.cfg naming its host by a name that resolves to the cluster_hosts entry's address. The master is an
// interactive hello that stays up, so its clones do too; a second sfclone runs while the first clone is out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DomainState } from '../src/master/store/states.ts';
import { freePort, json, runBin, runSf } from './cli-runner.ts';
import { cannotRunVms, guestImage, seedFile, skipIf } from './guests.ts';
import { NO_CLUSTER_NETWORK } from './one-host.ts';
import { tempHome } from './support.ts';

interface StateRow {
  domain: string;
  state: DomainState;
  ticket: string | null;
}
interface TicketOut {
  ticket: string;
  granted: number;
  allocations: { vmid: number }[];
}

test('Getting Started: seed, sfdotix + sfdoclone, sfclone 2 beside it, sfmerge each, sfshutdown refusing then succeeding', {
  timeout: 180_000,
}, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const home = tempHome('sf-walkthrough-');
  const env = { SNOWFLOCK_HOME: home };
  const port = await freePort();
  // Step 1: sfmd.cfg as the seed writes it (host named by address, RAM as an expression, no clusterid).
  writeFileSync(
    path.join(home, 'sfmd.cfg'),
    `master_listen_port = ${port}\ncluster_hosts = [\n     {'host': '127.0.0.1', 'cpus': 4, 'RAM' : 2*(1<<30)},\n]\nnetwork_mode = 'multicast'\n`,
  );
  // sfld.cfg: its hostname resolves to that address; the master's port by the seed §12 name.
  writeFileSync(
    path.join(home, 'sfld.cfg'),
    `hostname = 'localhost'\nmaster_host = '127.0.0.1'\nmaster_listen_port = ${port}\nlocal_listen_port = ${await freePort()}\n${NO_CLUSTER_NETWORK}`,
  );
  t.after(async () => {
    await runSf(['sfld', 'stop'], env);
    await runSf(['sfmd', 'stop'], env);
    rmSync(home, { recursive: true, force: true });
  });
  await json(runSf(['sfmd', 'start', '--json'], env));
  const sfld = await json<{ registered: boolean }>(runSf(['sfld', 'start', '--json'], env));
  assert.equal(sfld.registered, true, 'localhost registered as cluster host 127.0.0.1');

  // Steps 2-3: sfseed; the first cluster is 0.
  const seedCfg = path.join(home, 'sfseed.cfg');
  writeFileSync(seedCfg, seedFile(guestImage('hello'), 'interactive=1'));
  const seeded = await json<{ clusterid: number }>(runBin('sfseed', [seedCfg, '--json'], env));
  assert.equal(seeded.clusterid, 0);
  const master = ['--domain', '0:0'];
  const states = async () =>
    (await json<{ domains: StateRow[] }>(runBin('sfstate', ['--json'], env))).domains.map((d) => [d.domain, d.state, d.ticket]);

  // Steps 6-7: sfdotix 1, then sfdoclone with it.
  const first = await json<TicketOut>(runBin('sfdotix', ['1', ...master, '--json'], env));
  assert.equal(first.granted, 1);
  const cloned = await json<{ nclones: number; vmid: number }>(runBin('sfdoclone', [first.ticket, ...master, '--json'], env));
  assert.deepEqual([cloned.nclones, cloned.vmid], [1, 0]);

  // Step 9: sfclone 2 while the first clone is out; the new clones get vmids of their own.
  const second = await json<{ ticket: string; nclones: number; allocations: { vmid: number }[] }>(
    runBin('sfclone', ['2', ...master, '--json'], env),
  );
  assert.equal(second.nclones, 2);
  assert.deepEqual(
    second.allocations.map((a) => a.vmid),
    [2, 3],
  );
  assert.deepEqual(await states(), [
    ['0:0', 'running', null],
    ['0:1', 'running', first.ticket],
    ['0:2', 'running', second.ticket],
    ['0:3', 'running', second.ticket],
  ]);

  // Step 12 too early: sfshutdown does not proceed while clones are out, and says which.
  const early = await runBin('sfshutdown', master, env);
  assert.equal(early.code, 8, early.stderr);
  assert.match(early.stderr, /clones still out: 0:1, 0:2, 0:3/);
  assert.match(early.stderr, new RegExp(`${first.ticket} \\(outstanding\\), ${second.ticket} \\(outstanding\\)`));
  assert.equal((await states()).length, 4, 'nothing was stopped');

  // Steps 10-11: merge each ticket; only its clones go.
  const merged1 = await runBin('sfmerge', [first.ticket, ...master], env);
  assert.equal(merged1.code, 0, merged1.stderr);
  assert.equal(merged1.stdout, `Attempting to merge virtual cluster...\nSuccessful merge for ticket ${first.ticket}\n`);
  assert.deepEqual(await states(), [
    ['0:0', 'running', null],
    ['0:2', 'running', second.ticket],
    ['0:3', 'running', second.ticket],
  ]);
  assert.equal((await runBin('sfmerge', [second.ticket, ...master], env)).code, 0);
  assert.deepEqual(await states(), [['0:0', 'running', null]]);

  // Beyond the walkthrough: one more clone, merged with the seed's "all tickets" ('').
  // In the seed's words, which scripts of its users may read.
  const human = await runBin('sfclone', ['1', ...master], env);
  assert.equal(human.code, 0, human.stderr);
  assert.match(
    human.stdout,
    /^Requested 1 clones, 1 allocations received\.\nTicket is [0-9a-f-]{36}\nI am the master with 1 clones \(original VM\)\.\n$/,
  );
  assert.equal((await runBin('sfshutdown', master, env)).code, 8);
  const all = await json<{ merged: string[]; clones: number }>(runBin('sfmerge', ['', ...master, '--json'], env));
  assert.equal(all.clones, 1);

  // Step 12: now sfshutdown proceeds.
  const down = await json<{ state: string }>(runBin('sfshutdown', [...master, '--json'], env));
  assert.equal(down.state, 'shutdown');
  const after = await json<{ hosts: { cpusUsed: number }[]; domains: StateRow[] }>(runBin('sfstate', ['--json'], env));
  assert.deepEqual(after.domains, []);
  assert.equal(after.hosts[0]!.cpusUsed, 0);
});
