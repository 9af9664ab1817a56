// A fork's memserver lives as long as its clones on other hosts, not as long as its master: through the
// real daemons on two namespaced hosts, the master's sfld stops serving a fork once its remote clones ended
// (sfmd tells it: fork:release) while the master runs on.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { json, runBin, runSf, waitUntil } from './cli-runner.ts';
import { consoleText } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { cannotRunHarness, domains, seed, upHosts } from './harness.ts';

const SFLD_PORT = 0xc01f; // scripts/hosts.mjs gives every sfld the classic port in its own namespace

async function memserversOn(host: string): Promise<number> {
  const res = await fetch(`http://${host}:${SFLD_PORT}/healthz`);
  return ((await res.json()) as { memservers: number }).memservers;
}

test("a fork's memserver stops when its last remote clone ends; the master runs on", { timeout: 300_000 }, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms())) return;
  const { home, env } = await upHosts(t, 'fr', { count: 2, cpus: 2, ramGiB: 2, networkMode: 'unicast' });
  const clusterid = await seed(env, home, guestImage('hello'), 'watch=120');
  const master = `${clusterid}:0`;
  await waitUntil('the master to watch its vmid', 30_000, async () => /watching vmid 0/.test(await consoleText(env, master)));
  const cloned = await json<{ ticket: string; nclones: number }>(runBin('sfclone', ['2', '--domain', master, '--json'], env));
  assert.equal(cloned.nclones, 2);
  const rows = (await domains(env)).filter((d) => d.domain.startsWith(`${clusterid}:`));
  const masterHost = rows.find((d) => d.domain === master)!.host;
  const clones = rows.filter((d) => d.domain !== master);
  assert.ok(
    clones.some((c) => c.host !== masterHost),
    `a clone runs on the other host: ${JSON.stringify(rows)}`,
  );
  assert.equal(await memserversOn(masterHost), 1, 'the fork is served while its remote clone runs');

  for (const c of clones) {
    const r = await runSf(['exit', '0', '--domain', c.domain], env);
    assert.equal(r.code, 0, r.stderr);
  }
  await waitUntil('the master host to stop serving the fork', 20_000, async () => (await memserversOn(masterHost)) === 0);
  const after = (await domains(env)).find((d) => d.domain === master)!;
  assert.equal(after.state, 'running', 'the master runs on');
});
