// sfmd's socket.io hub with a real sfld in-process: registration with real host capabilities,
// metrics relayed to an authenticated dashboard, and hostile clients refused or ignored.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { io, type Socket } from 'socket.io-client';
import { SfError } from '../src/common/errors.ts';
import type { HostMetricsEvent } from '../src/common/wire.ts';
import { soloFetch, soloSnowflock, soloSocketOptions } from './in-process.ts';
import { waitUntil } from './cli-runner.ts';

function connect(url: string, auth: Record<string, unknown>): Socket {
  return io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true, ...soloSocketOptions(url) });
}

function connectError(socket: Socket): Promise<string> {
  return new Promise((resolve) => socket.once('connect_error', (err) => resolve(err.message)));
}

test('a real sfld registers, and its metrics reach an authenticated dashboard', { timeout: 30_000 }, async (t) => {
  const solo = await soloSnowflock(t, 'sf-hub-', { sfld: true });
  const { sfmd, url } = solo;
  const sfld = solo.sfld!;
  const sockets: Socket[] = [];
  t.after(async () => {
    for (const s of sockets) s.close();
  });
  const host = await sfmd.svc.db.host.findUniqueOrThrow({ where: { name: 'solo' } });
  assert.equal(host.state, 'online');
  const caps = JSON.parse(host.capabilities);
  assert.equal(caps.cpus, os.availableParallelism());
  assert.equal(typeof caps.kvm.available, 'boolean');
  assert.ok(Array.isArray(caps.userfaultfd.features));

  const dash = connect(`${url}/dash`, { token: sfmd.adminToken });
  sockets.push(dash);
  const [metrics] = await new Promise<HostMetricsEvent[]>((resolve) => dash.once('host:metrics-batch', resolve));
  assert.equal(metrics!.host, 'solo');
  assert.ok(metrics!.memTotal > 0 && metrics!.cpuUtilization >= 0 && metrics!.cpuUtilization <= 1);

  const intruder = connect(`${url}/dash`, { token: 'wrong' });
  sockets.push(intruder);
  assert.match(await connectError(intruder), /API token/);

  // The sfld checks what sfmd sends: a malformed command is answered BAD_INPUT naming the field, not a crash.
  const fork = { clusterid: 1, vmid: 0, ticket: 'x', nclones: 1, clones: [{ vmid: 0 }], serve: null };
  await assert.rejects(
    sfmd.svc.links.command('solo', 'domain:fork', fork),
    (err: unknown) => err instanceof SfError && err.code === 'BAD_INPUT' && /malformed domain:fork: clones\.0\.vmid: /.test(err.message),
  );
  assert.ok(sfld.isRegistered(), 'still connected and registered');
});

test('hostile sfld clients: bad secrets are refused, garbage registrations and metrics are rejected', { timeout: 30_000 }, async (t) => {
  const { sfmd, url, secret } = await soloSnowflock(t, 'sf-hub-');
  const sockets: Socket[] = [];
  t.after(async () => {
    for (const s of sockets) s.close();
  });
  for (const auth of [{}, { host: 'solo', secret: 'guess' }, { host: 'nobody', secret: 'x' }, { host: ['solo'], secret: 1 }]) {
    const s = connect(`${url}/hosts`, auth);
    sockets.push(s);
    assert.match(await connectError(s), /secret|must send/);
  }
  const root = connect(url, {});
  sockets.push(root);
  assert.match(await connectError(root), /connect to \/hosts/);

  const sfld = connect(`${url}/hosts`, { host: 'solo', secret });
  sockets.push(sfld);
  await new Promise<void>((resolve) => sfld.once('connect', () => resolve()));
  const garbage = [null, 42, 'x'.repeat(1000), { cpus: -1 }, { version: 'x', cpus: 1e12 }];
  for (const payload of garbage) {
    const reply = await sfld.timeout(5000).emitWithAck('host:register', payload);
    assert.equal(reply.ok, false);
    assert.equal(reply.error.code, 'BAD_INPUT');
  }
  const named = await sfld.timeout(5000).emitWithAck('host:register', { version: 'x', cpus: 1e12 });
  assert.match(named.error.message, /^malformed registration from solo: cpus: /, 'the refusal names the field');
  sfld.emit('host:metrics', { cpuUtilization: 'lots' });
  sfld.emit('host:heartbeat', 'garbage');
  await new Promise((r) => setTimeout(r, 200));
  const host = await sfmd.svc.db.host.findUniqueOrThrow({ where: { name: 'solo' } });
  assert.equal(host.state, 'offline', 'never registered');
  assert.equal(sfmd.svc.metrics.size, 0, 'malformed metrics are dropped');
  const { loopStallMaxMs, loopStalls, ...health } = await (await soloFetch(`${url}/healthz`)).json();
  assert.deepEqual(health, { ok: true, version: '0.1.0', hostsOnline: 0, hostsTotal: 1, guestRefusals: { total: 0, byCode: {} } });
  assert.ok(typeof loopStallMaxMs === 'number' && typeof loopStalls === 'number', 'sfmd says how long its own loop stalled');
  const missing = await soloFetch(`${url}/nope`);
  assert.equal(missing.status, 404);

  // sfmd checks what an sfld answers against the wire contract before anything is recorded from it.
  sfld.on('host:ping', (_ping: unknown, ack: (r: unknown) => void) => ack({ ok: true, value: { receivedAt: 'soon' } }));
  sfld.on('domain:destroy', (_addr: unknown, ack: (r: unknown) => void) => ack({ ok: false, error: { code: 'NOPE' } }));
  sfld.on('domain:boot', (_spec: unknown, ack: (r: unknown) => void) => ack('garbage'));
  const refused = (code: string, pattern: RegExp) => (err: unknown) =>
    err instanceof SfError && err.code === code && pattern.test(err.message);
  await assert.rejects(
    sfmd.svc.links.command('solo', 'host:ping', { sentAt: Date.now() }),
    refused('INTERNAL', /^host solo: malformed answer to host:ping: receivedAt: .*same version as sfmd/),
  );
  await assert.rejects(
    sfmd.svc.links.command('solo', 'domain:destroy', { clusterid: 1, vmid: 0 }),
    refused('INTERNAL', /domain:destroy failed without a reason/),
  );
  const boot = { clusterid: 1, vmid: 0, vcpus: 1, memoryMiB: 64, image: '/x.elf', args: '' };
  await assert.rejects(sfmd.svc.links.command('solo', 'domain:boot', boot), refused('INTERNAL', /answered domain:boot with garbage/));
});

test("one host's domain state reports apply in the order sent: a fork's pause then resume leaves the domain running", {
  timeout: 30_000,
}, async (t) => {
  const { sfmd, url, secret } = await soloSnowflock(t, 'sf-hub-order-');
  const sfld = connect(`${url}/hosts`, { host: 'solo', secret });
  t.after(async () => {
    sfld.close();
  });
  await new Promise<void>((resolve) => sfld.once('connect', () => resolve()));
  const db = sfmd.svc.db;
  const host = await db.host.findUniqueOrThrow({ where: { name: 'solo' } });
  const cluster = await db.cluster.create({ data: { clusterid: 7, seedConfig: '{}' } });
  const domain = await db.domain.create({
    data: { clusterId: cluster.id, vmid: 0, hostId: host.id, vcpus: 1, memory: 1n << 26n, state: 'running' },
  });
  for (let i = 0; i < 20; i++) {
    sfld.emit('domain:state', { clusterid: 7, vmid: 0, state: i % 2 === 0 ? 'paused' : 'running', exitCode: null, reason: null });
  }
  // Applied one after another they end with the last one sent; applied at once, any one may land last.
  await new Promise((r) => setTimeout(r, 1000));
  assert.equal((await db.domain.findUniqueOrThrow({ where: { id: domain.id } })).state, 'running');

  // Malformed reports are dropped: the record stays as it was, and later good reports still apply.
  for (const bad of [
    { clusterid: 7, vmid: 0, state: 'exploded', exitCode: null, reason: null },
    { clusterid: 7, vmid: 0, state: 'exited', exitCode: 'zero', reason: null },
    { clusterid: 7, vmid: 0, state: 'exited' },
    'exited',
  ])
    sfld.emit('domain:state', bad);
  sfld.emit('domain:figures', { sampledAt: 'now', domains: [{ clusterid: 7, vmid: 0 }] });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal((await db.domain.findUniqueOrThrow({ where: { id: domain.id } })).state, 'running', 'malformed reports change nothing');
  sfld.emit('domain:state', { clusterid: 7, vmid: 0, state: 'paused', exitCode: null, reason: null });
  await waitUntil(
    'the good report',
    5000,
    async () => (await db.domain.findUniqueOrThrow({ where: { id: domain.id } })).state === 'paused',
  );
});
