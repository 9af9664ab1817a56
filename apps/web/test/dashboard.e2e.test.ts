// SFDashBoard end to end, the way a newcomer uses it: `next start` of the built dashboard, real sfmd and
// sfld on KVM, Debian's chromium. Sign in; the Host View is live; seed `hello` from the form and talk to
// its console; seed `align` cloning itself, watch its clones appear without a reload and merge them; the
// operations say who did what; a stopped sfld goes offline. Screenshots land in apps/web/test-artifacts/e2e.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import type { Page } from 'playwright-core';
import {
  ARTIFACTS,
  CHROMIUM,
  cannotRunVms,
  ensureBuilt,
  launchChromium,
  screenshots,
  startDashboard,
  startSnowflock,
} from './e2e-support.ts';

const WIDE = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };
// Long enough (tens of seconds on a 2-core machine) for the clones to be seen and merged while they run.
const CLONING_ARGS = 'clones=2 queries=256 db=2048';

/** Text of the xterm.js terminal on the page (its rows are plain DOM). */
const terminalText = (page: Page) => page.locator('.xterm-rows').innerText();

async function waitForTerminal(page: Page, pattern: RegExp, what: string): Promise<void> {
  await page
    .waitForFunction((source) => new RegExp(source).test(document.querySelector('.xterm-rows')?.textContent ?? ''), pattern.source, {
      timeout: 30_000,
    })
    .catch(async () => assert.fail(`console never showed ${what}; it shows:\n${await terminalText(page)}`));
}

/** Marks the page's JS world: the mark is gone after any reload or navigation. */
const mark = (page: Page) =>
  page.evaluate(() => {
    (window as unknown as { __e2e: number }).__e2e = 42;
  });
const stillMarked = (page: Page) => page.evaluate(() => (window as unknown as { __e2e?: number }).__e2e === 42);

test('dashboard end to end: sign in, hosts live, seed and console, clones live and merged, operations, host offline', {
  timeout: 420_000,
}, async (t) => {
  const why = !existsSync(CHROMIUM) ? `${CHROMIUM} is missing (apt-get install chromium)` : cannotRunVms();
  if (why) {
    console.log(`# skipped: ${why}`);
    return t.skip(why);
  }
  ensureBuilt();
  const sf = await startSnowflock(t);
  const web = await startDashboard(t, sf.url);
  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: WIDE });
  const page = await context.newPage();
  page.setDefaultTimeout(30_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const shot = screenshots();
  t.diagnostic(`screenshots: ${ARTIFACTS}`);

  await t.test('nothing is visible without signing in; a wrong token is refused; the token stays out of page scripts', async () => {
    await page.goto(`${web}/hosts`);
    await page.waitForURL(/\/signin\?next=%2Fhosts/);
    assert.equal(await page.locator('[data-testid^="host-"]').count(), 0);
    const api = await page.request.get(`${web}/api/overview`);
    assert.equal(api.status(), 401, 'the JSON routes refuse too');
    assert.equal(await page.locator('[data-testid=sfmd-status]').getAttribute('data-state'), 'online');
    await page.fill('input[name=token]', 'not-the-token');
    await page.click('button[type=submit]');
    assert.match(await page.locator('[data-testid=signin-error]').innerText(), /does not accept this token/);
    await shot(page, 'signin-refused');
    await page.fill('input[name=token]', sf.adminToken);
    await page.click('button[type=submit]');
    await page.waitForURL(/\/hosts$/);
    const cookie = (await context.cookies()).find((c) => c.name === 'sf_admin');
    assert.equal(cookie?.httpOnly, true, 'the session cookie is http-only');
    assert.equal(cookie?.sameSite, 'Strict');
    assert.ok(!(await page.evaluate(() => document.cookie)).includes(sf.adminToken), 'page scripts cannot read the token');
  });

  await t.test('Host View: kvm1 online with KVM, and its charts grow live', async () => {
    const host = page.locator('[data-testid=host-kvm1]:visible');
    assert.equal(await host.getAttribute('data-state'), 'online');
    assert.match(await host.innerText(), /KVM/);
    await page.locator('[data-testid=feed-status][data-state=live]').waitFor();
    await mark(page);
    // While a route refreshes, React may keep the previous tree mounted but hidden for a moment: read the chart shown.
    const chart = page.locator('[data-testid=cpu-chart-kvm1]:visible');
    const before = Number(await chart.getAttribute('data-points'));
    await page.waitForFunction(
      (n) =>
        [...document.querySelectorAll('[data-testid=cpu-chart-kvm1]')].some(
          (e) => e.checkVisibility() && Number(e.getAttribute('data-points')) >= n + 2,
        ),
      before,
      { timeout: 15_000 },
    );
    assert.ok(await stillMarked(page), 'samples arrived without a reload');
    await shot(page, 'hosts');
  });

  let hello = 0;
  await t.test('seed hello from the form: the API schema checks it, its console replays, streams and takes keystrokes', async () => {
    await page.click('a.views__link[href="/seed"]');
    await page.waitForURL(/\/seed$/);
    await page.check('input[value=hello]');
    await page.fill('input[name=vcpus]', '0');
    const vcpuIssue = page.locator('[data-testid=issue-vcpus]');
    await vcpuIssue.waitFor();
    assert.match(await vcpuIssue.innerText(), /expected number to be >=1/, "the message is the seed schema's");
    await page.fill('input[name=vcpus]', '1');
    await page.fill('input[name=memoryMiB]', '999999');
    await page.locator('[data-testid=issue-memoryMiB]', { hasText: /free on any online host/ }).waitFor();
    await page.fill('input[name=memoryMiB]', '64');
    await page.fill('input[name=args]', 'interactive=1');
    await vcpuIssue.waitFor({ state: 'detached' });
    await shot(page, 'seed-form');
    await page.click('[data-testid=seed-submit]');
    await page.waitForURL(/\/clusters\/\d+\?console=0$/);
    hello = Number(/\/clusters\/(\d+)/.exec(page.url())![1]);
    await waitForTerminal(page, /hello from Snowflock vmid 0[\s\S]*hello>/, 'the greeting and prompt');
    await page.locator('.console__term').click();
    await page.keyboard.type('hi from the browser');
    await page.keyboard.press('Enter');
    await waitForTerminal(page, /you said: hi from the browser/, 'the echo of what was typed');
    await shot(page, 'hello-console');
  });

  await t.test('console-only view: the replay is there, and typing quit ends the guest', async () => {
    const solo = await context.newPage();
    await solo.goto(`${web}/console/${hello}:0`);
    await waitForTerminal(solo, /you said: hi from the browser/, 'the replayed output');
    await solo.locator('.console__term').click();
    await solo.keyboard.type('quit');
    await solo.keyboard.press('Enter');
    await waitForTerminal(solo, /bye/, 'the goodbye');
    await solo.locator(`[data-testid="console-${hello}:0"][data-state=exited]`).waitFor();
    await shot(solo, 'console-only');
    await solo.close();
  });

  let align = 0;
  await t.test('a guest that clones itself: the clones appear in the Cluster View without a reload, then are merged', async () => {
    await page.goto(`${web}/seed`);
    await page.check('input[value=align]');
    await page.fill('input[name=args]', CLONING_ARGS);
    await page.fill('input[name=name]', 'align-e2e');
    await page.click('[data-testid=seed-submit]');
    await page.waitForURL(/\/clusters\/\d+\?console=0$/);
    align = Number(/\/clusters\/(\d+)/.exec(page.url())![1]);
    await mark(page);
    for (const vmid of [1, 2]) await page.locator(`[data-testid="node-${align}:${vmid}"][data-state=running]`).waitFor({ timeout: 60_000 });
    assert.ok(await stillMarked(page), 'the clones appeared through live updates, not a reload');
    // (Not the console's "forked" line: by now the master's output may have scrolled it out of view.)
    await shot(page, 'clones-live');

    await page.locator('[data-testid^="merge-"]').first().click();
    const dialog = page.locator('[data-testid=confirm-dialog]');
    assert.match(await dialog.innerText(), /Merge 2 clone/);
    await shot(page, 'merge-confirm');
    await page.click('[data-testid=confirm-yes]');
    const results = page.locator('[data-testid=action-results]');
    await results.waitFor();
    assert.equal(await results.getAttribute('data-outcome'), 'ok', await results.innerText());
    assert.match(await results.locator('[data-testid=result-1]').innerText(), /vmid 1 on kvm1: merged/);
    assert.match(await results.locator('[data-testid=result-2]').innerText(), /vmid 2 on kvm1: merged/);
    for (const vmid of [1, 2]) await page.locator(`[data-testid="node-${align}:${vmid}"][data-state=merged]`).waitFor();
    assert.ok(await stillMarked(page));
    await shot(page, 'clones-merged');
  });

  await t.test('operations: who seeded, cloned and merged, kept after they finished', async () => {
    await page.click('a.views__link[href="/operations"]');
    await page.waitForURL(/\/operations$/);
    const row = (kind: string, requester: string) =>
      page.locator(`tr[data-kind="${kind}"][data-requester="${requester}"][data-status=succeeded]`);
    await row('clone.merge', 'admin').first().waitFor();
    assert.ok((await row('cluster.seed', 'admin').count()) >= 2, "both seeds were the admin's");
    assert.ok((await row('clone.master', `domain:${align}:0`).count()) >= 1, "the fork was the guest's own call");
    await shot(page, 'operations');
  });

  await t.test('readable at phone width', async () => {
    await page.setViewportSize(PHONE);
    for (const [path, name] of [
      ['/hosts', 'hosts-phone'],
      [`/clusters/${align}`, 'cluster-phone'],
      ['/seed', 'seed-phone'],
    ] as const) {
      await page.goto(`${web}${path}`);
      await page.locator('[data-testid=feed-status][data-state=live]').waitFor();
      const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      assert.ok(overflow <= 1, `${path} scrolls sideways by ${overflow}px at phone width`);
      await shot(page, name);
    }
    await page.setViewportSize(WIDE);
  });

  await t.test('a host daemon stopped goes offline in the Host View, live', async () => {
    await page.goto(`${web}/hosts`);
    await page.locator('[data-testid=feed-status][data-state=live]').waitFor();
    await mark(page);
    await sf.stopSfld();
    await page.locator('[data-testid=host-kvm1][data-state=offline]:visible').waitFor({ timeout: 30_000 });
    assert.match(await page.locator('[data-testid=host-kvm1]:visible').innerText(), /sfld start/);
    assert.ok(await stillMarked(page), 'went offline without a reload');
    await shot(page, 'host-offline');
  });

  assert.deepEqual(pageErrors, [], 'no script errors in the pages');
});
