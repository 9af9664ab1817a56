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
import { snowflockPaths } from '@snowflock/daemon/paths';
import { sfmdTransport } from '@snowflock/daemon/pinned-tls';
import { homeTrust } from '@snowflock/daemon/sfmd-trust';

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
  const url = `https://127.0.0.1:${port}`;
  homes.set(url, home);
  return {
    home,
    url,
    adminToken: readFileSync(path.join(home, 'admin.token'), 'utf8').trim(),
    /** fetch() for sfmd's URLs, pinned to its certificate. */
    fetch: sfmdTransport(url, () => homeTrust(snowflockPaths(home))).fetch,
    stopSfld: () => sfJson(['sfld', 'stop'], home),
    /** `sf seed CFG`, as a user seeds from a file (what the form cannot give yet, e.g. a disk_image). */
    seedFile: async (cfg: string) => (await sfJson(['seed', cfg], home)) as { clusterid: number },
    /** `sf token create NAME --role ROLE`: the new token's secret. */
    token: async (name: string, role: 'read' | 'operate' | 'admin') =>
      ((await sfJson(['token', 'create', name, '--role', role], home)) as { secret: string }).secret,
    revokeToken: (name: string) => sfJson(['token', 'revoke', name], home),
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

/** The data directory of each sfmd startSnowflock started, by URL: the dashboard reads the pin of its certificate there. */
const homes = new Map<string, string>();

/** `next start` of the built dashboard, pointed at `sfmdUrl`; its whole process group ends with the test. */
export async function startDashboard(t: TestContext, sfmdUrl: string): Promise<string> {
  const port = await freePort();
  const child = spawn(process.execPath, [nextBin(), 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: WEB_DIR,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: {
      ...process.env,
      SNOWFLOCK_SFMD_URL: sfmdUrl,
      ...(homes.has(sfmdUrl) ? { SNOWFLOCK_HOME: homes.get(sfmdUrl) } : {}),
      NEXT_TELEMETRY_DISABLED: '1',
      NODE_ENV: 'production',
    },
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

/**
 * Makes `page.goto` and `page.waitForURL` return only once React has revealed the streamed page. On a full load
 * React 19 throttles the reveal of a streamed Suspense segment (up to ~300 ms after `load`): meanwhile the page is
 * in the DOM twice, once visible and once in a hidden `<div id="S:n">` at the end of the body, and any locator
 * may match both. Users never see the hidden copy; tests must not trip on it.
 */
export function waitForStreamedReveal(page: Page): Page {
  const revealed = () =>
    page.waitForFunction(() => document.querySelector('body > div[hidden][id^="S:"]') === null, undefined, { timeout: 10_000 });
  const goto = page.goto.bind(page);
  const waitForURL = page.waitForURL.bind(page);
  page.goto = async (...args: Parameters<Page['goto']>) => {
    const response = await goto(...args);
    await revealed();
    return response;
  };
  page.waitForURL = async (...args: Parameters<Page['waitForURL']>) => {
    await waitForURL(...args);
    await revealed();
  };
  return page;
}

const AXE_SCRIPT = createRequire(path.join(WEB_DIR, 'package.json')).resolve('axe-core/axe.min.js');

/** axe-core's serious and critical findings on the page as it is now, one line each (rule, what, where). */
export async function axeViolations(page: Page): Promise<string[]> {
  await page.addScriptTag({ path: AXE_SCRIPT });
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(ctx: Document, opts: object): Promise<{ violations: AxeViolation[] }> } }).axe;
    type AxeViolation = { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] };
    const result = await axe.run(document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => String(n.target)) }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.impact} ${v.id}: ${v.help} (${v.targets.slice(0, 5).join(', ')})`);
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
