// Descriptor transfer between sflds: only the fork's token gets a descriptor, only a valid descriptor of
// the snapshot asked for is accepted, and hostile servers (oversized, truncated, foreign) are refused.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test, type TestContext } from 'node:test';
import { VirtualMachine } from '@snowflock/native';
import { cannotRunVms, guestImage, skipIf } from '../../test/guests.ts';
import { DescriptorShelf, fetchDescriptor, MAX_DESCRIPTOR_BYTES } from './descriptor-shelf.ts';

async function listen(t: TestContext, handler: http.RequestListener): Promise<number> {
  const server = http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.after(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
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

test('a shelved descriptor goes only to its token, and arrives checked', async (t) => {
  if (skipIf(t, cannotRunVms())) return;
  const forks = await twoForks(t);
  const shelf = new DescriptorShelf();
  const token = shelf.offer(forks.a.id, forks.a.descriptor, '1:0');
  const port = await listen(t, (req, res) => {
    if (!shelf.handle(req, res)) res.writeHead(404).end();
  });
  const at = { host: 'master', port, snapshotId: forks.a.id, token };
  assert.deepEqual(await fetchDescriptor(at, '127.0.0.1'), forks.a.descriptor);

  await assert.rejects(fetchDescriptor({ ...at, token: '00'.repeat(32) }, '127.0.0.1'), { code: 'UNAVAILABLE', message: /HTTP 403/ });
  await assert.rejects(fetchDescriptor({ ...at, snapshotId: forks.b.id }, '127.0.0.1'), { message: /HTTP 404/ });
  // A stale answer (the descriptor of another fork under the asked-for id) is refused.
  const staleToken = shelf.offer(forks.b.id, forks.a.descriptor, '1:0');
  await assert.rejects(fetchDescriptor({ ...at, snapshotId: forks.b.id, token: staleToken }, '127.0.0.1'), {
    code: 'BAD_INPUT',
    message: new RegExp(`snapshot ${forks.a.id}, not ${forks.b.id}`),
  });

  // The master ended: its descriptors are gone.
  shelf.withdrawOwner('1:0');
  assert.equal(shelf.size, 0);
  await assert.rejects(fetchDescriptor(at, '127.0.0.1'), { message: /HTTP 404/ });
});

test('hostile or broken descriptor servers are refused with the reason', async (t) => {
  const id = '0123456789abcdef';
  const at = { host: 'master', port: 0, snapshotId: id, token: 'ab'.repeat(32) };
  const serve = async (handler: http.RequestListener) => ({ ...at, port: await listen(t, handler) });

  const huge = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': MAX_DESCRIPTOR_BYTES + 1 });
    res.end();
  });
  await assert.rejects(fetchDescriptor(huge, '127.0.0.1'), { code: 'BAD_INPUT', message: /at most/ });

  const truncated = await serve((req, res) => {
    res.writeHead(200, { 'content-length': 4096 });
    res.write(Buffer.alloc(100));
    req.socket.destroy();
  });
  await assert.rejects(fetchDescriptor(truncated, '127.0.0.1'), { code: 'UNAVAILABLE' });

  const garbage = await serve((_req, res) => {
    res.writeHead(200, { 'content-length': 64 });
    res.end(Buffer.alloc(64, 0x5a));
  });
  await assert.rejects(fetchDescriptor(garbage, '127.0.0.1'), { code: 'BAD_INPUT', message: /not a descriptor/ });

  const silent = await serve(() => {
    /* never answers */
  });
  await assert.rejects(fetchDescriptor(silent, '127.0.0.1', 300), { code: 'UNAVAILABLE', message: /within 300 ms/ });

  await assert.rejects(fetchDescriptor({ ...at, port: 1 }, '127.0.0.1'), { code: 'UNAVAILABLE', message: /cannot fetch/ });

  // The shelf itself answers nothing but its own path, and refuses other verbs and malformed tokens.
  const shelf = new DescriptorShelf();
  shelf.offer(id, Buffer.from('x'), '1:0');
  const port = await listen(t, (req, res) => {
    if (!shelf.handle(req, res)) res.writeHead(418).end();
  });
  const status = (path: string, init: RequestInit = {}) => fetch(`http://127.0.0.1:${port}${path}`, init).then((r) => r.status);
  assert.equal(await status('/healthz'), 418);
  assert.equal(await status(`/descriptors/${id}/x`), 418);
  assert.equal(await status(`/descriptors/${id}`, { method: 'POST' }), 405);
  assert.equal(await status(`/descriptors/${id}`, { headers: { authorization: 'Bearer short' } }), 403);
  assert.equal(await status(`/descriptors/${id}`), 403);
});
