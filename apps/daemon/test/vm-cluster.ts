// A real one-host Snowflock for VM tests: sfmd and an sfld started through the CLI in a temporary home,
// with helpers to seed guests and read domains and consoles. Stopped and removed when the test ends.
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { tempHome } from './support.ts';
import { json, runBin, runSf } from './cli-runner.ts';
import { consoleText, domainEnded, domains, type DomainRow } from './cluster-driver.ts';
import { seedFile } from './guests.ts';
import { writeOneHostConfigs } from './one-host.ts';

/**
 * sfmd + one sfld (host kvm1, `cpus`/`ramGiB` of capacity) in a fresh SNOWFLOCK_HOME, stopped after the test;
 * `sfmdCfg` adds settings to sfmd.cfg.
 */
export async function vmCluster(t: TestContext, capacity: { cpus: number; ramGiB: number } = { cpus: 2, ramGiB: 4 }, sfmdCfg = '') {
  const home = tempHome('sf-vms-');
  const port = await writeOneHostConfigs(home, capacity, sfmdCfg);
  const env = { SNOWFLOCK_HOME: home };
  t.after(async () => {
    await runSf(['sfld', 'stop'], env);
    await runSf(['sfmd', 'stop'], env);
    rmSync(home, { recursive: true, force: true });
  });
  await json(runSf(['sfmd', 'start', '--json'], env));
  assert.equal((await json<{ registered: boolean }>(runSf(['sfld', 'start', '--json'], env))).registered, true);
  let n = 0;
  return {
    home,
    env,
    /** sfmd's base URL. */
    url: `http://127.0.0.1:${port}`,
    async seed(image: string, args = '', memoryMiB = 64) {
      const file = path.join(home, `seed${++n}.cfg`);
      writeFileSync(file, seedFile(image, args, memoryMiB));
      return json<{ clusterid: number }>(runBin('sfseed', [file, '--json'], env));
    },
    async domain(name: string): Promise<DomainRow> {
      return (await domains(env)).find((d) => d.domain === name)!;
    },
    ended: (name: string) => domainEnded(env, name, 30_000),
    consoleText: (name: string) => consoleText(env, name),
  };
}
