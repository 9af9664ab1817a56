// sfld.cfg: which host this local daemon is (its name in sfmd.cfg's cluster_hosts), where its master is,
// and how many seed API calls a second each VM here may make.
// parseSfldConfig is pure (text in, typed config out); loadSfldConfig adds reading the file.
import { normalizeFingerprint } from '../pinned-tls.ts';
import { DEFAULT_LOCAL_PORT, DEFAULT_MASTER_PORT } from '../ports.ts';
import { hostName } from './net-names.ts';
import { parsePyLiteralFile } from './pyliteral.ts';
import { readConfigFile } from './read-config-file.ts';
import {
  boolean,
  type Check,
  configError,
  describe,
  integer,
  nullable,
  oneOf,
  optional,
  port,
  readSettings,
  required,
  string,
} from './schema.ts';

export interface SfldConfig {
  hostname: string;
  masterHost: string;
  masterPort: number;
  localListenPort: number;
  /** sfmd speaks HTTPS (false only for an sfmd.cfg with `tls = False`). */
  masterTls: boolean;
  /** The SHA-256 fingerprint of sfmd's certificate this host trusts; null: the data directory's copy, if any. */
  masterFingerprint: string | null;
  /** Seed API calls a second one VM on this host may make to sfmd (the per-VM limit, guest-call-limit.ts). */
  guestCallRate: number;
  /**
   * Build the VMs' cluster networks here (bridges, VXLAN, taps, nftables, tc; needs root). Off: VMs get
   * no NIC — for several sflds sharing one network namespace (tests), which would fight over the names.
   */
  clusterNetwork: boolean;
  /** The interface a cluster's router sends outside traffic through; null: the default route's. */
  outsideInterface: string | null;
  /** /metrics on local_listen_port: 'open' (host totals only, no names of clusters or VMs) or 'off'. */
  metrics: 'open' | 'off';
  /**
   * The page network's MTU, which sizes this host's memserver datagrams (seed §13: jumbo frames): a number
   * (576 to 65535), 'auto' (read from the interface the pages leave by), or null for a 1500-byte path. With
   * an MTU of 4172 or more a 4 KiB page travels in one datagram.
   */
  pageMtu: number | 'auto' | null;
  /**
   * How long a remote clone here waits on a silent memserver before it gives up a page and crashes, in ms: page
   * waits are retried with back-off meanwhile, so a memserver host that pauses for less costs only time.
   */
  pageLivenessMs: number;
  /**
   * The TCP port of the guest API on each cluster's gateway address (served by the sfld running the cluster's
   * router: guests call sfmd's guest procedures over the cluster network, identified by their IP); 0: not served.
   * Keep it the same on every host: a guest's library knows one port (sfguest/api_net.h SF_API_PORT).
   */
  guestApiPort: number;
}

export const DEFAULT_GUEST_API_PORT = 7007;

/** See DEFAULT_GUEST_CALL_LIMITS (local/guest-call-limit.ts) for why 20. */
export const DEFAULT_GUEST_CALL_RATE = 20;

/** The smallest MTU every IPv4 link carries and the largest an IPv4 datagram can use. */
const MTU_RANGE = { min: 576, max: 65535 } as const;

const pageMtu: Check<number | 'auto'> = (value, at) => {
  if (value === 'auto') return 'auto';
  if (typeof value !== 'number' || !Number.isInteger(value) || value < MTU_RANGE.min || value > MTU_RANGE.max) {
    throw configError(
      at,
      `expected 'auto' or an MTU from ${MTU_RANGE.min} to ${MTU_RANGE.max} (e.g. 9000 for jumbo frames), got ${describe(value)}`,
    );
  }
  return value;
};

const fingerprint: Check<string> = (value, at) => {
  const pin = typeof value === 'string' ? normalizeFingerprint(value) : null;
  if (!pin) {
    throw configError(
      at,
      `expected the SHA-256 fingerprint of sfmd's certificate ('sf fingerprint' on sfmd's machine prints it, 64 hex digits, colons optional), got ${describe(value)}`,
    );
  }
  return pin;
};

/** See SfldConfig.pageLivenessMs: long enough for a busy or briefly stopped host, short enough to notice a dead one. */
export const DEFAULT_PAGE_LIVENESS_MS = 10_000;

const SFLD_FIELDS = {
  hostname: required(hostName, "this host's name exactly as in cluster_hosts of sfmd.cfg, e.g. hostname = 'node1'"),
  master_host: optional(hostName, 'localhost'),
  master_port: optional(nullable(port), null),
  // Seed §12 names it so (and sfmd.cfg's key is that too); master_port is the other accepted name.
  master_listen_port: optional(nullable(port), null),
  local_listen_port: optional(port, DEFAULT_LOCAL_PORT),
  guest_call_rate: optional(
    integer({ min: 1, max: 100_000, what: 'seed API calls a second per VM, an integer from 1 to 100000' }),
    DEFAULT_GUEST_CALL_RATE,
  ),
  cluster_network: optional(boolean, true),
  outside_interface: optional(
    nullable(string({ maxLength: 15, pattern: /^[A-Za-z0-9_.:-]+$/, what: "an interface name like 'eth0'" })),
    null,
  ),
  metrics: optional(oneOf(['open', 'off'] as const), 'open'),
  page_mtu: optional(nullable(pageMtu), null),
  guest_api_port: optional(
    integer({ min: 0, max: 65535, what: 'the guest API port on cluster gateways, 1 to 65535, or 0 for none' }),
    DEFAULT_GUEST_API_PORT,
  ),
  page_liveness_ms: optional(
    integer({ min: 100, max: 3_600_000, what: 'milliseconds a remote clone waits on a silent memserver, from 100 to 3600000' }),
    DEFAULT_PAGE_LIVENESS_MS,
  ),
  master_tls: optional(boolean, true),
  master_fingerprint: optional(nullable(fingerprint), null),
};

export function parseSfldConfig(text: string, fileName = 'sfld.cfg'): SfldConfig {
  const entries = parsePyLiteralFile(text, fileName);
  const s = readSettings(entries, SFLD_FIELDS, fileName);
  if (s.master_port !== null && s.master_listen_port !== null && s.master_port !== s.master_listen_port) {
    throw configError(
      { file: fileName, line: entries.get('master_listen_port')?.line ?? null, path: 'master_listen_port' },
      `master_listen_port (${s.master_listen_port}) and master_port (${s.master_port}) name the same port but differ: keep one`,
    );
  }
  return {
    hostname: s.hostname,
    masterHost: s.master_host,
    masterPort: s.master_listen_port ?? s.master_port ?? DEFAULT_MASTER_PORT,
    localListenPort: s.local_listen_port,
    masterTls: s.master_tls,
    masterFingerprint: s.master_fingerprint,
    guestCallRate: s.guest_call_rate,
    clusterNetwork: s.cluster_network,
    outsideInterface: s.outside_interface,
    metrics: s.metrics,
    pageMtu: s.page_mtu,
    pageLivenessMs: s.page_liveness_ms,
    guestApiPort: s.guest_api_port,
  };
}

export async function loadSfldConfig(filePath: string): Promise<SfldConfig> {
  const text = await readConfigFile(
    filePath,
    "create it with this host's name as listed in sfmd.cfg, e.g. hostname = 'node1' (and master_host = 'MASTER' if sfmd runs elsewhere)",
  );
  return parseSfldConfig(text, filePath);
}
