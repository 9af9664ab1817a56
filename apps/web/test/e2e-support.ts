// What the dashboard's end-to-end test stands on: a real Snowflock (sfmd + one sfld on KVM, started
// through the CLI in a temporary SNOWFLOCK_HOME), the built dashboard under `next start`, Debian's
// chromium through playwright-core, and screenshots kept under apps/web/test-artifacts/.
import assert from 'node:assert/strict';
import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';

import { freePort, writeOneHostConfigs } from '@snowflock/daemon/testing';

export { cannotRunVms } from '@snowflock/daemon/testing';

export const WEB_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SF_BIN = path.resolve(WEB_DIR, '../daemon/bin/sf.mjs');
export const CHROMIUM = '/usr/bin/chromium';
export const ARTIFACTS = path.join(WEB_DIR, 'test-artifacts', 'e2e');
const WAIT_MS = 60_000;

/** Runs `sf ARGS --json` as a user would; rejects with its output when it fails. */
function sfJson(args: string[], home: string): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [SF_BIN, ...args, '--json'],
      {
        env: { ...process.env, SNOWFLOCK_HOME: home, SNOWFLOCK_LOG_LEVEL: 'warn' },
        timeout: 60_000,
      },
      (err, stdout, stderr) =>
        err ? reject(new Error(`sf ${args.join(' ')} failed: ${stderr}${stdout}`)) : resolve(JSON.parse(stdout) as Record<string, unknown>),
    );
  });
}

/** sfmd + an sfld for host kvm1 in a fresh home; both stopped and the home removed after the test. */
export async function startSnowflock(t: TestContext, capacity = { cpus: 8, ramGiB: 8 }) {
  const home = mkdtempSync(path.join(os.tmpdir(), 'sf-web-e2e-'));
  const port = await writeOneHostConfigs(home, capacity);
  t.after(async () => {
    await sfJson(['sfld', 'stop'], home).catch(() => {});
    await sfJson(['sfmd', 'stop'], home).catch(() => {});
    rmSync(home, { recursive: true, force: true });
  });
  await sfJson(['sfmd', 'start'], home);
  assert.equal((await sfJson(['sfld', 'start'], home)).registered, true);
  return {
    home,
    url: `http://127.0.0.1:${port}`,
    adminToken: readFileSync(path.join(home, 'admin.token'), 'utf8').trim(),
    stopSfld: () => sfJson(['sfld', 'stop'], home),
  };
}

/** Builds the dashboard when it has no build yet (npm test builds it first through turbo). */
export function ensureBuilt(): void {
  if (existsSync(path.join(WEB_DIR, '.next', 'BUILD_ID'))) return;
  const r = spawnSync(process.execPath, [nextBin(), 'build'], {
    cwd: WEB_DIR,
    stdio: 'inherit',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  });
  assert.equal(r.status, 0, 'next build failed (see above)');
}

function nextBin(): string {
  return createRequire(path.join(WEB_DIR, 'package.json')).resolve('next/dist/bin/next');
}

/** `next start` of the built dashboard, pointed at `sfmdUrl`; its whole process group ends with the test. */
export async function startDashboard(t: TestContext, sfmdUrl: string): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [nextBin(), 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: WEB_DIR,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SNOWFLOCK_SFMD_URL: sfmdUrl, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => {
    output += d.toString();
  });
  t.after(() => killGroup(child));
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) assert.fail(`next start exited with ${child.exitCode}:\n${output}`);
    const ok = await fetch(`${url}/api/health`, { signal: AbortSignal.timeout(2000) }).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return url;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`next start did not answer within ${WAIT_MS / 1000} s:\n${output}`);
}

async function killGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

export async function launchChromium(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: WAIT_MS,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  t.after(async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      browser.close(),
      new Promise((r) => {
        timer = setTimeout(r, 10_000);
      }),
    ]);
    clearTimeout(timer);
  });
  return browser;
}

/** Screenshots of what the page shows (the viewport), named in the order they were taken. */
export function screenshots() {
  rmSync(ARTIFACTS, { recursive: true, force: true });
  mkdirSync(ARTIFACTS, { recursive: true });
  let n = 0;
  return async (page: Page, name: string) => {
    const file = path.join(ARTIFACTS, `${String(++n).padStart(2, '0')}-${name}.png`);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.screenshot({ path: file });
    return file;
  };
}
