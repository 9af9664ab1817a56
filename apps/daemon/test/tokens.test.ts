// Tokens against a running sfmd: `sf token` as a user runs it (--json), and an open dashboard feed (/dash)
// ended the moment its token is revoked or expires, with console input refused to a read token per event.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { io, type Socket } from 'socket.io-client';
import { createSfmdClient } from '../src/common/sfmd-client.ts';
import { json, runSf } from './cli-runner.ts';
import { soloSnowflock } from './in-process.ts';

function connect(url: string, token: string, tls: object): Socket {
  return io(`${url}/dash`, { auth: { token }, transports: ['websocket'], reconnection: false, forceNew: true, ...tls });
}

/** The next `event` on a socket, with its arguments. */
function once(socket: Socket, event: string): Promise<unknown[]> {
  return new Promise((resolve) => socket.once(event, (...args: unknown[]) => resolve(args)));
}

/** The reason sfmd gave when it ended the feed, once the socket is closed by the server. */
async function ended(socket: Socket, withinMs: number): Promise<string> {
  const reason = new Promise<string>((resolve) => socket.once('session:ended', (e: { reason: string }) => resolve(e.reason)));
  const closed = once(socket, 'disconnect');
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the feed was still open after ${withinMs} ms`)), withinMs);
  });
  try {
    const [why, [how]] = await Promise.race([Promise.all([reason, closed]), late]);
    assert.equal(how, 'io server disconnect');
    return why;
  } finally {
    clearTimeout(timer);
  }
}

test('sf token create, list and revoke (--json): the secret printed once, and a revoked token refused by the next command', async (t) => {
  const solo = await soloSnowflock(t, 'sf-tokens-cli-');
  const env = { SNOWFLOCK_HOME: solo.home, SNOWFLOCK_URL: solo.url };
  const made = await json<{ secret: string; token: { name: string; role: string; expiresAt: string | null } }>(
    runSf(['token', 'create', 'carol', '--role', 'read', '--expires', '30d', '--json'], env),
  );
  assert.deepEqual([made.token.name, made.token.role], ['carol', 'read']);
  assert.ok(Math.abs(Date.parse(made.token.expiresAt!) - Date.now() - 30 * 86_400_000) < 60_000);
  const list = await json<{ name: string; role: string; state: string }[]>(runSf(['token', 'list', '--json'], env));
  assert.deepEqual(
    list.map((x) => `${x.name}:${x.role}:${x.state}`),
    ['admin:admin:active', 'carol:read:active'],
  );
  assert.doesNotMatch(JSON.stringify(list), new RegExp(made.secret));

  // carol reads, but may not seed or manage tokens; the refusal names both roles.
  const asCarol = { ...env, SNOWFLOCK_TOKEN: made.secret };
  assert.equal((await runSf(['state', '--json'], asCarol)).code, 0);
  const refused = await runSf(['token', 'list'], asCarol);
  assert.equal(refused.code, 4);
  assert.match(refused.stderr, /FORBIDDEN: token\.list needs a token with role admin or above; token 'carol' has role read/);
  // The human form prints the secret too, once, and the bad role is refused before sfmd is asked.
  const human = await runSf(['token', 'create', 'dave', '--role', 'operate'], env);
  assert.equal(human.code, 0, human.stderr);
  assert.match(human.stdout, /token 'dave' \(role operate\) made\.\n.*shown this once.*\n[A-Za-z0-9_-]{40,}\n$/);
  const badRole = await runSf(['token', 'create', 'erin', '--role', 'root'], env);
  assert.equal(badRole.code, 2);
  assert.match(badRole.stderr, /--role root: the roles are read, operate, admin/);

  const revoked = await json<{ name: string; state: string }>(runSf(['token', 'revoke', 'carol', '--json'], env));
  assert.deepEqual([revoked.name, revoked.state], ['carol', 'revoked']);
  const after = await runSf(['state'], asCarol);
  assert.equal(after.code, 4);
  assert.match(after.stderr, /UNAUTHORIZED: .*token 'carol' was revoked/);
  // The operation log shows who did what (sf ops' BY column).
  const ops = await runSf(['ops'], env);
  assert.match(ops.stdout, /token\.revoke\s+token:carol\s+token:admin\s+succeeded/);
});

test('an open dashboard feed ends when its token is revoked or expires; console input needs operate, checked per event', async (t) => {
  const solo = await soloSnowflock(t, 'sf-tokens-dash-');
  const admin = createSfmdClient({ url: solo.url, token: solo.sfmd.adminToken, fetch: solo.fetch });
  const sockets: Socket[] = [];
  t.after(() => {
    for (const s of sockets) s.close();
  });
  const reader = await admin.token.create.mutate({ name: 'wall-screen', role: 'read' });
  const operator = await admin.token.create.mutate({ name: 'oncall', role: 'operate' });

  const feed = connect(solo.url, reader.secret, solo.socketOptions);
  const other = connect(solo.url, operator.secret, solo.socketOptions);
  sockets.push(feed, other);
  await Promise.all([once(feed, 'connect'), once(other, 'connect')]);
  // A read token may watch but not type: the ack says which role it would need.
  const input = await feed.timeout(5000).emitWithAck('console:input', { clusterid: 1, vmid: 0, data: Buffer.from('x') });
  assert.equal(input.ok, false);
  assert.equal(input.error.code, 'FORBIDDEN');
  assert.match(input.error.message, /needs a token with role operate or above; token 'wall-screen' has role read/);
  // The operate token gets past the role check (and finds no such domain).
  const typed = await other.timeout(5000).emitWithAck('console:input', { clusterid: 1, vmid: 0, data: Buffer.from('x') });
  assert.equal(typed.error.code, 'DOMAIN_UNKNOWN');

  const started = Date.now();
  const revokedFeed = ended(feed, 2000);
  await admin.token.revoke.mutate({ name: 'wall-screen' });
  assert.match(await revokedFeed, /token 'wall-screen' was revoked: sign in again/);
  assert.ok(Date.now() - started < 2000);
  assert.ok(other.connected, "another token's feed stays open");
  // Connecting again with it is refused, saying why.
  const retry = connect(solo.url, reader.secret, solo.socketOptions);
  sockets.push(retry);
  const [err] = (await once(retry, 'connect_error')) as [Error];
  assert.match(err.message, /API token \(token 'wall-screen' was revoked at/);

  // A token that expires while its feed is open: the feed ends at the expiry, with nobody revoking it.
  const brief = await admin.token.create.mutate({ name: 'brief', role: 'read', expiresInS: 1 });
  const briefFeed = connect(solo.url, brief.secret, solo.socketOptions);
  sockets.push(briefFeed);
  await once(briefFeed, 'connect');
  assert.match(await ended(briefFeed, 3000), /token 'brief' expired/);
  const sinceExpiry = Date.now() - Date.parse(brief.token.expiresAt!);
  assert.ok(sinceExpiry >= 0 && sinceExpiry < 1000, `ended ${sinceExpiry} ms after the expiry`);
});
