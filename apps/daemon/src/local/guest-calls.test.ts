// The hypercall bridge against a real sfmd over HTTP: every seed-API call number maps to its tRPC
// procedure with this host's credentials for the calling domain, and every failure becomes the
// matching negative SF_E* status — never an exception that would leave a vCPU waiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SfExitHow, SfHypercall, SfStatus, type GuestCall } from '@snowflock/native';
import { createLogger } from '../common/logger.ts';
import { createSfmdClient } from '../common/sfmd-client.ts';
import { hostSecretPath, snowflockPaths } from '../common/paths.ts';
import { readSecretFile } from '../common/secret-file.ts';
import { startSfmd } from '../master/main.ts';
import { registerHost } from '../master/hosts.ts';
import { RecordingHostLinks, registration, seedConfig, tempHome } from '../../test/support.ts';
import { answerGuestCall } from './guest-calls.ts';

let nextId = 1n;
function call(nr: number, request: Partial<GuestCall['request']> = {}): GuestCall {
  return {
    id: nextId++,
    nr,
    name: 'TICKET_REQUEST',
    vcpu: 0,
    request: { nr, flags: 0, procs: false, block: false, nclones: 0, min: 0, status: 0, timeoutMs: 0, ticket: '', ...request },
  };
}

test('every seed-API hypercall reaches its procedure and answers in the guest reply', { timeout: 60_000 }, async (t) => {
  const home = tempHome('sf-bridge-');
  writeFileSync(
    path.join(home, 'sfmd.cfg'),
    "cluster_hosts = [{'host': 'h1', 'cpus': 4, 'RAM': 8 << 30}, {'host': 'h2', 'cpus': 4, 'RAM': 8 << 30}]\nclusterid = 1\n",
  );
  const log = createLogger('test');
  log.level = 'silent';
  const sfmd = await startSfmd({ home, port: 0, listen: '127.0.0.1', log, timing: { offlineAfterMs: 600_000 } });
  t.after(async () => {
    await sfmd.stop();
    rmSync(home, { recursive: true, force: true });
  });
  sfmd.svc.links = new RecordingHostLinks(); // no sfld here: boots and destroys are answered as one would
  for (const h of ['h1', 'h2']) await registerHost(sfmd.svc, h, registration());
  const url = `https://127.0.0.1:${sfmd.port}`;
  const trust = { fingerprint: sfmd.fingerprint, source: 'the test' };
  const admin = createSfmdClient({ url, token: sfmd.adminToken, trust });
  const seeded = await admin.cluster.seed.mutate({ config: seedConfig() });
  const home1 = seeded.domains[0]!.host;
  const other = home1 === 'h1' ? 'h2' : 'h1';
  const secret = (h: string) => readSecretFile(hostSecretPath(snowflockPaths(home), h))!;
  const as = (domain: string, host = home1) => createSfmdClient({ url, host: { name: host, secret: secret(host) }, domain, trust });
  const master = (c: GuestCall) => answerGuestCall(as('1:0'), url, c);

  const req = await master(call(SfHypercall.TICKET_REQUEST, { nclones: 2 }));
  assert.equal(req.status, SfStatus.OK);
  assert.equal(req.count, 2);
  const ticket = req.ticket!;
  assert.match(ticket, /^[0-9a-f-]{36}$/);
  assert.deepEqual(await master(call(SfHypercall.TICKET_LIST)), { status: 0, count: 1, nunused: 1, noutstanding: 0, tickets: [ticket] });
  const info = await master(call(SfHypercall.TICKET_INFO, { ticket }));
  assert.deepEqual(info.alloc, [
    { vmid: 1, processors: 1 },
    { vmid: 2, processors: 1 },
  ]);
  assert.deepEqual(await master(call(SfHypercall.CLONE_MASTER, { ticket })), { status: 0, count: 2, vmid: 0, ticket });

  // Clones exit (IC_EXIT) with their small results, then the master joins (IC_JOIN) and gets them back.
  const join = master(call(SfHypercall.CLONE_JOIN, { ticket, timeoutMs: 10_000 }));
  const expected = [];
  for (const vmid of [1, 2]) {
    const clone = await sfmd.svc.db.domain.findFirstOrThrow({ where: { vmid, ticketId: ticket }, include: { host: true } });
    assert.equal(clone.state, 'running');
    const reply = await answerGuestCall(as(`1:${vmid}`, clone.host.name), url, call(SfHypercall.CLONE_EXIT, { status: 40 + vmid }));
    assert.equal(reply.status, SfStatus.OK);
    expected.push({ vmid, status: 40 + vmid, how: SfExitHow.EXITED });
  }
  assert.deepEqual(await join, { status: 0, count: 2, exits: expected });

  // A second generation merged with MERGE_ALL (empty ticket).
  const second = (await master(call(SfHypercall.TICKET_REQUEST, { nclones: 1 }))).ticket!;
  await master(call(SfHypercall.CLONE_MASTER, { ticket: second }));
  assert.deepEqual(await master(call(SfHypercall.CLONE_MERGE, { ticket: '' })), { status: 0, count: 1 });
  const third = (await master(call(SfHypercall.TICKET_REQUEST, { nclones: 1 }))).ticket!;
  assert.deepEqual(await master(call(SfHypercall.TICKET_DISPOSE, { ticket: third })), { status: 0 });

  // Failures come back as statuses with a message.
  const again = await master(call(SfHypercall.TICKET_DISPOSE, { ticket: third }));
  assert.equal(again.status, -SfStatus.ESTATE);
  assert.match(again.errmsg!, /^TICKET_STATE: /);
  assert.equal((await master(call(SfHypercall.TICKET_INFO, { ticket: '00000000-0000-4000-8000-000000000000' }))).status, -SfStatus.ETICKET);
  assert.equal((await master(call(SfHypercall.TICKET_INFO, { ticket: 'garbage' }))).status, -SfStatus.EINVAL);
  assert.equal((await master(call(SfHypercall.TICKET_REQUEST, { nclones: 1_000_000 }))).status, -SfStatus.EINVAL);
  assert.equal((await master(call(SfHypercall.TICKET_REQUEST, { nclones: 50, min: 50 }))).status, -SfStatus.ENORES);
  assert.equal((await master(call(SfHypercall.CLONE_EXIT))).status, -SfStatus.ENOTCLONE);
  assert.equal((await master(call(99))).status, -SfStatus.ENOSYS);
  const spoofed = await answerGuestCall(as('1:0', other), url, call(SfHypercall.TICKET_LIST));
  assert.equal(spoofed.status, -SfStatus.EPERM, 'another host cannot act for this domain');
  const down = await answerGuestCall(
    createSfmdClient({ url: 'http://127.0.0.1:1', host: { name: home1, secret: secret(home1) }, domain: '1:0' }),
    'http://127.0.0.1:1',
    call(SfHypercall.TICKET_LIST),
  );
  assert.equal(down.status, -SfStatus.EUNAVAIL);

  assert.deepEqual(await master(call(SfHypercall.CLUSTER_SHUTDOWN)), { status: 0 });
  assert.equal((await admin.cluster.get.query({ clusterid: 1 })).state, 'shutdown');
});

test('IC_JOIN and a blocking ticket request wait past the HTTP client time limit, like waitpid', { timeout: 60_000 }, async (t) => {
  // Every HTTP request of the clients made below gives up after 600 ms; the waits below last over 2 s.
  const before = process.env.SNOWFLOCK_HTTP_TIMEOUT_MS;
  process.env.SNOWFLOCK_HTTP_TIMEOUT_MS = '600';
  t.after(() => {
    if (before === undefined) delete process.env.SNOWFLOCK_HTTP_TIMEOUT_MS;
    else process.env.SNOWFLOCK_HTTP_TIMEOUT_MS = before;
  });
  const home = tempHome('sf-longwait-');
  writeFileSync(path.join(home, 'sfmd.cfg'), "cluster_hosts = [{'host': 'h1', 'cpus': 2, 'RAM': 8 << 30}]\nclusterid = 1\n");
  const log = createLogger('test');
  log.level = 'silent';
  const sfmd = await startSfmd({ home, port: 0, listen: '127.0.0.1', log, timing: { offlineAfterMs: 600_000 } });
  t.after(async () => {
    await sfmd.stop();
    rmSync(home, { recursive: true, force: true });
  });
  sfmd.svc.links = new RecordingHostLinks();
  await registerHost(sfmd.svc, 'h1', registration());
  const url = `https://127.0.0.1:${sfmd.port}`;
  const trust = { fingerprint: sfmd.fingerprint, source: 'the test' };
  await createSfmdClient({ url, token: sfmd.adminToken, trust }).cluster.seed.mutate({ config: seedConfig() });
  const secret = readSecretFile(hostSecretPath(snowflockPaths(home), 'h1'))!;
  const as = (domain: string) => createSfmdClient({ url, host: { name: 'h1', secret }, domain, trust });
  const master = (c: GuestCall) => answerGuestCall(as('1:0'), url, c);
  const ticket = (await master(call(SfHypercall.TICKET_REQUEST, { nclones: 1 }))).ticket!;
  await master(call(SfHypercall.CLONE_MASTER, { ticket }));

  // The limit is real: a join sent as one plain request is cut by it.
  await assert.rejects(as('1:0').clone.join.mutate({ ticket }), /aborted|timeout/i);

  // The master joins, and asks for one more clone blocking: the host is full until the clone ends.
  const started = Date.now();
  let joined: number | null = null;
  let granted: number | null = null;
  const join = master(call(SfHypercall.CLONE_JOIN, { ticket })).then((r) => {
    joined = Date.now() - started;
    return r;
  });
  const blocked = master(call(SfHypercall.TICKET_REQUEST, { nclones: 1, block: true })).then((r) => {
    granted = Date.now() - started;
    return r;
  });
  await new Promise((r) => setTimeout(r, 2500));
  assert.deepEqual([joined, granted], [null, null], 'both still waiting after 4 times the HTTP limit');
  assert.equal((await answerGuestCall(as('1:1'), url, call(SfHypercall.CLONE_EXIT, { status: 9 }))).status, SfStatus.OK);
  assert.deepEqual(await join, { status: 0, count: 1, exits: [{ vmid: 1, status: 9, how: SfExitHow.EXITED }] });
  const grant = await blocked;
  assert.equal(grant.status, SfStatus.OK, grant.errmsg);
  assert.equal(grant.count, 1);
  assert.ok(joined! >= 2500 && granted! >= 2500, `joined after ${joined} ms, granted after ${granted} ms`);
});
