// Every mutating call leaves an Operation row: created `running` before the work, finished as
// `succeeded` or `failed` (with the error code and message) after it, and announced to dashboards.
// Two exceptions keep the table bounded: a guest's call refused (guest-refusals.ts: counted, not
// stored) leaves no row, and only the newest keepOperations rows are kept (running ones always).
import { toSfError } from '../common/errors.ts';
import { isRefusal } from './guest-refusals.ts';
import { archiveOperations } from './operation-archive.ts';
import type { MasterServices } from './services.ts';
import type { OperationStatus } from './store/states.ts';

export interface OperationSpec {
  kind: string;
  target: string;
  requester: string;
  detail?: Record<string, unknown>;
  /** The cluster it acts on, when neither its target nor its requester names one (e.g. the admin's merge of a ticket). */
  clusterid?: number;
}

export interface OperationHandle {
  id: string;
  progress(fraction: number): Promise<void>;
  /** The cluster it turned out to act on (a seed learns its cluster's id while it runs). */
  belongsTo(clusterid: number): Promise<void>;
  /**
   * Replaces the detail with what the work found out. Held until the operation finishes and written with its
   * status, so the figures cost no round trip of their own on the way back to the caller.
   */
  setDetail(detail: Record<string, unknown>): void;
}

/** The cluster a "cluster:N" or "domain:N:V" target or requester names. */
export function clusterNamedBy(text: string): number | null {
  const m = /^(?:cluster|domain):(\d+)(?::|$)/.exec(text);
  return m ? Number(m[1]) : null;
}

export function jsonDetail(detail: Record<string, unknown> | undefined): string {
  return JSON.stringify(detail ?? {}, (_key, value) => (typeof value === 'bigint' ? Number(value) : value));
}

export async function runOperation<T>(svc: MasterServices, spec: OperationSpec, work: (op: OperationHandle) => Promise<T>): Promise<T> {
  const row = await svc.db.operation.create({
    data: {
      kind: spec.kind,
      target: spec.target,
      requester: spec.requester,
      detail: jsonDetail(spec.detail),
      clusterid: spec.clusterid ?? clusterNamedBy(spec.target) ?? clusterNamedBy(spec.requester),
    },
  });
  const announce = (status: OperationStatus, progress: number, error: string | null) =>
    svc.events.emit('operation:progress', { id: row.id, kind: spec.kind, target: spec.target, status, progress, error });
  announce('running', 0, null);
  let detail: string | undefined;
  const handle: OperationHandle = {
    id: row.id,
    setDetail(found) {
      detail = jsonDetail(found);
    },
    async progress(fraction) {
      const progress = Math.min(1, Math.max(0, fraction));
      await svc.db.operation.update({ where: { id: row.id }, data: { progress } });
      announce('running', progress, null);
    },
    async belongsTo(clusterid) {
      await svc.db.operation.update({ where: { id: row.id }, data: { clusterid } });
    },
  };
  try {
    const value = await work(handle);
    await svc.db.operation.update({
      where: { id: row.id },
      data: { status: 'succeeded', progress: 1, finishedAt: new Date(), detail },
    });
    announce('succeeded', 1, null);
    return value;
  } catch (err) {
    const sfErr = toSfError(err);
    const error = `${sfErr.code}: ${sfErr.message}`;
    // A guest asking for what it may not have changed nothing: its refusal is a metric, not a record.
    const refused = spec.requester.startsWith('domain:') && isRefusal(sfErr.code);
    await (refused
      ? svc.db.operation.delete({ where: { id: row.id } })
      : svc.db.operation.update({ where: { id: row.id }, data: { status: 'failed', error, finishedAt: new Date(), detail } })
    ).catch((dbErr: unknown) => svc.log.error({ err: dbErr, operation: row.id }, 'could not record operation failure'));
    announce('failed', 0, error);
    throw sfErr;
  } finally {
    await notePruning(svc);
  }
}

/**
 * At start: operations recorded `running` by an sfmd that stopped without finishing them (killed, or the
 * machine went down) can never finish; they fail with a reason instead of staying `running` for ever.
 * What they had changed is in the record; sf doctor compares it with what the hosts run.
 */
export async function failInterruptedOperations(svc: MasterServices): Promise<number> {
  const { count } = await svc.db.operation.updateMany({
    where: { status: 'running' },
    data: {
      status: 'failed',
      finishedAt: new Date(),
      error:
        'UNAVAILABLE: sfmd stopped while this operation ran; what it had done is in the record (sf doctor checks it against the hosts)',
    },
  });
  if (count > 0) svc.log.warn({ operations: count }, 'operations left running by a previous sfmd marked failed');
  return count;
}

/** Pruning runs once per this many finished operations (and at sfmd's start). */
export const PRUNE_EVERY = 64;
const finishedSincePrune = new WeakMap<MasterServices, number>();

async function notePruning(svc: MasterServices): Promise<void> {
  const n = (finishedSincePrune.get(svc) ?? 0) + 1;
  if (n < PRUNE_EVERY) {
    finishedSincePrune.set(svc, n);
    return;
  }
  finishedSincePrune.set(svc, 0);
  await pruneOperations(svc).catch((err: unknown) => svc.log.error({ err }, 'could not prune old operations'));
}

/** Rows archived and deleted per round: each round is one read, one append and one delete. */
const PRUNE_CHUNK = 500;

/**
 * Keeps the newest `svc.keepOperations` rows: finished rows older than the oldest of those are archived
 * (operation-archive.ts, when sfmd has an archive directory) and deleted; running operations are never
 * pruned, however old. Returns how many rows went.
 */
export async function pruneOperations(svc: MasterServices): Promise<number> {
  const oldestKept = await svc.db.operation.findFirst({
    orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
    skip: Math.max(0, svc.keepOperations - 1),
    select: { startedAt: true, id: true },
  });
  if (!oldestKept) return 0;
  const older = {
    status: { not: 'running' as const },
    OR: [{ startedAt: { lt: oldestKept.startedAt } }, { startedAt: oldestKept.startedAt, id: { lt: oldestKept.id } }],
  };
  let count = 0;
  const files = new Set<string>();
  for (;;) {
    const rows = await svc.db.operation.findMany({ where: older, orderBy: [{ startedAt: 'asc' }, { id: 'asc' }], take: PRUNE_CHUNK });
    if (rows.length === 0) break;
    if (svc.operationArchive) for (const f of archiveOperations(svc.operationArchive, rows)) files.add(f);
    const { count: gone } = await svc.db.operation.deleteMany({ where: { id: { in: rows.map((r) => r.id) } } });
    count += gone;
  }
  if (count > 0) {
    svc.log.info(
      { pruned: count, kept: svc.keepOperations, archivedTo: [...files] },
      svc.operationArchive ? 'old operations archived' : 'old operations pruned (no archive directory)',
    );
  }
  return count;
}
