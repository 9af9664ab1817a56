// The one error type of Snowflock: a closed set of codes, each mapped once to a tRPC code,
// a CLI exit code and an HTTP status. Messages say what happened and what to do next.
export { messageOf } from '@snowflock/native/message';
import { messageOf } from '@snowflock/native/message';

export const ERROR_TABLE = {
  BAD_INPUT: { trpc: 'BAD_REQUEST', exit: 2, http: 400 },
  BAD_CONFIG: { trpc: 'BAD_REQUEST', exit: 3, http: 400 },
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
  HOST_LOST: { trpc: 'PRECONDITION_FAILED', exit: 9, http: 409 },
  KVM_UNAVAILABLE: { trpc: 'PRECONDITION_FAILED', exit: 10, http: 503 },
  TIMEOUT: { trpc: 'TIMEOUT', exit: 11, http: 408 },
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

export function exitCodeFor(code: ErrorCode): number {
  return ERROR_TABLE[code].exit;
}

export function httpStatusFor(code: ErrorCode): number {
  return ERROR_TABLE[code].http;
}

/** The value carried by socket.io acks: never a thrown exception. */
export type Result<T> = { ok: true; value: T } | { ok: false; error: { code: ErrorCode; message: string } };

export const ok = <T>(value: T): Result<T> => ({ ok: true, value });
export const fail = (err: unknown): Result<never> => ({ ok: false, error: toSfError(err).toJSON() });
