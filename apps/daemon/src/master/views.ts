// Explicit outputs of the admin queries: each field a caller may see is named here, so a new column
// (a secret hash, say) never leaks through the API by accident.
import { heartbeatLane } from './heartbeat-lane.ts';
import type { MasterServices } from './services.ts';

type Db = MasterServices['db'];
type HostRow = Awaited<ReturnType<Db['host']['findFirstOrThrow']>>;
type OperationRow = Awaited<ReturnType<Db['operation']['findFirstOrThrow']>>;

export function hostView(host: HostRow, svc: MasterServices, used: { cpus: number; ram: number } = { cpus: 0, ram: 0 }) {
  let capabilities: Record<string, unknown> = {};
  try {
    capabilities = JSON.parse(host.capabilities) as Record<string, unknown>;
  } catch {
    // A row written by a broken sfld must not break every listing.
  }
  // The record's lastSeen is written only now and then: the lane has the last beat sfmd read.
  const lane = heartbeatLane(svc);
  const heard = Math.max(lane.lastAt(host.name) ?? 0, host.lastSeen?.getTime() ?? 0);
  return {
    name: host.name,
    unicast: host.unicast,
    multicast: host.multicast,
    state: host.state,
    cpus: host.cpus,
    ram: Number(host.ram),
    cpusUsed: used.cpus,
    ramUsed: used.ram,
    kvm: Boolean((capabilities.kvm as { available?: boolean } | undefined)?.available),
    capabilities,
    lastSeen: heard ? new Date(heard).toISOString() : null,
    registeredAt: host.registeredAt?.toISOString() ?? null,
    metrics: svc.metrics.get(host.name) ?? null,
    /** Gaps between beats as sfmd read them since it started; null if it has not heard the host since. */
    heartbeat: lane.figures(host.name),
  };
}

export type HostView = ReturnType<typeof hostView>;

export function operationView(op: OperationRow) {
  return {
    id: op.id,
    kind: op.kind,
    target: op.target,
    requester: op.requester,
    status: op.status,
    progress: op.progress,
    error: op.error,
    detail: JSON.parse(op.detail) as Record<string, unknown>,
    startedAt: op.startedAt.toISOString(),
    finishedAt: op.finishedAt?.toISOString() ?? null,
  };
}

export type OperationView = ReturnType<typeof operationView>;
