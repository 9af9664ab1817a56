// The dashboard's view of sfmd failures: sfmd's own codes pass through, and an sfmd that is down, slow or
// not sfmd at all becomes UNAVAILABLE, TIMEOUT or INTERNAL with words that say what to do. Real sockets.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { clientError, createSfmdClient } from '@snowflock/daemon/client';
import { httpStatusFor } from '@snowflock/daemon/errors';
import { sfmdClient, sfmdError, trySfmd } from './sfmd.ts';

async function serve(handler: Parameters<typeof createServer>[1]): Promise<{ url: string; server: Server }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server };
}

async function withSfmdUrl<T>(url: string, fn: () => Promise<T>): Promise<T> {
  const before = process.env.SNOWFLOCK_SFMD_URL;
  process.env.SNOWFLOCK_SFMD_URL = url;
  try {
    return await fn();
  } finally {
    if (before === undefined) delete process.env.SNOWFLOCK_SFMD_URL;
    else process.env.SNOWFLOCK_SFMD_URL = before;
  }
}

test("sfmd's error code and message pass through, with the token sent as a bearer", async () => {
  let authorization: string | undefined;
  const { url, server } = await serve((req, res) => {
    authorization = req.headers.authorization;
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify({
        error: {
          message: 'cluster 7 does not exist',
          code: -32004,
          data: { code: 'NOT_FOUND', httpStatus: 404, sfCode: 'CLUSTER_UNKNOWN' },
        },
      }),
    );
  });
  try {
    const result = await withSfmdUrl(url, () => trySfmd('t0ken', (c) => c.dashboard.cluster.query({ clusterid: 7 })));
    assert.equal(authorization, 'Bearer t0ken');
    assert.equal(result.ok, false);
    if (result.ok) return;
    assert.equal(result.error.code, 'CLUSTER_UNKNOWN');
    assert.equal(result.error.message, 'cluster 7 does not exist');
    assert.equal(httpStatusFor(result.error.code), 404);
  } finally {
    server.close();
  }
});

test('nothing listening is UNAVAILABLE, with how to start sfmd', async () => {
  const { url, server } = await serve(() => {});
  server.close();
  const err = await withSfmdUrl(url, () =>
    sfmdClient('t')
      .whoami.query()
      .then(() => null, sfmdError),
  );
  assert.equal(err?.code, 'UNAVAILABLE');
  assert.equal(err?.message, `sfmd is not reachable at ${url}: start it with npm start (or sfmd start)`);
});

test("an answer that is not sfmd's is INTERNAL, saying the dashboard does not know it", async () => {
  const { url, server } = await serve((_req, res) => {
    res.writeHead(502, { 'content-type': 'text/html' });
    res.end('<html>bad gateway</html>');
  });
  try {
    const err = await withSfmdUrl(url, () =>
      sfmdClient('t')
        .whoami.query()
        .then(() => null, sfmdError),
    );
    assert.equal(err?.code, 'INTERNAL');
    assert.match(err?.message ?? '', /^sfmd answered with an error the dashboard does not know: /);
  } finally {
    server.close();
  }
});

test("a request past its time limit is TIMEOUT, pointing at sfmd's log", async () => {
  const { url, server } = await serve(() => {}); // never answers
  try {
    const err = await createSfmdClient({ url, token: 't', timeoutMs: 100 })
      .whoami.query()
      .then(
        () => null,
        (e) => clientError(e, url),
      );
    assert.equal(err?.code, 'TIMEOUT');
    assert.equal(err?.message, `sfmd at ${url} did not answer in time: see its log ($SNOWFLOCK_HOME/logs)`);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});

test('a caller-supplied fetch sends the requests, never from a cache', async () => {
  const seen: (RequestInit | undefined)[] = [];
  const { url, server } = await serve((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ result: { data: { caller: 'admin' } } }));
  });
  try {
    const client = createSfmdClient({
      url,
      token: 't',
      fetch: (input, init) => {
        seen.push(init);
        return fetch(input, init);
      },
    });
    assert.deepEqual(await client.whoami.query(), { caller: 'admin' });
    assert.equal(seen.length, 1);
    assert.equal(seen[0]?.cache, 'no-store');
  } finally {
    server.close();
  }
});
