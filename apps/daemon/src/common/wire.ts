// The wire contract: every message between sfmd and its sflds, and from sfmd to dashboards, as one zod
// schema each. The TypeScript types are inferred from these schemas; events.ts builds the socket.io
// event maps from them. Whoever receives a message checks it with the schema named here, nowhere else.
import { SfAbi } from '@snowflock/native/guest-abi';
import { z } from 'zod';
import { MAX_CLUSTERID, MAX_VMID } from './domain-ref.ts';
import { SfError } from './errors.ts';
import { DOMAIN_STATES, HOST_STATES, OPERATION_STATUSES, REPORTED_VM_STATES } from './states.ts';

// ---- building blocks ----

/** Names one VM on the wire. */
export const domainAddressSchema = z.object({
  clusterid: z.number().int().min(0).max(MAX_CLUSTERID),
  vmid: z.number().int().min(0).max(MAX_VMID),
});
export type DomainAddress = z.infer<typeof domainAddressSchema>;

/** Bytes (a Buffer): checked only when a message is, so a page without Buffer can still import this module. */
const bytes = z.custom<Buffer>((value) => Buffer.isBuffer(value), 'expected bytes (a Buffer)');
/** Bytes of a console (either way): at most 64 KiB a message. */
const consoleBytes = bytes.refine((data) => data.length <= 65536, 'at most 64 KiB');

/** A host name or IPv4 address, as sfmd.cfg gives them (resolved by the sfld that uses it). */
const hostOrAddress = z.string().regex(/^[A-Za-z0-9.-]{1,253}$/, 'a host name or IPv4 address');
const ticketId = z.string().min(1).max(36);
const nclones = z.number().int().min(1).max(256);
const multicastGroup = z.string().regex(/^2(2[4-9]|3\d)\.\d{1,3}\.\d{1,3}\.\d{1,3}:\d{1,5}$/, "group must be a multicast 'a.b.c.d:port'");
/** A fork's descriptor hand-off, named by sfmd: targets ask the master's sfld for `key` showing `token`. */
const handoffSchema = z.object({
  key: z.string().regex(/^[0-9a-f]{16}$/, 'a hand-off key is 16 hex digits'),
  token: z.string().regex(/^[0-9a-f]{64}$/, 'a descriptor token is 64 hex digits'),
});
const count = z.number().min(0).finite();

export const reportedVmStateSchema = z.enum(REPORTED_VM_STATES);

// ---- sfld → sfmd ----

/** A VM's NIC counters since it started (frames and bytes each way, frames dropped either way). */
export const nicFiguresSchema = z.object({ rxBytes: count, txBytes: count, rxPackets: count, txPackets: count, drops: count });
export type NicFigures = z.infer<typeof nicFiguresSchema>;

/**
 * A VM's disk counters since it started: requests and bytes the guest read and wrote, requests the device
 * refused (bad sectors, chains, I/O errors), the space its overlay takes on the host now, and the 4 KiB blocks
 * of its fork's disk snapshot it had fetched from another host (a clone away from its master; 0 elsewhere).
 */
export const diskFiguresSchema = z.object({
  reads: count,
  writes: count,
  readBytes: count,
  writtenBytes: count,
  refused: count,
  overlayBytes: count,
  remoteBlocks: count,
});
export type DiskFigures = z.infer<typeof diskFiguresSchema>;

/** A domain's state as its sfld saw it change (a VM's own lifecycle, not the record's). */
export const domainStateReportSchema = domainAddressSchema.extend({
  state: reportedVmStateSchema,
  exitCode: z.number().int().nullable(),
  reason: z.string().max(4096).nullable(),
  /** With a final state: the NIC's last counters (absent or null: the VM had no NIC). */
  nic: nicFiguresSchema.nullable().optional(),
  /** With a final state: the disk's last counters (absent or null: the VM had no disk). */
  disk: diskFiguresSchema.nullable().optional(),
});
export type DomainStateReport = z.infer<typeof domainStateReportSchema>;

/** What sfld tells sfmd about its host when it (re)connects. */
export const hostRegistrationSchema = z.object({
  version: z.string().max(64),
  cpus: z.number().int().min(1).max(65536),
  ramBytes: z.number().int().min(0),
  kernelRelease: z.string().max(256),
  kvm: z.object({ available: z.boolean(), apiVersion: z.number().int(), error: z.string().max(1024).nullable() }),
  userfaultfd: z.object({ available: z.boolean(), features: z.array(z.string().max(64)).max(64), error: z.string().max(1024).nullable() }),
  localListenPort: z.number().int().min(0).max(65535),
  pid: z.number().int().min(0),
  /** The VMs this sfld runs right now: after an sfld restart, sfmd learns which domains died with it. */
  domains: z.array(domainAddressSchema).max(4096),
  /**
   * How the VMs that ended here lately ended (their first final report, oldest first; at most the last
   * 64): after a stall, sfmd learns how the VMs it presumed lost with the host really ended.
   */
  ended: z.array(domainStateReportSchema).max(64),
});
export type HostRegistration = z.infer<typeof hostRegistrationSchema>;

/** sfmd's answer to a registration. */
export const registerReplySchema = z.object({
  hostId: z.string(),
  name: z.string(),
  heartbeatMs: z.number().int().min(1),
  offlineAfterMs: z.number().int().min(1),
});
export type RegisterReply = z.infer<typeof registerReplySchema>;

export const heartbeatSchema = z.object({ seq: z.number().int().min(0), sentAt: z.number() });
export type Heartbeat = z.infer<typeof heartbeatSchema>;

/** One second of a host's life, as sampled by sfld. */
export const hostMetricsSchema = z.object({
  /** ms since epoch */
  sampledAt: z.number(),
  /** 0..1 over the last interval, all cpus */
  cpuUtilization: z.number().min(0).max(1),
  load1: z.number().min(0),
  /** bytes */
  memTotal: z.number().min(0),
  /** bytes */
  memAvailable: z.number().min(0),
  domainsRunning: z.number().int().min(0),
  uptimeSeconds: z.number().min(0),
  /**
   * The host's seed-API hypercalls since its sfld started, over all its VMs: those that went on to sfmd,
   * those of them the per-VM rate limit held back first, and those it refused (EUNAVAIL).
   */
  guestCalls: z.object({ calls: count, delayed: count, refused: count }).optional(),
});
export type HostMetrics = z.infer<typeof hostMetricsSchema>;

/** Console output of a domain (sfld → sfmd → dashboards), and keystrokes for it (the other way). */
export const consoleChunkSchema = domainAddressSchema.extend({ data: consoleBytes });
export type ConsoleChunk = z.infer<typeof consoleChunkSchema>;

/**
 * One lazy clone's data-plane figures (its memtap counters since it started): what the dashboard shows
 * as pages fetched, fault rate (from successive samples) and bytes brought in from the snapshot.
 */
export const domainFiguresSchema = domainAddressSchema.extend({
  faults: count,
  /** Pages filled from the snapshot (on fault or prefetch): over the network for clones on other hosts. */
  pagesFetched: count,
  zeroPages: count,
  prefetched: count,
  freshHints: count,
  /** Pages this clone holds (presence bits set). */
  present: count,
  faultP50Ns: count,
  faultP99Ns: count,
  /**
   * Clones on other hosts: bytes this host's mirror of the snapshot received through its multicast group
   * (shared by the host's clones of that fork: a sibling's fetch is a prefetch for them); null otherwise.
   */
  multicastBytes: count.nullable(),
});
export type DomainFigures = z.infer<typeof domainFiguresSchema>;

/** What an sfld sends once a second; `domains` may be empty. */
export const domainFiguresBatchSchema = z.object({
  sampledAt: z.number().finite(),
  domains: z.array(domainFiguresSchema).max(4096),
  /** Every VM with a NIC here (masters too): its counters now. */
  nics: z.array(domainAddressSchema.extend(nicFiguresSchema.shape)).max(4096).optional(),
  /** Every VM with a disk here (masters too): its counters now. */
  disks: z.array(domainAddressSchema.extend(diskFiguresSchema.shape)).max(4096).optional(),
});
export type DomainFiguresBatch = z.infer<typeof domainFiguresBatchSchema>;

// ---- sfmd → sfld commands (payloads and the values of successful answers) ----

/**
 * The machine a VM may have: the VMM's own limits (guest ABI), so a seed sfmd accepts is one an sfld can boot;
 * and the clones one ticket may hold: as many as a guest's ticket info and join replies carry (SF_MAX_ALLOC).
 */
export const VM_LIMITS = {
  minMemoryMiB: 16,
  maxMemoryMiB: SfAbi.RAM_MAX / 2 ** 20,
  maxVcpus: SfAbi.MAX_VCPUS,
  maxClonesPerTicket: SfAbi.MAX_ALLOC,
} as const;
export const vcpusSchema = z.number().int().min(1).max(VM_LIMITS.maxVcpus);
export const memoryMiBSchema = z.number().int().min(VM_LIMITS.minMemoryMiB).max(VM_LIMITS.maxMemoryMiB);

const ipv4 = z.string().regex(/^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/, 'a dotted IPv4 address');

/**
 * A VM's identity on its cluster's network (sfmd decides, DESIGN §4.6): the NIC's MAC and what its DHCP
 * answers say. The VM option `net` is this plus the tap the sfld made for it.
 */
export const vmNetSchema = z.object({
  mac: z.string().regex(/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "a MAC like '02:00:00:01:00:01'"),
  ip: ipv4,
  prefixLength: z.number().int().min(8).max(30),
  gateway: ipv4.nullable(),
  dns: z.array(ipv4).max(4),
});
export type VmNet = z.infer<typeof vmNetSchema>;

/** What the router of a cluster lets through (on the master's host only): seed semantics, sfmd.cfg and the seed config. */
export const routerSpecSchema = z.object({
  /** Outside destinations: IPv4 addresses, CIDR blocks or host names (resolved by the sfld when it builds the router). */
  whitelist: z.array(z.string().min(1).max(253)).max(256),
  /** Mbit/s of the cluster's outside traffic, each way; 0 = no cap. */
  bandwidthCapMbit: z.number().int().min(0).max(1_000_000),
  /** TCP/UDP ports of the master VM the outside may connect to. */
  inboundPorts: z.array(z.number().int().min(1).max(65535)).max(64),
});
export type RouterSpec = z.infer<typeof routerSpecSchema>;

/** One VM of a cluster and the page-network name or address of the host it runs on. */
export const vmPlacementSchema = z.object({ vmid: domainAddressSchema.shape.vmid, host: hostOrAddress });
export type VmPlacement = z.infer<typeof vmPlacementSchema>;

/**
 * A cluster's network as an sfld builds it on its host: the subnet, the VXLAN port, the page-network
 * addresses of every host running the cluster's VMs (FDB entries: nothing floods) and, on the master's
 * host, the router.
 */
export const clusterNetSpecSchema = z.object({
  network: ipv4,
  prefixLength: z.number().int().min(8).max(30),
  gateway: ipv4,
  vxlanPort: z.number().int().min(1).max(65535),
  /** This host's page-network name or address: the VXLAN's local end (resolved by the sfld). */
  local: hostOrAddress,
  /** The page-network names or addresses of all the cluster's hosts (this one included). */
  hosts: z.array(hostOrAddress).max(1024),
  /** Where each live VM of the cluster runs: per-MAC VXLAN entries send its unicast frames to that host only. */
  vms: z.array(vmPlacementSchema).max(4096).optional(),
  router: routerSpecSchema.nullable(),
});
export type ClusterNetSpec = z.infer<typeof clusterNetSpecSchema>;

/** What an sfld needs to boot a domain: the seed config's machine, resolved on sfmd. */
export const domainBootSpecSchema = domainAddressSchema.extend({
  vcpus: vcpusSchema,
  memoryMiB: memoryMiBSchema,
  /** A flat guest's ELF image (the seed config's `kernel`), a path on the sfld's host. */
  image: z.string().min(1).max(4096),
  args: z.string().max(4096),
  /** A flat guest's data disk (the seed config's `disk_image`, a path on the sfld's host); absent: none. */
  disk: z.object({ image: z.string().min(1).max(4096) }).optional(),
  /** Absent: no NIC (an sfmd or sfld of before the cluster network). */
  net: vmNetSchema.optional(),
  cluster: clusterNetSpecSchema.optional(),
});
export type DomainBootSpec = z.infer<typeof domainBootSpecSchema>;

/** How a fork's pages travel between hosts (sfmd.cfg network_mode and the hosts' multicast names). */
export const forkNetworkSchema = z.object({
  mode: z.enum(['multicast', 'unicast']),
  /** This host's name or address on the page network (cluster_hosts' multicast name; resolved by the sfld). */
  interface: hostOrAddress,
  /** Where the targets, asked at the same time as this host, wait for the descriptor. */
  handoff: handoffSchema,
});
export type ForkNetwork = z.infer<typeof forkNetworkSchema>;

// A fork may make no clone on the master's host (all placed elsewhere); a host asked for remote clones gets one at least.
// `vcpus`: the clone's processors from the ticket's allocation, the first that many of the master's vCPUs (absent: all).
const clonesSchema = z
  .array(
    z.object({
      vmid: z.number().int().min(1).max(MAX_VMID),
      net: vmNetSchema.optional(),
      vcpus: z.number().int().min(1).max(32).optional(),
    }),
  )
  .max(256);

/**
 * VM fork (DESIGN §4.4 steps 2-3) on the master's host: freeze the master (which waits inside sf_clone),
 * and start these clones from its snapshot. `nclones` is what every VM's sf_clone reports as granted.
 */
export const domainForkSpecSchema = domainAddressSchema.extend({
  ticket: ticketId,
  nclones,
  clones: clonesSchema,
  /** Clones on other hosts will fetch pages: serve the snapshot (how: `serve`) and shelve its descriptor. */
  serve: forkNetworkSchema.nullable(),
  /** The cluster's network (its hosts now include the clones'); absent: clones get no NIC. */
  cluster: clusterNetSpecSchema.optional(),
});
export type DomainForkSpec = z.infer<typeof domainForkSpecSchema>;

/**
 * Clones of a VM forked on another host (DESIGN §4.4 step 3), asked while the master's host forks: made here from the
 * fork's descriptor, which the master host's sfld hands over (its local HTTP port) once the fork is served, with the
 * memserver's port and group; pages come from that memserver through this host's mirror (multicast: replies on the
 * group, joined on `interface`).
 */
export const domainRemoteCloneSpecSchema = z.object({
  clusterid: domainAddressSchema.shape.clusterid,
  ticket: ticketId,
  nclones,
  /** The master's host (its unicast name from sfmd.cfg, resolved by the sfld), its sfld's port, the hand-off. */
  descriptor: handoffSchema.extend({
    host: hostOrAddress,
    port: z.number().int().min(1).max(65535),
  }),
  /** This host's name or address on the page network. */
  interface: hostOrAddress,
  clones: clonesSchema.min(1),
  cluster: clusterNetSpecSchema.optional(),
});
export type DomainRemoteCloneSpec = z.infer<typeof domainRemoteCloneSpecSchema>;

/** What became of one clone an sfld was asked to make. */
export const cloneOutcomeSchema = z.object({ vmid: z.number().int().min(0), ok: z.boolean(), error: z.string().nullable() });
export type CloneOutcome = z.infer<typeof cloneOutcomeSchema>;

export const servedForkSchema = z.object({
  snapshotId: z.string().regex(/^[0-9a-f]{16}$/, 'a snapshot id is 16 hex digits'),
  /** The memserver's port on the master's host (its address is the host's unicast name). */
  memserverPort: z.number().int().min(1).max(65535),
  /** Multicast mode: the group replies go to, 'a.b.c.d:port'; null in unicast mode. */
  group: multicastGroup.nullable(),
});
export type ServedFork = z.infer<typeof servedForkSchema>;

/**
 * Where the sfld's time went in a fork, in ms, each stage after the one before: the cluster network's hosts
 * set, the ticket's shells taken and every clone's tap made (shellsMs), the fork itself with the clones made in
 * shells and running (snapshotMs, forkInto: the master's pause included), the clones without a usable shell
 * made afresh (createMs) and started (startMs), the fork served to other hosts (0 without clones elsewhere).
 */
export const forkTimingSchema = z.object({
  networkMs: z.number().min(0),
  snapshotMs: z.number().min(0),
  shellsMs: z.number().min(0),
  createMs: z.number().min(0),
  startMs: z.number().min(0),
  serveMs: z.number().min(0),
});
export type ForkTiming = z.infer<typeof forkTimingSchema>;

/**
 * Where a host's time went making a fork's clones, in ms from the clone request's arrival: the hand-off answered
 * (descriptorMs: the master's fork captured and served, names resolved first), while it waited the ticket's shells
 * taken (shellsMs) and the clones' taps made, all at once (netMs); then the clones made and started in parallel
 * (clonesMs, from the later of the three).
 */
export const remoteCloneTimingSchema = z.object({
  descriptorMs: z.number().min(0),
  shellsMs: z.number().min(0),
  netMs: z.number().min(0),
  clonesMs: z.number().min(0),
});
export type RemoteCloneTiming = z.infer<typeof remoteCloneTimingSchema>;

/** What became of each clone of a fork; the fork's figures for the record. */
export const domainForkResultSchema = z.object({
  clones: z.array(cloneOutcomeSchema),
  pauseMs: z.number().min(0),
  descriptorBytes: z.number().min(0),
  /** Clones made from shells prepared when the ticket was granted (the rest were made at the fork). */
  fromShells: z.number().int().min(0),
  /** With `serve`: where other hosts get the descriptor (the sfld's local port) and the pages. */
  served: servedForkSchema.nullable(),
  /** Optional: an sfld older than these figures answers without them. */
  timing: forkTimingSchema.optional(),
});
export type DomainForkResult = z.infer<typeof domainForkResultSchema>;

/**
 * What an sfld runs right now, each VM with its state, and how recent ones ended (as in a registration):
 * read-only, for sf doctor to compare with the record.
 */
export const hostInventorySchema = z.object({
  domains: z.array(domainAddressSchema.extend({ state: reportedVmStateSchema })).max(4096),
  ended: z.array(domainStateReportSchema).max(64),
});
export type HostInventory = z.infer<typeof hostInventorySchema>;

/** A VM's state after a boot or destroy command, as the sfld reports it. */
const vmStateReplySchema = z.object({ state: reportedVmStateSchema });
const acceptedSchema = z.object({ accepted: z.number().int().min(0) });

/**
 * Commands from sfmd to an sfld: each answers through an ack carrying a Result. For each command, the
 * payload sfld checks and the value of a successful answer.
 */
export const hostCommandSchemas = {
  'domain:boot': { payload: domainBootSpecSchema, value: vmStateReplySchema },
  'domain:destroy': { payload: domainAddressSchema, value: vmStateReplySchema },
  'domain:fork': { payload: domainForkSpecSchema, value: domainForkResultSchema },
  'domain:clone-remote': {
    payload: domainRemoteCloneSpecSchema,
    // fromShells: how many were made in shells prepared at the ticket's grant (ticket:shells); absent from older sflds.
    value: z.object({
      clones: z.array(cloneOutcomeSchema),
      fromShells: z.number().int().min(0).optional(),
      timing: remoteCloneTimingSchema.optional(),
    }),
  },
  'domain:input': { payload: consoleChunkSchema, value: acceptedSchema },
  'domain:console-replay': { payload: domainAddressSchema, value: z.object({ data: bytes }) },
  'host:ping': { payload: z.object({ sentAt: z.number() }), value: z.object({ receivedAt: z.number() }) },
  /**
   * A heartbeat came from a host sfmd had declared offline while its sfld stayed connected: sfmd asks
   * for the registration it would send on connect (its VMs now, and how recent ones ended) to take it back.
   */
  'host:reregister': { payload: z.object({ reason: z.string().max(1024) }), value: hostRegistrationSchema },
  /**
   * A ticket of a master on this host ended by another path than the master's own dispose, merge or join
   * (the admin, a cluster's end, a lost host): the shells prepared for its clones are released now.
   */
  'ticket:ended': { payload: z.object({ ticket: ticketId }), value: z.object({ released: z.number().int().min(0) }) },
  /**
   * A ticket granted places clones on this host: shells of the master's shape, and the clones' taps, are prepared
   * for its fork now, while the master computes (released by ticket:ended, taken by the fork's domain:fork or
   * domain:clone-remote, or gone after their lifetime).
   */
  'ticket:shells': {
    payload: z.object({
      ticket: ticketId,
      memoryMiB: memoryMiBSchema,
      vcpus: vcpusSchema,
      /** This host's share of the ticket's clones; 0 for the master's host without one (its network is still told). */
      count: z.number().int().min(0).max(VM_LIMITS.maxClonesPerTicket),
      /** Shells for the master's own host (its forks: becomeClone/forkInto); absent or true: for a remote fork. */
      remote: z.boolean().optional(),
      /** The clones' places on their cluster's network (absent without one): their taps are made now too. */
      net: z
        .object({
          clusterid: domainAddressSchema.shape.clusterid,
          clones: z.array(z.object({ vmid: domainAddressSchema.shape.vmid, net: vmNetSchema })).max(VM_LIMITS.maxClonesPerTicket),
          cluster: clusterNetSpecSchema,
        })
        .optional(),
    }),
    value: z.object({ preparing: z.number().int().min(0) }),
  },
  /**
   * The last clone on another host of a master's fork (its ticket) ended: the master's sfld stops that fork's
   * memserver and lets its frozen memory go (local clones keep their own hold on it). Idempotent.
   */
  'fork:release': {
    payload: z.object({ clusterid: domainAddressSchema.shape.clusterid, ticket: ticketId }),
    value: z.object({ stopped: z.number().int().min(0) }),
  },
  /** sf doctor asks what the sfld runs (side-effect free) to compare it with the record. */
  'host:inventory': { payload: z.object({}).strict(), value: hostInventorySchema },
  /** The hosts running a cluster's VMs changed: the sfld rewrites its VXLAN forwarding entries (no-op without the cluster). */
  'cluster:peers': {
    payload: z.object({
      clusterid: domainAddressSchema.shape.clusterid,
      hosts: z.array(hostOrAddress).max(1024),
      vms: z.array(vmPlacementSchema).max(4096).optional(),
    }),
    value: z.object({ peers: z.number().int().min(0) }),
  },
} as const;
export type HostCommand = keyof typeof hostCommandSchemas;
export type HostCommandPayload<C extends HostCommand> = z.infer<(typeof hostCommandSchemas)[C]['payload']>;
export type HostCommandValue<C extends HostCommand> = z.infer<(typeof hostCommandSchemas)[C]['value']>;

// ---- sfmd → dashboards, and back ----

export const hostMetricsEventSchema = hostMetricsSchema.extend({ host: z.string() });
export type HostMetricsEvent = z.infer<typeof hostMetricsEventSchema>;

export const hostStateEventSchema = z.object({ host: z.string(), state: z.enum(HOST_STATES), at: z.string() });
export type HostStateEvent = z.infer<typeof hostStateEventSchema>;

export const domainStateEventSchema = domainAddressSchema.extend({ host: z.string(), state: z.enum(DOMAIN_STATES), at: z.string() });
export type DomainStateEvent = z.infer<typeof domainStateEventSchema>;

export const operationProgressEventSchema = z.object({
  id: z.string(),
  kind: z.string(),
  target: z.string(),
  status: z.enum(OPERATION_STATUSES),
  progress: z.number().min(0).max(1),
  error: z.string().nullable(),
});
export type OperationProgressEvent = z.infer<typeof operationProgressEventSchema>;

/** A figures batch relayed to dashboards with the host that measured it. */
export const domainFiguresEventSchema = domainFiguresBatchSchema.extend({ host: z.string() });
export type DomainFiguresEvent = z.infer<typeof domainFiguresEventSchema>;

/** A dashboard's console subscription is answered with what the console printed so far. */
export const consoleReplaySchema = z.object({ replay: bytes });
export type ConsoleReplay = z.infer<typeof consoleReplaySchema>;

// ---- checking ----

/** Where a message went wrong and how: `field: message` for its first issue. */
export function describeIssue(error: z.ZodError): string {
  const issue = error.issues[0];
  if (!issue) return 'not understood';
  const field = issue.path.map(String).join('.');
  return field ? `${field}: ${issue.message}` : issue.message;
}

/** A message checked against its schema; BAD_INPUT naming `what` and the field when it does not fit. */
export function parseWire<S extends z.ZodType>(schema: S, value: unknown, what: string): z.infer<S> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw new SfError('BAD_INPUT', `malformed ${what}: ${describeIssue(parsed.error)}`);
  return parsed.data;
}

/** A command's payload checked against its schema (what sfld does with each command sfmd sends). */
export function parseHostCommand<C extends HostCommand>(command: C, payload: unknown): HostCommandPayload<C> {
  return parseWire(hostCommandSchemas[command].payload, payload, command) as HostCommandPayload<C>;
}
