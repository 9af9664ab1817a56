// Caller tests of every tRPC procedure over a real SQLite file: auth (admin token, host secrets,
// anonymous), master-only / clone-only rules, the ticket lifecycle and its illegal transitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { SfError, type ErrorCode } from '../../common/errors.ts';
import type { HostCommandMap } from '../../common/events.ts';
import { GiB, masterFixture, seedConfig } from '../../../test/support.ts';

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof TRPCError, `expected a TRPCError, got ${String(err)}`);
    const actual = err.cause instanceof SfError ? err.cause.code : err.cause instanceof ZodError ? 'BAD_INPUT' : `trpc:${err.code}`;
    assert.equal(actual, code, `expected ${code}, got ${actual}: ${err.message}`);
    if (pattern) assert.match(err.message, pattern);
    return true;
  });
}

const twoHosts = [
  { name: 'alpha', cpus: 4, ram: 8 * GiB },
  { name: 'beta', cpus: 4, ram: 8 * GiB },
];
// Clones run on their master's host until the multi-host data plane exists: fork tests use one host.
const oneHost = [{ name: 'alpha', cpus: 8, ram: 16 * GiB }];

test('health and whoami answer anyone; whoami tells tokens (name and role), hosts and anonymous apart', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  const anon = await f.caller({});
  assert.deepEqual(await anon.health(), { ok: true, version: '0.1.0', hostsOnline: 0 });
  assert.equal((await anon.whoami()).caller, 'anonymous');
  assert.deepEqual(await (await f.admin()).whoami(), { caller: 'token', host: null, token: 'admin', role: 'admin' });
  const host = await f.caller({ authorization: `SfHost alpha:${f.hostSecret('alpha')}` });
  assert.deepEqual(await host.whoami(), { caller: 'host', host: 'alpha', token: null, role: null });
  const wrong = await f.caller({ authorization: 'SfHost alpha:not-the-secret' });
  assert.equal((await wrong.whoami()).caller, 'anonymous');
});

test('admin procedures refuse anonymous callers, wrong tokens and hosts', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  const anon = await f.caller({});
  const wrongToken = await f.caller({ authorization: 'Bearer nope' });
  const host = await f.caller({ authorization: `SfHost alpha:${f.hostSecret('alpha')}` });
  for (const caller of [anon, wrongToken]) {
    await rejectsWith(caller.state.hosts(), 'UNAUTHORIZED', /admin token/);
    await rejectsWith(caller.state.domains(), 'UNAUTHORIZED');
    await rejectsWith(caller.cluster.seed({ config: seedConfig() }), 'UNAUTHORIZED');
    await rejectsWith(caller.cluster.list(), 'UNAUTHORIZED');
    await rejectsWith(caller.cluster.get({ clusterid: 1 }), 'UNAUTHORIZED');
    await rejectsWith(caller.host.get({ name: 'alpha' }), 'UNAUTHORIZED');
    await rejectsWith(caller.operations.list(), 'UNAUTHORIZED');
    await rejectsWith(caller.operations.get({ id: crypto.randomUUID() }), 'UNAUTHORIZED');
  }
  await rejectsWith(host.state.hosts(), 'FORBIDDEN');
  await rejectsWith(host.cluster.seed({ config: seedConfig() }), 'FORBIDDEN');
});

test('state.hosts and host.get list configured hosts with cpus, RAM, use and no secrets', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  const hosts = await admin.state.hosts();
  assert.deepEqual(
    hosts.map((h) => [h.name, h.state, h.cpus, h.ram, h.cpusUsed]),
    [
      ['alpha', 'online', 4, 8 * GiB, 0],
      ['beta', 'offline', 4, 8 * GiB, 0],
    ],
  );
  assert.ok(!JSON.stringify(hosts).includes('secretHash'), 'no secret hash leaks');
  assert.equal((await admin.host.get({ name: 'alpha' })).kvm, true);
  await rejectsWith(admin.host.get({ name: 'gamma' }), 'HOST_UNKNOWN');
});

test('seed places a master on an online host, reserves it, and rejects bad configs', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  const admin = await f.admin();
  await rejectsWith(admin.cluster.seed({ config: seedConfig() }), 'NO_RESOURCES', /no host is online/);
  await f.online('alpha', 'beta');
  const cluster = await admin.cluster.seed({ config: seedConfig(2, 1024) });
  assert.equal(cluster.clusterid, 1);
  assert.equal(cluster.domains.length, 1);
  assert.equal(cluster.domains[0]!.vmid, 0);
  assert.equal(cluster.domains[0]!.state, 'running');
  assert.deepEqual(f.links.sent[0], {
    host: cluster.domains[0]!.host,
    command: 'domain:boot',
    payload: {
      clusterid: 1,
      vmid: 0,
      vcpus: 2,
      memoryMiB: 1024,
      image: '/guests/test.elf',
      args: '',
      // The master is host number 1 of cluster 1's subnet; its host carries the cluster's router.
      net: { ip: '10.128.1.1', mac: '02:00:00:01:00:00', prefixLength: 24, gateway: '10.128.1.254', dns: [] },
      cluster: {
        network: '10.128.1.0',
        prefixLength: 24,
        gateway: '10.128.1.254',
        vxlanPort: 4789,
        local: cluster.domains[0]!.host,
        hosts: [cluster.domains[0]!.host],
        vms: [{ vmid: 0, host: cluster.domains[0]!.host }],
        router: { whitelist: [], bandwidthCapMbit: 0, inboundPorts: [] },
      },
    },
  });
  assert.deepEqual([cluster.domains[0]!.ip, cluster.domains[0]!.mac], ['10.128.1.1', '02:00:00:01:00:00']);
  const second = await admin.cluster.seed({ config: { ...seedConfig(), name: 'render' } });
  assert.equal(second.clusterid, 2);
  assert.deepEqual(
    (await admin.cluster.list()).map((c) => [c.clusterid, c.state, c.liveDomains]),
    [
      [1, 'running', 1],
      [2, 'running', 1],
    ],
  );
  const used = (await admin.state.hosts()).reduce((sum, h) => sum + h.cpusUsed, 0);
  assert.equal(used, 3);
  await rejectsWith(admin.cluster.seed({ config: { ...seedConfig(), vcpus: 0 } }), 'BAD_INPUT');
  await rejectsWith(admin.cluster.seed({ config: { ...seedConfig(), kernel: null } }), 'BAD_CONFIG', /disk_image or kernel/);
  const hostsBefore = await admin.state.hosts();
  await rejectsWith(
    admin.cluster.seed({ config: { ...seedConfig(), kernel: null, diskImage: '/img/debian.qcow2' } }),
    'BAD_CONFIG',
    /Linux guest/,
  );
  assert.deepEqual(await admin.state.hosts(), hostsBefore, 'a seed that cannot boot gives its reservation back');
  await rejectsWith(admin.cluster.seed({ config: { ...seedConfig(), name: '../etc' } }), 'BAD_INPUT');
  await rejectsWith(admin.cluster.seed({ config: { ...seedConfig(), evil: 1 } as never }), 'BAD_INPUT');
  await rejectsWith(admin.cluster.seed({ config: seedConfig(5) }), 'NO_RESOURCES');
  await rejectsWith(admin.cluster.get({ clusterid: 99 }), 'CLUSTER_UNKNOWN');
});

test('guest calls need a domain, and a host may act only for its own domains', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  const cluster = await admin.cluster.seed({ config: seedConfig() });
  const masterHost = cluster.domains[0]!.host;
  const otherHost = masterHost === 'alpha' ? 'beta' : 'alpha';
  const domain = `${cluster.clusterid}:0`;
  await rejectsWith(admin.ticket.list(), 'BAD_INPUT', /--domain/);
  await rejectsWith((await f.admin('1:7')).ticket.list(), 'DOMAIN_UNKNOWN');
  await rejectsWith((await f.admin('garbage')).ticket.list(), 'BAD_INPUT');
  await rejectsWith((await f.caller({ 'x-snowflock-domain': domain })).ticket.list(), 'UNAUTHORIZED');
  const own = await f.caller({ authorization: `SfHost ${masterHost}:${f.hostSecret(masterHost)}`, 'x-snowflock-domain': domain });
  assert.deepEqual(await own.ticket.list(), { unused: [], outstanding: [] });
  const other = await f.caller({ authorization: `SfHost ${otherHost}:${f.hostSecret(otherHost)}`, 'x-snowflock-domain': domain });
  await rejectsWith(other.ticket.list(), 'FORBIDDEN', /may not act for domain/);
  await rejectsWith(other.cluster.shutdown(), 'FORBIDDEN');
});

test('the ticket lifecycle through every guest procedure, with fork answers and operations recorded', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig(1, 512) });
  const master = await f.admin('1:0');

  const ticket = await master.ticket.request({ nclones: 3 });
  assert.equal(ticket.state, 'unused');
  assert.equal(ticket.granted, 3);
  assert.deepEqual(
    ticket.allocations.map((a) => a.vmid),
    [1, 2, 3],
  );
  assert.ok(ticket.allocations.every((a) => a.processors === 1 && a.memory === 512 * 2 ** 20));
  assert.deepEqual(await master.ticket.list(), { unused: [ticket.ticket], outstanding: [] });
  assert.deepEqual((await master.ticket.info({ ticket: ticket.ticket })).allocations, ticket.allocations);

  const fork = await master.clone.master({ ticket: ticket.ticket });
  assert.deepEqual(fork, { ticket: ticket.ticket, nclones: 3, vmid: 0 });
  const forks = f.links.sent.filter((s) => s.command === 'domain:fork').map((s) => s.payload as HostCommandMap['domain:fork'][0]);
  assert.deepEqual(
    forks.map(({ cluster: _, clones, ...rest }) => ({ ...rest, clones: clones.map((c) => [c.vmid, c.net?.ip, c.net?.mac]) })),
    [
      {
        clusterid: 1,
        vmid: 0,
        ticket: ticket.ticket,
        nclones: 3,
        clones: [
          [1, '10.128.1.2', '02:00:00:01:00:01'],
          [2, '10.128.1.3', '02:00:00:01:00:02'],
          [3, '10.128.1.4', '02:00:00:01:00:03'],
        ],
        serve: null,
      },
    ],
  );
  assert.ok((await admin.state.domains()).every((d) => d.state === 'running'));
  assert.deepEqual(await master.ticket.list(), { unused: [], outstanding: [ticket.ticket] });
  const domains = await admin.state.domains();
  assert.deepEqual(
    domains.map((d) => d.domain),
    ['1:0', '1:1', '1:2', '1:3'],
  );

  // A clone may not act as the master, and the master may not exit like a clone.
  const clone2 = await f.admin('1:2');
  await rejectsWith(clone2.ticket.request({ nclones: 1 }), 'NOT_MASTER');
  await rejectsWith(clone2.clone.merge({ ticket: null }), 'NOT_MASTER');
  await rejectsWith(clone2.cluster.shutdown(), 'NOT_MASTER');
  await rejectsWith(master.clone.exit({ status: 0 }), 'NOT_CLONE');

  // join waits for every clone's exit.
  const joined = master.clone.join({ ticket: ticket.ticket, timeoutMs: 10_000 });
  const hostOf = new Map<number, string>();
  for (const vmid of [1, 2, 3]) {
    const exit = await (await f.admin(`1:${vmid}`)).clone.exit({ status: vmid });
    assert.deepEqual(exit, { clusterid: 1, vmid, status: vmid });
    // The admin's exit comes from outside the VM: its host was told to destroy it.
    const destroy = f.links.sent.filter((s) => s.command === 'domain:destroy').at(-1);
    assert.deepEqual(destroy?.payload, { clusterid: 1, vmid });
    hostOf.set(vmid, destroy!.host);
  }
  assert.deepEqual(await joined, {
    ticket: ticket.ticket,
    clones: 3,
    exits: [1, 2, 3].map((vmid) => ({
      vmid,
      how: 'exited',
      status: vmid,
      reason: `ended by the admin with clone.exit (status ${vmid}): its VM was destroyed on host ${hostOf.get(vmid)}`,
    })),
  });
  assert.equal((await master.ticket.info({ ticket: ticket.ticket })).state, 'merged');

  // Second generation: merged through clone.merge (ic_kill) instead.
  const second = await master.ticket.request({ nclones: 2 });
  await master.clone.master({ ticket: second.ticket });
  const merged = await master.clone.merge({ ticket: null });
  assert.deepEqual(merged, { merged: [second.ticket], clones: 2 });
  assert.deepEqual(
    (await admin.state.domains()).map((d) => d.domain),
    ['1:0'],
  );

  const kinds = (await admin.operations.list({ limit: 100 })).map((o) => o.kind);
  for (const kind of ['cluster.seed', 'ticket.request', 'clone.master', 'clone.exit', 'clone.join', 'clone.merge', 'host.register']) {
    assert.ok(kinds.includes(kind), `an Operation row of kind ${kind}`);
  }
  const op = (await admin.operations.list({ limit: 1, kind: 'clone.merge' }))[0]!;
  assert.equal((await admin.operations.get({ id: op.id })).status, 'succeeded');
  await rejectsWith(admin.operations.get({ id: crypto.randomUUID() }), 'OPERATION_UNKNOWN');
});

test('illegal ticket transitions are refused with TICKET_STATE and leave state unchanged', async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig() });
  // The guest's own calls, through its host's sfld (a token's refused calls stay in the log: they are an operator's).
  const masterHost = (await admin.state.domains())[0]!.host;
  const master = await f.caller({ authorization: `SfHost ${masterHost}:${f.hostSecret(masterHost)}`, 'x-snowflock-domain': '1:0' });
  const a = await master.ticket.request({ nclones: 1 });
  const b = await master.ticket.request({ nclones: 1 });
  await rejectsWith(master.clone.merge({ ticket: a.ticket }), 'TICKET_STATE', /unused/);
  await rejectsWith(master.clone.join({ ticket: a.ticket }), 'TICKET_STATE');
  await master.clone.master({ ticket: a.ticket });
  await rejectsWith(master.clone.master({ ticket: a.ticket }), 'TICKET_STATE', /outstanding/);
  await rejectsWith(master.ticket.dispose({ ticket: a.ticket }), 'TICKET_STATE', /merge/);
  assert.equal((await master.ticket.info({ ticket: b.ticket })).state, 'unused');
  await master.clone.merge({ ticket: a.ticket });
  await rejectsWith(master.clone.master({ ticket: a.ticket }), 'TICKET_STATE', /merged/);
  await rejectsWith(master.clone.merge({ ticket: a.ticket }), 'TICKET_STATE');
  assert.equal((await master.ticket.dispose({ ticket: b.ticket })).state, 'disposed');
  await rejectsWith(master.ticket.dispose({ ticket: b.ticket }), 'TICKET_STATE', /disposed/);
  await rejectsWith(master.clone.master({ ticket: b.ticket }), 'TICKET_STATE');
  await rejectsWith(master.ticket.info({ ticket: crypto.randomUUID() }), 'TICKET_UNKNOWN');
  await rejectsWith(master.ticket.info({ ticket: 'not-a-uuid' }), 'BAD_INPUT');
  // Refusals are counted, not recorded one row each (issue 11: nothing piles up).
  const ops = await admin.operations.list({ limit: 100 });
  assert.ok(!ops.some((o) => o.status === 'failed' && o.error?.startsWith('TICKET_STATE')), 'refusals leave no row');
  assert.ok(((await admin.operations.stats()).guestRefusals.byCode.TICKET_STATE ?? 0) >= 6, 'refusals are counted');
});

test("a cluster cannot see or use another cluster's tickets", async (t) => {
  const f = await masterFixture(twoHosts);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig() });
  await admin.cluster.seed({ config: seedConfig() });
  const one = await f.admin('1:0');
  const two = await f.admin('2:0');
  const ticket = await one.ticket.request({ nclones: 1 });
  await rejectsWith(two.ticket.info({ ticket: ticket.ticket }), 'TICKET_UNKNOWN');
  await rejectsWith(two.clone.master({ ticket: ticket.ticket }), 'TICKET_UNKNOWN');
  await rejectsWith(two.ticket.dispose({ ticket: ticket.ticket }), 'TICKET_UNKNOWN');
  assert.deepEqual(await two.ticket.list(), { unused: [], outstanding: [] });
});

test('min, block and procs behave as the classic API says', async (t) => {
  const f = await masterFixture([
    { name: 'alpha', cpus: 4, ram: 64 * GiB },
    { name: 'beta', cpus: 4, ram: 64 * GiB },
  ]);
  t.after(() => f.close());
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig(2, 256) }); // master: 2 vcpus, 6 cpus left
  const master = await f.admin('1:0');

  // Non-blocking returns what fits (3 clones of 2 vcpus), or fails below min.
  await rejectsWith(master.ticket.request({ nclones: 5, min: 4 }), 'NO_RESOURCES', /only 3 fit/);
  const partial = await master.ticket.request({ nclones: 5 });
  assert.equal(partial.granted, 3);
  await rejectsWith(master.ticket.request({ nclones: 1, min: 2 }), 'BAD_INPUT', /min/);
  await rejectsWith(master.ticket.request({ nclones: 1 }), 'NO_RESOURCES');

  // Blocking waits until resources are released, and gives up at its timeout.
  const started = Date.now();
  await rejectsWith(master.ticket.request({ nclones: 1, block: true, timeoutMs: 300 }), 'NO_RESOURCES', /waited 300 ms/);
  assert.ok(Date.now() - started >= 290);
  const waiting = master.ticket.request({ nclones: 2, block: true, timeoutMs: 10_000 });
  await new Promise((r) => setTimeout(r, 100));
  await master.ticket.dispose({ ticket: partial.ticket });
  assert.equal((await waiting).granted, 2);
  await master.clone.merge({ ticket: null }); // nothing outstanding: merges nothing
  const tickets = await master.ticket.list();
  for (const id of tickets.unused) await master.ticket.dispose({ ticket: id });

  // procs: 5 processors over clones of at most 2 vcpus.
  const procs = await master.ticket.request({ nclones: 5, procs: true });
  assert.equal(procs.granted, 5);
  assert.deepEqual(procs.allocations.map((a) => a.processors).sort(), [1, 2, 2]);
  await rejectsWith(master.ticket.request({ nclones: 0 }), 'BAD_INPUT');
});

test('shutdown --force stops every domain, disposes and merges tickets and frees the hosts', async (t) => {
  const f = await masterFixture(oneHost);
  t.after(() => f.close());
  await f.online('alpha');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig() });
  const master = await f.admin('1:0');
  const out = await master.ticket.request({ nclones: 2 });
  await master.clone.master({ ticket: out.ticket });
  const spare = await master.ticket.request({ nclones: 1 });
  const result = await master.cluster.shutdown({ force: true });
  assert.equal(result.state, 'shutdown');
  assert.ok(result.domains.every((d) => d.state === 'stopped'));
  assert.deepEqual(
    result.tickets.map((x) => [x.ticket, x.state]),
    [
      [out.ticket, 'merged'],
      [spare.ticket, 'disposed'],
    ],
  );
  assert.ok((await admin.state.hosts()).every((h) => h.cpusUsed === 0 && h.ramUsed === 0));
  await rejectsWith(master.ticket.list(), 'DOMAIN_UNKNOWN');
  assert.equal((await admin.state.domains({ all: true })).length, 3);
});

test('over HTTP, the error table sets the status code', async (t) => {
  const { startMasterServer } = await import('../server.ts');
  const f = await masterFixture(twoHosts);
  const server = await startMasterServer(f.svc, 0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    await f.close();
  });
  const port = (server.server.address() as import('node:net').AddressInfo).port;
  const get = (path: string, headers: Record<string, string> = {}) => fetch(`http://127.0.0.1:${port}/trpc/${path}`, { headers });
  assert.equal((await get('state.hosts')).status, 401);
  assert.equal((await get('state.hosts', { authorization: `Bearer ${f.adminToken}` })).status, 200);
  const missing = await get(`cluster.get?input=${encodeURIComponent(JSON.stringify({ clusterid: 9 }))}`, {
    authorization: `Bearer ${f.adminToken}`,
  });
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error.data.sfCode, 'CLUSTER_UNKNOWN');
  // NO_RESOURCES is 409 in the table (tRPC alone would say 412 for PRECONDITION_FAILED).
  const seed = await fetch(`http://127.0.0.1:${port}/trpc/cluster.seed`, {
    method: 'POST',
    headers: { authorization: `Bearer ${f.adminToken}`, 'content-type': 'application/json' },
    body: JSON.stringify({ config: seedConfig() }),
  });
  assert.equal(seed.status, 409);
});

test('idle connections are dropped by the clients first: sfmd keeps them open longer than any client agent does', async (t) => {
  const { startMasterServer } = await import('../server.ts');
  const { CLIENT_IDLE_SOCKET_MS, PinnedAgent } = await import('../../common/pinned-tls.ts');
  const f = await masterFixture(twoHosts);
  const server = await startMasterServer(f.svc, 0, '127.0.0.1');
  t.after(async () => {
    await server.close();
    await f.close();
  });
  // Otherwise a call sent on a connection sfmd is closing fails as if sfmd were down (a clone's clone.exit after
  // a long fork did, now and then, at Node's default 5 s).
  assert.ok(server.server.keepAliveTimeout > CLIENT_IDLE_SOCKET_MS, `sfmd ${server.server.keepAliveTimeout} ms`);
  assert.ok(server.server.headersTimeout > server.server.keepAliveTimeout);
  const agent = new PinnedAgent({ fingerprint: null, source: 'test' });
  t.after(() => agent.destroy());
  assert.equal(agent.options.timeout, CLIENT_IDLE_SOCKET_MS, "the agent's idle sockets go after this long");
});
