// What each procedure of sfmd's API answers, as one zod schema per procedure path (the JSON on the wire:
// times are ISO strings). The OpenAPI document is built from these; openapi.ts checks them against the router's types.
import { z } from 'zod';
import { ERROR_CODES } from '../../common/errors.ts';
import { CLUSTER_STATES, DOMAIN_STATES, HOST_STATES, OPERATION_STATUSES, TICKET_STATES, TOKEN_ROLES } from '../../common/states.ts';
import { diskFiguresSchema, domainFiguresSchema, hostMetricsSchema } from '../../common/wire.ts';

const time = z.string().describe('an ISO 8601 time');
const int = z.number().int();
const count = z.number();
const domainState = z.enum(DOMAIN_STATES);
const ticketState = z.enum(TICKET_STATES);
const clusterState = z.enum(CLUSTER_STATES);
const anyObject = z.record(z.string(), z.unknown());

const allocation = z.object({ vmid: int, host: z.string(), processors: int, memory: count.describe('bytes') });

/** A ticket as the guest calls answer it: its state, what was asked and granted, and where each vmid will run. */
const ticketView = z.object({
  ticket: z.string().describe('the ticket: a 36-character uuid'),
  clusterid: int,
  state: ticketState,
  requested: int,
  granted: int.describe('clones (or processors with procs) the reservation holds: allowed_clones'),
  procs: z.boolean(),
  min: int,
  createdAt: time,
  endedAt: time.nullable().describe('when it was merged or disposed; null while unused or outstanding'),
  allocations: z.array(allocation).describe('the allocation map: vmid → processors (and host, memory)'),
});

const nicView = z.object({ rxBytes: count, txBytes: count, rxPackets: count, txPackets: count, drops: count, live: z.boolean() });
const diskView = z.object({
  image: z.string(),
  figures: diskFiguresSchema.omit({ refused: true }).nullable(),
  live: z.boolean(),
});

const domainView = z.object({
  domain: z.string().describe('CLUSTER:VMID'),
  clusterid: int,
  vmid: int,
  host: z.string(),
  vcpus: int,
  memory: count.describe('bytes'),
  state: domainState,
  exitCode: int.nullable(),
  endReason: z.string().nullable(),
  ip: z.string().nullable(),
  mac: z.string().nullable(),
  net: nicView.nullable(),
  disk: diskView.nullable(),
  ticket: z.string().nullable(),
  createdAt: time,
  endedAt: time.nullable(),
});

const heartbeat = z.object({
  lastAt: time,
  lastGapMs: count.nullable(),
  maxGapMs: count,
  beats: count,
  late: count,
  lateWhileSfmdStalled: count,
  sentLate: count,
});

const hostView = z.object({
  name: z.string(),
  unicast: z.string(),
  multicast: z.string(),
  state: z.enum(HOST_STATES),
  cpus: int,
  ram: count.describe('bytes'),
  cpusUsed: int,
  ramUsed: count.describe('bytes'),
  kvm: z.boolean(),
  capabilities: anyObject,
  lastSeen: time.nullable(),
  registeredAt: time.nullable(),
  metrics: hostMetricsSchema.nullable(),
  heartbeat: heartbeat.nullable(),
  allocator: z.string().describe("who places clones: 'default' (Snowflock), 'slurm' or 'sge'"),
  scheduler: z
    .object({ node: z.string(), cpus: int, bySnowflock: int, byOthers: int })
    .nullable()
    .describe("the batch scheduler's view of the host's CPUs (null without one)"),
});

const operationView = z.object({
  id: z.string(),
  kind: z.string(),
  target: z.string(),
  requester: z.string(),
  clusterid: int.nullable().describe('the cluster it acted on or for; null for none (a host, the record)'),
  status: z.enum(OPERATION_STATUSES),
  progress: z.number(),
  error: z.string().nullable(),
  detail: anyObject,
  startedAt: time,
  finishedAt: time.nullable(),
});

const seedConfigView = z.object({
  name: z.string().nullable(),
  diskImage: z.string().nullable(),
  kernel: z.string().nullable(),
  args: z.string().nullable(),
  vcpus: int,
  memoryMiB: int,
  inboundPorts: z.array(int).optional(),
});

const clusterDetail = z.object({
  clusterid: int,
  name: z.string().nullable(),
  state: clusterState,
  seedConfig: seedConfigView,
  createdAt: time,
  endedAt: time.nullable(),
  domains: z.array(
    z.object({
      vmid: int,
      host: z.string(),
      vcpus: int,
      memory: count,
      state: domainState,
      ticket: z.string().nullable(),
      ip: z.string().nullable(),
      mac: z.string().nullable(),
    }),
  ),
  tickets: z.array(z.object({ ticket: z.string(), state: ticketState, requested: int, granted: int, procs: z.boolean() })),
});

const finding = z.object({
  kind: z.string(),
  subject: z.string(),
  host: z.string().nullable(),
  recorded: z.string(),
  actual: z.string(),
  repair: z.string(),
  repaired: z.boolean(),
  error: z.string().nullable(),
});

const consistency = z.object({
  checkedAt: time,
  repair: z.boolean(),
  operation: z.string().nullable(),
  domains: int,
  hosts: z.array(
    z.object({ name: z.string(), state: z.enum(HOST_STATES), checked: z.boolean(), note: z.string().nullable(), vms: int.nullable() }),
  ),
  findings: z.array(finding),
  after: z.array(finding).nullable(),
  clean: z.boolean(),
});

const adminAction = z.object({
  clusterid: int,
  operation: z.string(),
  results: z.array(z.object({ host: z.string(), vmid: int, state: domainState, ok: z.boolean(), error: z.string().nullable() })),
  summary: z.string(),
});

const figureSample = domainFiguresSchema.extend({ sampledAt: z.number() });

/** A token as listed: never its secret or hash. */
const tokenView = z.object({
  name: z.string().describe('its name: the operation log calls its calls token:NAME'),
  role: z.enum(TOKEN_ROLES),
  state: z.enum(['active', 'revoked', 'expired']),
  createdAt: time,
  expiresAt: time.nullable(),
  revokedAt: time.nullable(),
  lastUsedAt: time.nullable().describe('when a call last used it (noted at most once a minute)'),
});

/** Every procedure's answer (the `result.data` of tRPC's envelope), by procedure path. */
export const procedureOutputs = {
  health: z.object({ ok: z.literal(true), version: z.string(), hostsOnline: int }),
  whoami: z.object({
    caller: z.enum(['token', 'host', 'anonymous']),
    host: z.string().nullable(),
    token: z.string().nullable().describe("the token's name"),
    role: z.enum(TOKEN_ROLES).nullable(),
  }),
  'ticket.request': ticketView,
  'ticket.list': z.object({
    unused: z.array(z.string()).describe('tickets requested but not cloned yet'),
    outstanding: z.array(z.string()).describe('tickets cloned but not merged or joined yet'),
  }),
  'ticket.info': ticketView,
  'ticket.dispose': ticketView,
  'clone.master': z.object({
    ticket: z.string(),
    nclones: int.describe('clones made'),
    vmid: int.describe("the caller's vmid: 0, the master (each clone's own answer comes through its sfld)"),
  }),
  'clone.merge': z.object({ merged: z.array(z.string()).describe('the tickets merged'), clones: int.describe('clones ended') }),
  'clone.join': z.object({
    ticket: z.string(),
    clones: int,
    exits: z.array(
      z.object({
        vmid: int,
        how: z.enum(['exited', 'crashed', 'killed']),
        status: int.describe('its exit status (0 unless it exited)'),
        reason: z.string().nullable(),
      }),
    ),
  }),
  'clone.exit': z.object({ clusterid: int, vmid: int, status: int }),
  'cluster.seed': clusterDetail,
  'cluster.shutdown': clusterDetail,
  'cluster.list': z.array(
    z.object({
      clusterid: int,
      name: z.string().nullable(),
      state: clusterState,
      liveDomains: int,
      createdAt: time,
      endedAt: time.nullable(),
    }),
  ),
  'cluster.get': clusterDetail,
  'state.hosts': z.array(hostView),
  'state.domains': z.array(domainView),
  'host.get': hostView,
  'domain.console': z.object({
    domain: z.string().describe('CLUSTER:VMID'),
    text: z.string().describe("the last 64 KiB of the domain's serial console, as UTF-8 text"),
  }),
  'operations.list': z.array(operationView),
  'operations.page': z.object({
    operations: z.array(operationView),
    nextCursor: z.string().nullable().describe('pass it as cursor for the next (older) page; null on the last page'),
  }),
  'operations.get': operationView,
  'operations.stats': z.object({
    guestRefusals: z.object({ total: count, byCode: z.partialRecord(z.enum(ERROR_CODES as [string, ...string[]]), count) }),
    rows: int,
    keep: int,
  }),
  'doctor.check': consistency,
  'doctor.repair': consistency,
  'dashboard.overview': z.object({
    at: time,
    hosts: z.array(hostView),
    domains: z.array(domainView),
    history: z.record(z.string(), z.array(hostMetricsSchema)),
  }),
  'dashboard.hostMetrics': z.array(hostMetricsSchema),
  'dashboard.cluster': z.object({
    clusterid: int,
    name: z.string().nullable(),
    state: clusterState,
    seedConfig: seedConfigView,
    createdAt: time,
    endedAt: time.nullable(),
    domains: z.array(domainView),
    tickets: z.array(ticketView),
    operations: z.array(operationView),
    operationsNext: z.string().nullable().describe("operations.page's cursor for this cluster's older operations"),
    figures: z
      .record(z.string(), z.object({ host: z.string(), latest: figureSample, previous: figureSample.nullable() }))
      .describe("by vmid: the clone's last two data-plane samples"),
  }),
  'dashboard.guests': z.array(
    z.object({
      name: z.string(),
      description: z.string(),
      kernel: z.string(),
      args: z.string(),
      vcpus: int,
      memoryMiB: int,
      built: z.boolean(),
    }),
  ),
  'dashboard.checkSeed': z.object({ ok: z.boolean(), issues: z.array(z.object({ field: z.string(), message: z.string() })) }),
  'dashboard.merge': adminAction,
  'dashboard.kill': adminAction,
  'dashboard.shutdown': adminAction,
  'dashboard.consoleInput': z.object({ accepted: int }),
  'token.create': z.object({ secret: z.string().describe('the token itself: shown this once, never again'), token: tokenView }),
  'token.list': z.array(tokenView),
  'token.revoke': tokenView,
} as const;

export type ProcedurePath = keyof typeof procedureOutputs;
