// sfmd (and optionally an sfld, here or in a child process) started in this test process for one configured host,
// 'solo', in a fresh home: the set-up of the hub, edge, host-comeback and loop-stall tests. Stopped (sfld first)
// and the home removed after the test.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { hostSecretPath, snowflockPaths } from '../src/common/paths.ts';
import { createLogger, type Logger } from '../src/common/logger.ts';
import { startSfld } from '../src/local/sfld.ts';
import { startSfmd } from '../src/master/main.ts';
import { type SfmdTrust, sfmdSocketOptions, sfmdTransport } from '../src/common/pinned-tls.ts';
import { BIN_DIR, freePort, waitUntil } from './cli-runner.ts';
import { tempHome } from './support.ts';
import { NO_CLUSTER_NETWORK } from './one-host.ts';

/** The pins of the sfmds soloSnowflock started in this process, by origin. */
const pins = new Map<string, SfmdTrust>();

/** fetch() that trusts any sfmd soloSnowflock started by its fingerprint (other URLs: the global fetch). */
export const soloFetch: typeof fetch = (input, init) => {
  const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
  return sfmdTransport(url, pins.get(new URL(url).origin) ?? null).fetch(input, init);
};

/** socket.io-client options that trust the soloSnowflock sfmd at `url`. */
export function soloSocketOptions(url: string): { agent?: string | boolean } {
  return sfmdSocketOptions(url, pins.get(new URL(url).origin) ?? null);
}

/** A logger that prints nothing, unless SNOWFLOCK_TEST_LOG=1 asks to see the daemons' logs. */
export function quietLog(): Logger {
  const log = createLogger('test');
  log.level = process.env.SNOWFLOCK_TEST_LOG === '1' ? 'info' : 'silent';
  return log;
}

/**
 * sfmd on a free loopback port with host 'solo' (2 cpus, 1 GiB); with `sfld`, solo's sfld too, registered:
 * in this process (true), or as a child process through the CLI ('child': it runs on while this process's
 * event loop, sfmd's, is blocked). `sfmdCfg` is added to sfmd.cfg (e.g. a `rate_limits` line).
 */
export async function soloSnowflock(
  t: Pick<TestContext, 'after'>,
  prefix: string,
  options: { sfld?: boolean | 'child'; sfmdCfg?: string } = {},
) {
  const home = tempHome(prefix);
  writeFileSync(
    path.join(home, 'sfmd.cfg'),
    `cluster_hosts = [{'host': 'solo', 'cpus': 2, 'RAM': 1 << 30}]\nclusterid = 1\n${options.sfmdCfg ?? ''}\n`,
  );
  const sfmd = await startSfmd({ home, port: 0, listen: '127.0.0.1', log: quietLog() });
  let sfld: Awaited<ReturnType<typeof startSfld>> | null = null;
  let child: ChildProcess | null = null;
  t.after(async () => {
    await sfld?.stop();
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = once(child, 'exit');
      child.kill('SIGTERM'); // sfld destroys its VMs and exits
      const late = setTimeout(() => child?.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(late);
    }
    await sfmd.stop();
    rmSync(home, { recursive: true, force: true });
  });
  if (options.sfld) {
    writeFileSync(
      path.join(home, 'sfld.cfg'),
      `hostname = 'solo'\nmaster_host = '127.0.0.1'\nmaster_port = ${sfmd.port}\nlocal_listen_port = ${await freePort()}\n${NO_CLUSTER_NETWORK}`,
    );
    if (options.sfld === 'child') {
      child = spawn(process.execPath, [`${BIN_DIR}sfld.mjs`, 'start', '--foreground', '--home', home], {
        env: { ...process.env, SNOWFLOCK_LOG_LEVEL: process.env.SNOWFLOCK_TEST_LOG === '1' ? 'info' : 'warn' },
        // Its log on stdout only when asked: the test runner reads this process's stdout as TAP.
        stdio: ['ignore', process.env.SNOWFLOCK_TEST_LOG === '1' ? 'inherit' : 'ignore', 'inherit'],
      });
      const online = async () => (await sfmd.svc.db.host.findUniqueOrThrow({ where: { name: 'solo' } })).state === 'online';
      await waitUntil("the child sfld's registration", 20_000, online);
    } else {
      sfld = await startSfld({ home, log: quietLog() });
      const started = sfld;
      await waitUntil('registration', 10_000, async () => started.isRegistered());
    }
  }
  const url = `${sfmd.fingerprint ? 'https' : 'http'}://127.0.0.1:${sfmd.port}`;
  const trust = { fingerprint: sfmd.fingerprint, source: 'the test fixture' };
  pins.set(new URL(url).origin, trust);
  return {
    home,
    sfmd,
    sfld,
    child,
    url,
    /** The pin of sfmd's certificate (null fingerprint: plain HTTP). */
    trust,
    /** fetch() that trusts this sfmd's certificate by its fingerprint. */
    fetch: sfmdTransport(url, trust).fetch,
    /** socket.io-client options (the pinned agent) for this sfmd. */
    socketOptions: sfmdSocketOptions(url, trust),
    secret: readFileSync(hostSecretPath(snowflockPaths(home), 'solo'), 'utf8').trim(),
  };
}
