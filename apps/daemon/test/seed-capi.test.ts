// Issue 15 items 4 and 5 through the real daemons: a program written only from the 0.2c C API (section 6) and
// the Getting Started walk, built with `sf guest build`, runs as documented; `sf guest new` gives a program that
// builds and runs; and clones the host makes with sfclone --domain each see their own vmid inside the guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { json, runBin, runSf, waitUntil } from './cli-runner.ts';
import { domainEnded, domains } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { vmCluster } from './vm-cluster.ts';

const SEEDAPI_SOURCE = fileURLToPath(new URL('../../../native/guest/examples/seedapi/main.c', import.meta.url));

/** Builds `sources` into `elf` the way a user does, failing the test with the compiler's messages. */
async function guestBuild(env: NodeJS.ProcessEnv, elf: string, ...sources: string[]) {
  const built = await runSf(['guest', 'build', ...sources, '-o', elf], env);
  assert.equal(built.code, 0, `sf guest build failed: ${built.stderr}`);
}

test('a program written from section 6 alone builds with sf guest build and runs through the daemons as documented', {
  timeout: 180_000,
}, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 4, ramGiB: 4 });
  const elf = path.join(c.home, 'seedapi.elf');
  await guestBuild(c.env, elf, SEEDAPI_SOURCE);
  const { clusterid } = await c.seed(elf);
  const master = await domainEnded(c.env, `${clusterid}:0`, 90_000).catch(async (err: Error) => {
    // Where it stopped is in its console and the record: say both.
    const rows = (await domains(c.env)).map((d) => `${d.domain} ${d.state} ${d.ticket ?? ''} ${d.endReason ?? ''}`);
    const logs = readdirSync(path.join(c.home, 'logs')).map((f) => {
      const lines = readFileSync(path.join(c.home, 'logs', f), 'utf8')
        .trimEnd()
        .split('\n');
      return `--- ${f} (last 40 lines)\n${lines.slice(-40).join('\n')}`;
    });
    throw new Error(
      `${err.message}; the master's console:\n${await c.consoleText(`${clusterid}:0`)}\ndomains:\n${rows.join('\n')}\n${logs.join('\n')}`,
    );
  });
  const text = await c.consoleText(`${clusterid}:0`);
  const lines = text.split(/\r?\n/);
  const has = (re: RegExp) =>
    assert.ok(
      lines.some((l) => re.test(l)),
      `no line matching ${re} in:\n${text}`,
    );
  // REQUEST_VM_TICKET blocks for all it asks; READ_TICKET_INFO repeats the ticket; LIST_TICKETS follows the states.
  has(/^Requested 1 clones, 1 allocations received\.$/);
  const first = /^Ticket is ([0-9a-f-]{36})$/m.exec(text)?.[1];
  assert.ok(first, text);
  has(/^Allocation: vmid 1 with 1 processors$/);
  has(/^Ticket info is for the same ticket$/);
  assert.deepEqual(lines.filter((l) => l.startsWith('Tickets in flight')).slice(0, 3), [
    'Tickets in flight: 1 unused, 0 outstanding',
    'Tickets in flight: 0 unused, 1 outstanding',
    'Tickets in flight: 0 unused, 0 outstanding',
  ]);
  // CLONE_MASTER returns in both VMs; IC_JOIN returns once the clone's IC_EXIT is in.
  has(/^I am the master with 1 clones \(original VM\)\.$/);
  has(new RegExp(`^Joined the clones of ${first}$`));
  // The Python walk: two clones, merged; MERGE_MASTER is 0 then non-zero for a ticket already merged.
  has(/^Requested 2 clones, 2 allocations received\.$/);
  has(/^I am the master with 2 clones \(original VM\)\.$/);
  const second = /^Successful merge for ticket ([0-9a-f-]{36})$/m.exec(text)?.[1];
  assert.ok(second && second !== first, text);
  has(new RegExp(`^Merging ${second} again is refused$`));
  // min 0 without blocking: everything that fits, then nothing fits — an empty reservation, not an error.
  has(/^Asked for up to 16 clones, [1-9]\d* received$/);
  has(/^With nothing left, min 0 received 0 allocations$/);
  assert.equal(lines.filter((l) => l === 'Tickets in flight: 0 unused, 0 outstanding').length, 2, 'the hoard was disposed');
  has(/^Shutting down the cluster$/);
  assert.doesNotMatch(text, /failed/);
  assert.ok(['stopped', 'exited'].includes(master.state), `the master ended by the shutdown: ${master.state} (${master.endReason})`);
  // The joined clone exited by IC_EXIT; the second ticket's two (vmids 1 and 2 again: the first had ended) were
  // merged. (sfmd may record a merged clone as stopped when its sfld's end report lands first: a known race.)
  const clones = (await domains(c.env)).filter((d) => d.domain !== `${clusterid}:0` && d.domain.startsWith(`${clusterid}:`));
  const ended = (d: (typeof clones)[number]) => (d.state === 'stopped' ? 'merged' : d.state);
  const summary = clones.map((d) => `${d.domain} ${d.ticket === first ? 'first' : d.ticket === second ? 'second' : d.ticket} ${ended(d)}`);
  assert.deepEqual(summary.sort(), [`${clusterid}:1 first exited`, `${clusterid}:1 second merged`, `${clusterid}:2 second merged`]);
  // A clone's console is that of the latest VM of its name: the second ticket's clone 1, waiting in its loop.
  const clone = await c.consoleText(`${clusterid}:1`);
  assert.match(clone, new RegExp(`I am clone 1 of 2 \\(ticket ${second}\\), waiting to be merged`));
});

test('sf guest new writes a program and seed config that build with sf guest build and run with sfseed', {
  timeout: 180_000,
}, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 4, ramGiB: 4 });
  const made = await json<{ program: string; config: string; elf: string }>(
    runSf(['guest', 'new', path.join(c.home, 'demo'), '--json'], c.env),
  );
  assert.deepEqual(
    [made.program, made.config, made.elf],
    ['demo.c', 'demo.cfg', 'demo.elf'].map((f) => path.join(c.home, 'demo', f)),
  );
  await guestBuild(c.env, made.elf, made.program);
  const seeded = await json<{ clusterid: number }>(runBin('sfseed', [made.config, '--json'], c.env));
  const master = await domainEnded(c.env, `${seeded.clusterid}:0`, 60_000);
  const text = await c.consoleText(`${seeded.clusterid}:0`);
  assert.match(text, /demo: master waiting for 2 clones/);
  assert.match(text, /demo: all 2 clones done/);
  assert.equal(master.exitCode, 0, text);
  for (const vmid of [1, 2])
    assert.match(await c.consoleText(`${seeded.clusterid}:${vmid}`), new RegExp(`demo: clone ${vmid} of 2 at work`));
  // Making it again in the same place is refused, naming the directory.
  const again = await runSf(['guest', 'new', path.join(c.home, 'demo')], c.env);
  assert.equal(again.code, 2);
  assert.match(again.stderr, /demo exists and is not empty/);
});

test('clones made from the host (sfclone --domain) each see their own vmid in the guest', { timeout: 180_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await vmCluster(t, { cpus: 4, ramGiB: 4 });
  const { clusterid } = await c.seed(guestImage('hello'), 'watch=40');
  const master = `${clusterid}:0`;
  await waitUntil('the master to watch its vmid', 30_000, async () => /watching vmid 0/.test(await c.consoleText(master)));
  // The guest makes no call: the fork catches it anywhere in its loop.
  const cloned = await json<{ nclones: number; vmid: number; allocations: { vmid: number }[] }>(
    runBin('sfclone', ['2', '--domain', master, '--json'], c.env),
  );
  assert.equal(cloned.nclones, 2);
  assert.equal(cloned.vmid, 0, 'sfclone outside the VM answers for the master');
  for (const vmid of [1, 2]) {
    const text = await waitUntil(`clone ${vmid} to notice its vmid`, 30_000, async () => {
      const out = await c.consoleText(`${clusterid}:${vmid}`);
      return out.includes('vmid changed') ? out : null;
    });
    assert.match(text, new RegExp(`vmid changed from 0 to ${vmid}\\b`));
    assert.doesNotMatch(text, new RegExp(`vmid changed from 0 to (?!${vmid}\\b)`), 'no other vmid');
  }
  assert.doesNotMatch(await c.consoleText(master), /vmid changed/, 'the master stays vmid 0');
});
