// The operation log a page at a time, newest first, for one cluster or all, narrowed by kind or outcome.
// Keyset paging on (startedAt, id), served by the Operation indexes: a cluster's oldest row is as cheap as its newest.
import { z } from 'zod';
import { SfError } from '../common/errors.ts';
import { OPERATION_STATUSES } from '../common/states.ts';
import type { MasterServices } from './services.ts';
import { operationView } from './views.ts';

export const operationPageInput = z
  .object({
    clusterid: z.number().int().min(0).optional(),
    /** The previous page's nextCursor; absent for the newest page. */
    cursor: z.string().max(200).optional(),
    limit: z.number().int().min(1).max(200).default(50),
    kind: z.string().max(64).optional(),
    outcome: z.enum(OPERATION_STATUSES).optional(),
  })
  .strict();

export type OperationPageInput = z.infer<typeof operationPageInput>;

interface Position {
  startedAt: Date;
  id: string;
}

/** The last row of a page, opaque to callers: they hand it back, they never build one. */
export function encodeCursor(at: Position): string {
  return Buffer.from(`${at.startedAt.getTime()}|${at.id}`, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string): Position {
  const m = /^(\d{1,15})\|([0-9a-f-]{36})$/.exec(Buffer.from(cursor, 'base64url').toString('utf8'));
  if (!m) throw new SfError('BAD_INPUT', 'this cursor is not one operations.page gave: start again without a cursor');
  return { startedAt: new Date(Number(m[1])), id: m[2]! };
}

export async function pageOperations(svc: MasterServices, input: OperationPageInput) {
  const after = input.cursor === undefined ? null : decodeCursor(input.cursor);
  // One row more than asked says whether another page follows, without a count over the whole log.
  const rows = await svc.reads.operation.findMany({
    where: {
      ...(input.clusterid === undefined ? {} : { clusterid: input.clusterid }),
      ...(input.kind === undefined ? {} : { kind: input.kind }),
      ...(input.outcome === undefined ? {} : { status: input.outcome }),
      ...(after ? { OR: [{ startedAt: { lt: after.startedAt } }, { startedAt: after.startedAt, id: { lt: after.id } }] } : {}),
    },
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    take: input.limit + 1,
  });
  const page = rows.slice(0, input.limit);
  const last = page.at(-1);
  return {
    operations: page.map(operationView),
    nextCursor: rows.length > input.limit && last ? encodeCursor(last) : null,
  };
}
