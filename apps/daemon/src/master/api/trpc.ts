// tRPC's foundation for sfmd: the request context (who is calling, for which domain), SfError →
// tRPC error mapping (the code travels as data.sfCode), and the procedure builders, each declaring in its
// meta the token role it needs: the one place roles are enforced (tokens.ts has the order read < operate < admin).
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
import { actingFor } from '../acting-for.ts';
import { findLiveDomain } from '../domains.ts';
import { LIVE_DOMAIN_STATES } from '../store/states.ts';
import { isRefusal } from '../guest-refusals.ts';
import type { MasterServices } from '../services.ts';
import type { TokenRole } from '../store/states.ts';
import { roleAtLeast, tokenRegistry } from '../tokens.ts';

/** sfmd's bounds on one HTTP request to /trpc (checked at the edge, in server.ts, before any work). */
export const MAX_BODY_BYTES = 1 << 20;
export const MAX_URL_BYTES = 8 << 10;
export const MAX_BATCH_CALLS = 16;

/** A token's caller is known by its name (the operation log's `token:NAME`) and role. */
export type Caller =
  | { kind: 'token'; id: string; name: string; role: TokenRole }
  | { kind: 'host'; hostId: string; name: string }
  | { kind: 'anonymous'; reason: string };

/** What a procedure declares: the role a token needs to call it ('public': anyone, no token). */
export interface ProcedureMeta {
  role?: TokenRole | 'public';
}

/** The operation log's name for a caller. */
export function requesterOf(caller: Caller): string {
  if (caller.kind === 'token') return `token:${caller.name}`;
  if (caller.kind === 'host') return `host:${caller.name}`;
  return 'anonymous';
}

export interface ApiContext {
  svc: MasterServices;
  caller: Caller;
  /** CLUSTER:VMID from the x-snowflock-domain header: whom a guest call acts for. */
  domainHeader: string | null;
  /** The call came over the cluster network through the router's sfld (x-snowflock-via: cluster-network). */
  viaClusterNetwork?: boolean;
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

const t = initTRPC
  .context<ApiContext>()
  .meta<ProcedureMeta>()
  .create({
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

/** Health and whoami: anyone may ask. */
export const openProcedure = publicProcedure.meta({ role: 'public' });

/**
 * A token caller's right to this call: its role at least the one the procedure declares, and the token still
 * good now (the edge checked it when the request came; a revoke or an expiry since must not let it through).
 */
function requireRole(ctx: ApiContext, needed: TokenRole, path: string): void {
  if (ctx.caller.kind !== 'token') return;
  const now = tokenRegistry(ctx.svc).stillValid(ctx.caller.id);
  if ('reason' in now) throw new SfError('UNAUTHORIZED', `${now.reason}: ask an admin for a new token (sf token create)`);
  if (!roleAtLeast(now.token.role, needed)) {
    throw new SfError(
      'FORBIDDEN',
      `${path} needs a token with role ${needed} or above; token '${now.token.name}' has role ${now.token.role}: ask an admin for one (sf token create NAME --role ${needed})`,
    );
  }
}

/** The role a procedure declared (its builder's, or its own .meta); a procedure without one is refused. */
function neededRole(meta: ProcedureMeta | undefined, path: string): TokenRole {
  const role = meta?.role;
  if (!role || role === 'public') throw new SfError('INTERNAL', `procedure ${path} declares no role`);
  return role;
}

/** Calls made with a token only: the role the procedure declares in its meta is the least the token needs. */
const tokenGuard = t.middleware(({ ctx, meta, path, next }) => {
  if (ctx.caller.kind === 'host') throw new SfError('FORBIDDEN', `hosts may not call ${path}: it takes an API token`);
  if (ctx.caller.kind === 'anonymous') {
    throw new SfError(
      'UNAUTHORIZED',
      `${path} needs an API token (${ctx.caller.reason}): pass --token or set SNOWFLOCK_TOKEN; sfmd wrote the admin token to $SNOWFLOCK_HOME/admin.token`,
    );
  }
  requireRole(ctx, neededRole(meta, path), path);
  return next({ ctx });
});

const tokenProcedure = publicProcedure.use(tokenGuard);
/** Reads: any good token. */
export const readProcedure = tokenProcedure.meta({ role: 'read' });
/** Cluster actions (seed, merge, kill, shutdown, console input): operate or admin tokens. */
export const operateProcedure = tokenProcedure.meta({ role: 'operate' });
/** Tokens themselves and repairs of the record: admin tokens only. */
export const adminProcedure = tokenProcedure.meta({ role: 'admin' });

/** Counts (and samples in the log) every guest call refused, whatever refused it. */
const countRefusals = t.middleware(async ({ ctx, path, next }) => {
  const result = await next();
  if (!result.ok) {
    const code = sfCodeOf(result.error);
    if (isRefusal(code)) ctx.svc.refusals.note(ctx.svc.log, ctx.domainHeader ?? '(none)', path, code, clientMessage(result.error, path));
  }
  return result;
});

/**
 * Guest calls act for one domain. An sfld may only act for domains on its own host (the identity it
 * stamps is checked, never trusted) — or, for a call that came over the cluster network, for any VM of a
 * cluster whose router it runs (the one on its master's host, which maps a VM's source address to its
 * domain); a token may act for any domain, with the role the procedure declares.
 */
const domainProcedure = publicProcedure.use(countRefusals).use(async ({ ctx, meta, path, next }) => {
  if (ctx.caller.kind === 'anonymous') {
    throw new SfError('UNAUTHORIZED', `guest calls need an sfld's credentials or an API token (${ctx.caller.reason})`);
  }
  requireRole(ctx, neededRole(meta, path), path);
  if (!ctx.domainHeader) {
    throw new SfError('BAD_INPUT', 'say which domain this call acts for: --domain CLUSTER:VMID (header x-snowflock-domain)');
  }
  const domain = await findLiveDomain(ctx.svc, parseDomainRef(ctx.domainHeader));
  if (ctx.caller.kind === 'host' && domain.hostId !== ctx.caller.hostId && !(await routesFor(ctx, ctx.caller.hostId, domain.clusterId))) {
    throw new SfError('FORBIDDEN', `host ${ctx.caller.name} may not act for domain ${ctx.domainHeader}, which runs on ${domain.host.name}`);
  }
  // A token acting for the domain is the one the log names; a guest's own call is the domain's.
  return next({ ctx: { ...ctx, domain: ctx.caller.kind === 'token' ? actingFor(domain, requesterOf(ctx.caller)) : domain } });
});

/** The calling host runs the cluster's router (its live master is there) and says the call came over that network. */
async function routesFor(ctx: ApiContext, hostId: string, clusterId: string): Promise<boolean> {
  if (!ctx.viaClusterNetwork) return false;
  const master = await ctx.svc.db.domain.findFirst({
    where: { clusterId, vmid: 0, state: { in: [...LIVE_DOMAIN_STATES] } },
    select: { hostId: true },
  });
  return master?.hostId === hostId;
}

/** Guest calls that only read (ticket list and info): a read token may make them from outside. */
export const domainReadProcedure = domainProcedure.meta({ role: 'read' });
/** Guest calls that change the cluster: from outside, an operate token at least. */
export const domainOperateProcedure = domainProcedure.meta({ role: 'operate' });
