// SFDashBoard end to end, the way a newcomer uses it: `next start` of the built dashboard, real sfmd and
// sfld on KVM, Debian's chromium. Sign in with an operate token; the Host View is live; seed `hello` from
// the form and talk to its console; seed `align` cloning itself, watch its clones appear without a reload
// (a read token's page shows no action) and merge them; the operations say which token did what and filter;
// times switch to UTC; the dark palette follows the system; axe finds nothing serious; a revoked token's open
// page goes to sign in; the Getting Started typed into sfsh's console (sfsh-walkthrough.ts); a stopped sfld
// goes offline. Screenshots land in apps/web/test-artifacts/e2e.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Page } from 'playwright-core';
import { formatWhen } from '../lib/format.ts';
import {
  ARTIFACTS,
  axeViolations,
  CHROMIUM,
  cannotRunVms,
  ensureBuilt,
  launchChromium,
  screenshots,
  startDashboard,
  startSnowflock,
  WEB_DIR,
  waitForStreamedReveal,
} from './e2e-support.ts';
import { sfshWalkthrough } from './sfsh-walkthrough.ts';

const WIDE = { width: 1280, height: 800 };
// The browser's zone is not UTC (and has no daylight saving), so switching times to UTC visibly changes them.
const ZONE = { id: 'Asia/Kolkata', offsetMs: 5.5 * 3_600_000 };
const PHONE = { width: 390, height: 844 };
// Long enough (tens of seconds on a 2-core machine) for the clones to be seen and merged while they run.
const CLONING_ARGS = 'clones=2 queries=256 db=2048';
// align reading its database from the tar disk the guest build makes (native/guest/examples/align/align-disk.cfg).
const GUEST = path.resolve(WEB_DIR, '../../native/guest');
const ALIGN_DISK_CFG = readFileSync(path.join(GUEST, 'examples/align/align-disk.cfg'), 'utf8');

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
  const operator = await sf.token('oncall', 'operate');
  const web = await startDashboard(t, sf.url);
  const browser = await launchChromium(t);
  const context = await browser.newContext({ viewport: WIDE, timezoneId: ZONE.id });
  const page = waitForStreamedReveal(await context.newPage());
  page.setDefaultTimeout(30_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (err) => pageErrors.push(err.message));
  const shot = screenshots();
  t.diagnostic(`screenshots: ${ARTIFACTS}`);

  await t.test(
    'nothing is visible without signing in; a wrong token is refused; an operate token signs in and stays out of page scripts',
    async () => {
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
      await page.fill('input[name=token]', operator);
      await page.click('button[type=submit]');
      await page.waitForURL(/\/hosts$/);
      const cookie = (await context.cookies()).find((c) => c.name === 'sf_admin');
      assert.equal(cookie?.httpOnly, true, 'the session cookie is http-only');
      assert.equal(cookie?.sameSite, 'Strict');
      assert.ok(!(await page.evaluate(() => document.cookie)).includes(operator), 'page scripts cannot read the token');
      // Signed in as the operate token: its name and role are shown, its actions offered, and nothing admin-only.
      const who = page.locator('[data-testid=session-who]');
      assert.equal(await who.getAttribute('data-role'), 'operate');
      assert.match(await who.innerText(), /oncall · operate/);
      assert.equal(await page.locator('a.views__link[href="/seed"]').count(), 1, 'an operate token may seed');
      assert.equal(await page.locator('[data-needs-role=admin]').count(), 0, 'no admin-only action is offered');
    },
  );

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
    const solo = waitForStreamedReveal(await context.newPage());
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
  /** A second browser signed in with a read token (made while align's clones run). */
  let readPage: Page | null = null;
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

    // The same page for a read token: everything shown, no action offered (sfmd would refuse them anyway).
    const reader = await browser.newContext({ viewport: WIDE });
    readPage = waitForStreamedReveal(await reader.newPage());
    await readPage.goto(`${web}/signin?next=${encodeURIComponent(`/clusters/${align}`)}`);
    await readPage.fill('input[name=token]', await sf.token('wall', 'read'));
    await readPage.click('button[type=submit]');
    // first(): while the app router swaps the sign-in page for the cluster's, both trees may be in the DOM a moment.
    await readPage.locator(`[data-testid="node-${align}:1"]`).first().waitFor();
    for (const action of [
      '[data-testid^="merge-"]',
      '[data-testid^="kill-"]',
      '[data-testid=shutdown-cluster]',
      'a.views__link[href="/seed"]',
    ]) {
      assert.equal(await readPage.locator(action).count(), 0, `a read token sees no ${action}`);
      assert.ok((await page.locator(action).count()) > 0, `the operate token's page has ${action}`);
    }

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

  await t.test('operations: which token seeded and merged, which guest cloned, kept after they finished', async () => {
    await page.click('a.views__link[href="/operations"]');
    await page.waitForURL(/\/operations$/);
    const row = (kind: string, requester: string) =>
      page.locator(`tr[data-kind="${kind}"][data-requester="${requester}"][data-status=succeeded]`);
    await row('clone.merge', 'token:oncall').first().waitFor();
    assert.ok((await row('cluster.seed', 'token:oncall').count()) >= 2, "both seeds were the operate token's");
    assert.ok((await row('clone.master', `domain:${align}:0`).count()) >= 1, "the fork was the guest's own call");
    await shot(page, 'operations');
  });

  await t.test('operations page back: older ones load below the newest 50, down to the first', async () => {
    // sf doctor --repair leaves an operation each time: 50 of them push the first operations off the first page.
    for (let i = 0; i < 50; i++) {
      const res = await sf.fetch(`${sf.url}/trpc/doctor.repair`, {
        method: 'POST',
        headers: { authorization: `Bearer ${sf.adminToken}`, 'content-type': 'application/json' },
        body: '{}',
      });
      assert.equal(res.status, 200, await res.text());
    }
    await page.goto(`${web}/operations`);
    const rows = page.locator('[data-testid=operations-table] tbody tr[data-kind]');
    await page.locator('[data-testid=ops-older]').first().waitFor(); // the streamed page may be in the DOM twice for a moment
    assert.equal(await rows.count(), 50);
    assert.equal(await page.locator('tr[data-kind="host.register"]').count(), 0, 'the first operation is not on the first page');
    await page.click('[data-testid=ops-older]');
    await page.locator('tr[data-kind="host.register"]').waitFor();
    assert.match(await page.locator('[data-testid=ops-shown]').innerText(), /all there are/);
    assert.equal(await page.locator('[data-testid=ops-older]').count(), 0);
    assert.equal(
      new Set(await rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-testid')))).size,
      await rows.count(),
      'none twice',
    );
    await shot(page, 'operations-older');
  });

  await t.test('operations filter on the server by kind and outcome, also on a cluster page', async () => {
    const rows = page.locator('[data-testid=operations-table] tbody tr[data-kind]');
    await page.selectOption('[data-testid=ops-kind]', 'cluster.seed');
    await page.waitForFunction(() =>
      [...document.querySelectorAll('[data-testid=operations-table] tbody tr[data-kind]')].every(
        (r) => r.getAttribute('data-kind') === 'cluster.seed',
      ),
    );
    assert.ok((await rows.count()) >= 2, 'both seeds');
    await page.selectOption('[data-testid=ops-outcome]', 'failed');
    await page.locator('.empty__title', { hasText: 'Nothing matches these filters' }).waitFor();
    await page.selectOption('[data-testid=ops-kind]', '');
    await page.selectOption('[data-testid=ops-outcome]', '');
    // Back to all: the newest page again (the repairs), with the older ones a click away.
    await page.locator('[data-testid=ops-older]').first().waitFor(); // the streamed page may be in the DOM twice for a moment
    assert.equal(await rows.count(), 50);
    assert.equal(await page.locator('tr[data-kind="doctor.repair"]').count(), 50);

    // align's own page lists its operations (its seed too), and narrows them as well.
    await page.goto(`${web}/clusters/${align}`);
    await page.locator('[data-testid=operations-table] tr[data-kind="cluster.seed"]').first().waitFor(); // the streamed page may be in the DOM twice for a moment
    await page.selectOption('[data-testid=ops-kind]', 'clone.merge');
    await page.waitForFunction(() => {
      const kinds = [...document.querySelectorAll('[data-testid=operations-table] tbody tr[data-kind]')].map((r) =>
        r.getAttribute('data-kind'),
      );
      return kinds.length > 0 && kinds.every((k) => k === 'clone.merge');
    });
    assert.match(await page.locator('[data-testid=ops-shown]').innerText(), /all there are/);
  });

  await t.test("times: in the browser's zone, a toggle shows them in UTC everywhere, and it is remembered", async () => {
    await page.goto(`${web}/operations`);
    const when = page.locator('[data-testid=operations-table] tbody tr[data-kind] time').first();
    await page.locator('time[data-zone=local]').first().waitFor();
    const iso = (await when.getAttribute('datetime'))!;
    const now = Date.now();
    const local = formatWhen(Date.parse(iso) + ZONE.offsetMs, 'utc', now + ZONE.offsetMs).replace(' UTC', '');
    assert.equal(await when.innerText(), local, `${iso} in ${ZONE.id}`);
    const toggle = page.locator('[data-testid=utc-toggle]');
    assert.equal(await toggle.getAttribute('aria-pressed'), 'false');
    await toggle.click();
    await page.locator('time[data-zone=utc]').first().waitFor();
    assert.equal(await when.innerText(), formatWhen(iso, 'utc', now));
    assert.equal(await toggle.getAttribute('aria-pressed'), 'true');
    await shot(page, 'operations-utc');
    // Kept for the next page and the next visit; the Cluster View's times follow it too.
    await page.goto(`${web}/clusters/${align}`);
    await page.locator('.cluster-sub time[data-zone=utc]').first().waitFor(); // the streamed page may be in the DOM twice for a moment
    assert.match(await page.locator('.cluster-sub time').first().innerText(), / UTC$/);
    await page.locator('[data-testid=utc-toggle]').click();
    await page.locator('.cluster-sub time[data-zone=local]').waitFor();
    assert.doesNotMatch(await page.locator('.cluster-sub time').first().innerText(), /UTC/);
  });

  await t.test('dark mode follows the system: the dark palette is drawn, and the light one comes back', async () => {
    const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await page.goto(`${web}/hosts`);
    assert.equal(await background(), 'rgb(243, 245, 248)');
    await page.emulateMedia({ colorScheme: 'dark' });
    assert.equal(await background(), 'rgb(15, 20, 27)', 'no reload needed: the palette follows the system at once');
    assert.equal(
      await page.evaluate(() => getComputedStyle(document.querySelector('.host')!).backgroundColor),
      'rgb(24, 32, 43)',
      'cards are dark too',
    );
    await shot(page, 'hosts-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    assert.equal(await background(), 'rgb(243, 245, 248)');
  });

  await t.test('axe finds no serious or critical violation on the Host View, Cluster View and seed form, light and dark', async () => {
    const found: string[] = [];
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      for (const view of ['/hosts', `/clusters/${align}`, '/seed']) {
        await page.goto(`${web}${view}`);
        await page.locator('[data-testid=feed-status][data-state=live]').waitFor();
        await page.waitForFunction(() => !document.querySelector('time[data-zone=pending]'));
        if (view === '/seed') {
          // The form with an issue showing: the error markup is what a screen reader user meets.
          await page.fill('input[name=vcpus]', '0');
          await page.locator('[data-testid=seed-issues]').waitFor();
          assert.equal(await page.locator('input[name=vcpus]').getAttribute('aria-invalid'), 'true');
          assert.match((await page.locator('input[name=vcpus]').getAttribute('aria-describedby')) ?? '', /seed-vcpus-issue/);
        }
        for (const v of await axeViolations(page)) found.push(`${scheme} ${view}: ${v}`);
      }
      await shot(page, `seed-issues-${scheme}`);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    assert.deepEqual(found, []);
  });

  await t.test('a read token: sfmd refuses its actions, the seed page says why, and revoked, its open page goes to sign in', async () => {
    assert.ok(readPage, 'the read token signed in while the clones ran');
    const refused = await readPage.request.post(`${web}/api/clusters/${align}/actions`, {
      data: { action: 'shutdown', force: true },
      headers: { origin: web },
    });
    assert.equal(refused.status(), 403, await refused.text());
    assert.match(await refused.text(), /needs a token with role operate or above; token 'wall' has role read/);
    await readPage.goto(`${web}/seed`);
    await readPage.locator('[data-testid=read-only]:visible').first().waitFor();
    assert.equal(await readPage.locator('[data-testid=seed-submit]').count(), 0);
    await shot(readPage, 'read-only');
    // Revoked while its page is open: the live feed ends and the page goes to sign in, without a reload by anyone.
    await readPage.goto(`${web}/hosts`);
    await readPage.locator('[data-testid=feed-status][data-state=live]').waitFor();
    await sf.revokeToken('wall');
    await readPage.waitForURL(/\/signin\?expired=1/, { timeout: 10_000 });
    await readPage.context().close();
  });

  await t.test("a cluster with a disk: each VM's disk shows its image and what it wrote, keeps and fetched, final once ended", async () => {
    const cfg = path.join(sf.home, 'align-disk.cfg');
    const dbsum = /dbsum=\S+/.exec(ALIGN_DISK_CFG)?.[0] ?? assert.fail('align-disk.cfg bakes no dbsum');
    writeFileSync(
      cfg,
      `kernel = '${GUEST}/build/bin/align.elf'\nvcpus = 1\nmemory = 64\ndisk_image = '${GUEST}/build/disk/align-db.img'\n` +
        `args = 'disk=1 ${dbsum} clones=2'\n`,
    );
    const { clusterid } = await sf.seedFile(cfg);
    await page.goto(`${web}/clusters/${clusterid}`);
    await page.locator('[data-testid=feed-status][data-state=live]').waitFor();
    await mark(page);
    for (const vmid of [0, 1, 2])
      await page.locator(`[data-testid="node-${clusterid}:${vmid}"][data-state=exited]`).waitFor({ timeout: 60_000 });
    assert.ok(await stillMarked(page), 'the VMs ended on the page through live updates');
    assert.match(await page.locator('.cluster-sub').innerText(), /align\.elf · disk align-db\.img · 1 vCPU/);
    for (const vmid of [0, 1, 2]) {
      const cell = page.locator(`[data-testid="disk-${clusterid}:${vmid}"]`);
      assert.match(await cell.innerText(), /^disk wr \/ overlay \/ remote$/im);
      assert.match((await cell.getAttribute('title')) ?? '', /\/align-db\.img \(final, as the VM ended\)$/);
      // Each VM read the database from its disk and wrote nothing; on one host nothing is fetched from another.
      assert.match(await cell.innerText(), /^align-db\.img: 0 B \/ 0 B \/ 0 B$/m);
    }
    await shot(page, 'cluster-disk');
  });

  await t.test(
    "the seed's walkthrough inside the VM: sfsh from the form, typed in its console and a clone's, the Cluster View following",
    async () => {
      await sfshWalkthrough(page, web, shot, mark, stillMarked);
    },
  );

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
