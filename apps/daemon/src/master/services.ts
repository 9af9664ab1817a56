// What every part of sfmd shares: the database, the logger, the parsed sfmd.cfg, the allocator,
// the placement lock and an event bus that the socket.io hub relays to dashboards.
import { EventEmitter } from 'node:events';
import type { PrismaClient } from '@snowflock/db';
import type { Logger } from '../common/logger.ts';
import type { SfmdConfig } from '../common/config/index.ts';
import type { DomainStateEvent, HostMetrics, HostMetricsEvent, HostStateEvent, OperationProgressEvent } from '../common/wire.ts';
import { Mutex } from '../common/mutex.ts';
import type { Allocator } from './allocator/index.ts';
import { GuestRefusals } from './guest-refusals.ts';
import { SocketHostLinks, type HostLinks } from './host-links.ts';

export interface MasterEventMap {
  'host:state': [HostStateEvent];
  'host:metrics': [HostMetricsEvent];
  'domain:state': [DomainStateEvent];
  'operation:progress': [OperationProgressEvent];
  /** Resources were released somewhere: blocked ticket requests try again. */
  capacity: [];
}

export interface Timing {
  heartbeatMs: number;
  offlineAfterMs: number;
  /** Longest a blocking ticket request or a join may wait. */
  maxWaitMs: number;
}

export const DEFAULT_TIMING: Timing = { heartbeatMs: 1000, offlineAfterMs: 3000, maxWaitMs: 3_600_000 };

export interface MasterServices {
  db: PrismaClient;
  /** Read-only connection for the admin and dashboard views: their queue never delays the record's writes. */
  reads: PrismaClient;
  log: Logger;
  config: SfmdConfig;
  allocator: Allocator;
  placementLock: Mutex;
  events: EventEmitter<MasterEventMap>;
  timing: Timing;
  /** Latest metrics per host name (volatile: metrics are relayed, not stored). */
  metrics: Map<string, HostMetrics>;
  /** Commands to connected sflds. */
  links: HostLinks;
  /** Refused guest calls, counted per code (volatile: metrics, not records). */
  refusals: GuestRefusals;
  /** Operation rows kept: older finished ones are pruned (operations.ts). sfmd.cfg keep_operations. */
  keepOperations: number;
  /** Where pruned operations are archived (operation-archive.ts); null: they are only deleted (tests). */
  operationArchive: string | null;
}

export function createServices(
  init: Omit<
    MasterServices,
    'reads' | 'placementLock' | 'events' | 'metrics' | 'timing' | 'links' | 'refusals' | 'keepOperations' | 'operationArchive'
  > & {
    reads?: PrismaClient;
    timing?: Partial<Timing>;
    links?: HostLinks;
    keepOperations?: number;
    operationArchive?: string | null;
  },
): MasterServices {
  const events = new EventEmitter<MasterEventMap>();
  events.setMaxListeners(0); // every blocked request listens for capacity
  return {
    ...init,
    reads: init.reads ?? init.db,
    timing: { ...DEFAULT_TIMING, ...init.timing },
    placementLock: new Mutex(),
    events,
    metrics: new Map(),
    links: init.links ?? new SocketHostLinks(),
    refusals: new GuestRefusals(),
    keepOperations: init.keepOperations ?? init.config.keepOperations,
    operationArchive: init.operationArchive ?? null,
  };
}
