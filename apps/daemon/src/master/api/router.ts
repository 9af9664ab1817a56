// sfmd's one public API. Guest procedures (one per seed API call) act for a domain; token procedures
// serve the CLI and the dashboard, each built with the role it needs (trpc.ts). Inputs are zod schemas;
// outputs are explicit views.
import { z } from 'zod';
import { domainAddressSchema, VM_LIMITS } from '../../common/wire.ts';
import { cloneMaster, exitClone, joinClones, mergeClones } from '../clones.ts';
import { clusterDetail, seedCluster, shutdownCluster } from '../clusters.ts';
import { consoleText } from '../console-text.ts';
import { checkConsistency } from '../doctor.ts';
import { hostCounts } from '../host-counts.ts';
import { seedConfigSchema } from '../seed-config.ts';
import { getHost, getOperation, listClusters, listDomains, listHosts, listOperations } from '../queries.ts';
import { operationPageInput, pageOperations } from '../operation-pages.ts';
import { disposeTicket, listTickets, requestTicket, ticketInfo } from '../tickets.ts';
import {
  adminProcedure,
  type Caller,
  domainOperateProcedure,
  domainReadProcedure,
  openProcedure,
  operateProcedure,
  readProcedure,
  requesterOf,
  router,
} from './trpc.ts';
import { dashboardRouter } from './dashboard-router.ts';
import { tokenRouter } from './token-router.ts';
import { SNOWFLOCK_VERSION } from '../../common/version.ts';

const ticketId = z.string().uuid('a ticket is a 36-character uuid');
/** A guest call made with a token for a domain reaches no sfld by itself: the services tell it what changed. */
const actor = (caller: Caller) => (caller.kind === 'token' ? 'admin' : 'guest');
const waitMs = z.number().int().min(0).max(3_600_000);
/** The most any ticket could hold, in processors: VM_LIMITS' clones per ticket of the most vcpus a VM may have. */
const MAX_TICKET_AMOUNT = VM_LIMITS.maxClonesPerTicket * VM_LIMITS.maxVcpus;
/** A waiting call answers `{pending: true}` after this long and is called again (wait-window.ts). */
const pollMs = z.number().int().min(10).max(600_000);

const ticketRouter = router({
  request: domainOperateProcedure
    .input(
      z
        .object({
          // Processors in procs mode: up to 256 clones of 32 vcpus; requestTicket names the limits it checks.
          nclones: z.number().int().min(1).max(MAX_TICKET_AMOUNT),
          procs: z.boolean().default(false),
          min: z.number().int().min(0).max(MAX_TICKET_AMOUNT).default(0),
          block: z.boolean().default(false),
          timeoutMs: waitMs.optional(),
          pollMs: pollMs.optional(),
        })
        .strict(),
    )
    .mutation(({ ctx, input, signal }) => requestTicket(ctx.svc, ctx.domain, input, signal)),
  list: domainReadProcedure.query(({ ctx }) => listTickets(ctx.svc, ctx.domain)),
  info: domainReadProcedure
    .input(z.object({ ticket: ticketId }).strict())
    .query(({ ctx, input }) => ticketInfo(ctx.svc, ctx.domain, input.ticket)),
  dispose: domainOperateProcedure
    .input(z.object({ ticket: ticketId }).strict())
    .mutation(({ ctx, input }) => disposeTicket(ctx.svc, ctx.domain, input.ticket, actor(ctx.caller))),
});

const cloneRouter = router({
  master: domainOperateProcedure
    .input(z.object({ ticket: ticketId }).strict())
    .mutation(({ ctx, input }) => cloneMaster(ctx.svc, ctx.domain, input.ticket)),
  merge: domainOperateProcedure
    .input(z.object({ ticket: ticketId.nullable() }).strict())
    .mutation(({ ctx, input }) => mergeClones(ctx.svc, ctx.domain, input.ticket, actor(ctx.caller))),
  join: domainOperateProcedure
    .input(z.object({ ticket: ticketId, timeoutMs: waitMs.optional(), pollMs: pollMs.optional() }).strict())
    .mutation(({ ctx, input, signal }) =>
      joinClones(ctx.svc, ctx.domain, input.ticket, { timeoutMs: input.timeoutMs, pollMs: input.pollMs, signal }, actor(ctx.caller)),
    ),
  exit: domainOperateProcedure
    .input(z.object({ status: z.number().int().min(-2147483648).max(2147483647).default(0) }).strict())
    .mutation(({ ctx, input }) => exitClone(ctx.svc, ctx.domain, input.status, actor(ctx.caller))),
});

const clusterRouter = router({
  seed: operateProcedure
    .input(z.object({ config: seedConfigSchema }).strict())
    .mutation(({ ctx, input }) => seedCluster(ctx.svc, input.config, requesterOf(ctx.caller))),
  /** Refused while clones are out or tickets unmerged (seed); force stops everything anyway. */
  shutdown: domainOperateProcedure
    .input(
      z
        .object({ force: z.boolean().default(false) })
        .strict()
        .default({ force: false }),
    )
    .mutation(({ ctx, input }) => shutdownCluster(ctx.svc, ctx.domain, { force: input.force })),
  list: readProcedure.query(({ ctx }) => listClusters(ctx.svc)),
  get: readProcedure
    .input(z.object({ clusterid: domainAddressSchema.shape.clusterid }).strict())
    .query(({ ctx, input }) => clusterDetail(ctx.svc, input.clusterid)),
});

const stateRouter = router({
  hosts: readProcedure.query(({ ctx }) => listHosts(ctx.svc)),
  domains: readProcedure
    .input(
      z
        .object({
          all: z.boolean().default(false),
          clusterid: domainAddressSchema.shape.clusterid.optional(),
          /** The newest this many (ended ones pile up with all); 1000 unless said. */
          limit: z.number().int().min(1).max(100_000).optional(),
        })
        .strict()
        .default({ all: false }),
    )
    .query(({ ctx, input }) => listDomains(ctx.svc, input)),
});

const hostRouter = router({
  get: readProcedure.input(z.object({ name: z.string().min(1).max(253) }).strict()).query(({ ctx, input }) => getHost(ctx.svc, input.name)),
});

/** A domain's console as text: the plain-HTTP way (any language) to read what a guest printed. */
const domainRouter = router({
  console: readProcedure.input(domainAddressSchema.strict()).query(({ ctx, input }) => consoleText(ctx.svc, input)),
});

const operationsRouter = router({
  list: readProcedure
    .input(
      z
        .object({ limit: z.number().int().min(1).max(1000).default(50), kind: z.string().max(64).optional() })
        .strict()
        .default({ limit: 50 }),
    )
    .query(({ ctx, input }) => listOperations(ctx.svc, input)),
  page: readProcedure.input(operationPageInput).query(({ ctx, input }) => pageOperations(ctx.svc, input)),
  get: readProcedure.input(z.object({ id: z.string().uuid() }).strict()).query(({ ctx, input }) => getOperation(ctx.svc, input.id)),
  /** What is not stored one row each: refused guest calls per code; and the rows kept. */
  stats: readProcedure.query(async ({ ctx }) => ({
    guestRefusals: ctx.svc.refusals.stats(),
    rows: await ctx.svc.db.operation.count(),
    keep: ctx.svc.keepOperations,
  })),
});

/** sf doctor: the record against what the sflds run; check lists the differences, repair mends them. */
const doctorRouter = router({
  check: readProcedure.query(({ ctx }) => checkConsistency(ctx.svc, { repair: false })),
  repair: adminProcedure.mutation(({ ctx }) => checkConsistency(ctx.svc, { repair: true, requester: requesterOf(ctx.caller) })),
});

export const appRouter = router({
  health: openProcedure.query(async ({ ctx }) => ({
    ok: true as const,
    version: SNOWFLOCK_VERSION,
    hostsOnline: (await hostCounts(ctx.svc)).hostsOnline, // shared and at most 1 s old: anyone may ask
  })),
  whoami: openProcedure.query(({ ctx }) => ({
    caller: ctx.caller.kind,
    host: ctx.caller.kind === 'host' ? ctx.caller.name : null,
    token: ctx.caller.kind === 'token' ? ctx.caller.name : null,
    role: ctx.caller.kind === 'token' ? ctx.caller.role : null,
  })),
  ticket: ticketRouter,
  clone: cloneRouter,
  cluster: clusterRouter,
  state: stateRouter,
  host: hostRouter,
  domain: domainRouter,
  operations: operationsRouter,
  doctor: doctorRouter,
  dashboard: dashboardRouter,
  token: tokenRouter,
});

export type AppRouter = typeof appRouter;
