// The one error type of Snowflock: a closed set of codes, each mapped once to a tRPC code,
// a CLI exit code and an HTTP status. Messages say what happened and what to do next.
export { messageOf } from '@snowflock/native/message';
import { messageOf } from '@snowflock/native/message';

export const ERROR_TABLE = {
  BAD_INPUT: { trpc: 'BAD_REQUEST', exit: 2, http: 400 },
  BAD_CONFIG: { trpc: 'BAD_REQUEST', exit: 3, http: 400 },
  // A request over one of sfmd's bounds (calls per batch, body or URL size): refused before any work.
  TOO_LARGE: { trpc: 'PAYLOAD_TOO_LARGE', exit: 2, http: 413 },
  // Over one of sfmd's rate limits (per credential, per address, per socket): answered with retry-after.
  RATE_LIMITED: { trpc: 'TOO_MANY_REQUESTS', exit: 13, http: 429 },
  UNAUTHORIZED: { trpc: 'UNAUTHORIZED', exit: 4, http: 401 },
  FORBIDDEN: { trpc: 'FORBIDDEN', exit: 4, http: 403 },
  NOT_MASTER: { trpc: 'FORBIDDEN', exit: 5, http: 403 },
  NOT_CLONE: { trpc: 'FORBIDDEN', exit: 5, http: 403 },
  NO_RESOURCES: { trpc: 'PRECONDITION_FAILED', exit: 6, http: 409 },
  TICKET_UNKNOWN: { trpc: 'NOT_FOUND', exit: 7, http: 404 },
  TICKET_STATE: { trpc: 'CONFLICT', exit: 8, http: 409 },
  CLUSTER_UNKNOWN: { trpc: 'NOT_FOUND', exit: 7, http: 404 },
  DOMAIN_UNKNOWN: { trpc: 'NOT_FOUND', exit: 7, http: 404 },
  HOST_UNKNOWN: { trpc: 'NOT_FOUND', exit: 7, http: 404 },
  OPERATION_UNKNOWN: { trpc: 'NOT_FOUND', exit: 7, http: 404 },
  TOKEN_UNKNOWN: { trpc: 'NOT_FOUND', exit: 7, http: 404 },
  // A token's name is its identity in the operation log: a second token may not take it, revoked or not.
  TOKEN_EXISTS: { trpc: 'CONFLICT', exit: 8, http: 409 },
  HOST_LOST: { trpc: 'PRECONDITION_FAILED', exit: 9, http: 409 },
  KVM_UNAVAILABLE: { trpc: 'PRECONDITION_FAILED', exit: 10, http: 503 },
  TIMEOUT: { trpc: 'TIMEOUT', exit: 11, http: 408 },
  // Not a failure: a waiting call's poll window (pollMs) ended first; the client calls again (wait-window.ts).
  STILL_WAITING: { trpc: 'TIMEOUT', exit: 11, http: 408 },
  UNAVAILABLE: { trpc: 'INTERNAL_SERVER_ERROR', exit: 12, http: 503 },
  INTERNAL: { trpc: 'INTERNAL_SERVER_ERROR', exit: 1, http: 500 },
} as const;

export type ErrorCode = keyof typeof ERROR_TABLE;
export const ERROR_CODES = Object.keys(ERROR_TABLE) as ErrorCode[];

export class SfError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'SfError';
    this.code = code;
  }
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.message };
  }
}

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_TABLE, value);
}

/** Turns anything thrown into an SfError, keeping SfErrors as they are. */
export function toSfError(err: unknown): SfError {
  if (err instanceof SfError) return err;
  return new SfError('INTERNAL', messageOf(err), { cause: err });
}

/** What a client is told about a failure nobody expected; the detail goes to the daemon's log only. */
export const internalMessage = (daemon: string) =>
  `${daemon} failed on this call (an internal error, logged in its log with the time of the call): try again, and report it if it persists`;

export const INTERNAL_MESSAGE = internalMessage('sfmd');

// Text that belongs in a log, never in an answer: stack frames, source paths, ORM dumps.
const INTERNAL_TEXT = /prisma|node_modules|\/[\w.-]+\.[cm]?[jt]sx?\b|\.[cm]?[jt]sx?:\d|\n\s+at |invocation:|\bat [\w.<>]+ \(/i;

export function hasInternalText(text: string): boolean {
  return INTERNAL_TEXT.test(text);
}

/**
 * The form of an error that may be shown to a remote client: SfErrors raised on purpose keep their code
 * and message; anything else (or a message carrying internal text) becomes INTERNAL with a generic
 * message. `leaked` says the original should be logged.
 */
export function forClient(err: unknown, daemon = 'sfmd'): { error: SfError; leaked: boolean } {
  const ours = err instanceof SfError && !(err.code === 'INTERNAL' && err.cause !== undefined && !(err.cause instanceof SfError));
  if (ours && !hasInternalText(err.message)) return { error: err, leaked: false };
  return { error: new SfError('INTERNAL', internalMessage(daemon), { cause: err }), leaked: true };
}

// A UTF-16 surrogate without its partner: JSON can carry it ("\ud800") but no database, file or
// terminal can store it.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isWellFormedText(text: string): boolean {
  return !LONE_SURROGATE.test(text);
}

/**
 * The field path of the first string in `value` (object keys included) that is not well-formed
 * Unicode; null if there is none. Iterative: nesting depth is the client's choice.
 */
export function malformedTextPath(value: unknown): string | null {
  const pending: Array<[unknown, string]> = [[value, '']];
  for (let next = pending.pop(); next; next = pending.pop()) {
    const [item, path] = next;
    if (typeof item === 'string') {
      if (!isWellFormedText(item)) return path || 'input';
    } else if (item !== null && typeof item === 'object') {
      for (const [key, child] of Object.entries(item)) {
        if (!isWellFormedText(key)) return path ? `a key of ${path}` : 'a key of input';
        pending.push([child, path ? `${path}.${key}` : key]);
      }
    }
  }
  return null;
}

export function exitCodeFor(code: ErrorCode): number {
  return ERROR_TABLE[code].exit;
}

export function httpStatusFor(code: ErrorCode): number {
  return ERROR_TABLE[code].http;
}

/** The value carried by socket.io acks: never a thrown exception. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: { code: ErrorCode; message: string } };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
/**
 * A failure as an ack carries it, in the form a client may see (forClient); what it would have leaked is
 * handed to `onLeak` for the caller's log. `daemon` names who failed in the generic message.
 */
export function fail(err: unknown, onLeak?: (err: unknown) => void, daemon = 'sfmd'): Result<never> {
  const { error, leaked } = forClient(err, daemon);
  if (leaked) onLeak?.(err);
  return { ok: false, error: error.toJSON() };
}
