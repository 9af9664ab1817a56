// API tokens (mounted as `token.*`, admin tokens only): make one (its secret is answered once, never
// again), list them (never a secret or hash), revoke one (from the answer on it opens nothing). Making and
// revoking are operations like any other change: the log says who did it.
import { z } from 'zod';
import { runOperation } from '../operations.ts';
import { TOKEN_ROLES } from '../store/states.ts';
import { tokenRegistry } from '../tokens.ts';
import { adminProcedure, requesterOf, router } from './trpc.ts';

const name = z.string().min(1).max(64);

export const tokenRouter = router({
  create: adminProcedure
    .input(
      z
        .object({
          name,
          role: z.enum(TOKEN_ROLES),
          /** Lifetime in seconds (absent: until revoked); at most ten years. */
          expiresInS: z
            .number()
            .int()
            .min(1)
            .max(10 * 365 * 86_400)
            .optional(),
        })
        .strict(),
    )
    .mutation(({ ctx, input }) =>
      runOperation(
        ctx.svc,
        {
          kind: 'token.create',
          target: `token:${input.name}`,
          requester: requesterOf(ctx.caller),
          detail: { role: input.role, expiresInS: input.expiresInS },
        },
        () => tokenRegistry(ctx.svc).create(input.name, input.role, input.expiresInS === undefined ? null : input.expiresInS * 1000),
      ),
    ),
  list: adminProcedure.query(({ ctx }) => tokenRegistry(ctx.svc).list()),
  revoke: adminProcedure
    .input(z.object({ name }).strict())
    .mutation(({ ctx, input }) =>
      runOperation(ctx.svc, { kind: 'token.revoke', target: `token:${input.name}`, requester: requesterOf(ctx.caller) }, () =>
        tokenRegistry(ctx.svc).revoke(input.name),
      ),
    ),
});
