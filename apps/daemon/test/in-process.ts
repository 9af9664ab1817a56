// sfmd (and optionally an sfld) started in this test process for one configured host, 'solo', in a fresh home:
// the set-up of the hub, edge and host-comeback tests. Stopped (sfld first) and the home removed after the test.
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { hostSecretPath, snowflockPaths } from '../src/common/paths.ts';
import { createLogger, type Logger } from '../src/common/logger.ts';
import { startSfld } from '../src/local/sfld.ts';
import { startSfmd } from '../src/master/main.ts';
import { freePort, waitUntil } from './cli-runner.ts';
import { tempHome } from './support.ts';

/** A logger that prints nothing, unless SNOWFLOCK_TEST_LOG=1 asks to see the daemons' logs. */
export function quietLog(): Logger {
  const log = createLogger('test');
  log.level = process.env.SNOWFLOCK_TEST_LOG === '1' ? 'info' : 'silent';
  return log;
}

/**
 * sfmd on a free loopback port with host 'solo' (2 cpus, 1 GiB); with `sfld`, solo's sfld too, registered.
 * `sfmdCfg` is added to sfmd.cfg (e.g. a `rate_limits` line).
 */
export async function soloSnowflock(t: Pick<TestContext, 'after'>, prefix: string, options: { sfld?: boolean; sfmdCfg?: string } = {}) {
  const home = tempHome(prefix);
  writeFileSync(path.join(home, 'sfmd.cfg'), `cluster_hosts = [{'host': 'solo', 'cpus': 2, 'RAM': 1 << 30}]\n${options.sfmdCfg ?? ''}\n`);
  const sfmd = await startSfmd({ home, port: 0, listen: '127.0.0.1', log: quietLog() });
  let sfld: Awaited<ReturnType<typeof startSfld>> | null = null;
  t.after(async () => {
    await sfld?.stop();
    await sfmd.stop();
    rmSync(home, { recursive: true, force: true });
  });
  if (options.sfld) {
    writeFileSync(
      path.join(home, 'sfld.cfg'),
      `hostname = 'solo'\nmaster_host = '127.0.0.1'\nmaster_port = ${sfmd.port}\nlocal_listen_port = ${await freePort()}\n`,
    );
    sfld = await startSfld({ home, log: quietLog() });
    const started = sfld;
    await waitUntil('registration', 10_000, async () => started.isRegistered());
  }
  return {
    home,
    sfmd,
    sfld,
    url: `http://127.0.0.1:${sfmd.port}`,
    secret: readFileSync(hostSecretPath(snowflockPaths(home), 'solo'), 'utf8').trim(),
  };
}
