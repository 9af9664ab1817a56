// sfmd's HTTP edge against hostile clients, over loopback: every procedure fuzzed with malformed
// Unicode, wrong methods and wrong content types (as anonymous, host and admin callers), oversize
// batches, bodies and URLs, and the socket.io handshake. No answer is a 5xx or carries internal text.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import tls from 'node:tls';
import { io } from 'socket.io-client';
import { ERROR_TABLE, INTERNAL_MESSAGE, isErrorCode } from '../src/common/errors.ts';
import { appRouter } from '../src/master/api/router.ts';
import { MAX_BATCH_CALLS, MAX_BODY_BYTES } from '../src/master/api/trpc.ts';
import { soloFetch, soloSnowflock, soloSocketOptions } from './in-process.ts';

// What must never reach a client: ORM dumps, source paths, stack frames.
const INTERNAL_TEXT = [/prisma/i, /\/work\//, /node_modules/, /\n\s+at /, / at [\w.<>]+ \(/, /\.ts:\d/, /invocation/i];

interface Answer {
  status: number;
  text: string;
  body: unknown;
}

async function send(url: string, init: RequestInit = {}): Promise<Answer> {
  const res = await soloFetch(url, init);
  const text = await res.text();
  let body: unknown = null;
  try {
    body = JSON.parse(text);
  } catch {
    // asserted by the caller
  }
  return { status: res.status, text, body };
}

/** The answer is a 4xx JSON error of the table, with its status, and nothing internal in it. */
function assertRefusal(what: string, a: Answer): string {
  assert.ok(a.status < 500, `${what}: answered ${a.status}: ${a.text.slice(0, 300)}`);
  for (const pattern of INTERNAL_TEXT) assert.doesNotMatch(a.text, pattern, `${what}: internal text in ${a.text.slice(0, 300)}`);
  const errors = (Array.isArray(a.body) ? a.body : [a.body]) as Array<{ error?: { data?: { sfCode?: unknown } } }>;
  const err = errors.find((e) => e?.error)?.error;
  if (a.status < 400) return 'ok';
  assert.ok(err, `${what}: ${a.status} without a JSON error body: ${a.text.slice(0, 300)}`);
  const code = err.data?.sfCode;
  assert.ok(isErrorCode(code), `${what}: sfCode ${String(code)} is not in the error table`);
  assert.equal(a.status, ERROR_TABLE[code].http, `${what}: status ${a.status} does not match ${code}`);
  return code;
}

const procedures = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>).map(([name, p]) => ({
  name,
  type: p._def.type,
}));

// Lone surrogates where fields usually are, as values and as keys, nested and top level.
const malformed: unknown[] = [
  { kind: '\ud800' },
  '\udfff',
  { name: 'a\ud800b', clusterid: 1, ticket: 1, id: '\udc00', domain: '1:0' },
  { config: { name: '\ud800', nested: [{ deep: '\udbff' }] } },
  { '\ud800': 1 },
  ['\ud800'],
];

test('every procedure refuses malformed Unicode, wrong methods and content types with a 4xx of the table', async (t) => {
  // The fuzz is faster than anyone without credentials may call (rate-limits.test.ts tests that limit).
  const { url, sfmd, secret } = await soloSnowflock(t, 'sf-edge-', { sfmdCfg: "rate_limits = {'anonymous': None}" });
  assert.ok(procedures.length > 10, `found ${procedures.length} procedures`);
  const callers: Array<[string, Record<string, string>]> = [
    ['anonymous', {}],
    ['host', { authorization: `SfHost solo:${secret}`, 'x-snowflock-domain': '1:0' }],
    ['admin', { authorization: `Bearer ${sfmd.adminToken}`, 'x-snowflock-domain': '1:0' }],
  ];
  const json = { 'content-type': 'application/json' };
  let answers = 0;
  for (const { name, type } of procedures) {
    const right = type === 'query' ? 'GET' : 'POST';
    for (const [who, auth] of callers) {
      const at = `${url}/trpc/${name}`;
      for (const input of malformed) {
        const encoded = JSON.stringify(input); // keeps lone surrogates as \u escapes
        const a =
          right === 'GET'
            ? await send(`${at}?input=${encodeURIComponent(encoded)}`, { headers: auth })
            : await send(at, { method: 'POST', headers: { ...auth, ...json }, body: encoded });
        const code = assertRefusal(`${who} ${right} ${name} ${encoded}`, a);
        assert.equal(code, 'BAD_INPUT', `${who} ${name} ${encoded}: ${a.text}`);
        assert.match(a.text, /well-formed Unicode/, `${who} ${name}: the refusal says why`);
        answers++;
      }
      // The wrong method, both ways, with and without input.
      const wrong =
        right === 'GET'
          ? await send(at, { method: 'POST', headers: { ...auth, ...json }, body: '{}' })
          : await send(`${at}?input={}`, { headers: auth });
      assert.equal(assertRefusal(`${who} wrong method ${name}`, wrong), 'BAD_INPUT');
      assert.match(wrong.text, right === 'GET' ? /is a query: call it with GET/ : /is a mutation: call it with POST/);
      for (const method of ['PUT', 'DELETE', 'PATCH']) {
        assert.equal(
          assertRefusal(`${who} ${method} ${name}`, await send(at, { method, headers: { ...auth, ...json }, body: '{}' })),
          'BAD_INPUT',
        );
      }
      // Wrong or missing content types, and bodies that are not JSON.
      for (const [ct, body] of [
        ['text/plain', '{}'],
        ['application/x-www-form-urlencoded', 'a=1'],
        ['application/json', '{"kind": "\\ud800'],
        ['application/json', 'not json'],
        ['application/octet-stream', '\u0000\u0001'],
      ] as const) {
        const a = await send(at, { method: 'POST', headers: { ...auth, 'content-type': ct }, body });
        const code = assertRefusal(`${who} POST ${ct} ${name}`, a);
        if (!ct.startsWith('application/')) assert.equal(code, 'BAD_INPUT', `${who} POST ${ct} ${name}: ${a.text}`);
        if (ct.startsWith('text/')) assert.match(a.text, /sfmd takes JSON/);
      }
      answers += 9;
    }
  }
  // Paths that are no procedure, or not even valid URL-encoding.
  for (const p of ['nope', 'health.x', '%ED%A0%80', '%E0%A4%A', 'health%00', '..%2F..%2Fetc%2Fpasswd']) {
    assert.equal(assertRefusal(`path ${p}`, await send(`${url}/trpc/${p}`)), 'BAD_INPUT');
  }
  // A query input that is not JSON, or malformed in the URL.
  for (const q of ['input=%7B', 'input=%ED%A0%80', 'input=%22%5Cud800%22', 'batch=1&input=%5B1%5D']) {
    assertRefusal(`health?${q}`, await send(`${url}/trpc/health?${q}`));
  }
  t.diagnostic(`${answers} fuzzed answers over ${procedures.length} procedures, none a 5xx or internal`);
});

test('oversize batches, URLs and bodies are refused before any work, quickly, with TOO_LARGE', async (t) => {
  const { url, sfmd } = await soloSnowflock(t, 'sf-edge-');
  const names = (n: number) => Array.from({ length: n }, () => 'health').join(',');

  const ok = await send(`${url}/trpc/${names(MAX_BATCH_CALLS)}?batch=1&input={}`);
  assert.equal(ok.status, 200, `a batch of ${MAX_BATCH_CALLS} is served: ${ok.text.slice(0, 200)}`);

  const counted = sfmd.svc.db.host.count.bind(sfmd.svc.db.host);
  let dbCalls = 0;
  sfmd.svc.db.host.count = ((...args: Parameters<typeof counted>) => {
    dbCalls++;
    return counted(...args);
  }) as typeof counted;
  const times: number[] = [];
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    const big = await send(`${url}/trpc/${names(2000)}?batch=1&input={}`);
    times.push(performance.now() - started);
    assert.equal(assertRefusal('2000-call batch', big), 'TOO_LARGE');
    assert.match(big.text, new RegExp(`at most ${MAX_BATCH_CALLS} calls, this one has 2000`));
  }
  // Commas may come URL-encoded: tRPC decodes the path before splitting it.
  assert.equal(assertRefusal('encoded batch', await send(`${url}/trpc/${names(40).replaceAll(',', '%2C')}?batch=1&input={}`)), 'TOO_LARGE');
  sfmd.svc.db.host.count = counted;
  assert.equal(dbCalls, 0, 'refused batches cost no database work');
  times.sort((a, b) => a - b);
  const median = times[times.length >> 1] ?? Number.NaN;
  t.diagnostic(`2000-call batch refused in ${median.toFixed(1)} ms (median of 10; max ${(times.at(-1) ?? Number.NaN).toFixed(1)} ms)`);
  assert.ok(median < 50, `a 2000-call batch is refused in ${median.toFixed(1)} ms; bound 50 ms`);

  const longUrl = await send(`${url}/trpc/health?input=${encodeURIComponent(JSON.stringify({ pad: 'x'.repeat(10_000) }))}`);
  assert.equal(assertRefusal('10 KB URL', longUrl), 'TOO_LARGE');
  assert.match(longUrl.text, /URL is \d+ bytes/);

  // Over Node's own header bound: answered by the server's clientError handler, still JSON of the table.
  const hugeUrl = await send(`${url}/trpc/health?input=${'x'.repeat(20_000)}`);
  assert.equal(assertRefusal('20 KB URL', hugeUrl), 'TOO_LARGE');

  const admin = { authorization: `Bearer ${sfmd.adminToken}`, 'content-type': 'application/json' };
  const pad = JSON.stringify({ config: { pad: 'x'.repeat(MAX_BODY_BYTES + 10) } });
  const started = performance.now();
  const bigBody = await send(`${url}/trpc/cluster.seed`, { method: 'POST', headers: admin, body: pad });
  const bodyMs = performance.now() - started;
  assert.equal(assertRefusal('2 MiB body', bigBody), 'TOO_LARGE');
  assert.match(bigBody.text, /request body is \d+ bytes/);
  t.diagnostic(`oversize body (content-length) refused in ${bodyMs.toFixed(1)} ms`);

  // Without a content-length (chunked), tRPC's reader stops at the same bound.
  const chunked = await send(`${url}/trpc/cluster.seed`, {
    method: 'POST',
    headers: admin,
    body: new Blob([pad]).stream(),
    duplex: 'half',
  } as RequestInit);
  assert.equal(assertRefusal('chunked 2 MiB body', chunked), 'TOO_LARGE');

  // Garbage that is not HTTP at all gets a JSON 400, not a bare close.
  const raw = await new Promise<string>((resolve, reject) => {
    // Inside TLS (sfmd's default): the HTTP parser is what answers here.
    const socket = tls.connect({ port: sfmd.port, host: '127.0.0.1', rejectUnauthorized: false }, () =>
      socket.write('NOT HTTP AT ALL\r\n\r\n'),
    );
    let got = '';
    socket.on('data', (d) => {
      got += d;
    });
    socket.on('end', () => resolve(got));
    socket.on('error', reject);
  });
  assert.match(raw, /^HTTP\/1.1 400 /);
  assert.match(raw, /"sfCode":"BAD_INPUT"/);
});

test('the /hosts handshake refuses malformed Unicode and wrong secrets without internal text', async (t) => {
  const { url, secret } = await soloSnowflock(t, 'sf-edge-');
  const attempts: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ host: '\ud800', secret: 'x' }, 'BAD_INPUT', /host is not well-formed Unicode/],
    [{ host: 'solo', secret: 'a\udfff' }, 'BAD_INPUT', /secret is not well-formed Unicode/],
    [{ host: 'x'.repeat(5000), secret: 'x' }, 'BAD_INPUT', /at most 1024/],
    [{ host: 'solo', secret: 'wrong' }, 'UNAUTHORIZED', /secret is wrong/],
    [{ host: 'nobody', secret }, 'UNAUTHORIZED', /not known to sfmd/],
    [{ host: 42 }, 'UNAUTHORIZED', /must send \{host, secret\}/],
  ];
  for (const [auth, code, pattern] of attempts) {
    const socket = io(`${url}/hosts`, { auth, transports: ['websocket'], reconnection: false, forceNew: true, ...soloSocketOptions(url) });
    const err = await new Promise<Error & { data?: { code?: string } }>((resolve) => socket.once('connect_error', resolve));
    socket.close();
    assert.equal(err.data?.code, code, `${JSON.stringify(auth).slice(0, 60)}: ${err.message}`);
    assert.match(err.message, pattern);
    for (const p of INTERNAL_TEXT) assert.doesNotMatch(err.message, p);
  }
});

test('an unexpected failure reaches clients as INTERNAL with our message; anyone asking health costs one read a second and never waits for a slow one', async (t) => {
  const { url, sfmd } = await soloSnowflock(t, 'sf-edge-');
  const host = sfmd.svc.reads.host;
  const count = host.count.bind(host);
  t.after(() => {
    host.count = count;
  });
  let reads = 0;
  host.count = ((...args: Parameters<typeof count>) => {
    reads++;
    return count(...args);
  }) as typeof count;
  const batch = Array.from({ length: MAX_BATCH_CALLS }, () => 'health').join(',');
  for (let i = 0; i < 5; i++) assert.equal((await send(`${url}/trpc/${batch}?batch=1&input={}`)).status, 200);
  assert.equal((await send(`${url}/healthz`)).status, 200);
  assert.ok(reads <= 2, `${reads} host counts for 80 anonymous health calls and a /healthz; at most one pair a second`);

  // A slow database (a flood of reads queued ahead) does not slow /healthz once counts are known.
  host.count = ((...args: Parameters<typeof count>) =>
    new Promise((r) => setTimeout(r, 1500)).then(() => count(...args))) as unknown as typeof count;
  await new Promise((r) => setTimeout(r, 1100)); // past the counts' freshness
  for (let i = 0; i < 3; i++) {
    const started = performance.now();
    assert.equal((await send(`${url}/healthz`)).status, 200);
    assert.ok(performance.now() - started < 500, '/healthz answered from the counts it knows, not after the slow read');
  }
  await new Promise((r) => setTimeout(r, 1600)); // the slow read is over

  // What a database failure looks like from inside: its text must stay in the log.
  host.count = (() =>
    Promise.reject(
      Object.assign(
        new Error(
          '\nInvalid `prisma.host.count()` invocation in\n/work/x/apps/daemon/src/master/api/router.ts:99:5\n\n  at count (/work/x/node_modules/@prisma/client/runtime/library.js:1:1)',
        ),
        { name: 'PrismaClientUnknownRequestError' },
      ),
    )) as unknown as typeof count;
  await new Promise((r) => setTimeout(r, 1100)); // past the counts' freshness
  // The first caller after that still gets the last counts at once; the read it started fails, and from then
  // on callers wait for a read and see the failure.
  assert.equal((await send(`${url}/trpc/health`)).status, 200);
  const failed = await send(`${url}/trpc/health`);
  assert.equal(failed.status, 500);
  assert.equal((failed.body as { error: { message: string } }).error.message, INTERNAL_MESSAGE);
  assert.match(failed.text, /"sfCode":"INTERNAL"/);
  for (const pattern of INTERNAL_TEXT) assert.doesNotMatch(failed.text, pattern);
  const healthz = await send(`${url}/healthz`);
  assert.equal(healthz.status, 503);
  for (const pattern of INTERNAL_TEXT) assert.doesNotMatch(healthz.text, pattern);
});
