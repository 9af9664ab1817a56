// socket.io's share of sfmd's limits: new connections per address, a cap on the sockets one address holds
// before any namespace accepted them, the strict limit on failed credential checks (shared with HTTP), and
// per-socket event rates once connected.
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'socket.io';
import { type ErrorCode, fail, SfError } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';
import { addressKey, type EdgeLimits, type RateRefusal } from './edge-limits.ts';
import { monotonicMs, type Rate, TokenBucket } from './rate-limits.ts';

/** Sockets one address may hold that no namespace has accepted yet (a handshake takes milliseconds). */
export const MAX_PENDING_SOCKETS_PER_ADDRESS = 32;
/** How long a socket may stay connected without joining a namespace (socket.io's default is 45 s). */
export const SOCKET_CONNECT_TIMEOUT_MS = 10_000;
/** A socket sending this many times its event limit, for seconds on end, loses its connection. */
export const ABSURD_RATE_FACTOR = 4;
/** At most one log line per socket in this time about its dropped events. */
const DROP_LOG_INTERVAL_MS = 10_000;

/** The engine.io connection under a socket, as far as these limits need it. */
interface EngineConnection {
  remoteAddress: string;
  once(event: 'close', listener: () => void): unknown;
}

/** A handshake refusal as socket.io carries it to the client (message and data.code). */
export function handshakeError(code: ErrorCode, message: string, retryAfterS?: number): Error {
  return Object.assign(new Error(message), { data: { code, ...(retryAfterS === undefined ? {} : { retryAfterS }) } });
}

const rateLimited = (r: RateRefusal) => handshakeError('RATE_LIMITED', r.message, r.retryAfterS);

export class SocketGate {
  /** Engine connections no namespace has accepted yet → their address. */
  readonly #pending = new Map<EngineConnection, string>();
  readonly #pendingPerAddress = new Map<string, number>();

  constructor(private readonly limits: EdgeLimits) {}

  /** engine.io's allowRequest: a new connection (not one already open) from this address, or why not. */
  readonly allowRequest = (req: IncomingMessage, callback: (err: string | null | undefined, success: boolean) => void): void => {
    const address = addressKey(req.socket.remoteAddress);
    if ((this.#pendingPerAddress.get(address) ?? 0) >= MAX_PENDING_SOCKETS_PER_ADDRESS) {
      callback(
        `too many sockets from ${address} waiting to authenticate (${MAX_PENDING_SOCKETS_PER_ADDRESS} at most): ` +
          'connect to /hosts or /dash with credentials, or close the others',
        false,
      );
      return;
    }
    // Refused here, a client's socket.io retries by itself (with its backoff); refused by a namespace, it
    // would give up (socket.io treats that as final). So the limits are judged here first.
    const refusal = this.limits.failedAuthRefusal(address) ?? this.limits.handshakeRefusal(address);
    callback(refusal?.message, !refusal);
  };

  /** A new engine connection: pending until a namespace accepts it or it closes. */
  track(conn: EngineConnection): void {
    const address = addressKey(conn.remoteAddress);
    this.#pending.set(conn, address);
    this.#pendingPerAddress.set(address, (this.#pendingPerAddress.get(address) ?? 0) + 1);
    conn.once('close', () => this.accepted(conn));
  }

  /** A namespace accepted a socket on this connection (or it closed): no longer pending. */
  accepted(conn: EngineConnection): void {
    const address = this.#pending.get(conn);
    if (address === undefined) return;
    this.#pending.delete(conn);
    const left = (this.#pendingPerAddress.get(address) ?? 1) - 1;
    if (left > 0) this.#pendingPerAddress.set(address, left);
    else this.#pendingPerAddress.delete(address);
  }

  /**
   * Before a namespace checks credentials: the lock on failed checks, again, for clients that try namespace
   * after namespace over one connection (and for the instant between a connection and its first namespace).
   */
  beforeCredentials(socket: Socket): Error | null {
    const refusal = this.limits.failedAuthRefusal(addressKey(socket.handshake.address));
    return refusal ? rateLimited(refusal) : null;
  }

  /** The credentials this socket sent were refused. */
  failedCredentials(socket: Socket): void {
    this.limits.noteFailedAuth(addressKey(socket.handshake.address));
  }
}

/**
 * Limits the events a connected socket sends to `rate` (null: none). Events over it are dropped (an ack
 * is answered RATE_LIMITED), except those named in `keep`, which are only counted; a socket sending
 * ABSURD_RATE_FACTOR times its limit for seconds on end loses its connection, with a logged reason. Its
 * client may connect again (socket.io's own retry): an sfld whose guests flood their consoles comes back
 * and re-registers, instead of leaving its host for lost.
 */
export function limitSocketEvents(
  socket: Socket,
  rate: Rate | null,
  options: { who: Record<string, unknown>; keep?: ReadonlySet<string>; log: Logger; setting: string },
): void {
  if (!rate) return;
  const started = monotonicMs();
  const bucket = new TokenBucket(rate, started);
  const ceiling = new TokenBucket({ perSecond: rate.perSecond * ABSURD_RATE_FACTOR, burst: rate.burst * ABSURD_RATE_FACTOR }, started);
  let dropped = 0;
  let loggedAt = Number.NEGATIVE_INFINITY;
  socket.use((packet, next) => {
    const now = monotonicMs();
    const event = String(packet[0]);
    if (ceiling.take(now) > 0) {
      options.log.warn(
        { ...options.who, event, limit: rate.perSecond, dropped },
        `connection closed: it sent events at over ${ABSURD_RATE_FACTOR} times its limit of ${rate.perSecond} a second (rate_limits['${options.setting}'] in sfmd.cfg)`,
      );
      socket.conn.close();
      return;
    }
    const wait = bucket.take(now);
    if (wait === 0 || options.keep?.has(event)) {
      next();
      return;
    }
    dropped++;
    const ack = packet.at(-1);
    if (typeof ack === 'function') {
      ack(
        fail(
          new SfError(
            'RATE_LIMITED',
            `too many events on this socket (${rate.perSecond} a second at most, bursts of ${rate.burst}): ${event} was dropped; retry in ${Math.max(1, Math.ceil(wait / 1000))} s`,
          ),
        ),
      );
    }
    if (now - loggedAt >= DROP_LOG_INTERVAL_MS) {
      options.log.warn({ ...options.who, event, dropped, limit: rate.perSecond }, 'socket events over their limit dropped');
      loggedAt = now;
      dropped = 0;
    }
  });
}
