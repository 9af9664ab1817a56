// sfmd's HTTP front: /healthz, tRPC under /trpc, socket.io on the same port. Unknown paths get a
// JSON 404 that says where the API is.
import http from 'node:http';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { httpStatusFor, SfError } from '../common/errors.ts';
import { SNOWFLOCK_VERSION } from '../common/version.ts';
import { contextFromHeaders } from './api/context.ts';
import { appRouter } from './api/router.ts';
import { attachHub } from './hub.ts';
import type { MasterServices } from './services.ts';

export interface MasterServer {
  server: http.Server;
  close(): Promise<void>;
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

export async function startMasterServer(svc: MasterServices, adminToken: string, port: number, host: string): Promise<MasterServer> {
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    createContext: ({ req }) => contextFromHeaders(svc, adminToken, req.headers),
    // The error table decides the HTTP status too (one error per response: clients do not batch).
    responseMeta: ({ errors }) => {
      const cause = errors[0]?.cause;
      return cause instanceof SfError ? { status: httpStatusFor(cause.code) } : {};
    },
    onError: ({ error, path }) => {
      if (error.code === 'INTERNAL_SERVER_ERROR') svc.log.error({ err: error.cause ?? error, path }, 'procedure failed');
    },
  });
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz' || url.startsWith('/healthz?')) {
      Promise.all([svc.db.host.count({ where: { state: 'online' } }), svc.db.host.count({ where: { state: { not: 'removed' } } })])
        .then(([hostsOnline, hostsTotal]) =>
          sendJson(res, 200, {
            ok: true,
            version: SNOWFLOCK_VERSION,
            hostsOnline,
            hostsTotal,
            startNonce: process.env.SNOWFLOCK_START_NONCE,
          }),
        )
        .catch(() => sendJson(res, 503, { ok: false, error: 'database unavailable' }));
      return;
    }
    if (url.startsWith('/trpc/')) {
      trpc(req, res);
      return;
    }
    if (url.startsWith('/socket.io/')) return; // socket.io answers these
    sendJson(res, 404, { ok: false, error: `no such path ${url}: the API is under /trpc/, health under /healthz` });
  });
  const io = attachHub(server, svc, adminToken);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    server,
    close: () =>
      new Promise<void>((resolve) => {
        io.close(); // also closes the http server
        server.closeAllConnections();
        resolve();
      }),
  };
}
