// Guests calling sfmd's API over the cluster network (issue 20 item 3) with real VMs and daemons on 2 namespace
// hosts, one set-up: a master's network calls work and are recorded as that domain; its clones, one at least on
// the other host (through VXLAN), are refused master-only calls because their address says who they are; a VM of
// another cluster cannot reach the first cluster's guest API; nor can the hosts or the outside.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { test } from 'node:test';
import { json, runBin, runSf, waitUntil } from './cli-runner.ts';
import { ConsoleSession } from './console-session.ts';
import { consoleText, type DomainRow } from './cluster-driver.ts';
import { cannotRunVms, guestImage, skipIf } from './guests.ts';
import { cannotRunHarness, domains, masterOutput, seed, upHosts } from './harness.ts';
import { cannotBuildNetLab } from './net-lab.ts';

const API_PORT = 7007; // sfld.cfg guest_api_port's default, which the harness's hosts keep
const CLONES = 4; // more than the master's host has room for beside it: one at least runs on the other host
const LINGER_S = 600; // the master stays up (and its router and guest API with it) until the test shuts it down

/** From inside `netns`: opens a TCP connection to host:port; resolves whether it connected. */
function connectFrom(netns: string, host: string, port: number): Promise<boolean> {
  const script = `const s = require('node:net').connect(${port}, '${host}'); s.setTimeout(4000);
s.on('connect', () => { console.log('connected'); s.destroy(); }); s.on('error', () => {}); s.on('timeout', () => s.destroy());`;
  return new Promise((resolve) =>
    execFile('ip', ['netns', 'exec', netns, process.execPath, '-e', script], { timeout: 15_000 }, (_err, stdout) =>
      resolve(String(stdout).includes('connected')),
    ),
  );
}

function listening(netns: string): Promise<string> {
  return new Promise((resolve) =>
    execFile('ip', ['netns', 'exec', netns, 'ss', '-ltnH'], { encoding: 'utf8', timeout: 15_000 }, (_err, stdout) => resolve(stdout)),
  );
}

const ofCluster = (rows: DomainRow[], clusterid: number) => rows.filter((d) => d.domain.startsWith(`${clusterid}:`));
const esc = (s: string) => s.replaceAll('.', '\\.');

test('guests call the API over the cluster network as themselves: clones are clones, other clusters and hosts are kept out', {
  timeout: 300_000,
}, async (t) => {
  if (skipIf(t, cannotRunHarness() ?? cannotRunVms() ?? cannotBuildNetLab())) return;
  const started = Date.now();
  const { status, home, env } = await upHosts(t, 'ga', { count: 2, cpus: 4, ramGiB: 2 });
  t.diagnostic(`hosts up in ${Date.now() - started} ms`);

  // (a) netapi: ticket.request and ticket.info over the network, the same by hypercall, then sf.h switched to the
  // network and a fork; each clone's master-only calls over the network are refused; the join goes over the network.
  const a = await seed(env, home, guestImage('netapi'), `clones=${CLONES} linger=${LINGER_S}`);
  const head = await waitUntil(`${a}:0 to finish its checks`, 120_000, async () => {
    const text = await consoleText(env, `${a}:0`);
    return /netapi: lingering|netapi: FAILED|netapi: .*failed/.test(text) ? text : null;
  });
  t.diagnostic(`cluster ${a}'s checks done ${Date.now() - started} ms after start`);
  if (!/netapi: all verified/.test(head)) {
    for (const d of ofCluster(await domains(env), a)) t.diagnostic(`${d.domain}@${d.host}: ${await consoleText(env, d.domain)}`);
  }
  assert.match(
    head,
    new RegExp(`netapi: ${CLONES} clones refused master calls over the network and exited through it, all verified`),
    head,
  );
  assert.match(head, new RegExp(`ticket\\.info over the network and by hypercall agree: ${CLONES} allocations`), head);
  assert.match(head, /ticket\.list over the network and by hypercall agree: nothing in flight/, head);
  assert.match(head, /netapi: all verified/, head);
  t.diagnostic(/netapi: ticket\.list takes .*/.exec(head)?.[0] ?? 'no timing line');
  const m = /granted (\d+) \(ticket (\S+)\) from (\S+) via gateway (\S+)/.exec(head);
  assert.ok(m, head);
  const [, granted, , masterIp, gateway] = m;
  assert.equal(Number(granted), CLONES);

  const rows = ofCluster(await domains(env), a);
  const master = rows.find((d) => d.domain === `${a}:0`)!;
  assert.equal(master.ip, masterIp, 'the master called from its own address');
  const clones = rows.filter((d) => d.domain !== `${a}:0`);
  assert.equal(clones.length, CLONES);
  const remote = clones.filter((d) => d.host !== master.host);
  assert.ok(remote.length >= 1, `a clone on the other host: ${rows.map((d) => `${d.domain}@${d.host}`).join(' ')}`);
  for (const c of clones) {
    const vmid = c.domain.split(':')[1];
    const text = await consoleText(env, c.domain);
    assert.match(
      text,
      new RegExp(`netapi vmid=${vmid} \\(${esc(c.ip!)}\\): master calls over the network refused: NOT_MASTER, NOT_MASTER\\n`),
      `${c.domain}@${c.host}:\n${text}`,
    );
    // It exited through the network, with its verdict: sfmd recorded that exit as the clone's own call.
    assert.deepEqual([c.state, c.exitCode], ['exited', 0], `${c.domain}: ${c.endReason}`);
    assert.match(c.endReason ?? '', /the clone called clone\.exit \(status 0\)/);
  }

  // Recorded as the domain whose address called: the ticket's request is the master's, each exit its clone's.
  const ops = await json<{ kind: string; target: string; requester: string; status: string }[]>(
    runSf(['ops', '--limit', '200', '--json'], env),
  );
  const requests = ops.filter((o) => o.kind === 'ticket.request' && o.target === `cluster:${a}` && o.status === 'succeeded');
  assert.deepEqual(
    requests.map((o) => o.requester),
    [`domain:${a}:0`],
    `the one ticket granted was asked for by the master: ${JSON.stringify(requests)}`,
  );
  const byClones = ops.filter((o) => o.requester !== `domain:${a}:0` && o.requester.startsWith(`domain:${a}:`));
  assert.ok(
    byClones.every((o) => o.kind === 'clone.exit' || o.status !== 'succeeded'),
    `the clones did nothing but exit: ${JSON.stringify(byClones)}`,
  );
  for (const c of clones) {
    const exit = ops.find((o) => o.kind === 'clone.exit' && o.target === `domain:${c.domain}`);
    assert.equal(exit?.requester, `domain:${c.domain}`, `${c.domain}'s exit: ${JSON.stringify(exit)}`);
  }

  // The guest API listens on the cluster's gateway, on the router's host (the master's) only.
  const routerHost = status.hosts.find((h) => h.address === master.host)!;
  const otherHost = status.hosts.find((h) => h.address !== master.host)!;
  assert.match(await listening(routerHost.netns), new RegExp(`${esc(gateway!)}:${API_PORT}\\b`), 'the listener is up');
  assert.doesNotMatch(await listening(otherHost.netns), new RegExp(`:${API_PORT}\\b`));

  // (b) A VM of another cluster cannot reach this cluster's guest API (its own router host's walls stop it) …
  const probe = await seed(env, home, guestImage('netfetch'), `url=http://${gateway}:${API_PORT}/trpc/ticket.list timeout=5`);
  const said = await masterOutput(env, probe, 60_000);
  assert.match(said, new RegExp(`netfetch: connect to ${esc(gateway!)}:${API_PORT}: `), said);
  // (c) … nor can an address outside every cluster: either host itself, or the outside.
  assert.equal(await connectFrom(routerHost.netns, gateway!, API_PORT), false, 'the router host itself');
  assert.equal(await connectFrom(otherHost.netns, gateway!, API_PORT), false, 'the other host');
  assert.equal(await connectFrom(status.outside.netns, gateway!, API_PORT), false, 'the outside');

  // (d) sfsh's `api` command: the master's shell asks over the network and is answered; its clone's shell,
  // asking the same with the master's memory in it, is refused for what its address says it is.
  const shell = await seed(env, home, guestImage('sfsh'), '');
  const consoles: ConsoleSession[] = [];
  t.after(() => {
    for (const s of consoles) s.close();
  });
  const open = async (name: string) => {
    const session = await ConsoleSession.open(env, name);
    consoles.push(session);
    await session.waitFor(/\[vm \d+\] \$ $/);
    return session;
  };
  const sh0 = await open(`${shell}:0`);
  assert.equal(await sh0.run('api ticket.list'), '{"unused":[],"outstanding":[]}\n');
  assert.match(await sh0.run('sfclone 1'), /I am the master with 1 clones/);
  const sh1 = await open(`${shell}:1`);
  assert.match(await sh1.run('api ticket.list'), /^sf: NOT_MASTER: /);
  assert.match(await sh0.run('api ticket.list'), /^\{"unused":\[\],"outstanding":\["[0-9a-f]{8}-[0-9a-f-]{27}"\]\}\n$/);

  for (const cluster of [a, shell]) {
    const down = await json<{ state: string }>(runBin('sfshutdown', ['--force', '--domain', `${cluster}:0`, '--json'], env));
    assert.equal(down.state, 'shutdown');
  }
  t.diagnostic(`guest API over the network: ${Date.now() - started} ms from start to the end`);
});
