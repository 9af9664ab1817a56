// sfmd's HTTP front: /healthz, /openapi.json, tRPC under /trpc, socket.io on the same port. Unknown paths get a
// JSON 404 that says where the API is. Requests over sfmd's bounds (batch size, URL, body) or over their
// caller's rate limit are refused here, before a context is built or a procedure runs; every error answer
// carries a code of the table.
import http from 'node:http';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { createHTTPHandler } from '@trpc/server/adapters/standalone';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { ERROR_TABLE, type ErrorCode, httpStatusFor, INTERNAL_MESSAGE } from '../common/errors.ts';
import { SERVER_KEEP_ALIVE_MS } from '../common/pinned-tls.ts';
import { SNOWFLOCK_VERSION } from '../common/version.ts';
import { contextFor } from './api/context.ts';
import { openApiJson } from './api/openapi.ts';
import { appRouter } from './api/router.ts';
import { heartbeatLane } from './heartbeat-lane.ts';
import { type Caller, MAX_BATCH_CALLS, MAX_BODY_BYTES, MAX_URL_BYTES, sfCodeOf } from './api/trpc.ts';
import { EdgeLimits, type RateRefusal } from './edge-limits.ts';
import { hostCounts } from './host-counts.ts';
import { attachHub } from './hub.ts';
import { answerMetrics, isMetricsPath, watchMetrics } from './metrics-route.ts';
import type { MasterServices } from './services.ts';

export interface MasterServer {
  /** An https.Server unless sfmd.cfg asked for plain HTTP (https.Server is an http.Server to everything here). */
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

/** How many procedure calls a /trpc URL makes: one, or a batch's count. */
export function callsIn(url: string): number {
  const query = url.indexOf('?');
  if (query < 0 || !/(?:^|&)batch=1(?:&|$)/.test(url.slice(query + 1))) return 1;
  // tRPC splits the decoded path on commas: count encoded ones too.
  return (url.slice(0, query).match(/,|%2c/gi)?.length ?? 0) + 1;
}

/** The bound a /trpc request breaks, judged from its request line and headers alone; null if none. */
export function edgeRefusal(req: http.IncomingMessage): { code: ErrorCode; message: string } | null {
  const url = req.url ?? '/';
  const calls = callsIn(url);
  if (calls > MAX_BATCH_CALLS) {
    return { code: 'TOO_LARGE', message: `a batch may hold at most ${MAX_BATCH_CALLS} calls, this one has ${calls}: split it` };
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

/** A RATE_LIMITED answer with retry-after; a request body is left unread, so its connection is closed. */
function refuseRate(req: http.IncomingMessage, res: http.ServerResponse, refusal: RateRefusal): void {
  if (Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding']) res.setHeader('connection', 'close');
  res.setHeader('retry-after', String(refusal.retryAfterS));
  sendJson(res, httpStatusFor('RATE_LIMITED'), errorBody('RATE_LIMITED', refusal.message));
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

export async function startMasterServer(
  svc: MasterServices,
  port: number,
  host: string,
  tls: { cert: string; key: string } | null = null,
): Promise<MasterServer> {
  const limits = new EdgeLimits(svc, svc.config.rateLimits);
  watchMetrics(svc);
  // Each request's caller, decided at the edge (with its rate limit) before tRPC builds a context.
  const callers = new WeakMap<http.IncomingMessage, Caller>();
  const trpc = createHTTPHandler({
    router: appRouter,
    basePath: '/trpc/',
    createContext: ({ req }) =>
      contextFor(svc, callers.get(req) ?? { kind: 'anonymous', reason: 'no Authorization header was sent' }, req.headers),
    maxBodySize: MAX_BODY_BYTES, // for bodies without a content-length; the others are refused at the edge
    maxBatchSize: MAX_BATCH_CALLS,
    // The error table decides the HTTP status too (one error per response: clients do not batch).
    responseMeta: ({ errors }) => (errors[0] ? { status: httpStatusFor(sfCodeOf(errors[0])) } : {}),
    // What a client is not told is logged here.
    onError: ({ error, path }) => {
      if (sfCodeOf(error) === 'INTERNAL') svc.log.error({ err: error.cause ?? error, path }, 'procedure failed');
    },
  });
  const handler: http.RequestListener = (req, res) => {
    const url = req.url ?? '/';
    // Not rate-limited: its answer comes from counts read at most once a second (host-counts.ts), so a
    // refusal would cost as much as the answer; and it is what monitors and npm start poll.
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
    // The API's OpenAPI document: built once from the router, the same bytes for everyone (so not rate-limited).
    if (url === '/openapi.json' || url.startsWith('/openapi.json?')) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(openApiJson());
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
      limits.admitCall(req, res, callsIn(url)).then(
        (admission) => {
          if ('refusal' in admission) return refuseRate(req, res, admission.refusal);
          callers.set(req, admission.caller);
          trpc(req, res);
        },
        (err: unknown) => {
          svc.log.error({ err }, 'request not admitted');
          res.setHeader('connection', 'close');
          sendJson(res, httpStatusFor('INTERNAL'), errorBody('INTERNAL', INTERNAL_MESSAGE));
        },
      );
      return;
    }
    // Prometheus's scrape: who may read it is sfmd.cfg's `metrics` (metrics-route.ts).
    if (isMetricsPath(url)) {
      answerMetrics(svc, limits, svc.config.metrics, req, res).then(
        (reply) => {
          if ('refusal' in reply) return refuseRate(req, res, reply.refusal);
          if ('code' in reply) return sendJson(res, httpStatusFor(reply.code), errorBody(reply.code, reply.message));
          res.writeHead(200, { 'content-type': reply.contentType });
          res.end(reply.text);
        },
        (err: unknown) => {
          svc.log.error({ err }, 'metrics not collected');
          sendJson(
            res,
            httpStatusFor('UNAVAILABLE'),
            errorBody('UNAVAILABLE', 'the metrics could not be read (is the database answering?): retry'),
          );
        },
      );
      return;
    }
    if (url.startsWith('/socket.io/')) return; // socket.io answers these
    sendJson(res, 404, {
      ok: false,
      error: `no such path ${url}: the API is under /trpc/ (described at /openapi.json), health under /healthz`,
    });
  };
  const server: http.Server = tls ? https.createServer({ cert: tls.cert, key: tls.key }, handler) : http.createServer(handler);
  server.on('clientError', answerClientError);
  // Idle keep-alive connections are closed by the clients first (their agents drop them after
  // CLIENT_IDLE_SOCKET_MS, pinned-tls.ts): a server that closed first could do it just as a client reused the connection, and
  // that call would fail as if sfmd were down (a clone's clone.exit after a long fork did, now and then).
  server.keepAliveTimeout = SERVER_KEEP_ALIVE_MS;
  server.headersTimeout = SERVER_KEEP_ALIVE_MS + 5_000; // Node wants it above keepAliveTimeout
  const io = attachHub(server, svc, limits);
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
