// Real VMs through the real daemons: sfseed boots each example guest on an sfld, its console is
// replayed by `sf console`, keystrokes reach the guest, guest API calls travel hypercall → sfld →
// sfmd, a crashing guest is reported, and sfshutdown stops a running master.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { ClusterState, OperationStatus } from '../src/master/store/states.ts';
import { json, runBin, runSf, SF_BIN, waitUntil } from './cli-runner.ts';
import { cannotRunVms, guestImage, seedFile, skipIf } from './guests.ts';
import { vmCluster as cluster } from './vm-cluster.ts';

test('each example guest boots through sfseed and verifies its own work', { timeout: 120_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await cluster(t);
  const expectations: [Parameters<typeof guestImage>[0], string, RegExp][] = [
    ['hello', 'greeting=hi', /hello from Snowflock vmid 0[\s\S]*argv\[1\] = "greeting=hi"/],
    ['memtouch', 'pages=512 write=1', /memtouch .*touched=512 .* OK/],
    ['align', '', /align vmid=0 .*queries=4\/4 .* OK/],
    ['render', '', /render vmid=0 .*checksum=0x[0-9a-f]+ .* OK/],
  ];
  for (const [guest, args, expected] of expectations) {
    const seeded = await c.seed(guestImage(guest), args);
    const name = `${seeded.clusterid}:0`;
    const end = await c.ended(name);
    const text = await c.consoleText(name);
    assert.deepEqual([end.state, end.exitCode], ['exited', 0], `${guest} exited cleanly:\n${text}`);
    assert.match(text, expected);
  }
});

test('guest API calls travel hypercall → sfld → sfmd, stamped with the guest identity', { timeout: 60_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await cluster(t);
  const seeded = await c.seed(guestImage('hello'), 'tickets=3');
  const name = `${seeded.clusterid}:0`;
  assert.equal((await c.ended(name)).exitCode, 0, await c.consoleText(name));
  assert.match(await c.consoleText(name), /ticket [0-9a-f-]{36}: 1 of 3 clones granted[\s\S]*ticket tour ok/);
  const ops = await json<{ kind: string; requester: string; status: OperationStatus }[]>(runSf(['ops', '--limit', '50', '--json'], c.env));
  const guestOps = ops
    .filter((o) => o.requester === `domain:${name}`)
    .map((o) => `${o.kind}:${o.status}`)
    .sort();
  // The tour's second dispose of the same ticket is refused: counted, not kept as an Operation row.
  assert.deepEqual(guestOps, ['ticket.dispose:succeeded', 'ticket.request:succeeded']);
  const health = (await (await c.fetch(`${c.url}/healthz`)).json()) as { guestRefusals: { total: number } };
  assert.ok(health.guestRefusals.total >= 1, JSON.stringify(health.guestRefusals));
});

test('sf console replays output and delivers keystrokes; sfshutdown stops a running master', { timeout: 60_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await cluster(t);
  const seeded = await c.seed(guestImage('hello'), 'interactive=1');
  const name = `${seeded.clusterid}:0`;
  await waitUntil('the prompt', 15_000, async () => /hello> $/.test(await c.consoleText(name)));

  const attached = spawn(process.execPath, [SF_BIN, 'console', name], {
    env: { ...process.env, ...c.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let seen = '';
  attached.stdout.on('data', (d: Buffer) => {
    seen += d.toString();
  });
  t.after(() => attached.kill());
  await waitUntil('the replay', 10_000, async () => seen.includes('hello> '));
  attached.stdin.write('snowflock\r');
  await waitUntil('the echo', 10_000, async () => seen.includes('you said: snowflock (9 chars)'));
  attached.stdin.write('\x1d'); // Ctrl-] detaches
  const code = await new Promise<number | null>((resolve) => attached.once('exit', resolve));
  assert.equal(code, 0);

  assert.equal((await c.domain(name)).state, 'running');
  const down = await json<{ state: ClusterState }>(runBin('sfshutdown', ['--domain', name, '--json'], c.env));
  assert.equal(down.state, 'shutdown');
  assert.equal((await c.domain(name)).state, 'stopped');
  const hosts = await json<{ hosts: { cpusUsed: number }[] }>(runSf(['state', '--json'], c.env));
  assert.equal(hosts.hosts[0]!.cpusUsed, 0);
});

test('a guest image that is not an ELF fails the seed and leaves the host free', { timeout: 60_000 }, async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const c = await cluster(t);
  const junk = path.join(c.home, 'junk.elf');
  writeFileSync(junk, 'this is not an ELF file');
  const file = path.join(c.home, 'junk.cfg');
  writeFileSync(file, seedFile(junk));
  const r = await runBin('sfseed', [file], c.env);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /ELF|image/i);
  const missing = path.join(c.home, 'missing.cfg');
  writeFileSync(missing, seedFile(path.join(c.home, 'nope.elf')));
  const r2 = await runBin('sfseed', [missing], c.env);
  assert.equal(r2.code, 3);
  assert.match(r2.stderr, /not a file on this host/);
  const hosts = await json<{ hosts: { cpusUsed: number }[] }>(runSf(['state', '--json'], c.env));
  assert.equal(hosts.hosts[0]!.cpusUsed, 0);
});
