// sfmd's one public API. Guest procedures (one per seed API call) act for a domain; admin
// procedures serve the CLI and the dashboard. Inputs are zod schemas; outputs are explicit views.
import { z } from 'zod';
import { domainAddressSchema } from '../../common/wire.ts';
import { cloneMaster, exitClone, joinClones, mergeClones } from '../clones.ts';
import { clusterDetail, seedCluster, shutdownCluster } from '../clusters.ts';
import { checkConsistency } from '../doctor.ts';
import { hostCounts } from '../host-counts.ts';
import { seedConfigSchema } from '../seed-config.ts';
import { getHost, getOperation, listClusters, listDomains, listHosts, listOperations } from '../queries.ts';
import { disposeTicket, listTickets, requestTicket, ticketInfo } from '../tickets.ts';
import { adminProcedure, type Caller, domainProcedure, publicProcedure, router } from './trpc.ts';
import { dashboardRouter } from './dashboard-router.ts';
import { SNOWFLOCK_VERSION } from '../../common/version.ts';

const ticketId = z.string().uuid('a ticket is a 36-character uuid');
/** A guest call made by the admin for a domain reaches no sfld by itself: the services tell it what changed. */
const actor = (caller: Caller) => (caller.kind === 'admin' ? 'admin' : 'guest');
const waitMs = z.number().int().min(0).max(3_600_000);

const ticketRouter = router({
  request: domainProcedure
    .input(
      z
        .object({
          nclones: z.number().int().min(1).max(1024),
          procs: z.boolean().default(false),
          min: z.number().int().min(0).max(1024).default(0),
          block: z.boolean().default(false),
          timeoutMs: waitMs.optional(),
        })
        .strict(),
    )
    .mutation(({ ctx, input }) => requestTicket(ctx.svc, ctx.domain, input)),
  list: domainProcedure.query(({ ctx }) => listTickets(ctx.svc, ctx.domain)),
  info: domainProcedure
    .input(z.object({ ticket: ticketId }).strict())
    .query(({ ctx, input }) => ticketInfo(ctx.svc, ctx.domain, input.ticket)),
  dispose: domainProcedure
    .input(z.object({ ticket: ticketId }).strict())
    .mutation(({ ctx, input }) => disposeTicket(ctx.svc, ctx.domain, input.ticket, actor(ctx.caller))),
});

const cloneRouter = router({
  master: domainProcedure
    .input(z.object({ ticket: ticketId }).strict())
    .mutation(({ ctx, input }) => cloneMaster(ctx.svc, ctx.domain, input.ticket)),
  merge: domainProcedure
    .input(z.object({ ticket: ticketId.nullable() }).strict())
    .mutation(({ ctx, input }) => mergeClones(ctx.svc, ctx.domain, input.ticket, actor(ctx.caller))),
  join: domainProcedure
    .input(z.object({ ticket: ticketId, timeoutMs: waitMs.optional() }).strict())
    .mutation(({ ctx, input }) => joinClones(ctx.svc, ctx.domain, input.ticket, input.timeoutMs, actor(ctx.caller))),
  exit: domainProcedure
    .input(z.object({ status: z.number().int().min(-2147483648).max(2147483647).default(0) }).strict())
    .mutation(({ ctx, input }) => exitClone(ctx.svc, ctx.domain, input.status, actor(ctx.caller))),
});

const clusterRouter = router({
  seed: adminProcedure
    .input(z.object({ config: seedConfigSchema }).strict())
    .mutation(({ ctx, input }) => seedCluster(ctx.svc, input.config, 'admin')),
  shutdown: domainProcedure.mutation(({ ctx }) => shutdownCluster(ctx.svc, ctx.domain)),
  list: adminProcedure.query(({ ctx }) => listClusters(ctx.svc)),
  get: adminProcedure
    .input(z.object({ clusterid: domainAddressSchema.shape.clusterid }).strict())
    .query(({ ctx, input }) => clusterDetail(ctx.svc, input.clusterid)),
});

const stateRouter = router({
  hosts: adminProcedure.query(({ ctx }) => listHosts(ctx.svc)),
  domains: adminProcedure
    .input(
      z
        .object({ all: z.boolean().default(false), clusterid: domainAddressSchema.shape.clusterid.optional() })
        .strict()
        .default({ all: false }),
    )
    .query(({ ctx, input }) => listDomains(ctx.svc, input)),
});

const hostRouter = router({
  get: adminProcedure
    .input(z.object({ name: z.string().min(1).max(253) }).strict())
    .query(({ ctx, input }) => getHost(ctx.svc, input.name)),
});

const operationsRouter = router({
  list: adminProcedure
    .input(
      z
        .object({ limit: z.number().int().min(1).max(1000).default(50), kind: z.string().max(64).optional() })
        .strict()
        .default({ limit: 50 }),
    )
    .query(({ ctx, input }) => listOperations(ctx.svc, input)),
  get: adminProcedure.input(z.object({ id: z.string().uuid() }).strict()).query(({ ctx, input }) => getOperation(ctx.svc, input.id)),
  /** What is not stored one row each: refused guest calls per code; and the rows kept. */
  stats: adminProcedure.query(async ({ ctx }) => ({
    guestRefusals: ctx.svc.refusals.stats(),
    rows: await ctx.svc.db.operation.count(),
    keep: ctx.svc.keepOperations,
  })),
});

/** sf doctor: the record against what the sflds run; check lists the differences, repair mends them. */
const doctorRouter = router({
  check: adminProcedure.query(({ ctx }) => checkConsistency(ctx.svc, { repair: false })),
  repair: adminProcedure.mutation(({ ctx }) => checkConsistency(ctx.svc, { repair: true })),
});

export const appRouter = router({
  health: publicProcedure.query(async ({ ctx }) => ({
    ok: true as const,
    version: SNOWFLOCK_VERSION,
    hostsOnline: (await hostCounts(ctx.svc)).hostsOnline, // shared and at most 1 s old: anyone may ask
  })),
  whoami: publicProcedure.query(({ ctx }) => ({
    caller: ctx.caller.kind,
    host: ctx.caller.kind === 'host' ? ctx.caller.name : null,
  })),
  ticket: ticketRouter,
  clone: cloneRouter,
  cluster: clusterRouter,
  state: stateRouter,
  host: hostRouter,
  operations: operationsRouter,
  doctor: doctorRouter,
  dashboard: dashboardRouter,
});

export type AppRouter = typeof appRouter;
