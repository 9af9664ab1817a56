// sfmd.cfg: the master daemon's port, the hosts it may place VMs on and the clusters' network settings.
// parseSfmdConfig is pure (text in, typed config out); loadSfmdConfig adds reading the file.
import {
  DEFAULT_CLUSTER_NETWORK,
  DEFAULT_CLUSTER_PREFIX,
  MAX_CLUSTER_PREFIX,
  MIN_CLUSTER_PREFIX,
  planProblem,
  type ClusterNetworkPlan,
} from '../cluster-addresses.ts';
import { DEFAULT_MASTER_PORT } from '../ports.ts';
import { hostName, networkAddress } from './net-names.ts';
import { parsePyLiteralFile } from './pyliteral.ts';
import { type RateLimits, rateLimitsField } from './rate-limit-settings.ts';
import { readConfigFile } from './read-config-file.ts';
import { type AllocatorName, SCHEDULER_FIELDS, type SchedulerSettings, schedulerSettings } from './scheduler-settings.ts';
import {
  boolean,
  childAt,
  configError,
  describe,
  integer,
  listOf,
  nonNegativeInt,
  nullable,
  oneOf,
  optional,
  port,
  positiveInt,
  readSettings,
  record,
  required,
  string,
  type Check,
} from './schema.ts';

export type NetworkMode = 'multicast' | 'unicast';

export interface ClusterHost {
  /** The host's identity everywhere in Snowflock (database, secrets, sfld.cfg's hostname): its unicast name. */
  name: string;
  unicast: string;
  multicast: string;
  cpus: number;
  /** Bytes. */
  ram: number;
}

export interface SfmdConfig {
  masterListenPort: number;
  clusterHosts: ClusterHost[];
  networkMode: NetworkMode;
  /** Host names, addresses or CIDR blocks allowed to reach the clusters' virtual networks. */
  networkWhitelist: string[];
  /** Mbit/s of each cluster's traffic with the outside (through its router, either way); 0 means no cap. */
  bandwidthCap: number;
  /** The block clusters' subnets are carved from and each subnet's prefix length. */
  clusterNetwork: ClusterNetworkPlan;
  /** UDP port of the VXLAN tunnels that join a cluster's bridges across hosts (the same on every host). */
  vxlanPort: number;
  /** The id the first cluster gets. */
  clusterId: number;
  /** Operation rows sfmd keeps: older finished ones are pruned. */
  keepOperations: number;
  /** Calls and events per second per caller before RATE_LIMITED (null: no limit). */
  rateLimits: RateLimits;
  /** Who may read /metrics: anyone ('open'), an API token as a bearer ('token', any role), nobody ('off'). */
  metrics: MetricsAccess;
  /**
   * HTTPS on master_listen_port (true unless sfmd.cfg says `tls = False`), with `tls_cert`/`tls_key` when given,
   * else the self-signed pair sfmd makes in its data directory at first start.
   */
  tls?: TlsSettings;
  /** Who places clones: Snowflock itself ('default', the absent value) or the site's batch scheduler. */
  allocator?: AllocatorName;
  /** Where and how placeholder jobs go when a batch scheduler places clones. */
  scheduler?: SchedulerSettings;
}

export interface TlsSettings {
  enabled: boolean;
  /** PEM files of a configured certificate (chain) and its key; both or neither. */
  certFile: string | null;
  keyFile: string | null;
}

export const METRICS_ACCESS = ['open', 'token', 'off'] as const;
export type MetricsAccess = (typeof METRICS_ACCESS)[number];

/** Operation rows kept by default: weeks of ordinary use, a few MiB of SQLite at most. */
export const DEFAULT_KEEP_OPERATIONS = 10_000;
/** Fewer rows would leave too little history to see what just happened (a fork is several operations). */
export const MIN_KEEP_OPERATIONS = 100;

// Hosts with a separate interface for memory-page multicast are written as [unicast_name, multicast_name].
const hostNames: Check<{ unicast: string; multicast: string }> = (value, at) => {
  if (typeof value === 'string') {
    const name = hostName(value, at);
    return { unicast: name, multicast: name };
  }
  if (Array.isArray(value) && value.length === 2) {
    return { unicast: hostName(value[0]!, childAt(at, value, 0)), multicast: hostName(value[1]!, childAt(at, value, 1)) };
  }
  throw configError(at, `expected a host name or a [unicast_name, multicast_name] pair, got ${describe(value)}`);
};

const HOST_EXAMPLE = "{'host': 'node1', 'cpus': 4, 'RAM': 4 << 30}";

const clusterHost = record(
  {
    host: required(hostNames, "the host's name, or a [unicast_name, multicast_name] pair"),
    cpus: required(positiveInt, 'how many CPUs VMs may use on this host'),
    RAM: required(positiveInt, 'how many bytes of RAM VMs may use on this host, e.g. 8 << 30'),
  },
  `a host entry like ${HOST_EXAMPLE}`,
);

/** The IANA VXLAN port. */
export const DEFAULT_VXLAN_PORT = 4789;

const SFMD_FIELDS = {
  master_listen_port: optional(port, DEFAULT_MASTER_PORT),
  cluster_hosts: required(
    listOf(clusterHost, {
      minItems: 1,
      what: 'a list of hosts',
      // Host names are case-insensitive, and each becomes a secret file name.
      unique: { key: (h) => h.host.unicast.toLowerCase(), what: 'host name' },
    }),
    `the hosts VMs may run on, e.g. cluster_hosts = [${HOST_EXAMPLE}]`,
  ),
  network_mode: optional(oneOf(['multicast', 'unicast'] as const), 'multicast'),
  network_whitelist: optional(listOf(networkAddress), [] as string[]),
  bandwidth_cap: optional(nullable(nonNegativeInt), 0),
  cluster_network: optional(string({ maxLength: 18, what: "an IPv4 block like '10.128.0.0/12'" }), DEFAULT_CLUSTER_NETWORK),
  cluster_prefix: optional(
    integer({
      min: MIN_CLUSTER_PREFIX,
      max: MAX_CLUSTER_PREFIX,
      what: `a prefix length from ${MIN_CLUSTER_PREFIX} to ${MAX_CLUSTER_PREFIX}`,
    }),
    DEFAULT_CLUSTER_PREFIX,
  ),
  vxlan_port: optional(port, DEFAULT_VXLAN_PORT),
  // Seed §12: the first cluster is 0 unless sfmd.cfg says otherwise.
  clusterid: optional(nonNegativeInt, 0),
  keep_operations: optional(
    integer({ min: MIN_KEEP_OPERATIONS, what: `an integer of at least ${MIN_KEEP_OPERATIONS} (how many Operation rows sfmd keeps)` }),
    DEFAULT_KEEP_OPERATIONS,
  ),
  rate_limits: rateLimitsField,
  metrics: optional(oneOf(METRICS_ACCESS), 'token'),
  tls: optional(boolean, true),
  tls_cert: optional(nullable(string({ what: "the path of a PEM certificate file, e.g. '/etc/snowflock/sfmd.crt'" })), null),
  tls_key: optional(nullable(string({ what: "the path of a PEM key file, e.g. '/etc/snowflock/sfmd.key'" })), null),
  ...SCHEDULER_FIELDS,
};

export function parseSfmdConfig(text: string, fileName = 'sfmd.cfg'): SfmdConfig {
  const entries = parsePyLiteralFile(text, fileName);
  const s = readSettings(entries, SFMD_FIELDS, fileName);
  const clusterNetwork = { block: s.cluster_network, prefix: s.cluster_prefix };
  const problem = planProblem(clusterNetwork);
  if (problem) throw configError({ file: fileName, line: entries.get(problem.key)?.line ?? null, path: problem.key }, problem.message);
  if ((s.tls_cert === null) !== (s.tls_key === null)) {
    const missing = s.tls_cert === null ? 'tls_cert' : 'tls_key';
    throw configError(
      { file: fileName, line: entries.get(s.tls_cert === null ? 'tls_key' : 'tls_cert')?.line ?? null, path: missing },
      'tls_cert and tls_key go together (a certificate and its key): set both, or neither for the self-signed pair sfmd makes',
    );
  }
  return {
    masterListenPort: s.master_listen_port,
    clusterHosts: s.cluster_hosts.map((h) => ({
      name: h.host.unicast,
      unicast: h.host.unicast,
      multicast: h.host.multicast,
      cpus: h.cpus,
      ram: h.RAM,
    })),
    networkMode: s.network_mode,
    networkWhitelist: s.network_whitelist,
    bandwidthCap: s.bandwidth_cap ?? 0,
    clusterNetwork,
    vxlanPort: s.vxlan_port,
    clusterId: s.clusterid,
    keepOperations: s.keep_operations,
    rateLimits: s.rate_limits,
    metrics: s.metrics,
    tls: { enabled: s.tls, certFile: s.tls_cert, keyFile: s.tls_key },
    allocator: s.allocator,
    scheduler: schedulerSettings(
      s,
      s.cluster_hosts.map((h) => h.host.unicast),
      (key) => ({ file: fileName, line: entries.get(key)?.line ?? null, path: key }),
    ),
  };
}

export async function loadSfmdConfig(filePath: string): Promise<SfmdConfig> {
  const text = await readConfigFile(
    filePath,
    `create it with at least one host, e.g. cluster_hosts = [${HOST_EXAMPLE}] (one entry per machine running sfld)`,
  );
  return parseSfmdConfig(text, filePath);
}
