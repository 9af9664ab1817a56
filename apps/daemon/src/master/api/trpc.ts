// tRPC's foundation for sfmd: the request context (who is calling, for which domain), SfError →
// tRPC error mapping (the code travels as data.sfCode), and the three kinds of procedure.
import { initTRPC, TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { parseDomainRef } from '../../common/domain-ref.ts';
import { ERROR_TABLE, SfError, type ErrorCode } from '../../common/errors.ts';
import { findLiveDomain } from '../domains.ts';
import type { MasterServices } from '../services.ts';

export type Caller = { kind: 'admin' } | { kind: 'host'; hostId: string; name: string } | { kind: 'anonymous'; reason: string };

export interface ApiContext {
  svc: MasterServices;
  caller: Caller;
  /** CLUSTER:VMID from the x-snowflock-domain header: whom a guest call acts for. */
  domainHeader: string | null;
}

const t = initTRPC.context<ApiContext>().create({
  errorFormatter({ shape, error }) {
    const sfCode: ErrorCode =
      error.cause instanceof SfError
        ? error.cause.code
        : error.cause instanceof ZodError
          ? 'BAD_INPUT'
          : error.code === 'NOT_FOUND'
            ? 'BAD_INPUT'
            : error.code === 'UNAUTHORIZED'
              ? 'UNAUTHORIZED'
              : error.code === 'BAD_REQUEST' || error.code === 'PARSE_ERROR'
                ? 'BAD_INPUT'
                : 'INTERNAL';
    const message =
      error.cause instanceof ZodError
        ? `invalid input: ${error.cause.issues.map((i) => `${i.path.join('.') || 'input'}: ${i.message}`).join('; ')}`
        : shape.message;
    return { ...shape, message, data: { ...shape.data, sfCode, stack: undefined } };
  },
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
export const publicProcedure = t.procedure.use(mapErrors);

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
export const domainProcedure = publicProcedure.use(async ({ ctx, next }) => {
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
