// sfmd's HTTP front: /healthz, tRPC under /trpc, socket.io on the same port. Unknown paths get a
// JSON 404 that says where the API is. Requests over sfmd's bounds (batch size, URL, body) are refused
// here, before a context is built or a procedure runs; every error answer carries a code of the table.
import http from 'node:http';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { ERROR_TABLE, type ErrorCode, httpStatusFor } from '../common/errors.ts';
import { SNOWFLOCK_VERSION } from '../common/version.ts';
import { contextFromHeaders } from './api/context.ts';
import { appRouter } from './api/router.ts';
import { MAX_BATCH_CALLS, MAX_BODY_BYTES, MAX_URL_BYTES, sfCodeOf } from './api/trpc.ts';
import { heartbeatLane } from './heartbeat-lane.ts';
import { hostCounts } from './host-counts.ts';
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

/** A tRPC-shaped error body, so clients read edge refusals like any other error. */
function errorBody(code: ErrorCode, message: string) {
  const trpc = ERROR_TABLE[code].trpc;
  return { error: { message, code: TRPC_ERROR_CODES_BY_KEY[trpc], data: { code: trpc, httpStatus: httpStatusFor(code), sfCode: code } } };
}

/** The bound a /trpc request breaks, judged from its request line and headers alone; null if none. */
export function edgeRefusal(req: http.IncomingMessage): { code: ErrorCode; message: string } | null {
  const url = req.url ?? '/';
  const query = url.indexOf('?');
  const path = query < 0 ? url : url.slice(0, query);
  if (query >= 0 && /(?:^|&)batch=1(?:&|$)/.test(url.slice(query + 1))) {
    // tRPC splits the decoded path on commas: count encoded ones too.
    const calls = (path.match(/,|%2c/gi)?.length ?? 0) + 1;
    if (calls > MAX_BATCH_CALLS) {
      return { code: 'TOO_LARGE', message: `a batch may hold at most ${MAX_BATCH_CALLS} calls, this one has ${calls}: split it` };
    }
  }
  if (url.length > MAX_URL_BYTES) {
    return {
      code: 'TOO_LARGE',
      message: `the URL is ${url.length} bytes, over sfmd's bound of ${MAX_URL_BYTES}: send large inputs as a POST body`,
    };
  }
  const length = Number(req.headers['content-length'] ?? 0);
  if (length > MAX_BODY_BYTES) {
    return {
      code: 'TOO_LARGE',
      message: `the request body is ${length} bytes, over sfmd's bound of ${MAX_BODY_BYTES}: send less per call`,
    };
  }
  return null;
}

/** Node's own refusals (headers too large, unparsable requests) with a JSON body like every other error. */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  if (!socket.writable || err.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  const tooLarge = err.code === 'HPE_HEADER_OVERFLOW';
  const code: ErrorCode = tooLarge ? 'TOO_LARGE' : 'BAD_INPUT';
  const body = JSON.stringify(
    errorBody(
      code,
      tooLarge ? 'the request line and headers are over 16 KiB: send large inputs as a POST body' : 'the request is not valid HTTP/1.1',
    ),
  );
  const status = httpStatusFor(code);
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
  );
}

export async function startMasterServer(svc: MasterServices, adminToken: string, port: number, host: string): Promise<MasterServer> {
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    createContext: ({ req }) => contextFromHeaders(svc, adminToken, req.headers),
    maxBodySize: MAX_BODY_BYTES, // for bodies without a content-length; the others are refused at the edge
    maxBatchSize: MAX_BATCH_CALLS,
    // The error table decides the HTTP status too (one error per response: clients do not batch).
    responseMeta: ({ errors }) => (errors[0] ? { status: httpStatusFor(sfCodeOf(errors[0])) } : {}),
    // What a client is not told is logged here.
    onError: ({ error, path }) => {
      if (sfCodeOf(error) === 'INTERNAL') svc.log.error({ err: error.cause ?? error, path }, 'procedure failed');
    },
  });
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    if (url === '/healthz' || url.startsWith('/healthz?')) {
      hostCounts(svc)
        .then(({ hostsOnline, hostsTotal }) =>
          sendJson(res, 200, {
            ok: true,
            version: SNOWFLOCK_VERSION,
            hostsOnline,
            hostsTotal,
            guestRefusals: svc.refusals.stats(),
            ...heartbeatLane(svc).loop(), // sfmd's own event-loop stalls (no host names here)
            startNonce: process.env.SNOWFLOCK_START_NONCE,
          }),
        )
        .catch(() => sendJson(res, 503, { ok: false, error: 'database unavailable' }));
      return;
    }
    if (url.startsWith('/trpc/')) {
      const refusal = edgeRefusal(req);
      if (refusal) {
        // The body (if any) is not read: close the connection rather than drain it.
        res.setHeader('connection', 'close');
        sendJson(res, httpStatusFor(refusal.code), errorBody(refusal.code, refusal.message));
        return;
      }
      trpc(req, res);
      return;
    }
    if (url.startsWith('/socket.io/')) return; // socket.io answers these
    sendJson(res, 404, { ok: false, error: `no such path ${url}: the API is under /trpc/, health under /healthz` });
  });
  server.on('clientError', answerClientError);
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
