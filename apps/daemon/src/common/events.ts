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
  /** The VMs this sfld runs right now: after an sfld restart, sfmd learns which domains died with it. */
  domains: DomainAddress[];
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

/** Names one VM on the wire. */
export interface DomainAddress { clusterid: number; vmid: number }

/** What an sfld needs to boot a domain: the seed config's machine, resolved on sfmd. */
export interface DomainBootSpec extends DomainAddress {
  vcpus: number;
  memoryMiB: number;
  /** A flat guest's ELF image (the seed config's `kernel`), a path on the sfld's host. */
  image: string;
  args: string;
}

/**
 * VM fork (DESIGN §4.4 steps 2-3) on the master's host: freeze the master (which waits inside sf_clone),
 * and start these clones from its snapshot. `nclones` is what every VM's sf_clone reports as granted.
 */
export interface DomainForkSpec extends DomainAddress {
  ticket: string;
  nclones: number;
  clones: { vmid: number }[];
  /** Clones on other hosts will fetch pages: serve the snapshot (how: `serve`) and shelve its descriptor. */
  serve: ForkNetwork | null;
}

/** How a fork's pages travel between hosts (sfmd.cfg network_mode and the hosts' multicast names). */
export interface ForkNetwork {
  mode: 'multicast' | 'unicast';
  /** This host's name or address on the page network (cluster_hosts' multicast name; resolved by the sfld). */
  interface: string;
}

/**
 * Clones of a VM forked on another host (DESIGN §4.4 step 3): made here from the fork's descriptor (fetched
 * over TCP from the master host's sfld), their pages fetched from the memserver at `server` through this
 * host's mirror; in multicast mode replies arrive on `group`, joined on `interface`.
 */
export interface DomainRemoteCloneSpec {
  clusterid: number;
  ticket: string;
  nclones: number;
  descriptor: { host: string; port: number; snapshotId: string; token: string };
  /** 'host:port' of the memserver (the master host's unicast name from sfmd.cfg; resolved by the sfld). */
  server: string;
  /** The snapshot's multicast group 'a.b.c.d:port'; null: replies come by unicast. */
  group: string | null;
  /** This host's name or address on the page network. */
  interface: string;
  clones: { vmid: number }[];
}

/** What became of one clone an sfld was asked to make. */
export interface CloneOutcome { vmid: number; ok: boolean; error: string | null }

/** What became of each clone of a fork; the fork's figures for the record. */
export interface DomainForkResult {
  clones: CloneOutcome[];
  pauseMs: number;
  descriptorBytes: number;
  /** Clones made from shells prepared when the ticket was granted (the rest were made at the fork). */
  fromShells: number;
  /** With `serve`: where other hosts get the descriptor (the sfld's local port) and the pages. */
  served: ServedFork | null;
}

export interface ServedFork {
  snapshotId: string;
  /** Shown to fetch the descriptor from this sfld (it carries the snapshot's page key). */
  descriptorToken: string;
  descriptorPort: number;
  memserverPort: number;
  /** Multicast mode: the group replies go to, 'a.b.c.d:port'; null in unicast mode. */
  group: string | null;
}

/** A domain's state as its sfld saw it change (a VM's own lifecycle, not the record's). */
export interface DomainStateReport extends DomainAddress {
  state: 'running' | 'paused' | 'halted' | 'exited' | 'crashed' | 'stopped';
  exitCode: number | null;
  reason: string | null;
}

export interface ConsoleChunk extends DomainAddress { data: Buffer }

/**
 * Commands from sfmd to an sfld: each answers through an ack carrying a Result. The map gives each
 * command's payload and the value of a successful answer.
 */
export interface HostCommandMap {
  'domain:boot': [DomainBootSpec, { state: string }];
  'domain:destroy': [DomainAddress, { state: string }];
  'domain:fork': [DomainForkSpec, DomainForkResult];
  'domain:clone-remote': [DomainRemoteCloneSpec, { clones: CloneOutcome[] }];
  'domain:input': [DomainAddress & { data: Buffer }, { accepted: number }];
  'domain:console-replay': [DomainAddress, { data: Buffer }];
  'host:ping': [{ sentAt: number }, { receivedAt: number }];
}
export type HostCommand = keyof HostCommandMap;

export interface SfldToSfmdEvents {
  'host:register': (info: HostRegistration, ack: (result: Result<RegisterReply>) => void) => void;
  'host:heartbeat': (beat: Heartbeat) => void;
  'host:metrics': (metrics: HostMetrics) => void;
  'domain:state': (report: DomainStateReport) => void;
  'domain:console': (chunk: ConsoleChunk) => void;
  /** Once a second: the data-plane figures of this host's lazy clones (for dashboards). */
  'domain:figures': (batch: DomainFiguresBatch) => void;
}

export type SfmdToSfldEvents = {
  [C in HostCommand]: (payload: HostCommandMap[C][0], ack: (result: Result<HostCommandMap[C][1]>) => void) => void;
};

export interface HostStateEvent { host: string; state: string; at: string }
export interface DomainStateEvent { clusterid: number; vmid: number; host: string; state: string; at: string }
export interface OperationProgressEvent {
  id: string; kind: string; target: string; status: string; progress: number; error: string | null;
}

/**
 * One lazy clone's data-plane figures (its memtap counters since it started): what the dashboard shows
 * as pages fetched, fault rate (from successive samples) and bytes brought in from the snapshot.
 */
export interface DomainFigures extends DomainAddress {
  faults: number;
  /** Pages filled from the snapshot (on fault or prefetch): over the network for clones on other hosts. */
  pagesFetched: number;
  zeroPages: number;
  prefetched: number;
  freshHints: number;
  /** Pages this clone holds (presence bits set). */
  present: number;
  faultP50Ns: number;
  faultP99Ns: number;
  /**
   * Clones on other hosts: bytes this host's mirror of the snapshot received through its multicast group
   * (shared by the host's clones of that fork: a sibling's fetch is a prefetch for them); null otherwise.
   */
  multicastBytes: number | null;
}

/** What an sfld sends once a second; `domains` may be empty. */
export interface DomainFiguresBatch { sampledAt: number; domains: DomainFigures[] }

/** The same, relayed to dashboards with the host that measured it. */
export interface DomainFiguresEvent extends DomainFiguresBatch { host: string }

/** sfmd → dashboards (namespace /dash). */
export interface SfmdToDashboardEvents {
  'host:metrics': (metrics: HostMetrics & { host: string }) => void;
  'host:state': (event: HostStateEvent) => void;
  'domain:state': (event: DomainStateEvent) => void;
  'domain:console': (chunk: ConsoleChunk) => void;
  'operation:progress': (event: OperationProgressEvent) => void;
  'domain:figures': (event: DomainFiguresEvent) => void;
}

/** Dashboards and `sf console` follow a domain's console and type into it. */
export interface DashboardToSfmdEvents {
  'console:subscribe': (domain: DomainAddress, ack: (result: Result<{ replay: Buffer }>) => void) => void;
  'console:unsubscribe': (domain: DomainAddress) => void;
  'console:input': (input: DomainAddress & { data: Buffer }, ack: (result: Result<{ accepted: number }>) => void) => void;
}

/** socket.io namespaces on sfmd's port. */
export const HOSTS_NAMESPACE = '/hosts';
export const DASHBOARD_NAMESPACE = '/dash';
