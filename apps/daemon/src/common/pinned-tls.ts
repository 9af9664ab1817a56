// How clients trust sfmd's certificate: by its SHA-256 fingerprint (a pin), not a CA. One connector serves
// the tRPC client's fetch, socket.io's websocket and health checks; nothing is sent before the pin matched.
import { X509Certificate } from 'node:crypto';
import https from 'node:https';
import type { Duplex } from 'node:stream';
import { Readable } from 'node:stream';
import tls from 'node:tls';
import { SfError } from './errors.ts';

/** The pin a client holds and where it read it, to name that place when the pin does not match. */
export interface SfmdTrust {
  /** AA:BB:… (64 hex digits); null: the certificate must verify against the system's CAs instead. */
  fingerprint: string | null;
  /** e.g. "master_fingerprint in /etc/snowflock/sfld.cfg". */
  source: string;
}

/**
 * A fingerprint written by hand or copied from anywhere (any case, with or without colons, an optional
 * `sha256:` prefix) in the one form Node reports: upper-case hex pairs joined by colons. Null if not one.
 */
export function normalizeFingerprint(text: string): string | null {
  const hex = text
    .trim()
    .replace(/^sha-?256[:=\s]*/i, '')
    .replace(/[:\s]/g, '')
    .toUpperCase();
  return /^[0-9A-F]{64}$/.test(hex) ? (hex.match(/../g) as string[]).join(':') : null;
}

export function certificateFingerprint(certPem: string | Buffer): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Why a connection to `origin` was refused: the expected and the seen fingerprints, and how to fix it. */
export function untrusted(origin: string, seen: string, trust: SfmdTrust, why?: string): SfError {
  if (trust.fingerprint) {
    return new SfError(
      'BAD_CONFIG',
      `sfmd at ${origin} presented a certificate with SHA-256 fingerprint ${seen}, but ${trust.source} expects ` +
        `${trust.fingerprint}. If sfmd's certificate was replaced on purpose, put the new fingerprint there ` +
        `('sf fingerprint' on sfmd's machine prints it); otherwise something else answers at ${origin}: do not use it`,
    );
  }
  return new SfError(
    'BAD_CONFIG',
    `sfmd at ${origin} presented a certificate this machine cannot check (${why ?? 'not trusted'}), SHA-256 fingerprint ` +
      `${seen}. Compare it with what 'sf fingerprint' prints on sfmd's machine and, if they match, put it in ` +
      `${trust.source}`,
  );
}

type Connected = (err: Error | null, socket?: Duplex) => void;

/**
 * Opens a TLS connection and hands it over only once the server's certificate is the pinned one (or, with no
 * pin, verified by a CA and for this host name). Node checks a host name only after a chain verified, so
 * the check is made here, on the finished handshake.
 */
export function pinnedConnect(options: tls.ConnectionOptions, trust: SfmdTrust, done: Connected): void {
  const origin = `https://${options.host ?? 'localhost'}:${options.port ?? 443}`;
  const socket = tls.connect({ ...options, rejectUnauthorized: false });
  const fail = (err: Error) => {
    socket.destroy();
    done(err);
  };
  socket.once('error', fail);
  socket.once('secureConnect', () => {
    socket.off('error', fail);
    const seen = socket.getPeerCertificate().fingerprint256 ?? '';
    const ok = trust.fingerprint ? seen === trust.fingerprint : socket.authorized;
    if (ok) return done(null, socket);
    fail(untrusted(origin, seen, trust, String(socket.authorizationError ?? '')));
  });
}

/**
 * A pin, or where to read it at each new connection (a daemon started before sfmd's first start finds the
 * fingerprint file sfmd writes later, and one that sfmd renewed after an operator fixed it).
 */
export type TrustSource = SfmdTrust | (() => SfmdTrust);

/**
 * How long a client keeps an idle connection to sfmd, and how long sfmd keeps one open (server.ts): the client
 * lets go first, so it never sends a call on a connection the server is closing.
 */
export const CLIENT_IDLE_SOCKET_MS = 30_000;
export const SERVER_KEEP_ALIVE_MS = 65_000;

/** An https.Agent whose connections are pinned; keep-alive, so requests do not each pay a handshake. */
export class PinnedAgent extends https.Agent {
  constructor(readonly trust: TrustSource) {
    // timeout: a free (idle) socket is destroyed after this long (Node's agent), well before sfmd closes it.
    super({ keepAlive: true, timeout: CLIENT_IDLE_SOCKET_MS });
  }
  // Node's Agent takes a connection handed to this callback later (returning nothing) as well as at once.
  override createConnection(options: tls.ConnectionOptions, done: Connected): undefined {
    try {
      pinnedConnect(options, typeof this.trust === 'function' ? this.trust() : this.trust, done);
    } catch (err) {
      done(err as Error);
    }
    return undefined;
  }
}

// Agents are shared per origin and pin, so the clients sfld makes per VM share connections too.
const agents = new Map<string, PinnedAgent>();

export function pinnedAgent(origin: string, trust: TrustSource): PinnedAgent {
  if (typeof trust === 'function') return new PinnedAgent(trust);
  const key = `${origin} ${trust.fingerprint ?? 'ca'}`;
  let agent = agents.get(key);
  if (!agent || (agent.trust as SfmdTrust).source !== trust.source) {
    agent = new PinnedAgent(trust);
    agents.set(key, agent);
  }
  return agent;
}

/**
 * What a client of sfmd at `url` connects with: for https, a pinned fetch and the agent (socket.io-client's
 * `agent` option); for plain http (`tls = False` in sfmd.cfg), the global fetch and no agent.
 */
export function sfmdTransport(url: string, trust: TrustSource | null): { fetch: typeof fetch; agent: https.Agent | undefined } {
  const parsed = new URL(url);
  if (parsed.protocol !== 'https:' || !trust) return { fetch: (input, init) => fetch(input, init), agent: undefined };
  const agent = pinnedAgent(parsed.origin, trust);
  return { fetch: agentFetch(agent), agent };
}

/**
 * fetch() over node:https with `agent`: Node's own fetch cannot take an agent (its undici is not exposed), and
 * this is all the clients here need: a method, headers, a string, byte or stream body, a signal. A failure to connect
 * reads like fetch's ("fetch failed" with the socket error as its cause); a refused certificate is its SfError.
 */
export function agentFetch(agent: https.Agent): typeof fetch {
  return (input, init) =>
    new Promise<Response>((resolve, reject) => {
      const url = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
      const body = init?.body;
      const streamed = body instanceof ReadableStream;
      if (body != null && !streamed && typeof body !== 'string' && !(body instanceof Uint8Array)) {
        reject(new TypeError('this fetch sends only string, byte or stream bodies'));
        return;
      }
      const signal = init?.signal ?? undefined;
      const req = https.request(url, {
        method: init?.method ?? 'GET',
        headers: Object.fromEntries(new Headers(init?.headers)),
        agent,
        ...(signal ? { signal } : {}),
      });
      req.once('response', (res) => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers)) {
          for (const one of Array.isArray(value) ? value : value === undefined ? [] : [value]) headers.append(name, one);
        }
        const status = res.statusCode ?? 502;
        const empty = status === 204 || status === 304 || init?.method === 'HEAD';
        // sfmd's answers are small JSON: read whole, then handed over (a web stream per answer costs more than the read).
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.once('error', reject);
        res.once('end', () =>
          resolve(new Response(empty ? null : Buffer.concat(chunks), { status, statusText: res.statusMessage ?? '', headers })),
        );
      });
      req.once('error', (err) => {
        if (signal?.aborted) reject(signal.reason);
        else if (err instanceof SfError) reject(err);
        else reject(new TypeError('fetch failed', { cause: err }));
      });
      if (streamed) Readable.fromWeb(body as import('node:stream/web').ReadableStream).pipe(req);
      else req.end(body ?? undefined);
    });
}

/**
 * The refused certificate behind a socket.io connect_error, if that is what it was: engine.io reports a
 * websocket's failure as "websocket error" with the socket's error as its description.
 */
export function socketCause(err: Error & { description?: unknown }): SfError | null {
  const described = err.description as { error?: unknown; message?: unknown } | Error | undefined;
  const inner = described instanceof Error ? described : described?.error;
  return inner instanceof SfError ? inner : null;
}

/**
 * socket.io-client options that pin sfmd's certificate: its `agent` reaches the websocket (ws) in Node, though
 * engine.io's types only name the browser's kind of value.
 */
export function sfmdSocketOptions(url: string, trust: TrustSource | null): { agent?: string | boolean } {
  const { agent } = sfmdTransport(url, trust);
  return agent ? { agent: agent as unknown as string } : {};
}
