// Runs sfmd and sfld in the background: a detached child with its log in $SNOWFLOCK_HOME/logs and
// its pid in $SNOWFLOCK_HOME/run, started only once, stopped with SIGTERM (SIGKILL after a grace).
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SfError } from '../common/errors.ts';
import type { SnowflockPaths } from '../common/paths.ts';

export const SF_BIN = fileURLToPath(new URL('../../bin/sf.mjs', import.meta.url));

export interface DaemonSpec {
  /** e.g. 'sfmd' or 'sfld-node1': names the pid and log files. */
  id: string;
  /** Arguments after `sf` that run it in the foreground. */
  foregroundArgs: string[];
  /** Resolves true once the daemon answers (polled). */
  ready: () => Promise<boolean>;
  readyTimeoutMs?: number;
}

export interface DaemonStatus {
  id: string;
  running: boolean;
  pid: number | null;
  pidFile: string;
  logFile: string;
}

const pidFileOf = (paths: SnowflockPaths, id: string) => path.join(paths.runDir, `${id}.pid`);
const logFileOf = (paths: SnowflockPaths, id: string) => path.join(paths.logDir, `${id}.log`);

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function daemonStatus(paths: SnowflockPaths, id: string): DaemonStatus {
  const pidFile = pidFileOf(paths, id);
  let pid: number | null = null;
  if (existsSync(pidFile)) {
    const value = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(value) && value > 0) pid = value;
  }
  const running = pid !== null && isAlive(pid);
  return { id, running, pid: running ? pid : null, pidFile, logFile: logFileOf(paths, id) };
}

function logTail(file: string, offset: number): string {
  try {
    const text = readFileSync(file, 'utf8').slice(offset);
    return text.split('\n').slice(-15).join('\n');
  } catch {
    return '(no log)';
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function startDaemon(
  paths: SnowflockPaths,
  spec: DaemonSpec,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DaemonStatus & { alreadyRunning: boolean }> {
  const status = daemonStatus(paths, spec.id);
  if (status.running) return { ...status, alreadyRunning: true };
  const logFile = logFileOf(paths, spec.id);
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const logFd = openSync(logFile, 'a', 0o600);
  const child = spawn(process.execPath, [SF_BIN, ...spec.foregroundArgs], {
    detached: true,
    stdio: ['ignore', logFd, logFd],
    env: { ...env, SNOWFLOCK_HOME: paths.home },
  });
  closeSync(logFd);
  let exited: number | null = null;
  child.once('exit', (code) => {
    exited = code ?? 1;
  });
  writeFileSync(status.pidFile, `${child.pid}\n`);
  child.unref();
  const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
  while (Date.now() < deadline) {
    if (exited !== null) {
      rmSync(status.pidFile, { force: true });
      throw new SfError(
        'UNAVAILABLE',
        `${spec.id} exited with status ${exited} while starting; its log (${logFile}) ends:\n${logTail(logFile, logStart)}`,
      );
    }
    if (await spec.ready().catch(() => false)) return { ...daemonStatus(paths, spec.id), alreadyRunning: false };
    await sleep(100);
  }
  throw new SfError(
    'TIMEOUT',
    `${spec.id} did not become ready within ${(spec.readyTimeoutMs ?? 30_000) / 1000} s; ` +
      `it is still running as pid ${child.pid}; its log (${logFile}) ends:\n${logTail(logFile, logStart)}`,
  );
}

export async function stopDaemon(paths: SnowflockPaths, id: string, graceMs = 10_000): Promise<{ wasRunning: boolean; forced: boolean }> {
  const status = daemonStatus(paths, id);
  if (!status.running || status.pid === null) {
    rmSync(status.pidFile, { force: true });
    return { wasRunning: false, forced: false };
  }
  process.kill(status.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(status.pid)) await sleep(50);
  const forced = isAlive(status.pid);
  if (forced) process.kill(status.pid, 'SIGKILL');
  rmSync(status.pidFile, { force: true });
  return { wasRunning: true, forced };
}
