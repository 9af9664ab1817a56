// SFDashBoard's procedures (mounted as `dashboard.*`): one read per page, the cluster actions (operate
// tokens) with per-domain results, console input, the example guests and seed-form checks with the API's schema.
import { z } from 'zod';
import { domainAddressSchema } from '../../common/wire.ts';
import { adminKill, adminMerge, adminShutdown, consoleInput } from '../dashboard-actions.ts';
import { listExampleGuests } from '../dashboard-guests.ts';
import { metricHistory } from '../dashboard-metric-history.ts';
import { dashboardCluster, dashboardOverview } from '../dashboard-views.ts';
import { seedConfigSchema } from '../seed-config.ts';
import { operateProcedure, readProcedure, requesterOf, router } from './trpc.ts';

const { clusterid, vmid } = domainAddressSchema.shape;

export const dashboardRouter = router({
  overview: readProcedure.query(({ ctx }) => dashboardOverview(ctx.svc)),
  hostMetrics: readProcedure
    .input(z.object({ host: z.string().min(1).max(253) }).strict())
    .query(({ ctx, input }) => metricHistory(ctx.svc).of(input.host)),
  cluster: readProcedure.input(z.object({ clusterid }).strict()).query(({ ctx, input }) => dashboardCluster(ctx.svc, input.clusterid)),
  guests: readProcedure.query(() => listExampleGuests()),
  /**
   * Checks a seed form against cluster.seed's own schema and answers every issue with its field, so
   * the form shows the API's messages before anything is submitted.
   */
  checkSeed: readProcedure.input(z.object({ config: z.unknown() }).strict()).query(({ input }) => {
    const parsed = seedConfigSchema.safeParse(input.config);
    return parsed.success
      ? { ok: true as const, issues: [] }
      : { ok: false as const, issues: parsed.error.issues.map((i) => ({ field: i.path.map(String).join('.'), message: i.message })) };
  }),
  merge: operateProcedure
    .input(z.object({ clusterid, ticket: z.string().uuid('a ticket is a 36-character uuid').nullable() }).strict())
    .mutation(({ ctx, input }) => adminMerge(ctx.svc, input.clusterid, input.ticket, requesterOf(ctx.caller))),
  kill: operateProcedure
    .input(z.object({ clusterid, vmid }).strict())
    .mutation(({ ctx, input }) => adminKill(ctx.svc, input.clusterid, input.vmid, requesterOf(ctx.caller))),
  /** Refused while clones are out or tickets unmerged (as the master's own); force stops them too. */
  shutdown: operateProcedure
    .input(z.object({ clusterid, force: z.boolean().default(false) }).strict())
    .mutation(({ ctx, input }) => adminShutdown(ctx.svc, input.clusterid, { force: input.force, requester: requesterOf(ctx.caller) })),
  consoleInput: operateProcedure
    .input(z.object({ clusterid, vmid, text: z.string().min(1).max(4096) }).strict())
    .mutation(({ ctx, input }) => consoleInput(ctx.svc, input.clusterid, input.vmid, input.text)),
});
