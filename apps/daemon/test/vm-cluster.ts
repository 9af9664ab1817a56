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
import { snowflockPaths } from '../src/common/paths.ts';
import { sfmdSocketOptions, sfmdTransport } from '../src/common/pinned-tls.ts';
import { homeTrust } from '../src/common/sfmd-trust.ts';

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
  const url = `https://127.0.0.1:${port}`;
  return {
    home,
    env,
    /** sfmd's base URL (HTTPS: its certificate pinned by the fingerprint file sfmd wrote in the home). */
    url,
    /** fetch() for sfmd's URLs, over the pinned connection. */
    fetch: sfmdTransport(url, () => homeTrust(snowflockPaths(home))).fetch,
    /** socket.io-client options (the pinned agent) for sfmd's namespaces. */
    socketOptions: sfmdSocketOptions(url, () => homeTrust(snowflockPaths(home))),
    async seed(image: string, args = '', memoryMiB = 64, vcpus = 1) {
      const file = path.join(home, `seed${++n}.cfg`);
      writeFileSync(file, seedFile(image, args, memoryMiB, vcpus));
      return json<{ clusterid: number }>(runBin('sfseed', [file, '--json'], env));
    },
    async domain(name: string): Promise<DomainRow> {
      return (await domains(env)).find((d) => d.domain === name)!;
    },
    ended: (name: string, waitMs = 30_000) => domainEnded(env, name, waitMs),
    consoleText: (name: string) => consoleText(env, name),
  };
}
