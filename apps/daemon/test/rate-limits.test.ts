// sfmd's rate limits against floods over loopback, on a real server: callers without credentials are
// refused 429 RATE_LIMITED (with retry-after and nothing internal) while the admin and the sfld on the same
// address go on; failed credentials meet a strict limit past which none is checked; socket.io handshakes,
// sockets waiting to authenticate and events per socket are bounded, and a real sfld stays connected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { io, Manager, type Socket } from 'socket.io-client';
import { clientError, createSfmdClient } from '../src/common/sfmd-client.ts';
import { exitCodeFor, type SfError } from '../src/common/errors.ts';
import { guestStatusFor } from '../src/local/guest-calls.ts';
import { SfStatus } from '@snowflock/native';
import { MAX_PENDING_SOCKETS_PER_ADDRESS } from '../src/master/socket-limits.ts';
import { soloFetch, soloSnowflock, soloSocketOptions } from './in-process.ts';
import { waitUntil } from './cli-runner.ts';

/** A refusal for a busy moment: a turn of sfmd's event loop spent its budget on calls (turn-budget.ts). */
const BUSY = /sfmd is busy: it has served calls for \d+ ms without a pause \(20 ms at most/;

// What must never reach a client: ORM dumps, source paths, stack frames.
const INTERNAL_TEXT = [/prisma/i, /\/work\//, /node_modules/, /\n\s+at /, / at [\w.<>]+ \(/, /\.ts:\d/, /invocation/i];

interface Answer {
  status: number;
  retryAfter: string | null;
  text: string;
}

async function send(url: string, headers: Record<string, string> = {}, init: RequestInit = {}): Promise<Answer> {
  const res = await soloFetch(url, { ...init, headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), text: await res.text() };
}

/** A 429 of the table: RATE_LIMITED, retry-after in whole seconds, a message naming the limit, nothing internal. */
function assertRateLimited(a: Answer, limit: RegExp): void {
  assert.equal(a.status, 429, a.text.slice(0, 300));
  assert.match(a.retryAfter ?? '', /^[1-9]\d*$/, 'retry-after in whole seconds');
  const body = JSON.parse(a.text) as { error: { message: string; data: { sfCode: string } } };
  assert.equal(body.error.data.sfCode, 'RATE_LIMITED');
  assert.match(body.error.message, limit);
  assert.match(body.error.message, new RegExp(`retry in ${a.retryAfter} s|not checked for ${a.retryAfter} s`));
  for (const pattern of INTERNAL_TEXT) assert.doesNotMatch(a.text, pattern);
}

/** Runs `fn` in `n` loops at once until `count` calls were made; returns every answer. */
async function flood(n: number, count: number, fn: () => Promise<Answer>): Promise<Answer[]> {
  const answers: Answer[] = [];
  let started = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (started++ < count) answers.push(await fn());
    }),
  );
  return answers;
}

/** Runs `fn` over and over until `done` settles; returns every answer. */
async function alongside(done: Promise<unknown>, fn: () => Promise<Answer>): Promise<Answer[]> {
  let finished = false;
  void done.finally(() => {
    finished = true;
  });
  const answers: Answer[] = [];
  while (!finished) answers.push(await fn());
  return answers;
}

function connect(url: string, auth: Record<string, unknown>): Socket {
  return io(url, { auth, transports: ['websocket'], reconnection: false, forceNew: true, ...soloSocketOptions(url) });
}

function connected(socket: Socket): Promise<void> {
  return new Promise((resolve, reject) => {
    socket.once('connect', () => resolve());
    socket.once('connect_error', reject);
  });
}

type HandshakeError = Error & { data?: { code?: string; retryAfterS?: number } };
function refused(socket: Socket): Promise<HandshakeError> {
  return new Promise((resolve) => socket.once('connect_error', resolve));
}

/** Records the warnings and info lines sfmd logs from now on (its logger is silent in tests). */
function logSpy(log: { warn: unknown; info: unknown }) {
  const lines: Array<{ level: string; obj: unknown; msg: unknown }> = [];
  for (const level of ['warn', 'info'] as const) {
    const original = log[level] as (...args: unknown[]) => void;
    log[level] = function (this: unknown, ...args: unknown[]) {
      lines.push({ level, obj: args[0], msg: args[1] });
      return original.apply(this, args);
    };
  }
  return lines;
}

/** engine.io's first request (polling): a socket that has joined no namespace yet. Answers its sid or the refusal. */
async function engineHandshake(url: string): Promise<{ status: number; sid: string | null; text: string }> {
  const res = await soloFetch(`${url}/socket.io/?EIO=4&transport=polling`);
  const text = await res.text();
  return { status: res.status, sid: res.ok ? (JSON.parse(text.slice(1)) as { sid: string }).sid : null, text };
}

async function engineClose(url: string, sid: string): Promise<void> {
  await (await soloFetch(`${url}/socket.io/?EIO=4&transport=polling&sid=${sid}`, { method: 'POST', body: '1' })).text();
}

test('a flood without credentials from loopback gets 429 RATE_LIMITED, while the admin and the sfld there go on', {
  timeout: 20_000,
}, async (t) => {
  const { url, sfmd, sfld, secret } = await soloSnowflock(t, 'sf-limits-', { sfld: true, sfmdCfg: "rate_limits = {'anonymous': 10}" });
  const admin = { authorization: `Bearer ${sfmd.adminToken}` };
  const host = { authorization: `SfHost solo:${secret}`, 'x-snowflock-domain': '1:0' };
  const started = performance.now();
  const anonymousFlood = flood(8, 120, () => send(`${url}/trpc/health`));
  const [anonymous, admins, hosts] = await Promise.all([
    anonymousFlood,
    alongside(anonymousFlood, () => send(`${url}/trpc/state.hosts`, admin)),
    alongside(anonymousFlood, () => send(`${url}/trpc/ticket.list`, host)),
  ]);
  const seconds = (performance.now() - started) / 1000;
  const served = anonymous.filter((a) => a.status === 200).length;
  const limited = anonymous.filter((a) => a.status === 429);
  t.diagnostic(
    `${seconds.toFixed(2)} s: anonymous ${served} served, ${limited.length} refused; admin ${admins.length} and sfld ${hosts.length} calls in the same time`,
  );
  assert.ok(limited.length > 0, 'the flood is refused');
  // At most the burst and the rate over the time taken (and the refill during the last round trips).
  assert.ok(served <= 20 + 10 * seconds + 8, `${served} anonymous calls served in ${seconds.toFixed(2)} s`);
  // Refused by the address's limit, or, when a turn of sfmd's loop has spent its budget, for a moment as busy.
  const addressLimit = /without credentials from 127\.0\.0\.1 \(10 a second per address at most, bursts of 20\)/;
  for (const a of limited) assertRateLimited(a, new RegExp(`${addressLimit.source}|${BUSY.source}`));
  assert.ok(
    limited.some((a) => addressLimit.test(a.text)),
    'the address limit refuses the flood',
  );
  // The admin is never refused for the flood's limit (only, at worst, for a busy moment, which its client retries).
  const adminServed = admins.filter((a) => a.status === 200).length;
  assert.ok(adminServed > 3, `${adminServed} of ${admins.length} admin calls served`);
  for (const a of admins.filter((x) => x.status !== 200)) assertRateLimited(a, BUSY);
  // The sfld's guest call is answered (its domain does not exist), never rate-limited.
  assert.ok(hosts.length > 3, `${hosts.length} sfld calls`);
  for (const h of hosts) assert.match(h.text, /"sfCode":"DOMAIN_UNKNOWN"/);
  assert.ok(sfld?.isRegistered(), 'the sfld stays registered');

  // The CLI's client reads a 429 as RATE_LIMITED with sfmd's message; its exit code is its own.
  const client = createSfmdClient({ url, busyRetries: 0, fetch: soloFetch });
  let error: SfError | null = null;
  for (let i = 0; i < 500 && !error; i++) await client.health.query().catch((err: unknown) => (error = clientError(err, url)));
  const got = error as SfError | null;
  assert.equal(got?.code, 'RATE_LIMITED', String(got?.message));
  assert.match(got?.message ?? '', /per address at most, bursts of 20\): retry in \d+ s/);
  assert.equal(exitCodeFor('RATE_LIMITED'), 13);
  // A guest whose call is rate-limited reads "unavailable": try again later.
  assert.equal(guestStatusFor('RATE_LIMITED'), -SfStatus.EUNAVAIL);
});

test('failed credentials meet a strict limit per address, past which none is checked; wrong secrets cost no database read', {
  timeout: 20_000,
}, async (t) => {
  const { url, sfmd, secret } = await soloSnowflock(t, 'sf-limits-', { sfmdCfg: "rate_limits = {'failed_auth': 10}" });
  const db = sfmd.svc.db.host;
  const findMany = db.findMany.bind(db);
  const findUnique = db.findUnique.bind(db);
  let reads = 0;
  t.after(() => {
    db.findMany = findMany;
    db.findUnique = findUnique;
  });
  // Reads a credential check would make (the hosts' secrets, or one host by name): sfmd's sweeper reads
  // the online hosts on its own timer, and under load it may run during the burst.
  const credentialRead = (args: unknown) => /secretHash|"name"/.test(JSON.stringify(args ?? null));
  db.findMany = ((...args: Parameters<typeof findMany>) => {
    if (credentialRead(args[0])) reads++;
    return findMany(...args);
  }) as typeof findMany;
  db.findUnique = ((...args: Parameters<typeof findUnique>) => {
    if (credentialRead(args[0])) reads++;
    return findUnique(...args);
  }) as unknown as typeof findUnique;

  const hostCall = (s: string) => send(`${url}/trpc/ticket.list`, { authorization: `SfHost solo:${s}`, 'x-snowflock-domain': '1:0' });
  assert.match((await hostCall(secret)).text, /DOMAIN_UNKNOWN/, 'the right secret is accepted');
  const readsAfterFirst = reads;
  // Burst of 20 failures: each one answered UNAUTHORIZED, saying why, without a read of the hosts.
  const burstFrom = performance.now();
  for (let i = 0; i < 10; i++) {
    const a = await hostCall(`wrong${i}`);
    assert.equal(a.status, 401, a.text);
    assert.match(a.text, /host credentials for 'solo' were rejected/);
  }
  assert.equal(reads - readsAfterFirst, 0, 'wrong secrets cost a hash compare, not a database read');
  const wrong = { authorization: 'Bearer not-the-token' };
  const answers: Answer[] = [];
  for (let i = 0; i < 20; i++) answers.push(await send(`${url}/trpc/state.hosts`, wrong));
  const first429 = answers.findIndex((a) => a.status === 429);
  // The bucket refills at 10 a second while the burst runs: a slow (loaded) machine earns a few more.
  const refilled = Math.ceil(((performance.now() - burstFrom) / 1000) * 10);
  assert.ok(
    first429 >= 8 && first429 <= 12 + refilled,
    `the 20-failure burst ran out after ${10 + first429} failures (${refilled} refilled)`,
  );
  for (const a of answers.slice(0, first429)) assert.match(a.text, /the token is not known to sfmd/);
  for (const a of answers.slice(first429))
    assertRateLimited(a, /failed credential checks from 127\.0\.0\.1 \(10 a second per address at most/);

  // Locked out: even the right token is not checked (a guess that happens to be right learns nothing).
  assertRateLimited(await send(`${url}/trpc/state.hosts`, { authorization: `Bearer ${sfmd.adminToken}` }), /failed credential checks/);
  assertRateLimited(await hostCall(secret), /failed credential checks/);
  // Calls without credentials are another limit: not locked out.
  assert.equal((await send(`${url}/trpc/health`)).status, 200);
  // One failure's worth refills in 100 ms: the right token is then checked and accepted.
  await new Promise((r) => setTimeout(r, 150));
  assert.equal((await send(`${url}/trpc/state.hosts`, { authorization: `Bearer ${sfmd.adminToken}` })).status, 200);
});

test('socket.io: handshakes per address are limited, failed ones strictly; a real sfld on the same address stays connected and online', {
  timeout: 20_000,
}, async (t) => {
  const { url, sfmd, sfld, secret } = await soloSnowflock(t, 'sf-limits-', {
    sfld: true,
    sfmdCfg: "rate_limits = {'handshake': 20, 'failed_auth': 3}",
  });
  const log = logSpy(sfmd.svc.log);
  const lastSeen = async () => (await sfmd.svc.db.host.findUniqueOrThrow({ where: { name: 'solo' } })).lastSeen?.getTime() ?? 0;
  const seenBefore = await lastSeen();

  // A burst of 40 handshakes (20 a second), then refusals that say which limit. Each accepted one is
  // closed at once: the cap on sockets waiting to authenticate is another test's.
  const started = performance.now();
  const answers = [];
  while (answers.length < 300 && answers.filter((a) => a.status !== 200).length < 5) {
    const a = await engineHandshake(url);
    answers.push(a);
    if (a.sid) await engineClose(url, a.sid);
  }
  const seconds = (performance.now() - started) / 1000;
  const accepted = answers.filter((a) => a.status === 200).length;
  const tried = `${accepted} of ${answers.length} handshakes accepted in ${seconds.toFixed(2)} s`;
  t.diagnostic(tried);
  assert.ok(accepted >= 40 && accepted <= 40 + 20 * seconds + 1, tried);
  const over = answers.filter((a) => a.status !== 200);
  assert.ok(over.length > 0);
  for (const a of over) {
    assert.equal(a.status, 403);
    assert.match(
      a.text,
      /too many socket\.io handshakes from 127\.0\.0\.1 \(20 a second per address at most, bursts of 40\): retry in \d s/,
    );
    for (const pattern of INTERNAL_TEXT) assert.doesNotMatch(a.text, pattern);
  }

  // Wrong secrets, tried namespace after namespace over one connection (kept open by a dashboard on it):
  // the burst of 6 failures is answered UNAUTHORIZED, then RATE_LIMITED without a check, even for the
  // right secret.
  await new Promise((r) => setTimeout(r, 300)); // handshakes again (20 a second)
  const manager = new Manager(url, { transports: ['websocket'], reconnection: false, autoConnect: false, ...soloSocketOptions(url) });
  const keeper = manager.socket('/dash', { auth: { token: sfmd.adminToken } });
  const tries = manager.socket('/hosts', { auth: {} });
  t.after(() => {
    tries.close();
    keeper.close();
  });
  keeper.connect();
  await connected(keeper);
  const codes: string[] = [];
  for (let i = 0; i < 8; i++) {
    tries.auth = { host: 'solo', secret: `guess${i}` };
    tries.connect();
    const err = await refused(tries);
    codes.push(String(err.data?.code));
    if (err.data?.code === 'RATE_LIMITED') {
      assert.match(err.message, /too many failed credential checks from 127\.0\.0\.1 \(3 a second per address at most, bursts of 6\)/);
      assert.ok((err.data.retryAfterS ?? 0) >= 1);
    }
  }
  assert.deepEqual(codes.slice(0, 6), Array(6).fill('UNAUTHORIZED'), codes.join());
  assert.ok(codes.slice(6).includes('RATE_LIMITED'), codes.join());
  tries.auth = { host: 'solo', secret };
  tries.connect();
  assert.equal((await refused(tries)).data?.code, 'RATE_LIMITED', 'the right secret is not checked while locked out');
  // A new connection from this address is refused before it reaches a namespace (where socket.io clients
  // retry by themselves), saying why.
  const fresh = await engineHandshake(url);
  assert.equal(fresh.status, 403);
  assert.match(fresh.text, /too many failed credential checks from 127\.0\.0\.1/);
  // ... so a client with the right credentials is refused while the lock holds, retries, and gets in.
  const retrying = io(`${url}/dash`, {
    auth: { token: sfmd.adminToken },
    transports: ['websocket'],
    ...soloSocketOptions(url),
    forceNew: true,
    reconnectionDelay: 100,
    reconnectionDelayMax: 200,
  });
  t.after(() => void retrying.close());
  let attempts = 0;
  retrying.on('connect_error', () => attempts++);
  await new Promise<void>((resolve) => retrying.once('connect', () => resolve()));
  assert.ok(attempts >= 1, 'refused at first, while locked out');

  // The real sfld, on the same address, was never disconnected and its heartbeats kept coming.
  assert.ok(sfld?.isRegistered());
  assert.equal(log.filter((l) => l.msg === 'sfld disconnected').length, 0, 'no disconnect of the sfld');
  await waitUntil('a heartbeat after the floods', 3000, async () => (await lastSeen()) > seenBefore);
  assert.equal((await sfmd.svc.db.host.findUniqueOrThrow({ where: { name: 'solo' } })).state, 'online');
});

test('one address holds at most 32 sockets that joined no namespace; one that closes frees its place', { timeout: 20_000 }, async (t) => {
  const { url, sfmd } = await soloSnowflock(t, 'sf-limits-', { sfmdCfg: "rate_limits = {'handshake': None}" });
  const sids: string[] = [];
  t.after(async () => {
    for (const sid of sids) await engineClose(url, sid).catch(() => {});
  });
  const pending = [];
  for (let i = 0; i < MAX_PENDING_SOCKETS_PER_ADDRESS + 1; i++) pending.push(await engineHandshake(url));
  for (const p of pending) if (p.sid) sids.push(p.sid);
  assert.equal(pending.filter((p) => p.status === 200).length, MAX_PENDING_SOCKETS_PER_ADDRESS);
  const last = pending.at(-1);
  assert.equal(last?.status, 403);
  assert.match(last?.text ?? '', /too many sockets from 127\.0\.0\.1 waiting to authenticate \(32 at most\)/);
  // A socket that authenticates is no longer waiting; nor is one that closed.
  await engineClose(url, sids.shift()!);
  await waitUntil('the closed socket to be forgotten', 3000, async () => (await engineHandshake(url)).sid ?? null).then((sid) =>
    sids.push(sid),
  );
  assert.equal((await engineHandshake(url)).status, 403, 'full again');
  const dash = connect(`${url}/dash`, { token: sfmd.adminToken });
  t.after(() => void dash.close());
  await assert.rejects(connected(dash), 'the dashboard cannot even open its connection');
  await engineClose(url, sids.shift()!);
  await waitUntil('a place', 3000, async () => {
    const d = connect(`${url}/dash`, { token: sfmd.adminToken });
    try {
      await connected(d);
      return true;
    } catch {
      return false;
    } finally {
      d.close();
    }
  });
});

test("events over a socket's limit are dropped (acks answered RATE_LIMITED), domain state never; an absurd rate disconnects", {
  timeout: 20_000,
}, async (t) => {
  const { url, sfmd, secret } = await soloSnowflock(t, 'sf-limits-', { sfmdCfg: "rate_limits = {'host_events': 50, 'dash_events': 5}" });
  const log = logSpy(sfmd.svc.log);
  const sockets: Socket[] = [];
  t.after(() => {
    for (const s of sockets) s.close();
  });

  // A dashboard: a burst of 10 console inputs is served (refused as malformed), the rest dropped.
  const dash = connect(`${url}/dash`, { token: sfmd.adminToken });
  sockets.push(dash);
  await connected(dash);
  const acks = await Promise.all(Array.from({ length: 15 }, () => dash.timeout(5000).emitWithAck('console:input', { garbage: true })));
  const codes = acks.map((a: { error: { code: string } }) => a.error.code);
  assert.deepEqual(codes.slice(0, 10), Array(10).fill('BAD_INPUT'));
  assert.deepEqual(codes.slice(10), Array(5).fill('RATE_LIMITED'));
  assert.match(
    acks[14].error.message,
    /too many events on this socket \(5 a second at most, bursts of 10\): console:input was dropped; retry in 1 s/,
  );

  // An sfld: 120 state reports at once are over its burst of 100, and every one is applied, in order.
  const host = io(`${url}/hosts`, {
    auth: { host: 'solo', secret },
    transports: ['websocket'],
    forceNew: true,
    reconnectionDelay: 100,
    ...soloSocketOptions(url),
  });
  sockets.push(host);
  await connected(host);
  const db = sfmd.svc.db;
  const solo = await db.host.findUniqueOrThrow({ where: { name: 'solo' } });
  const cluster = await db.cluster.create({ data: { clusterid: 7, seedConfig: '{}' } });
  const domain = await db.domain.create({
    data: { clusterId: cluster.id, vmid: 0, hostId: solo.id, vcpus: 1, memory: 1n << 26n, state: 'running' },
  });
  for (let i = 0; i < 120; i++) {
    host.emit('domain:state', { clusterid: 7, vmid: 0, state: i % 2 === 0 ? 'running' : 'paused', exitCode: null, reason: null });
  }
  host.emit('domain:state', { clusterid: 7, vmid: 0, state: 'exited', exitCode: 3, reason: 'the last report' });
  await waitUntil('the last report applied', 10_000, async () => {
    const d = await db.domain.findUniqueOrThrow({ where: { id: domain.id } });
    return d.state === 'exited' && d.exitCode === 3;
  });
  assert.ok(host.connected, 'state reports over the limit do not disconnect');

  // Metrics far over the limit (4x for seconds): the connection is closed with a logged reason, and the
  // client may come back (socket.io reconnects by itself after a closed connection).
  const gone = new Promise<string>((resolve) => host.once('disconnect', resolve));
  for (let i = 0; i < 2000 && host.connected; i++) host.emit('host:metrics', { garbage: i });
  assert.equal(await gone, 'transport close');
  const why = log.find((l) => l.level === 'warn' && String(l.msg).startsWith('connection closed'));
  assert.match(String(why?.msg), /over 4 times its limit of 50 a second \(rate_limits\['host_events'\] in sfmd\.cfg\)/);
  assert.equal((why?.obj as { host?: string } | undefined)?.host, 'solo');
  await connected(host);
  assert.ok(
    log.some((l) => l.msg === 'socket events over their limit dropped'),
    'drops are logged (sampled)',
  );
});

test("a 429 that is not sfmd's own (a proxy's JSON or page) still reads RATE_LIMITED, with its retry-after", async () => {
  for (const [body, type] of [
    ['{"message":"slow down"}', 'application/json'],
    ['<h1>Too Many Requests</h1>', 'text/html'],
  ] as const) {
    const server = createServer((_req, res) => {
      res.writeHead(429, { 'retry-after': '7', 'content-type': type });
      res.end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const err = await createSfmdClient({ url })
        .health.query()
        .then(
          () => null,
          (e: unknown) => clientError(e, url),
        );
      assert.equal(err?.code, 'RATE_LIMITED', `${type}: ${err?.message}`);
      assert.equal(err?.message, `sfmd at ${url} (or a proxy before it) refused: too many requests; retry in 7 s`);
    } finally {
      server.close();
    }
  }
});

test('calls in progress at once are bounded per caller (joins and ticket requests, which wait, excepted)', async (t) => {
  const { url, sfmd } = await soloSnowflock(t, 'sf-limits-', { sfmdCfg: "rate_limits = {'in_flight': 2}" });
  const admin = { authorization: `Bearer ${sfmd.adminToken}` };
  // Reads that take 400 ms: the first two calls are in progress when the next ones come.
  const domains = sfmd.svc.reads.domain;
  const findMany = domains.findMany.bind(domains);
  t.after(() => {
    domains.findMany = findMany;
  });
  domains.findMany = ((...args: Parameters<typeof findMany>) =>
    new Promise((r) => setTimeout(r, 400)).then(() => findMany(...args))) as unknown as typeof findMany;
  const answers = await Promise.all(Array.from({ length: 5 }, () => send(`${url}/trpc/state.domains`, admin)));
  assert.equal(answers.filter((a) => a.status === 200).length, 2, answers.map((a) => a.status).join(' '));
  for (const a of answers.filter((x) => x.status !== 200))
    assertRateLimited(a, /calls with token 'admin' in progress together \(2 at most\).*in_flight/);
  // A join waits rather than works: it does not count, and is not refused for the others in progress.
  const slow = Promise.all([send(`${url}/trpc/state.domains`, admin), send(`${url}/trpc/state.domains`, admin)]);
  await new Promise((r) => setTimeout(r, 100));
  const join = await send(
    `${url}/trpc/clone.join`,
    { ...admin, 'content-type': 'application/json', 'x-snowflock-domain': '1:0' },
    {
      method: 'POST',
      body: JSON.stringify({ ticket: '00000000-0000-4000-8000-000000000000' }),
    },
  );
  assert.notEqual(join.status, 429, join.text);
  assert.deepEqual(
    (await slow).map((a) => a.status),
    [200, 200],
  );
  // Once answered, their places are free again.
  assert.deepEqual(
    (await Promise.all([send(`${url}/trpc/state.domains`, admin), send(`${url}/trpc/state.domains`, admin)])).map((a) => a.status),
    [200, 200],
  );
});

test('a call refused for a busy moment (429, retry-after 1) is sent again by the client and answered', async () => {
  let requests = 0;
  const server = createServer((_req, res) => {
    requests++;
    if (requests === 1) {
      res.writeHead(429, { 'retry-after': '1', 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ error: { message: 'sfmd is busy', code: -32029, data: { code: 'TOO_MANY_REQUESTS', sfCode: 'RATE_LIMITED' } } }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ result: { data: { ok: true } } }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const started = performance.now();
    assert.deepEqual(await createSfmdClient({ url }).health.query(), { ok: true });
    assert.equal(requests, 2);
    assert.ok(performance.now() - started >= 450, 'it waited about the retry-after (with jitter) before sending again');
  } finally {
    server.close();
  }
});
