// End-to-end check of the SFDashBoard placeholder: a real `next start` of the built app, a fake sfmd
// /healthz, and Debian's chromium through playwright-core. Needs the root build (.next/BUILD_ID).
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';

const webDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHROMIUM = '/usr/bin/chromium';
const WAIT_MS = 30_000;

test('placeholder page shows the heading and sfmd online, then unreachable', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) return t.skip(`${CHROMIUM} is missing (apt-get install chromium)`);
  if (!existsSync(path.join(webDir, '.next', 'BUILD_ID'))) {
    return t.skip('apps/web/.next/BUILD_ID is missing: build the dashboard first (npm run build)');
  }

  const fakeSfmd = await startFakeSfmd(t);
  const sfmdUrl = `http://127.0.0.1:${fakeSfmd.port}`;
  const webPort = await freePort();
  const webUrl = `http://127.0.0.1:${webPort}`;
  const next = startNext(t, webPort, sfmdUrl);
  await waitForHealth(`${webUrl}/api/health`, next);

  const browser = await launchChromium(t);
  const page = await browser.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);

  await page.goto(webUrl);
  assert.equal((await page.locator('h1').textContent())?.trim(), 'SFDashBoard — Snowflock');
  assert.equal(await page.title(), 'SFDashBoard — Snowflock');
  const status = page.locator('[data-testid=sfmd-status]');
  assert.equal(await status.getAttribute('data-state'), 'online');
  const online = await status.textContent();
  assert.match(online ?? '', /sfmd: online \(version 0\.1\.0, 1 of 1 hosts online\)/);

  await fakeSfmd.stop();
  await page.reload();
  assert.equal(await status.getAttribute('data-state'), 'unreachable');
  const down = await status.textContent();
  assert.ok(down?.includes(`sfmd: unreachable at ${sfmdUrl}`), `status was: ${down}`);
  assert.ok(down?.includes('npm start'), `status was: ${down}`);
});

async function startFakeSfmd(t: TestContext): Promise<{ port: number; stop: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ ok: true, version: '0.1.0', hostsOnline: 1, hostsTotal: 1 }));
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  let stopped: Promise<void> | null = null;
  const stop = () => {
    // Next's fetch keeps connections alive; drop them so the port refuses at once.
    stopped ??= new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
    return stopped;
  };
  t.after(stop);
  return { port: (server.address() as AddressInfo).port, stop };
}

async function freePort(): Promise<number> {
  const probe = http.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

function startNext(t: TestContext, port: number, sfmdUrl: string): ChildProcess & { output: () => string } {
  const nextBin = createRequire(path.join(webDir, 'package.json')).resolve('next/dist/bin/next');
  // Its own process group, so the cleanup below takes next's workers with it.
  const child = spawn(process.execPath, [nextBin, 'start', '-p', String(port), '-H', '127.0.0.1'], {
    cwd: webDir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, SNOWFLOCK_SFMD_URL: sfmdUrl, NEXT_TELEMETRY_DISABLED: '1', NODE_ENV: 'production' },
  });
  let output = '';
  child.stdout.on('data', (d: Buffer) => { output += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { output += d.toString(); });
  t.after(() => killGroup(child));
  return Object.assign(child, { output: () => output });
}

async function killGroup(child: ChildProcess): Promise<void> {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const signal = (sig: NodeJS.Signals) => {
    try { process.kill(-child.pid!, sig); } catch { /* already gone */ }
  };
  signal('SIGTERM');
  const timer = setTimeout(() => signal('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function waitForHealth(url: string, next: ChildProcess & { output: () => string }): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (Date.now() < deadline) {
    if (next.exitCode !== null) assert.fail(`next start exited with ${next.exitCode}:\n${next.output()}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok && ((await res.json()) as { ok?: unknown }).ok === true) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`next start did not answer ${url} within ${WAIT_MS / 1000} s:\n${next.output()}`);
}

async function launchChromium(t: TestContext): Promise<Browser> {
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    timeout: WAIT_MS,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  t.after(async () => {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([browser.close(), new Promise((r) => { timer = setTimeout(r, 10_000); })]);
    clearTimeout(timer);
  });
  return browser;
}
