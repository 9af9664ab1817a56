// The descriptor hand-off between sflds: a target that asks before the fork (even before the master's sfld heard
// of it) gets the descriptor the moment it is served, or the fork's failure; only the fork's token gets it; only a
// valid descriptor of the served snapshot is accepted; hostile servers and floods of requests are refused.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { test, type TestContext } from 'node:test';
import { VirtualMachine } from '@snowflock/native';
import { cannotRunVms, guestImage, skipIf } from '../../test/guests.ts';
import { fetchHandoff } from './descriptor-fetch.ts';
import { DescriptorShelf, MAX_DESCRIPTOR_BYTES, SERVED_HEADER } from './descriptor-shelf.ts';

async function listen(t: TestContext, handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => {
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return (server.address() as AddressInfo).port;
}

async function serveShelf(t: TestContext, shelf: DescriptorShelf): Promise<number> {
  return listen(t, (req, res) => {
    if (!shelf.handle(req, res)) res.writeHead(418).end();
  });
}

/** Two real forks of one running guest: two valid descriptors with different snapshot ids. */
async function twoForks(t: TestContext) {
  const vm = await VirtualMachine.create({ memoryMiB: 16, image: guestImage('hello'), cmdline: 'interactive=1' });
  t.after(() => vm.destroy());
  await vm.boot();
  const a = await vm.fork();
  const b = await vm.fork();
  const out = { a: { id: a.id, descriptor: a.descriptor() }, b: { id: b.id, descriptor: b.descriptor() } };
  a.release();
  b.release();
  return out;
}

const token = 'ab'.repeat(32);
const key = (n: number) => n.toString(16).padStart(16, '0');

/** Resolves once `shelf` holds `n` requests (they are on their way over loopback). */
async function held(shelf: DescriptorShelf, n: number): Promise<void> {
  for (let i = 0; i < 200 && shelf.waiting !== n; i++) await sleep(5);
  assert.equal(shelf.waiting, n);
}

test('a target that asks first gets the descriptor when the fork is served, or the reason it failed', async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const forks = await twoForks(t);
  const shelf = new DescriptorShelf();
  const port = await serveShelf(t, shelf);
  const at = (k: string, tk = token) => ({ host: 'master', port, key: k, token: tk });
  const servedA = { descriptor: forks.a.descriptor, snapshotId: forks.a.id, memserverPort: 40000, group: '239.1.2.3:40000' };

  // Asked before sfmd's fork command reached the master's sfld: held, then held for the fork, then answered.
  const early = fetchHandoff(at(key(1)), '127.0.0.1');
  const wrongEarly = fetchHandoff(at(key(1), '00'.repeat(32)), '127.0.0.1');
  await held(shelf, 2);
  shelf.expect(key(1), token, '1:0');
  await assert.rejects(wrongEarly, { code: 'UNAVAILABLE', message: /HTTP 403: the descriptor needs the token/ });
  const during = fetchHandoff(at(key(1)), '127.0.0.1');
  await held(shelf, 2);
  shelf.offer(key(1), servedA);
  for (const got of await Promise.all([early, during])) {
    assert.deepEqual(got, servedA);
  }
  assert.equal(shelf.waiting, 0);
  // Served: a late target gets it at once; a wrong token never does.
  assert.deepEqual(await fetchHandoff(at(key(1)), '127.0.0.1'), servedA);
  await assert.rejects(fetchHandoff(at(key(1), '00'.repeat(32)), '127.0.0.1'), { message: /HTTP 403/ });

  // A stale or foreign descriptor (not the snapshot the header says is served) is refused.
  shelf.expect(key(2), token, '1:0');
  shelf.offer(key(2), { ...servedA, snapshotId: forks.b.id });
  await assert.rejects(fetchHandoff(at(key(2)), '127.0.0.1'), {
    code: 'BAD_INPUT',
    message: new RegExp(`snapshot ${forks.a.id}, but serves ${forks.b.id}`),
  });

  // The fork failed: waiting targets and later ones learn why.
  shelf.expect(key(3), token, '1:0');
  const failing = fetchHandoff(at(key(3)), '127.0.0.1');
  await held(shelf, 1);
  shelf.refuse(key(3), 'the fork of 1:0 failed: no memory');
  await assert.rejects(failing, { code: 'UNAVAILABLE', message: /HTTP 410: the fork of 1:0 failed: no memory/ });
  await assert.rejects(fetchHandoff(at(key(3)), '127.0.0.1'), { message: /HTTP 410: the fork of 1:0 failed/ });

  // The master ended: what it served goes, and a fork it never served fails its waiting targets.
  shelf.expect(key(4), token, '1:0');
  const orphan = fetchHandoff(at(key(4)), '127.0.0.1');
  await held(shelf, 1);
  shelf.withdrawOwner('1:0');
  await assert.rejects(orphan, { message: /HTTP 410: the master 1:0 ended before its fork was served/ });
  assert.equal(shelf.size, 0);
  // A target that gives up frees its place.
  await assert.rejects(fetchHandoff(at(key(1)), '127.0.0.1', 200), { message: /not served within 200 ms/ });
  await held(shelf, 0);

  // Withdrawn by snapshot (its memserver stopped): only that fork's hand-off goes.
  shelf.expect(key(5), token, '2:0');
  shelf.offer(key(5), servedA);
  shelf.expect(key(6), token, '2:0');
  shelf.offer(key(6), { ...servedA, descriptor: forks.b.descriptor, snapshotId: forks.b.id });
  shelf.withdraw(forks.a.id);
  assert.equal(shelf.size, 1);
  assert.equal((await fetchHandoff(at(key(6)), '127.0.0.1')).snapshotId, forks.b.id);
});

test('unknown hand-offs wait only so long, floods are refused, and hostile servers are refused with the reason', async (t) => {
  const shelf = new DescriptorShelf({ earlyWaitMs: 150, maxWaiting: 2 });
  const port = await serveShelf(t, shelf);
  const at = { host: 'master', port, key: key(9), token };
  // Never announced: 404 after the wait.
  await assert.rejects(fetchHandoff(at, '127.0.0.1'), { message: /HTTP 404: no fork with hand-off 0+9 reached this host within 150 ms/ });
  // Two held at once at most: a third is told to come back, and the first two still get their answer.
  const first = fetchHandoff({ ...at, key: key(10) }, '127.0.0.1');
  const second = fetchHandoff({ ...at, key: key(11) }, '127.0.0.1');
  await held(shelf, 2);
  await assert.rejects(fetchHandoff({ ...at, key: key(12) }, '127.0.0.1'), { message: /HTTP 503: 2 descriptor requests are waiting/ });
  await assert.rejects(first, { message: /HTTP 404/ });
  await assert.rejects(second, { message: /HTTP 404/ });
  assert.equal(shelf.waiting, 0);

  // The shelf answers nothing but its own path, and refuses other verbs and malformed tokens.
  shelf.expect(key(13), token, '1:0');
  const status = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${port}${path}`, init).then((r) => r.status);
  assert.equal(await status('/healthz'), 418);
  assert.equal(await status(`/handoffs/${key(13)}/x`), 418);
  assert.equal(await status('/handoffs/../../etc/passwd'), 418);
  assert.equal(await status(`/handoffs/${key(13)}`, { method: 'POST' }), 405);
  assert.equal(await status(`/handoffs/${key(13)}`, { headers: { authorization: 'Bearer short' } }), 403);
  assert.equal(await status(`/handoffs/${key(13)}`), 403);

  // Hostile or broken servers in place of the master's sfld.
  const serve = async (handler: http.RequestListener) => ({ ...at, port: await listen(t, handler) });
  const header = { [SERVED_HEADER]: JSON.stringify({ snapshotId: key(1), memserverPort: 40000, group: null }) };
  const huge = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': MAX_DESCRIPTOR_BYTES + 1, ...header });
    res.end();
  });
  await assert.rejects(fetchHandoff(huge, '127.0.0.1'), { code: 'BAD_INPUT', message: /at most/ });
  const truncated = await serve((req, res) => {
    res.writeHead(200, { 'content-length': 4096, ...header });
    res.write(Buffer.alloc(100));
    req.socket.destroy();
  });
  await assert.rejects(fetchHandoff(truncated, '127.0.0.1'), { code: 'UNAVAILABLE' });
  const garbage = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': 64, ...header });
    res.end(Buffer.alloc(64, 0x5a));
  });
  await assert.rejects(fetchHandoff(garbage, '127.0.0.1'), { code: 'BAD_INPUT', message: /not a descriptor/ });
  for (const bad of [undefined, 'not json', JSON.stringify({ snapshotId: key(1), memserverPort: 0, group: null })]) {
    const unsaid = await serve((_req, res) => {
      res.writeHead(200, { 'content-length': 64, ...(bad === undefined ? {} : { [SERVED_HEADER]: bad }) });
      res.end(Buffer.alloc(64));
    });
    await assert.rejects(fetchHandoff(unsaid, '127.0.0.1'), {
      code: 'BAD_INPUT',
      message: /did not say where the fork's pages are served/,
    });
  }
  const chatty = await serve((_req, res) => {
    res.writeHead(500);
    res.end('x'.repeat(100_000));
  });
  await assert.rejects(fetchHandoff(chatty, '127.0.0.1'), { code: 'UNAVAILABLE' });
  const silent = await serve(() => {
    /* never answers */
  });
  await assert.rejects(fetchHandoff(silent, '127.0.0.1', 300), { code: 'UNAVAILABLE', message: /within 300 ms/ });
  await assert.rejects(fetchHandoff({ ...at, port: 1 }, '127.0.0.1'), { code: 'UNAVAILABLE', message: /cannot get/ });
});
