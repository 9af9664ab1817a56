// SFDashBoard as a command: `sf web start|stop|status` runs the built Next.js app (apps/web) with
// sfmd's address in its environment, in the background like the daemons.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { SfError } from '../../common/errors.ts';
import { logDestination } from '../../common/logger.ts';
import { ensureDirs } from '../../common/paths.ts';
import { DEFAULT_WEB_PORT } from '../../common/ports.ts';
import type { Command } from '../command.ts';
import { daemonStatus, startDaemon, stopDaemon } from '../daemon-control.ts';

const WEB_DIR = fileURLToPath(new URL('../../../../web/', import.meta.url));

function nextBin(): string {
  return createRequire(path.join(WEB_DIR, 'package.json')).resolve('next/dist/bin/next');
}

export const web: Command = {
  name: 'web',
  args: [['start', 'stop', 'status']],
  summary: 'SFDashBoard, the web dashboard: start, stop or show its status.',
  usage: 'sf web start|stop|status [--foreground] [--port N] [--listen ADDR]',
  options: {
    foreground: { type: 'boolean', description: 'run in this terminal instead of the background' },
    port: { type: 'string', value: 'N', description: `port (default ${DEFAULT_WEB_PORT} or $SNOWFLOCK_WEB_PORT)` },
    listen: { type: 'string', value: 'ADDR', description: 'address to listen on (default 127.0.0.1)' },
  },
  examples: ['sf web start', 'sf web status --json', 'sf web start --port 8080 --listen 0.0.0.0'],
  async run(ctx, args, values) {
    const action = args[0] ?? 'status';
    ensureDirs(ctx.paths);
    const port = Number(typeof values.port === 'string' ? values.port : (process.env.SNOWFLOCK_WEB_PORT ?? DEFAULT_WEB_PORT));
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new SfError('BAD_INPUT', `--port must be 1..65535, got '${values.port}'`);
    const listen = typeof values.listen === 'string' ? values.listen : '127.0.0.1';
    const url = `http://${listen === '0.0.0.0' ? '127.0.0.1' : listen}:${port}`;
    if (action === 'start') {
      if (!existsSync(path.join(WEB_DIR, '.next', 'BUILD_ID'))) {
        throw new SfError('UNAVAILABLE', 'the dashboard is not built: run npm run build (or npm start) first');
      }
      if (values.foreground === true) {
        // Started in the background (sf web start): Next.js's output goes line by line to the rolled log file.
        const logFile = logDestination();
        const child = spawn(process.execPath, [nextBin(), 'start', '-p', String(port), '-H', listen], {
          cwd: WEB_DIR,
          stdio: logFile ? ['ignore', 'pipe', 'pipe'] : 'inherit',
          env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1', SNOWFLOCK_SFMD_URL: ctx.url, SNOWFLOCK_HOME: ctx.paths.home },
        });
        if (logFile) {
          for (const output of [child.stdout, child.stderr]) {
            if (output)
              createInterface({ input: output, crlfDelay: Number.POSITIVE_INFINITY }).on('line', (line) => logFile.write(`${line}\n`));
          }
        }
        const forward = (signal: NodeJS.Signals) => child.kill(signal);
        process.on('SIGTERM', forward);
        process.on('SIGINT', forward);
        return new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 0)));
      }
      const status = await startDaemon(ctx.paths, {
        id: 'web',
        foregroundArgs: [
          'web',
          'start',
          '--foreground',
          '--port',
          String(port),
          '--listen',
          listen,
          ...(ctx.options.home ? ['--home', ctx.options.home] : []),
          '--url',
          ctx.url,
        ],
        healthUrl: `${url}/api/health`,
        port,
        readyTimeoutMs: 60_000,
      });
      ctx.out.result(
        { ...status, url },
        () => `${status.alreadyRunning ? 'dashboard is already running' : 'dashboard started'} at ${url} (log: ${status.logFile})`,
      );
      return;
    }
    if (action === 'stop') {
      const result = await stopDaemon(ctx.paths, 'web');
      ctx.out.result(result, () => (result.wasRunning ? 'dashboard stopped' : 'dashboard was not running'));
      return;
    }
    if (action === 'status') {
      const status = daemonStatus(ctx.paths, 'web');
      ctx.out.result({ ...status, url }, () =>
        status.running ? `dashboard is running at ${url} (pid ${status.pid})` : 'dashboard is not running: sf web start',
      );
      return status.running ? 0 : 3;
    }
    throw new SfError('BAD_INPUT', `unknown action '${action}': use start, stop or status`);
  },
};
