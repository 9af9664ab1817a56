// Explicit outputs of the admin queries: each field a caller may see is named here, so a new column
// (a secret hash, say) never leaks through the API by accident.
import { heartbeatLane } from './heartbeat-lane.ts';
import { schedulerView } from './scheduler/view.ts';
import type { MasterServices } from './services.ts';

type Db = MasterServices['db'];
type HostRow = Awaited<ReturnType<Db['host']['findFirstOrThrow']>>;
type OperationRow = Awaited<ReturnType<Db['operation']['findFirstOrThrow']>>;

/** Each host's capabilities as last parsed, by name: they change only when it registers, and a thousand
 * hosts' worth of JSON parsed on every listing was most of state.hosts' time. */
const parsedCapabilities = new Map<string, { raw: string; value: Record<string, unknown> }>();

function capabilitiesOf(host: HostRow): Record<string, unknown> {
  const known = parsedCapabilities.get(host.name);
  if (known?.raw === host.capabilities) return known.value;
  let value: Record<string, unknown> = {};
  try {
    value = JSON.parse(host.capabilities) as Record<string, unknown>;
  } catch {
    // A row written by a broken sfld must not break every listing.
  }
  parsedCapabilities.set(host.name, { raw: host.capabilities, value });
  return value;
}

export function hostView(host: HostRow, svc: MasterServices, used: { cpus: number; ram: number } = { cpus: 0, ram: 0 }) {
  const capabilities = capabilitiesOf(host);
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
    /** Who places clones: 'default' (Snowflock), 'slurm' or 'sge'. */
    allocator: svc.allocator.name,
    /** The batch scheduler's count of this host's CPUs (null without one, or when it has no such node). */
    scheduler: schedulerView(svc)?.hosts[host.name] ?? null,
  };
}

export type HostView = ReturnType<typeof hostView>;

export function operationView(op: OperationRow) {
  return {
    id: op.id,
    kind: op.kind,
    target: op.target,
    requester: op.requester,
    clusterid: op.clusterid,
    status: op.status,
    progress: op.progress,
    error: op.error,
    detail: JSON.parse(op.detail) as Record<string, unknown>,
    startedAt: op.startedAt.toISOString(),
    finishedAt: op.finishedAt?.toISOString() ?? null,
  };
}

export type OperationView = ReturnType<typeof operationView>;
