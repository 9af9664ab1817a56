// The cluster network on the multi-host harness with real daemons: the outside namespace answers every host
// through its default route, and after a SIGKILLed sfld restarts, no bridge, tap, VXLAN, router leg or
// nftables table of the VMs that died with it is left on its host, and new clusters work.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { waitUntil } from './cli-runner.ts';
import { domains } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { cannotRunHarness, seed, upHosts } from './harness.ts';
import { cannotBuildNetLab } from './net-lab.ts';

const SF = fileURLToPath(new URL('../bin/sf.mjs', import.meta.url));
/** A master that forks 2 clones and computes for a while: its cluster network spans hosts meanwhile. */
const FORKING = 'queries=40 db=512 len=4096 qlen=256 clones=2';
const OURS = /^sf[0-9a-f]{1,8}(b|x|r|g|v[0-9a-f]{1,4})$/;

function inNetns(netns: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(
      'ip',
      ['netns', 'exec', netns, ...args],
      { encoding: 'utf8', timeout: 60_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => (err ? reject(new Error(`${args.join(' ')} in ${netns}: ${stderr || err.message}`)) : resolve(stdout)),
    ),
  );
}

const GET = `fetch('http://' + process.argv[1] + '/').then((r) => r.text()).then((t) => console.log(t.trim()), (e) => { console.log(String(e)); process.exit(1); })`;

async function networkObjects(netns: string) {
  const links = (await inNetns(netns, ['ip', '-o', 'link', 'show']))
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => OURS.test(n));
  const tables = (await inNetns(netns, ['nft', 'list', 'tables'])).trim().split('\n').filter(Boolean);
  return { links: links.sort(), tables };
}

test("the outside answers every host; a SIGKILLed sfld's cluster network is swept when it restarts", { timeout: 300_000 }, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms() ?? cannotBuildNetLab())) return;
  const { status, home, env } = await upHosts(t, 'mn', { count: 2, cpus: 4, ramGiB: 2 });
  assert.equal(status.outside.present, true);
  for (const h of status.hosts) {
    const text = await inNetns(h.netns, [process.execPath, '-e', GET, status.outside.whitelisted]);
    assert.equal(text.trim(), `snowflock outside ${status.outside.whitelisted} GET /`, `${h.host} reaches the outside`);
  }

  const clusterid = await seed(env, home, guestImage('align'), FORKING);
  const master = (await domains(env)).find((d) => d.domain === `${clusterid}:0`)!;
  const victim = status.hosts.find((h) => h.address === master.host)!;
  const bridge = `sf${clusterid.toString(16)}b`;
  await waitUntil(`cluster ${clusterid}'s network on ${victim.host}`, 20_000, async () =>
    (await networkObjects(victim.netns)).links.includes(bridge),
  );
  const before = await networkObjects(victim.netns);
  assert.ok(before.links.includes(`sf${clusterid.toString(16)}v0`), `the master's tap: ${before.links.join(' ')}`);
  assert.ok(before.links.includes(`sf${clusterid.toString(16)}g`), "the router's leg on the master's host");
  assert.deepEqual(before.tables.sort(), ['table bridge snowflock', 'table inet snowflock']);

  process.kill(victim.pid!, 'SIGKILL');
  await waitUntil(`sfld ${victim.host} to die`, 5_000, async () => {
    try {
      process.kill(victim.pid!, 0);
      return false;
    } catch {
      return true;
    }
  });
  assert.ok((await networkObjects(victim.netns)).links.includes(bridge), 'a killed sfld cleans up nothing by itself');
  const restarted = JSON.parse(
    await inNetns(victim.netns, [process.execPath, SF, 'sfld', 'start', '--config', victim.config, '--json'], env),
  );
  assert.equal(restarted.registered, true);
  assert.deepEqual(await networkObjects(victim.netns), { links: [], tables: [] }, 'nothing stale after the restart');

  // New clusters work after it (its boot builds their network wherever the allocator puts it).
  const again = await seed(env, home, guestImage('hello'), '');
  const row = (await domains(env)).find((d) => d.domain === `${again}:0`)!;
  assert.ok(['running', 'exited'].includes(row.state), `the new master ${row.state}: ${row.endReason}`);
});
