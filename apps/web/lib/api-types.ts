// The shapes the dashboard receives, taken from sfmd's own router and event maps (types only: nothing
// of the daemon is bundled), so a change to the API breaks the dashboard's type check, not its users.
import type { inferRouterOutputs } from '@trpc/server';
import type { AppRouter } from '@snowflock/daemon/api';
import type {
  DomainFigures,
  DomainFiguresEvent,
  DomainStateEvent,
  HostMetrics,
  HostStateEvent,
  OperationProgressEvent,
} from '@snowflock/daemon/events';

type Outputs = inferRouterOutputs<AppRouter>;

export type Overview = Outputs['dashboard']['overview'];
export type HostInfo = Overview['hosts'][number];
export type DomainRow = Overview['domains'][number];
export type ClusterSummary = Outputs['cluster']['list'][number];
export type ClusterPage = Outputs['dashboard']['cluster'];
export type TicketInfo = ClusterPage['tickets'][number];
export type FigureSamples = ClusterPage['figures'][number];
export type Operation = Outputs['operations']['list'][number];
export type OperationPage = Outputs['operations']['page'];
export type ExampleGuest = Outputs['dashboard']['guests'][number];
export type SeedCheck = Outputs['dashboard']['checkSeed'];
export type SeededCluster = Outputs['cluster']['seed'];
export type ActionOutcome = Outputs['dashboard']['merge'];
export type DomainActionResult = ActionOutcome['results'][number];

export type { DomainFigures, DomainFiguresEvent, DomainStateEvent, HostMetrics, HostStateEvent, OperationProgressEvent };
export type HostMetricsEvent = HostMetrics & { host: string };

/** What /api/live streams to the browser: sfmd's dashboard events, unchanged, plus the feed's own state. */
export interface LiveEventMap {
  /** Each host's latest sample, batched by sfmd a few times a second. */
  'host:metrics-batch': HostMetricsEvent[];
  'host:state': HostStateEvent;
  'domain:state': DomainStateEvent;
  'operation:progress': OperationProgressEvent;
  'domain:figures': DomainFiguresEvent;
  /** The Next server's link to sfmd: up, or down with the reason (it keeps retrying). */
  'feed:status': FeedStatus;
  /** sfmd ended the feed: the session's token was revoked or expired (the page goes to sign in). */
  'session:ended': { reason: string };
}
export type LiveEventName = keyof LiveEventMap;
export const LIVE_EVENTS: readonly LiveEventName[] = [
  'host:metrics-batch',
  'host:state',
  'domain:state',
  'operation:progress',
  'domain:figures',
  'feed:status',
  'session:ended',
];

export interface FeedStatus {
  state: 'live' | 'sfmd-down';
  message: string | null;
}

/** Every JSON error the dashboard's routes answer with. */
export interface ApiError {
  error: { code: string; message: string };
}
