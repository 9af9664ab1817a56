// The socket.io event maps, shared by sfmd, sfld and the dashboard: `domain:verb` names, and
// commands from sfmd to sfld answer through an ack carrying a Result, never a thrown exception.
import type { Result } from './errors.ts';

/** What sfld tells sfmd about its host when it (re)connects. */
export interface HostRegistration {
  version: string;
  cpus: number;
  ramBytes: number;
  kernelRelease: string;
  kvm: { available: boolean; apiVersion: number; error: string | null };
  userfaultfd: { available: boolean; features: string[]; error: string | null };
  localListenPort: number;
  pid: number;
}

export interface RegisterReply {
  hostId: string;
  name: string;
  heartbeatMs: number;
  offlineAfterMs: number;
}

/** One second of a host's life, as sampled by sfld. */
export interface HostMetrics {
  sampledAt: number; // ms since epoch
  cpuUtilization: number; // 0..1 over the last interval, all cpus
  load1: number;
  memTotal: number; // bytes
  memAvailable: number; // bytes
  domainsRunning: number;
  uptimeSeconds: number;
}

export interface Heartbeat { seq: number; sentAt: number }

export interface SfldToSfmdEvents {
  'host:register': (info: HostRegistration, ack: (result: Result<RegisterReply>) => void) => void;
  'host:heartbeat': (beat: Heartbeat) => void;
  'host:metrics': (metrics: HostMetrics) => void;
}

export interface SfmdToSfldEvents {
  'host:ping': (ping: { sentAt: number }, ack: (result: Result<{ receivedAt: number }>) => void) => void;
}

export interface HostStateEvent { host: string; state: string; at: string }
export interface DomainStateEvent { clusterid: number; vmid: number; host: string; state: string; at: string }
export interface OperationProgressEvent {
  id: string; kind: string; target: string; status: string; progress: number; error: string | null;
}

/** sfmd → dashboards (namespace /dash). */
export interface SfmdToDashboardEvents {
  'host:metrics': (metrics: HostMetrics & { host: string }) => void;
  'host:state': (event: HostStateEvent) => void;
  'domain:state': (event: DomainStateEvent) => void;
  'operation:progress': (event: OperationProgressEvent) => void;
}

export type DashboardToSfmdEvents = Record<string, never>;

/** socket.io namespaces on sfmd's port. */
export const HOSTS_NAMESPACE = '/hosts';
export const DASHBOARD_NAMESPACE = '/dash';
