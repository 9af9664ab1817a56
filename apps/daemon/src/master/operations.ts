// Every mutating call leaves an Operation row: created `running` before the work, finished as
// `succeeded` or `failed` (with the error code and message) after it, and announced to dashboards.
import { toSfError } from '../common/errors.ts';
import type { MasterServices } from './services.ts';
import type { OperationStatus } from './store/states.ts';

export interface OperationSpec {
  kind: string;
  target: string;
  requester: string;
  detail?: Record<string, unknown>;
}

export interface OperationHandle {
  id: string;
  progress(fraction: number): Promise<void>;
}

export function jsonDetail(detail: Record<string, unknown> | undefined): string {
  return JSON.stringify(detail ?? {}, (_key, value) => (typeof value === 'bigint' ? Number(value) : value));
}

export async function runOperation<T>(svc: MasterServices, spec: OperationSpec, work: (op: OperationHandle) => Promise<T>): Promise<T> {
  const row = await svc.db.operation.create({
    data: { kind: spec.kind, target: spec.target, requester: spec.requester, detail: jsonDetail(spec.detail) },
  });
  const announce = (status: OperationStatus, progress: number, error: string | null) =>
    svc.events.emit('operation:progress', { id: row.id, kind: spec.kind, target: spec.target, status, progress, error });
  announce('running', 0, null);
  const handle: OperationHandle = {
    id: row.id,
    async progress(fraction) {
      const progress = Math.min(1, Math.max(0, fraction));
      await svc.db.operation.update({ where: { id: row.id }, data: { progress } });
      announce('running', progress, null);
    },
  };
  try {
    const value = await work(handle);
    await svc.db.operation.update({
      where: { id: row.id },
      data: { status: 'succeeded', progress: 1, finishedAt: new Date() },
    });
    announce('succeeded', 1, null);
    return value;
  } catch (err) {
    const sfErr = toSfError(err);
    const error = `${sfErr.code}: ${sfErr.message}`;
    await svc.db.operation
      .update({ where: { id: row.id }, data: { status: 'failed', error, finishedAt: new Date() } })
      .catch((dbErr: unknown) => svc.log.error({ err: dbErr, operation: row.id }, 'could not record operation failure'));
    announce('failed', 0, error);
    throw sfErr;
  }
}
