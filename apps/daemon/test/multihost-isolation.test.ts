// The cluster network's walls and router with real VMs and daemons on 2 namespace hosts, one set-up: a VM of
// another cluster cannot reach a cluster's listening master (while the outside, through the master's inbound
// port, can); netfetch through the router gets the whitelisted outside server and not the other; clones forked
// after the master's network state changed (netecho's second round) still get their own identity; and every
// VM's NIC counters on record cover at least what its guest moved.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { waitUntil } from './cli-runner.ts';
import { consoleText, type DomainRow } from './cluster-driver.ts';
import { cannotRunVms, guestImage, seedFile, skipIf } from './guests.ts';
import { cannotRunHarness, domains, masterOutput, seed, upHosts } from './harness.ts';
import { json, runSf } from './cli-runner.ts';
import { cannotBuildNetLab } from './net-lab.ts';
import { writeFileSync } from 'node:fs';
import path from 'node:path';

const MiB = 2 ** 20;
const PORT = 7007;
/** How long cluster A's master keeps listening after its rounds: the other clusters' probes run meanwhile. */
const LINGER_S = 25;

/** FNV-1a 32 of a string's UTF-8 bytes, as netfetch prints it. */
function fnv1a(text: string): string {
  let h = 2166136261;
  for (const b of Buffer.from(text)) h = Math.imul(h ^ b, 16777619) >>> 0;
  return `0x${h.toString(16).padStart(8, '0')}`;
}

/** From inside `netns`: opens a TCP connection to host:port; resolves whether it connected. */
function connectFrom(netns: string, host: string, port: number): Promise<boolean> {
  const script = `const s = require('node:net').connect(${port}, '${host}'); s.setTimeout(5000);
s.on('connect', () => { console.log('connected'); s.destroy(); }); s.on('error', () => {}); s.on('timeout', () => s.destroy());`;
  return new Promise((resolve) =>
    execFile('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { timeout: 15_000 }, (_err, stdout) =>
      resolve(String(stdout).includes('connected')),
    ),
  );
}

const ofCluster = (rows: DomainRow[], clusterid: number) => rows.filter((d) => d.domain.startsWith(`${clusterid}:`));

test('clusters are walled off, the router keeps to its whitelist, late clones get their own identity, NIC bytes are on record', {
  timeout: 240_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms() ?? cannotBuildNetLab())) return;
  const started = Date.now();
  const { status, home, env } = await upHosts(t, 'mi', { count: 2, cpus: 4, ramGiB: 2, whitelistOutside: true });
  const { whitelisted, other, netns: outsideNetns } = status.outside;
  t.diagnostic(`hosts up in ${Date.now() - started} ms`);

  // Cluster A: netecho, two rounds of 2 clones (each round forks the master anew), then it lingers listening;
  // the outside may reach it on its inbound port.
  const fileA = path.join(home, 'seed-a.cfg');
  writeFileSync(fileA, `${seedFile(guestImage('netecho'), `clones=2 mib=1 rounds=2 linger=${LINGER_S}`)}inbound_ports = [${PORT}]\n`);
  const a = (await json<{ clusterid: number }>(runSf(['seed', fileA, '--json'], env))).clusterid;
  await waitUntil(`cluster ${a}'s two rounds of clones to end`, 90_000, async () => {
    const clones = ofCluster(await domains(env), a).filter((d) => d.domain !== `${a}:0`);
    return clones.length === 4 && clones.every((d) => d.state === 'exited');
  });
  const lingering = await waitUntil(`${a}:0 to linger`, 20_000, async () => {
    const text = await consoleText(env, `${a}:0`);
    return /lingering/.test(text) ? text : null;
  });
  assert.match(lingering, /netecho: 4 clones echoed 4 MiB in 2 rounds, all verified/, lingering);
  // While it runs, its NIC figures are live ones (sfld's batch a second, relayed by sfmd).
  const masterA = await waitUntil(`${a}:0's live NIC figures`, 10_000, async () => {
    const d = (await domains(env)).find((x) => x.domain === `${a}:0`);
    return d?.net?.live && d.net.rxBytes >= 4 * MiB ? d : null;
  });
  assert.ok(masterA.ip, 'A master has an IP');

  // (a) the outside reaches A's master through its host's inbound port (the listener is live) …
  assert.equal(await connectFrom(outsideNetns, masterA.host, PORT), true, "the outside reaches A's master on its inbound port");
  // … and VMs of other clusters (b: netfetch through their routers) reach only the whitelisted outside.
  const probes = {
    toA: await seed(env, home, guestImage('netfetch'), `url=http://${masterA.ip}:${PORT}/ timeout=5`),
    whitelisted: await seed(env, home, guestImage('netfetch'), `url=http://${whitelisted}/ timeout=10`),
    other: await seed(env, home, guestImage('netfetch'), `url=http://${other}/ timeout=5`),
  };
  const said = {
    toA: await masterOutput(env, probes.toA, 60_000),
    whitelisted: await masterOutput(env, probes.whitelisted, 60_000),
    other: await masterOutput(env, probes.other, 60_000),
  };
  t.diagnostic(`probes: ${JSON.stringify(said)}`);
  assert.match(said.toA, new RegExp(`netfetch: connect to ${masterA.ip.replaceAll('.', '\\.')}:${PORT}: `), said.toA);
  const body = `snowflock outside ${whitelisted} GET /\n`;
  assert.match(said.whitelisted, new RegExp(`netfetch: HTTP/1\\.[01] 200 OK body=${body.length} fnv1a=${fnv1a(body)}`), said.whitelisted);
  assert.match(said.other, new RegExp(`netfetch: connect to ${other.replaceAll('.', '\\.')}:80: `), said.other);

  const textA = await masterOutput(env, a, 60_000);
  assert.match(textA, /netecho master: 1 connections while lingering/, `only the outside got through to A's master:\n${textA}`);

  const rows = await waitUntil('every VM to end with its NIC figures on record', 20_000, async () => {
    const all = await domains(env);
    const mine = [a, probes.toA, probes.whitelisted, probes.other].flatMap((c) => ofCluster(all, c));
    return mine.every((d) => d.state === 'exited' && d.net !== null) ? mine : null;
  });
  const row = (clusterid: number, vmid = 0) => rows.filter((d) => d.domain === `${clusterid}:${vmid}`);
  t.diagnostic(`placement: ${rows.map((d) => `${d.domain}@${d.host}`).join(' ')}`);
  assert.deepEqual(
    [probes.toA, probes.whitelisted, probes.other].map((c) => row(c)[0]!.exitCode),
    [1, 0, 1],
  );

  // (c) the second round's clones (forked after the first round's connections) have their own identity, and
  // it is the one on record: what each guest printed is its row's IP and MAC.
  const clonesA = ofCluster(rows, a).filter((d) => d.domain !== `${a}:0`);
  assert.equal(new Set(clonesA.map((d) => d.ticket)).size, 2, 'two clone generations');
  for (const vmid of [1, 2]) {
    const [first, second] = row(a, vmid);
    assert.ok(first && second, `${a}:${vmid} twice`);
    const printed = await consoleText(env, `${a}:${vmid}`);
    const m: RegExpMatchArray | null = printed.match(
      new RegExp(`netecho vmid=${vmid} \\((\\S+) (\\S+)\\): ${MiB} bytes to ${masterA.ip.replaceAll('.', '\\.')}, echo verified`),
    );
    assert.ok(m, `${a}:${vmid} (second round) printed its identity:\n${printed}`);
    assert.deepEqual([m[1], m[2]], [second.ip, second.mac], `${a}:${vmid}: what the guest has is what the record says`);
    assert.notEqual(m[1], masterA.ip);
    assert.notEqual(m[2], masterA.mac);
  }

  // (d) NIC bytes on record: at least what each guest moved, and not wildly more (frames' headers, ACKs, DHCP, ARP).
  const plausible = (d: DomainRow, payload: number, what: string) => {
    const net = d.net!;
    t.diagnostic(`${d.domain} ${what}: rx ${net.rxBytes} tx ${net.txBytes} (${net.rxPackets}/${net.txPackets} frames, ${net.drops} drops)`);
    assert.equal(net.live, false, `${d.domain}: the final figures`);
    for (const bytes of [net.rxBytes, net.txBytes]) {
      assert.ok(bytes >= payload && bytes > 0, `${d.domain}: ${bytes} bytes ≥ ${payload} moved (${what})`);
      assert.ok(bytes <= payload * 1.2 + 64 * 1024, `${d.domain}: ${bytes} bytes is plausible for ${payload} moved (${what})`);
    }
  };
  plausible(row(a)[0]!, 4 * MiB, 'echoed 4 MiB');
  for (const d of clonesA) plausible(d, MiB, 'streamed 1 MiB and read its echo');
  plausible(row(probes.whitelisted)[0]!, body.length, 'one HTTP GET');
  plausible(row(probes.toA)[0]!, 0, 'SYNs that got nowhere');
  plausible(row(probes.other)[0]!, 0, 'SYNs that got nowhere');
  t.diagnostic(`isolation, router, late clones and NIC figures: ${Date.now() - started} ms from up to the end`);
});
