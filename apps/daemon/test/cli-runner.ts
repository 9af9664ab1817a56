// Runs the real command-line tools as child processes, the way a user would, and parses --json.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const SF_BIN = fileURLToPath(new URL('../bin/sf.mjs', import.meta.url));
export const BIN_DIR = fileURLToPath(new URL('../bin/', import.meta.url));

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runBin(bin: string, args: string[], env: NodeJS.ProcessEnv = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [`${BIN_DIR + bin}.mjs`, ...args],
      {
        env: { ...process.env, SNOWFLOCK_LOG_LEVEL: 'warn', ...env },
        timeout: 60_000,
        maxBuffer: 16 << 20,
      },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

export const runSf = (args: string[], env: NodeJS.ProcessEnv = {}) => runBin('sf', args, env);

export async function json<T = unknown>(result: Promise<CliResult>): Promise<T> {
  const r = await result;
  if (r.code !== 0) throw new Error(`command failed (${r.code}): ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as T;
}

export { freePort } from './free-port.ts';

export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
