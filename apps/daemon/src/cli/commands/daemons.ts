// sfmd and sfld as commands: start (in the background, or --foreground), stop and status. First
// start writes default configs for this machine and announces the admin token once.
import { existsSync } from 'node:fs';
import { loadSfldConfig, loadSfmdConfig } from '../../common/config/index.ts';
import { SfError } from '../../common/errors.ts';
import { ensureDirs } from '../../common/paths.ts';
import { sfmdTransport } from '../../common/pinned-tls.ts';
import { readSecretFile } from '../../common/secret-file.ts';
import { homeTrust, sfmdScheme } from '../../common/sfmd-trust.ts';
import type { Command } from '../command.ts';
import type { CommandContext } from '../context.ts';
import { daemonStatus, startDaemon, stopDaemon } from '../daemon-control.ts';
import { defaultSfldCfg, defaultSfmdCfg, thisHostName, writeIfMissing } from '../default-configs.ts';

const daemonOptions = {
  foreground: { type: 'boolean', description: 'run in this terminal instead of the background' },
  config: { type: 'string', value: 'FILE', description: 'config file (default $SNOWFLOCK_HOME/sfmd.cfg or sfld.cfg)' },
  port: { type: 'string', value: 'N', description: "listen on this port instead of the config's (0 = any)" },
} as const;

function parsePort(value: string | boolean | undefined): number | undefined {
  if (typeof value !== 'string') return undefined;
  if (!/^\d{1,5}$/.test(value) || Number(value) > 65535) throw new SfError('BAD_INPUT', `--port must be 0..65535, got '${value}'`);
  return Number(value);
}

async function getJson(url: string, send: typeof fetch = fetch): Promise<unknown> {
  const res = await send(url, { signal: AbortSignal.timeout(1000) });
  return res.ok ? res.json() : null;
}

/** Runs until SIGTERM/SIGINT, then stops cleanly. */
function untilSignal(stop: () => Promise<void>): Promise<number> {
  return new Promise((resolve) => {
    const onSignal = () => {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      stop().then(
        () => resolve(0),
        () => resolve(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
}

function forwardArgs(ctx: CommandContext, values: Record<string, string | boolean | undefined>): string[] {
  const args: string[] = [];
  if (typeof values.config === 'string') args.push('--config', values.config);
  if (typeof values.port === 'string') args.push('--port', values.port);
  if (typeof values['secret-file'] === 'string') args.push('--secret-file', values['secret-file']);
  if (ctx.options.home) args.push('--home', ctx.options.home);
  return args;
}

export const sfmd: Command = {
  name: 'sfmd',
  args: [['start', 'stop', 'status']],
  classic: 'sfmd',
  summary: 'The master daemon: allocates hosts, keeps the record, serves the API (tRPC + socket.io).',
  usage: 'sfmd start|stop|status [--foreground] [--config FILE] [--port N]',
  description: 'On first start it writes a default sfmd.cfg for this machine and an admin token into the data directory.',
  options: daemonOptions,
  examples: ['sfmd start', 'sfmd status --json', 'sfmd start --foreground --config ./sfmd.cfg', 'sfmd stop'],
  async run(ctx, args, values) {
    const action = args[0] ?? 'status';
    ensureDirs(ctx.paths);
    const configPath = typeof values.config === 'string' ? values.config : ctx.paths.sfmdConfig;
    if (action === 'start') {
      if (!existsSync(configPath) && configPath === ctx.paths.sfmdConfig) {
        const { hostCapabilities } = await import('@snowflock/native');
        const caps = hostCapabilities();
        writeIfMissing(configPath, defaultSfmdCfg(thisHostName(), caps.cpus, caps.ramBytes));
        ctx.out.note(`wrote a default config for this machine: ${configPath}`);
      }
      const config = await loadSfmdConfig(configPath); // fail here, with the config's own message
      const port = parsePort(values.port) ?? config.masterListenPort;
      const url = `${sfmdScheme(config.tls?.enabled ?? true)}://127.0.0.1:${port}`;
      if (values.foreground === true) {
        const { startSfmd } = await import('../../master/main.ts');
        const running = await startSfmd({ home: ctx.paths.home, configPath, port });
        if (running.adminTokenCreated && !process.env.SNOWFLOCK_TOKEN_ANNOUNCED) {
          process.stdout.write(`admin token (shown once; kept in ${ctx.paths.adminToken}): ${running.adminToken}\n`);
        }
        if (running.fingerprint && !process.env.SNOWFLOCK_TOKEN_ANNOUNCED) {
          process.stdout.write(`certificate SHA-256 fingerprint (sflds elsewhere pin it): ${running.fingerprint}\n`);
        }
        return untilSignal(running.stop);
      }
      const tokenExisted = existsSync(ctx.paths.adminToken);
      const status = await startDaemon(
        ctx.paths,
        {
          id: 'sfmd',
          foregroundArgs: ['sfmd', 'start', '--foreground', ...forwardArgs(ctx, values)],
          healthUrl: `${url}/healthz`,
          // The pin is read at each try: the sfmd being started writes its fingerprint file before it listens.
          fetch: (input, init) => sfmdTransport(url, homeTrust(ctx.paths)).fetch(input, init),
          port,
        },
        { ...process.env, SNOWFLOCK_TOKEN_ANNOUNCED: '1' },
      );
      const token = !tokenExisted ? readSecretFile(ctx.paths.adminToken) : null;
      const fingerprint = url.startsWith('https:') ? homeTrust(ctx.paths).fingerprint : null;
      ctx.out.result({ ...status, url, fingerprint, adminTokenFile: ctx.paths.adminToken, ...(token ? { adminToken: token } : {}) }, () =>
        [
          status.alreadyRunning
            ? `sfmd is already running (pid ${status.pid})`
            : `sfmd started (pid ${status.pid}), listening on port ${port}`,
          `  log: ${status.logFile}`,
          `  admin token: ${ctx.paths.adminToken}`,
          fingerprint
            ? `  certificate SHA-256 fingerprint: ${fingerprint} (master_fingerprint in other hosts' sfld.cfg)`
            : '  plain HTTP (tls = False in sfmd.cfg): traffic to sfmd is not encrypted',
          ...(token ? [`  new admin token (shown once): ${token}`] : []),
        ].join('\n'),
      );
      return;
    }
    if (action === 'stop') {
      const result = await stopDaemon(ctx.paths, 'sfmd');
      ctx.out.result(result, () =>
        result.wasRunning ? `sfmd stopped${result.forced ? ' (killed after the grace period)' : ''}` : 'sfmd was not running',
      );
      return;
    }
    if (action === 'status') {
      const status = daemonStatus(ctx.paths, 'sfmd');
      const health = status.running ? await getJson(`${ctx.url}/healthz`, ctx.sfmdFetch).catch(() => null) : null;
      ctx.out.result({ ...status, url: ctx.url, health }, () =>
        status.running
          ? `sfmd is running (pid ${status.pid}) at ${ctx.url}${health ? '' : ' but does not answer /healthz'}`
          : 'sfmd is not running: start it with sfmd start',
      );
      return status.running ? 0 : 3;
    }
    throw new SfError('BAD_INPUT', `unknown action '${action}': use start, stop or status`);
  },
};

export const sfld: Command = {
  name: 'sfld',
  args: [['start', 'stop', 'status']],
  classic: 'sfld',
  summary: 'The local daemon of a host: registers it with sfmd, sends heartbeats and metrics, runs its VMs.',
  usage: 'sfld start|stop|status [--foreground] [--config FILE] [--secret-file FILE] [--port N]',
  description: 'On first start it writes a default sfld.cfg naming this machine and pointing at sfmd on localhost.',
  options: {
    ...daemonOptions,
    'secret-file': { type: 'string', value: 'FILE', description: "this host's secret (default $SNOWFLOCK_HOME/secrets/HOSTNAME.secret)" },
  },
  examples: ['sfld start', 'sfld status --json', 'sfld start --foreground --config ./node2.cfg --secret-file ./node2.secret'],
  async run(ctx, args, values) {
    const action = args[0] ?? 'status';
    ensureDirs(ctx.paths);
    const configPath = typeof values.config === 'string' ? values.config : ctx.paths.sfldConfig;
    if (configPath === ctx.paths.sfldConfig && writeIfMissing(configPath, defaultSfldCfg(thisHostName()))) {
      ctx.out.note(`wrote a default config for this machine: ${configPath}`);
    }
    const config = await loadSfldConfig(configPath);
    const id = `sfld-${config.hostname}`;
    const port = parsePort(values.port) ?? config.localListenPort;
    if (action === 'start') {
      if (values.foreground === true) {
        const { startSfld } = await import('../../local/sfld.ts');
        const running = await startSfld({
          home: ctx.paths.home,
          configPath,
          localPort: port,
          ...(typeof values['secret-file'] === 'string' ? { secretFile: values['secret-file'] } : {}),
        });
        return untilSignal(running.stop);
      }
      const status = await startDaemon(ctx.paths, {
        id,
        foregroundArgs: ['sfld', 'start', '--foreground', ...forwardArgs(ctx, values)],
        healthUrl: `http://127.0.0.1:${port}/healthz`,
        port,
      });
      // Registration needs sfmd: wait a little for it, but a running sfld keeps trying anyway.
      let registered = false;
      for (let i = 0; i < 50 && !registered; i++) {
        const health = (await getJson(`http://127.0.0.1:${port}/healthz`).catch(() => null)) as { registered?: boolean } | null;
        registered = health?.registered === true;
        if (!registered) await new Promise((r) => setTimeout(r, 100));
      }
      ctx.out.result({ ...status, host: config.hostname, registered }, () =>
        [
          status.alreadyRunning
            ? `sfld ${config.hostname} is already running (pid ${status.pid})`
            : `sfld ${config.hostname} started (pid ${status.pid})`,
          registered
            ? `  registered with sfmd at ${config.masterHost}:${config.masterPort}`
            : `  not registered yet with sfmd at ${config.masterHost}:${config.masterPort}: it keeps trying; see ${status.logFile}`,
        ].join('\n'),
      );
      return;
    }
    if (action === 'stop') {
      const result = await stopDaemon(ctx.paths, id);
      ctx.out.result(result, () => (result.wasRunning ? `sfld ${config.hostname} stopped` : `sfld ${config.hostname} was not running`));
      return;
    }
    if (action === 'status') {
      const status = daemonStatus(ctx.paths, id);
      const health = status.running ? await getJson(`http://127.0.0.1:${port}/healthz`).catch(() => null) : null;
      ctx.out.result({ ...status, host: config.hostname, health }, () =>
        status.running
          ? `sfld ${config.hostname} is running (pid ${status.pid})`
          : `sfld ${config.hostname} is not running: start it with sfld start`,
      );
      return status.running ? 0 : 3;
    }
    throw new SfError('BAD_INPUT', `unknown action '${action}': use start, stop or status`);
  },
};

export const daemonCommands = [sfmd, sfld];
