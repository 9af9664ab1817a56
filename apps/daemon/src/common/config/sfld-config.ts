// sfld.cfg: which host this local daemon is (its name in sfmd.cfg's cluster_hosts), where its master is,
// and how many seed API calls a second each VM here may make.
// parseSfldConfig is pure (text in, typed config out); loadSfldConfig adds reading the file.
import { DEFAULT_LOCAL_PORT, DEFAULT_MASTER_PORT } from '../ports.ts';
import { hostName } from './net-names.ts';
import { parsePyLiteralFile } from './pyliteral.ts';
import { readConfigFile } from './read-config-file.ts';
import { boolean, integer, nullable, optional, port, readSettings, required, string } from './schema.ts';

export interface SfldConfig {
  hostname: string;
  masterHost: string;
  masterPort: number;
  localListenPort: number;
  /** Seed API calls a second one VM on this host may make to sfmd (the per-VM limit, guest-call-limit.ts). */
  guestCallRate: number;
  /**
   * Build the VMs' cluster networks here (bridges, VXLAN, taps, nftables, tc; needs root). Off: VMs get
   * no NIC — for several sflds sharing one network namespace (tests), which would fight over the names.
   */
  clusterNetwork: boolean;
  /** The interface a cluster's router sends outside traffic through; null: the default route's. */
  outsideInterface: string | null;
}

/** See DEFAULT_GUEST_CALL_LIMITS (local/guest-call-limit.ts) for why 20. */
export const DEFAULT_GUEST_CALL_RATE = 20;

const SFLD_FIELDS = {
  hostname: required(hostName, "this host's name exactly as in cluster_hosts of sfmd.cfg, e.g. hostname = 'node1'"),
  master_host: optional(hostName, 'localhost'),
  master_port: optional(port, DEFAULT_MASTER_PORT),
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
};

export function parseSfldConfig(text: string, fileName = 'sfld.cfg'): SfldConfig {
  const s = readSettings(parsePyLiteralFile(text, fileName), SFLD_FIELDS, fileName);
  return {
    hostname: s.hostname,
    masterHost: s.master_host,
    masterPort: s.master_port,
    localListenPort: s.local_listen_port,
    guestCallRate: s.guest_call_rate,
    clusterNetwork: s.cluster_network,
    outsideInterface: s.outside_interface,
  };
}

export async function loadSfldConfig(filePath: string): Promise<SfldConfig> {
  const text = await readConfigFile(
    filePath,
    "create it with this host's name as listed in sfmd.cfg, e.g. hostname = 'node1' (and master_host = 'MASTER' if sfmd runs elsewhere)",
  );
  return parseSfldConfig(text, filePath);
}
