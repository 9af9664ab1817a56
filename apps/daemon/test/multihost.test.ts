// The multi-host harness (scripts/hosts.mjs) end to end: three namespaced hosts register with sfmd, a SIGKILLed
// sfld goes offline, unicast and UDP multicast cross the bridge, and teardown leaves no namespace or link behind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { tempHome } from './support.ts';
import { skipIf } from './guests.ts';
import { json, runSf, waitUntil } from './cli-runner.ts';
import { cannotRunHarness, hostsCli, leftovers, type HarnessHost, type HarnessStatus, type HostRow } from './harness.ts';

const GROUP = '239.255.77.1'; // administratively scoped: never leaves the bridge, and no default route could carry it
const MCAST_PORT = 47701;

const inNetns = (netns: string, script: string, args: string[]) =>
  spawn('ip', ['netns', 'exec', netns, process.execPath, '-e', script, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });

// Joins the group on its host's address, says "ready", prints the first datagram as JSON and exits.
const RECEIVER = `
const dgram = require('node:dgram');
const [group, port, address] = process.argv.slice(1);
const socket = dgram.createSocket({ type: 'udp4', reuseAddr: true });
socket.on('message', (msg, from) => { console.log(JSON.stringify({ text: msg.toString(), from: from.address })); process.exit(0); });
socket.bind(Number(port), () => { socket.addMembership(group, address); console.log('ready'); });
setTimeout(() => process.exit(3), 10000);
`;
// Sends a few datagrams (UDP may drop one) out of its host's address, one hop only.
const SENDER = `
const dgram = require('node:dgram');
const [group, port, address, text] = process.argv.slice(1);
const socket = dgram.createSocket('udp4');
socket.bind(0, address, () => {
  socket.setMulticastInterface(address);
  socket.setMulticastTTL(1);
  let n = 0;
  const timer = setInterval(() => {
    socket.send(text, Number(port), group);
    if (++n === 20) { clearInterval(timer); socket.close(); }
  }, 50);
});
`;

/** Starts a receiver in `netns` and resolves once it has joined; `message` resolves with what it got. */
async function multicastReceiver(netns: string, address: string) {
  const child = inNetns(netns, RECEIVER, [GROUP, String(MCAST_PORT), address]);
  const lines = createInterface({ input: child.stdout! });
  const received: string[] = [];
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
  await new Promise<void>((resolve, reject) => {
    lines.on('line', (line) => (line === 'ready' ? resolve() : received.push(line)));
    exited.then((code) => reject(new Error(`multicast receiver in ${netns} exited with ${code} before joining`)));
  });
  return {
    async message(): Promise<{ text: string; from: string }> {
      const code = await exited;
      assert.equal(code, 0, `receiver in ${netns} got no datagram within 10 s`);
      return JSON.parse(received[0]!);
    },
  };
}

test('multi-host harness: 3 namespaced hosts register, one is lost, multicast crosses the bridge, teardown is clean', {
  timeout: 90_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness())) return;
  // Its own prefix, subnet and data directory: runs beside `npm start -- --hosts N` and other test runs.
  const prefix = `mh${(process.pid % 36 ** 4).toString(36)}`;
  const home = tempHome('sf-multihost-');
  const where = ['--prefix', prefix, '--home', home];
  let sfmdPid: number | null = null;
  t.after(async () => {
    const down = await hostsCli(['down', ...where, '--json']);
    rmSync(home, { recursive: true, force: true });
    assert.equal(down.code, 0, `hosts down failed: ${down.stderr}${down.stdout}`);
    assert.deepEqual(leftovers(prefix), [], 'no namespace, veth or bridge is left');
    if (sfmdPid !== null) assert.throws(() => process.kill(sfmdPid!, 0), 'sfmd is stopped');
  });

  const started = Date.now();
  const status = await json<HarnessStatus>(hostsCli(['up', '3', ...where, '--subnet', 'auto', '--json']));
  sfmdPid = status.sfmd.pid;
  t.diagnostic(`3 hosts up in ${Date.now() - started} ms on ${status.subnet}`);
  const base = status.subnet.replace(/\.0\/24$/, '');
  assert.match(status.subnet, /^198\.1[89]\.\d{1,3}\.0\/24$/, 'inside 198.18.0.0/15');
  assert.equal(status.bridge.address, `${base}.1`);
  assert.deepEqual(
    status.hosts.map((h) => [h.host, h.netns, h.address, h.running]),
    [1, 2, 3].map((i) => [`h${i}`, `${prefix}-h${i}`, `${base}.${10 + i}`, true]),
  );
  for (const h of status.hosts) {
    const pids = spawnSync('ip', ['netns', 'pids', h.netns], { encoding: 'utf8' }).stdout.split('\n').map(Number);
    assert.ok(pids.includes(h.pid!), `sfld of ${h.host} (pid ${h.pid}) runs inside ${h.netns}`);
  }

  // sfmd knows all three, online, by their addresses on the bridge.
  const env = { SNOWFLOCK_HOME: home };
  const state = await json<{ hosts: HostRow[] }>(runSf(['state', '--json'], env));
  assert.deepEqual(
    state.hosts.map((h) => [h.name, h.unicast, h.state]).sort(),
    status.hosts.map((h) => [h.address, h.address, 'online']),
  );

  // Unicast between namespaces: one host reaches another's sfld (where descriptors will travel).
  const [h1, h2, h3] = status.hosts as [HarnessHost, HarnessHost, HarnessHost];
  const probe = spawnSync(
    'ip',
    [
      'netns',
      'exec',
      h1.netns,
      process.execPath,
      '-e',
      `fetch('http://${h3.address}:49183/healthz').then((r) => r.json()).then((b) => console.log(JSON.stringify(b)))`,
    ],
    { encoding: 'utf8', timeout: 10_000 },
  );
  assert.equal(JSON.parse(probe.stdout).host, h3.address, `h1 reaches h3's sfld: ${probe.stderr}`);

  // Multicast from h1 reaches both other hosts (the next step distributes pages this way).
  const receivers = [await multicastReceiver(h2.netns, h2.address), await multicastReceiver(h3.netns, h3.address)];
  const sender = inNetns(h1.netns, SENDER, [GROUP, String(MCAST_PORT), h1.address, `pages from ${h1.host}`]);
  for (const r of receivers) assert.deepEqual(await r.message(), { text: `pages from ${h1.host}`, from: h1.address });
  await new Promise((resolve) => sender.once('exit', resolve));

  // A host lost outright: SIGKILL its sfld, sfmd marks it offline, the others stay online.
  process.kill(h2.pid!, 'SIGKILL');
  const killedAt = Date.now();
  const after = await waitUntil(`${h2.address} offline`, 15_000, async () => {
    const s = await json<{ hosts: HostRow[] }>(runSf(['state', '--json'], env));
    return s.hosts.find((h) => h.name === h2.address)?.state === 'offline' ? s : null;
  });
  t.diagnostic(`killed host offline after ${Date.now() - killedAt} ms`);
  assert.deepEqual(
    after.hosts
      .filter((h) => h.state === 'online')
      .map((h) => h.name)
      .sort(),
    [h1.address, h3.address],
  );
  const later = await json<HarnessStatus>(hostsCli(['status', ...where, '--json']));
  assert.deepEqual(
    later.hosts.map((h) => h.running),
    [true, false, true],
  );
});
