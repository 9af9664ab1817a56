// The guest API on the cluster network (issue 20): on the host running a cluster's router, sfld listens on that
// cluster's gateway address and serves the guest procedures as HTTP + JSON (POST /trpc/NAME, a JSON body), each
// forwarded to sfmd for the domain the caller's source address names — never for one the request claims.
import http from 'node:http';
import { type ErrorCode, messageOf, SfError } from '../../common/errors.ts';
import type { Logger } from '../../common/logger.ts';
import type { SfmdClient } from '../../common/sfmd-client.ts';
import { type GuestCallCounts, GuestCallLimit, type GuestCallLimits } from '../guest-call-limit.ts';
import { type ApiAnswer, errorAnswer, forwardGuestCall, GUEST_PROCEDURES } from './guest-api-forward.ts';
import { callerOf, type GatewaySubnet } from './guest-api-identity.ts';

/** A guest call's input is a few numbers and a ticket: anything near this is not one. */
export const MAX_API_BODY_BYTES = 64 << 10;
/** Connections one cluster's listener holds at once (a waiting join holds one for as long as it waits). */
export const MAX_API_CONNECTIONS = 256;

export interface GuestApiOptions {
  port: number;
  /** A client acting for the domain, marked as a call over the cluster network. */
  clientFor(domain: { clusterid: number; vmid: number }): { client: SfmdClient; url: string };
  log: Logger;
  limits: GuestCallLimits;
  /** The host's guest call counters (shared with the hypercall path's, whose owner starts later). */
  counts: () => GuestCallCounts;
}

interface Listener {
  subnet: GatewaySubnet;
  server: http.Server;
  /** Each VM's own bucket, as on the hypercall path. */
  buckets: Map<number, GuestCallLimit>;
}

function send(res: http.ServerResponse, answer: ApiAnswer): void {
  const text = JSON.stringify(answer.body);
  res.writeHead(answer.status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const refuse = (res: http.ServerResponse, code: ErrorCode, message: string) => send(res, errorAnswer(new SfError(code, message)));

/** The request's procedure name and JSON input (GET: ?input=, POST: the body); BAD_INPUT when malformed. */
async function readCall(req: http.IncomingMessage): Promise<{ procedure: string; input: unknown }> {
  const url = new URL(req.url ?? '/', 'http://gateway');
  const m = /^\/trpc\/([A-Za-z]+\.[A-Za-z]+)$/.exec(url.pathname);
  if (!m) throw new SfError('BAD_INPUT', `no such path ${url.pathname}: call POST /trpc/NAME (e.g. /trpc/ticket.list) with a JSON body`);
  if (!GUEST_PROCEDURES.includes(m[1]!)) {
    throw new SfError('BAD_INPUT', `no guest procedure '${m[1]}': a VM may call ${GUEST_PROCEDURES.join(', ')}`);
  }
  let text = '';
  if (req.method === 'GET') text = url.searchParams.get('input') ?? '';
  else if (req.method === 'POST') {
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > MAX_API_BODY_BYTES)
        throw new SfError('TOO_LARGE', `the body is over ${MAX_API_BODY_BYTES} bytes: a guest call's input is small`);
      chunks.push(chunk);
    }
    text = Buffer.concat(chunks).toString('utf8');
  } else throw new SfError('BAD_INPUT', `${req.method} is not served: call POST /trpc/NAME with a JSON body`);
  if (text.trim() === '') return { procedure: m[1]!, input: undefined };
  try {
    return { procedure: m[1]!, input: JSON.parse(text) };
  } catch {
    throw new SfError('BAD_INPUT', `the input of ${m[1]} is not valid JSON`);
  }
}

export class GuestApi {
  readonly #listeners = new Map<number, Listener>();

  constructor(private readonly options: GuestApiOptions) {}

  get port(): number {
    return this.options.port;
  }

  /** Starts serving a cluster's VMs on its gateway address (the router's leg holds it by now). */
  async open(subnet: GatewaySubnet): Promise<void> {
    if (this.#listeners.has(subnet.clusterid)) return;
    const listener: Listener = { subnet, server: http.createServer(), buckets: new Map() };
    listener.server.maxConnections = MAX_API_CONNECTIONS;
    listener.server.on('request', (req, res) => void this.#serve(listener, req, res));
    try {
      await new Promise<void>((resolve, reject) => {
        listener.server.once('error', reject);
        listener.server.listen({ port: this.options.port, host: subnet.gateway, exclusive: true }, () => resolve());
      });
    } catch (err) {
      // The cluster runs on without it: its guests keep the hypercall path.
      this.options.log.error(
        { cluster: subnet.clusterid, gateway: subnet.gateway, port: this.options.port, err: messageOf(err) },
        'the guest API cannot listen on the cluster gateway: free the port or change guest_api_port in sfld.cfg',
      );
      return;
    }
    this.#listeners.set(subnet.clusterid, listener);
    this.options.log.info({ cluster: subnet.clusterid, gateway: subnet.gateway, port: this.options.port }, 'guest API listening');
  }

  /** Stops serving a cluster (its router goes); calls in flight are cut. */
  async close(clusterid: number): Promise<void> {
    const listener = this.#listeners.get(clusterid);
    if (!listener) return;
    this.#listeners.delete(clusterid);
    const closed = new Promise<void>((resolve) => listener.server.close(() => resolve()));
    listener.server.closeAllConnections();
    await closed;
  }

  async stop(): Promise<void> {
    for (const clusterid of [...this.#listeners.keys()]) await this.close(clusterid);
  }

  /** The clusters served here (for /healthz and tests). */
  clusters(): number[] {
    return [...this.#listeners.keys()];
  }

  async #serve(listener: Listener, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { log } = this.options;
    let domain: { clusterid: number; vmid: number };
    try {
      domain = callerOf(listener.subnet, req.socket.localAddress, req.socket.remoteAddress);
    } catch (err) {
      log.warn({ cluster: listener.subnet.clusterid, peer: req.socket.remoteAddress }, messageOf(err));
      req.resume();
      return refuse(res, 'FORBIDDEN', messageOf(err));
    }
    let call: { procedure: string; input: unknown };
    try {
      call = await readCall(req);
    } catch (err) {
      const e = err instanceof SfError ? err : new SfError('BAD_INPUT', messageOf(err));
      return send(res, errorAnswer(e));
    }
    let bucket = listener.buckets.get(domain.vmid);
    if (!bucket) {
      bucket = new GuestCallLimit(`${domain.clusterid}:${domain.vmid}`, this.options.counts(), log, this.options.limits);
      listener.buckets.set(domain.vmid, bucket);
    }
    const { go, waitMs } = bucket.admit();
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs));
    if (!go) {
      this.options.counts().refused++;
      return refuse(res, 'RATE_LIMITED', `this VM calls the guest API faster than ${this.options.limits.ratePerSec}/s: slow down`);
    }
    this.options.counts().calls++;
    const { client, url } = this.options.clientFor(domain);
    const answer = await forwardGuestCall(client, url, call.procedure, call.input);
    log.debug({ domain: `${domain.clusterid}:${domain.vmid}`, procedure: call.procedure, status: answer.status }, 'guest API call');
    if (!res.destroyed) send(res, answer);
  }
}
