// Runs sfmd, sfld and the dashboard in the background: a detached child (its own process group) with its log in
// $SNOWFLOCK_HOME/logs (the daemons roll theirs at a size) and its pid in $SNOWFLOCK_HOME/run, started only once,
// stopped with SIGTERM (SIGKILL after a grace). Each start hands the child a random nonce (SNOWFLOCK_START_NONCE)
// that its health endpoint reports: the start is done only when the process answering is the one it started, not
// another instance on the same port.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SfError } from '../common/errors.ts';
import type { SnowflockPaths } from '../common/paths.ts';
import { describePortHolder, portHolder } from './port-holder.ts';

export const SF_BIN = fileURLToPath(new URL('../../bin/sf.mjs', import.meta.url));

/** The environment variable that carries a start's nonce to the daemon, which reports it as `startNonce`. */
export const START_NONCE_ENV = 'SNOWFLOCK_START_NONCE';

export interface DaemonSpec {
  /** e.g. 'sfmd' or 'sfld-node1': names the pid and log files. */
  id: string;
  /** Arguments after `sf` that run it in the foreground. */
  foregroundArgs: string[];
  /** Its health endpoint: answers JSON with the `startNonce` it was started with. */
  healthUrl: string;
  /** How to ask it (sfmd's pinned HTTPS); the global fetch when absent. */
  fetch?: typeof fetch;
  /** The port it listens on, to name what holds it when the start fails (0: any, nothing to name). */
  port: number;
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
const nonceFileOf = (paths: SnowflockPaths, id: string) => path.join(paths.runDir, `${id}.nonce`);
const logFileOf = (paths: SnowflockPaths, id: string) => path.join(paths.logDir, `${id}.log`);

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    // A zombie (exited, not yet reaped: e.g. under a pid 1 that never reaps) is not running.
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return true;
  }
}

/** A pid from a pid file counts only while it is still a Snowflock process: pids get reused after a crash. */
function isSnowflockProcess(pid: number): boolean {
  if (!isAlive(pid)) return false;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sf.mjs');
  } catch {
    return true; // no /proc to ask (or not ours to read): trust the pid file
  }
}

export function daemonStatus(paths: SnowflockPaths, id: string): DaemonStatus {
  const pidFile = pidFileOf(paths, id);
  let pid: number | null = null;
  if (existsSync(pidFile)) {
    const value = Number(readFileSync(pidFile, 'utf8').trim());
    if (Number.isInteger(value) && value > 0) pid = value;
  }
  const running = pid !== null && isSnowflockProcess(pid);
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

/** Signals the daemon's whole process group (the dashboard's Next.js server is a child of its `sf web`). */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      // already gone
    }
  }
}

async function health(url: string, send: typeof fetch = fetch): Promise<{ startNonce?: unknown } | null> {
  try {
    const res = await send(url, { signal: AbortSignal.timeout(1000) });
    if (!res.ok) return null;
    const body = (await res.json()) as unknown;
    return body && typeof body === 'object' ? (body as { startNonce?: unknown }) : {};
  } catch {
    return null;
  }
}

/** Why the daemon on this port is not ours: who holds the port, or at least that something else answers. */
function portCause(spec: DaemonSpec, foreignAnswered: boolean, ownPid: number | null): string | null {
  const holder = portHolder(spec.port);
  if (holder && (holder.pid === null || holder.pid !== ownPid)) return describePortHolder(holder);
  if (foreignAnswered) return `something else answers on port ${spec.port} (${spec.healthUrl}), not the ${spec.id} this start ran`;
  return null;
}

/**
 * Waits until a daemon that was already running (by its pid file) answers as the process its start recorded;
 * a daemon started before nonces (no nonce file) counts once it answers at all.
 */
async function confirmRunning(paths: SnowflockPaths, spec: DaemonSpec, pid: number): Promise<void> {
  const nonceFile = nonceFileOf(paths, spec.id);
  const nonce = existsSync(nonceFile) ? readFileSync(nonceFile, 'utf8').trim() : null;
  const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
  let foreign = false;
  while (Date.now() < deadline && isAlive(pid)) {
    const answer = await health(spec.healthUrl, spec.fetch);
    if (answer && (nonce === null || answer.startNonce === nonce)) return;
    foreign ||= answer !== null;
    await sleep(100);
  }
  const cause = portCause(spec, foreign, pid);
  throw new SfError(
    'UNAVAILABLE',
    isAlive(pid)
      ? `${spec.id} is running (pid ${pid}, from ${pidFileOf(paths, spec.id)}) but does not answer as itself at ${spec.healthUrl}` +
          `${cause ? `: ${cause}` : ''}; stop it and start again`
      : `${spec.id} (pid ${pid}, from ${pidFileOf(paths, spec.id)}) exited while starting${cause ? `: ${cause}` : ''}`,
  );
}

export async function startDaemon(
  paths: SnowflockPaths,
  spec: DaemonSpec,
  env: NodeJS.ProcessEnv = process.env,
): Promise<DaemonStatus & { alreadyRunning: boolean }> {
  const status = daemonStatus(paths, spec.id);
  if (status.running && status.pid !== null) {
    await confirmRunning(paths, spec, status.pid);
    return { ...status, alreadyRunning: true };
  }
  const nonce = randomBytes(16).toString('hex');
  const nonceFile = nonceFileOf(paths, spec.id);
  const logFile = logFileOf(paths, spec.id);
  const logStart = existsSync(logFile) ? statSync(logFile).size : 0;
  const logFd = openSync(logFile, 'a', 0o600);
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, [SF_BIN, ...spec.foregroundArgs], {
      detached: true,
      stdio: ['ignore', logFd, logFd],
      // The daemon writes its own log lines to the file, rolled at a size (common/logger.ts); its stdout and
      // stderr (a crash's stack, say) still land in it too.
      env: { ...env, SNOWFLOCK_HOME: paths.home, [START_NONCE_ENV]: nonce, SNOWFLOCK_LOG_FILE: logFile },
    });
  } finally {
    closeSync(logFd);
  }
  const pid = child.pid as number;
  // Written before waiting: `stop` finds (and kills) a daemon that is still starting.
  writeFileSync(nonceFile, `${nonce}\n`, { mode: 0o600 });
  writeFileSync(status.pidFile, `${pid}\n`);
  child.unref();
  let exited: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  child.once('exit', (code, signal) => {
    exited = { code, signal };
  });
  const forget = () => {
    // Only while the files still name this start: a stop (or another start) may own them by now.
    if (existsSync(status.pidFile) && readFileSync(status.pidFile, 'utf8').trim() === String(pid)) rmSync(status.pidFile, { force: true });
    if (existsSync(nonceFile) && readFileSync(nonceFile, 'utf8').trim() === nonce) rmSync(nonceFile, { force: true });
  };
  const killOwn = async () => {
    signalGroup(pid, 'SIGTERM');
    const until = Date.now() + 5000;
    while (exited === null && Date.now() < until) await sleep(50);
    if (exited === null) signalGroup(pid, 'SIGKILL');
    forget();
  };
  // Interrupted while waiting (Ctrl-C, or `npm stop` stopping `npm start`): the half-started daemon goes too.
  const onSignal = (signal: NodeJS.Signals) => {
    void killOwn().then(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  try {
    const deadline = Date.now() + (spec.readyTimeoutMs ?? 30_000);
    let foreign = false;
    while (Date.now() < deadline) {
      const answer = await health(spec.healthUrl, spec.fetch);
      if (exited === null && answer?.startNonce === nonce) return { ...daemonStatus(paths, spec.id), alreadyRunning: false };
      foreign ||= answer !== null;
      if (exited !== null) {
        const { code, signal } = exited as { code: number | null; signal: NodeJS.Signals | null };
        forget();
        if (signal) {
          throw new SfError(
            'UNAVAILABLE',
            `${spec.id} (pid ${pid}) was stopped by ${signal} while starting (a stop, or npm stop, ran meanwhile)`,
          );
        }
        const cause = portCause(spec, foreign, null);
        throw new SfError(
          'UNAVAILABLE',
          `${spec.id} exited with status ${code} while starting${cause ? `: ${cause}` : ''}; ` +
            `its log (${logFile}) ends:\n${logTail(logFile, logStart)}`,
        );
      }
      await sleep(100);
    }
    const cause = portCause(spec, foreign, pid);
    await killOwn();
    throw new SfError(
      'TIMEOUT',
      `${spec.id} did not become ready within ${(spec.readyTimeoutMs ?? 30_000) / 1000} s${cause ? `: ${cause}` : ''}; ` +
        `stopped it (pid ${pid}); its log (${logFile}) ends:\n${logTail(logFile, logStart)}`,
    );
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}

export async function stopDaemon(paths: SnowflockPaths, id: string, graceMs = 10_000): Promise<{ wasRunning: boolean; forced: boolean }> {
  const status = daemonStatus(paths, id);
  const forget = () => {
    rmSync(status.pidFile, { force: true });
    rmSync(nonceFileOf(paths, id), { force: true });
  };
  if (!status.running || status.pid === null) {
    forget();
    return { wasRunning: false, forced: false };
  }
  signalGroup(status.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && isAlive(status.pid)) await sleep(50);
  const forced = isAlive(status.pid);
  if (forced) signalGroup(status.pid, 'SIGKILL');
  forget();
  return { wasRunning: true, forced };
}
