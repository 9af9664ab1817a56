// tRPC's foundation for sfmd: the request context (who is calling, for which domain), SfError →
// tRPC error mapping (the code travels as data.sfCode), and the three kinds of procedure.
import { initTRPC, TRPCError } from '@trpc/server';
import { TRPC_ERROR_CODES_BY_KEY } from '@trpc/server/rpc';
import { ZodError } from 'zod';
import { parseDomainRef } from '../../common/domain-ref.ts';
import {
  ERROR_TABLE,
  type ErrorCode,
  forClient,
  hasInternalText,
  httpStatusFor,
  INTERNAL_MESSAGE,
  malformedTextPath,
  SfError,
} from '../../common/errors.ts';
import { findLiveDomain } from '../domains.ts';
import { isRefusal } from '../guest-refusals.ts';
import type { MasterServices } from '../services.ts';

/** sfmd's bounds on one HTTP request to /trpc (checked at the edge, in server.ts, before any work). */
export const MAX_BODY_BYTES = 1 << 20;
export const MAX_URL_BYTES = 8 << 10;
export const MAX_BATCH_CALLS = 16;

export type Caller = { kind: 'admin' } | { kind: 'host'; hostId: string; name: string } | { kind: 'anonymous'; reason: string };

export interface ApiContext {
  svc: MasterServices;
  caller: Caller;
  /** CLUSTER:VMID from the x-snowflock-domain header: whom a guest call acts for. */
  domainHeader: string | null;
}

/** The error table's code for any error tRPC answers with: ours, zod's, or tRPC's own refusals. */
export function sfCodeOf(error: TRPCError): ErrorCode {
  if (error.cause instanceof SfError) return forClient(error.cause).error.code;
  if (error.cause instanceof ZodError) return 'BAD_INPUT';
  switch (error.code) {
    case 'BAD_REQUEST':
    case 'PARSE_ERROR':
    case 'NOT_FOUND':
    case 'METHOD_NOT_SUPPORTED':
    case 'UNSUPPORTED_MEDIA_TYPE':
    case 'UNPROCESSABLE_CONTENT':
      return 'BAD_INPUT';
    case 'PAYLOAD_TOO_LARGE':
      return 'TOO_LARGE';
    case 'UNAUTHORIZED':
      return 'UNAUTHORIZED';
    case 'FORBIDDEN':
      return 'FORBIDDEN';
    case 'TIMEOUT':
      return 'TIMEOUT';
    case 'TOO_MANY_REQUESTS':
      return 'RATE_LIMITED';
    default:
      return 'INTERNAL';
  }
}

/**
 * What the client reads: our own message for SfErrors, a field-by-field one for zod, and for tRPC's
 * refusals a sentence that says how to call sfmd instead. Nothing else (a library's or the
 * database's text) reaches a client.
 */
export function clientMessage(error: TRPCError, path: string | undefined): string {
  if (error.cause instanceof SfError) return forClient(error.cause).error.message;
  if (error.cause instanceof ZodError) {
    return `invalid input: ${error.cause.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`;
  }
  const where = path ? ` ${path}` : '';
  switch (error.code) {
    case 'METHOD_NOT_SUPPORTED': {
      const kind = /\b(query|mutation|subscription) procedure/.exec(error.message)?.[1];
      if (kind === 'query') return `${where.trim() || 'this call'} is a query: call it with GET /trpc/NAME?input=<JSON>`;
      if (kind === 'mutation') return `${where.trim() || 'this call'} is a mutation: call it with POST /trpc/NAME and a JSON body`;
      return 'wrong HTTP method: queries take GET /trpc/NAME?input=<JSON>, mutations POST /trpc/NAME with a JSON body';
    }
    case 'UNSUPPORTED_MEDIA_TYPE':
      return 'sfmd takes JSON: send content-type application/json (GET /trpc/NAME?input=<JSON> for queries, POST with a JSON body for mutations)';
    case 'PARSE_ERROR':
      return `the input${where} is not valid JSON: send ?input=<JSON> for queries or a JSON body for mutations`;
    case 'NOT_FOUND':
      return `no procedure${where || ' at this path'}: procedures are named like state.domains or cluster.seed (one per sf command, see sf --help)`;
    case 'PAYLOAD_TOO_LARGE':
      return `the request body is over ${MAX_BODY_BYTES} bytes, sfmd's bound: send less per call`;
    case 'UNAUTHORIZED':
    case 'FORBIDDEN':
    case 'BAD_REQUEST':
    case 'TIMEOUT':
      // tRPC's own sentences for these (batching, URL encoding, input shape) name no internals.
      return !hasInternalText(error.message)
        ? error.message
        : 'the request is malformed: queries take GET /trpc/NAME?input=<JSON>, mutations POST /trpc/NAME with a JSON body';
    default:
      return INTERNAL_MESSAGE;
  }
}

const t = initTRPC.context<ApiContext>().create({
  errorFormatter({ shape, error, path }) {
    const sfCode = sfCodeOf(error);
    const trpcCode = ERROR_TABLE[sfCode].trpc;
    return {
      ...shape,
      code: TRPC_ERROR_CODES_BY_KEY[trpcCode],
      message: clientMessage(error, path),
      data: { ...shape.data, code: trpcCode, httpStatus: httpStatusFor(sfCode), sfCode, stack: undefined },
    };
  },
});

/** Refuses text that is not well-formed Unicode (lone surrogates) before any procedure sees it. */
const wellFormedInput = t.middleware(async ({ getRawInput, next }) => {
  const field = malformedTextPath(await getRawInput());
  if (field) {
    throw new SfError('BAD_INPUT', `${field} is not well-formed Unicode (it holds a lone UTF-16 surrogate): send valid text`);
  }
  return next();
});

/** Converts SfErrors thrown by the services into TRPCErrors with the mapped code. */
const mapErrors = t.middleware(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.cause instanceof SfError) {
    const cause = result.error.cause;
    throw new TRPCError({ code: ERROR_TABLE[cause.code].trpc, message: cause.message, cause });
  }
  return result;
});

export const router = t.router;
export const publicProcedure = t.procedure.use(mapErrors).use(wellFormedInput);

export const adminProcedure = publicProcedure.use(({ ctx, next }) => {
  if (ctx.caller.kind !== 'admin') {
    throw new SfError(
      ctx.caller.kind === 'host' ? 'FORBIDDEN' : 'UNAUTHORIZED',
      ctx.caller.kind === 'host'
        ? 'hosts may not call admin procedures'
        : `this call needs the admin token (${ctx.caller.reason}): pass --token or set SNOWFLOCK_TOKEN; sfmd wrote it to $SNOWFLOCK_HOME/admin.token`,
    );
  }
  return next({ ctx });
});

/**
 * Guest calls act for one domain. An sfld may only act for domains on its own host (the identity it
 * stamps is checked, never trusted); an admin may act for any domain.
 */
/** Counts (and samples in the log) every guest call refused, whatever refused it. */
const countRefusals = t.middleware(async ({ ctx, path, next }) => {
  const result = await next();
  if (!result.ok) {
    const code = sfCodeOf(result.error);
    if (isRefusal(code)) ctx.svc.refusals.note(ctx.svc.log, ctx.domainHeader ?? '(none)', path, code, clientMessage(result.error, path));
  }
  return result;
});

export const domainProcedure = publicProcedure.use(countRefusals).use(async ({ ctx, next }) => {
  if (ctx.caller.kind === 'anonymous') {
    throw new SfError('UNAUTHORIZED', `guest calls need an sfld's or the admin's credentials (${ctx.caller.reason})`);
  }
  if (!ctx.domainHeader) {
    throw new SfError('BAD_INPUT', 'say which domain this call acts for: --domain CLUSTER:VMID (header x-snowflock-domain)');
  }
  const domain = await findLiveDomain(ctx.svc, parseDomainRef(ctx.domainHeader));
  if (ctx.caller.kind === 'host' && domain.hostId !== ctx.caller.hostId) {
    throw new SfError('FORBIDDEN', `host ${ctx.caller.name} may not act for domain ${ctx.domainHeader}, which runs on ${domain.host.name}`);
  }
  return next({ ctx: { ...ctx, domain } });
});
