// The seed's Getting Started typed into sfsh's console in the dashboard (a step of dashboard.e2e.test.ts, on its
// daemons and browser): seed sfsh from the form, then sfdotix, sfdoclone, sfclone 2 beside it, sftickets,
// sfshutdown refused, a clone's own console, sfmerge each way, sfshutdown done — the Cluster View following live.
import assert from 'node:assert/strict';
import type { Page } from 'playwright-core';

const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/;

/**
 * The terminal's rows as one string (xterm.js renders its visible rows as plain DOM), its spaces plain and
 * the blank end (the cursor's row) trimmed.
 */
const screenText = (page: Page) =>
  page.evaluate(() => (document.querySelector('.xterm-rows')?.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd());

async function waitForScreen(page: Page, pattern: RegExp, what: string): Promise<string> {
  // xterm.js stops drawing while the terminal is out of view: the console card sits below the cluster's tree.
  await page.locator('.console__term').scrollIntoViewIfNeeded();
  await page
    .waitForFunction(
      ([source, flags]) =>
        new RegExp(source, flags).test((document.querySelector('.xterm-rows')?.textContent ?? '').replace(/\u00a0/g, ' ').trimEnd()),
      [pattern.source, pattern.flags] as const,
      { timeout: 60_000 },
    )
    .catch(async () => assert.fail(`the console never showed ${what}; it shows:\n${await screenText(page)}`));
  return screenText(page);
}

/** Types a command line into the open console, as a user does, and waits for `answer` after it. */
async function typeLine(page: Page, line: string, answer: RegExp, what: string): Promise<string> {
  await page.locator('.console__term').click();
  await page.keyboard.type(line);
  await page.keyboard.press('Enter');
  return waitForScreen(page, answer, what);
}

/** The page's screenshot, and the console card's beside it (the page shot shows the top, the card is below). */
async function shotWithConsole(page: Page, shot: (page: Page, name: string) => Promise<string>, name: string): Promise<void> {
  const file = await shot(page, name);
  await page.locator('.console-card').screenshot({ path: file.replace(/\.png$/, '-console.png') });
}

export async function sfshWalkthrough(
  page: Page,
  web: string,
  shot: (page: Page, name: string) => Promise<string>,
  mark: (page: Page) => Promise<void>,
  stillMarked: (page: Page) => Promise<boolean>,
): Promise<void> {
  await page.goto(`${web}/seed`);
  const option = page.locator('input[value=sfsh]');
  assert.match((await page.locator('label.guest-option', { has: option }).innerText()) ?? '', /user-domain tools/);
  await option.check();
  await page.click('[data-testid=seed-submit]');
  await page.waitForURL(/\/clusters\/\d+\?console=0$/);
  const c = Number(/\/clusters\/(\d+)/.exec(page.url())![1]);
  const node = (vmid: number, state: string) => page.locator(`[data-testid="node-${c}:${vmid}"][data-state=${state}]`);
  await waitForScreen(page, /\[vm 0\] \$$/, 'the prompt');
  await mark(page);

  // Steps 6-7: a ticket, then the fork with it; the ticket and the clone show up in the Cluster View.
  let screen = await typeLine(page, 'sfdotix 1', /Ticket is [0-9a-f-]{36}/, "sfdotix's ticket");
  assert.match(screen, /Requested 1 clones, 1 allocations received\./);
  const first = UUID.exec(screen.slice(screen.lastIndexOf('Ticket is')))![0];
  await page.locator(`[data-testid="ticket-${first}"]`, { hasText: 'unused' }).waitFor();
  await typeLine(page, `sfdoclone ${first}`, /I am the master with 1 clones \(original VM\)\./, "the master's answer");
  await node(1, 'running').waitFor({ timeout: 60_000 });
  await page.locator(`[data-testid="ticket-${first}"]`, { hasText: 'outstanding' }).waitFor();

  // Step 9: sfclone 2 while the first clone is out: two more clones, vmids 2 and 3.
  screen = await typeLine(page, 'sfclone 2', /I am the master with 2 clones \(original VM\)\./, "sfclone's answer");
  assert.match(screen, /Requested 2 clones, 2 allocations received\./);
  const second = UUID.exec(screen.slice(screen.lastIndexOf('Ticket is')))![0];
  for (const vmid of [2, 3]) await node(vmid, 'running').waitFor({ timeout: 60_000 });
  await typeLine(page, 'sftickets', new RegExp(`${second}  outstanding`), 'both tickets');
  await shotWithConsole(page, shot, 'sfsh-clones');

  // Step 12 too early: refused, naming the clones out; nothing stops.
  await typeLine(
    page,
    'sfshutdown',
    new RegExp(`sf: TICKET_STATE: cluster ${c} was not shut down: clones still out: ${c}:1, ${c}:2, ${c}:3`),
    'the refusal',
  );
  for (const vmid of [0, 1, 2, 3]) await node(vmid, 'running').waitFor();

  // The clone's own console: it woke inside sfdoclone as clone 1, at its own prompt, and answers there.
  await page.click(`[data-testid="console-${c}:1"]`);
  await waitForScreen(page, new RegExp(`I am clone 1 of 1 \\(ticket ${first}\\)\\.\\s*\\[vm 1\\] \\$$`), "the clone's greeting and prompt");
  await typeLine(page, 'vmid', /\[vm 1\] \$ vmid\s*1\s*\[vm 1\] \$$/, "the clone's vmid");
  await shotWithConsole(page, shot, 'sfsh-clone-console');
  await page.click(`[data-testid="console-${c}:0"]`);
  await waitForScreen(page, /\[vm 0\] \$$/, "the master's prompt again");

  // Steps 10-11: merge the first ticket, then every ticket with ''; the clones end in the view as they go.
  await typeLine(page, `sfmerge ${first}`, new RegExp(`Successful merge for ticket ${first}`), 'the first merge');
  await node(1, 'merged').waitFor();
  for (const vmid of [2, 3]) await node(vmid, 'running').waitFor();
  await typeLine(page, "sfmerge ''", /Successful merge of 1 ticket\(s\), 2 clones/, 'the merge of all');
  for (const vmid of [2, 3]) await node(vmid, 'merged').waitFor();
  await page.locator(`[data-testid="ticket-${second}"]`, { hasText: 'merged' }).waitFor();

  // Step 12: sfshutdown now ends the master and with it the cluster.
  await page.locator('.console__term').click();
  await page.keyboard.type('sfshutdown');
  await page.keyboard.press('Enter');
  await page.locator(`[data-testid="node-${c}:0"]:not([data-state=running])`).waitFor({ timeout: 60_000 });
  assert.ok(await stillMarked(page), 'the Cluster View followed every step without a reload');
  await shotWithConsole(page, shot, 'sfsh-shutdown');
}
