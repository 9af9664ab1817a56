// The socket.io event maps, shared by sfmd, sfld and the dashboard: `domain:verb` names, and
// commands from sfmd to sfld answer through an ack carrying a Result, never a thrown exception.
// Every payload is a type of the wire contract (wire.ts), re-exported here under its usual name.
import type { Result } from './errors.ts';
import type {
  ConsoleChunk,
  ConsoleReplay,
  DomainAddress,
  DomainFiguresBatch,
  DomainFiguresEvent,
  DomainStateEvent,
  DomainStateReport,
  Heartbeat,
  HostCommand,
  HostCommandPayload,
  HostCommandValue,
  HostMetrics,
  HostMetricsEvent,
  HostRegistration,
  HostStateEvent,
  OperationProgressEvent,
  RegisterReply,
} from './wire.ts';

export type {
  CloneOutcome,
  ConsoleChunk,
  DomainAddress,
  DomainBootSpec,
  DomainFigures,
  DomainFiguresBatch,
  DomainFiguresEvent,
  DomainForkResult,
  DomainForkSpec,
  DomainRemoteCloneSpec,
  DomainStateEvent,
  DomainStateReport,
  ForkNetwork,
  ForkTiming,
  Heartbeat,
  HostCommand,
  HostMetrics,
  HostRegistration,
  HostStateEvent,
  OperationProgressEvent,
  RegisterReply,
  ServedFork,
} from './wire.ts';

/**
 * Commands from sfmd to an sfld: each answers through an ack carrying a Result. The map gives each
 * command's payload and the value of a successful answer.
 */
export type HostCommandMap = { [C in HostCommand]: [HostCommandPayload<C>, HostCommandValue<C>] };

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

/** sfmd → dashboards (namespace /dash). */
export interface SfmdToDashboardEvents {
  /** Each host's latest sample, a batch a few times a second (metrics-coalescer.ts). */
  'host:metrics-batch': (batch: HostMetricsEvent[]) => void;
  'host:state': (event: HostStateEvent) => void;
  'domain:state': (event: DomainStateEvent) => void;
  'domain:console': (chunk: ConsoleChunk) => void;
  'operation:progress': (event: OperationProgressEvent) => void;
  'domain:figures': (event: DomainFiguresEvent) => void;
  /** Sent just before sfmd closes the feed because its token was revoked or expired: sign in again. */
  'session:ended': (event: { reason: string }) => void;
}

/** Dashboards and `sf console` follow a domain's console and type into it. */
export interface DashboardToSfmdEvents {
  'console:subscribe': (domain: DomainAddress, ack: (result: Result<ConsoleReplay>) => void) => void;
  'console:unsubscribe': (domain: DomainAddress) => void;
  'console:input': (input: ConsoleChunk, ack: (result: Result<HostCommandValue<'domain:input'>>) => void) => void;
}

/** socket.io namespaces on sfmd's port. */
export const HOSTS_NAMESPACE = '/hosts';
export const DASHBOARD_NAMESPACE = '/dash';
