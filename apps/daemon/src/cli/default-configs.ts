// First-start defaults: an sfmd.cfg listing just this machine (its cpus and RAM as detected) and an
// sfld.cfg pointing at it, written in the classic syntax so they can be edited by hand later.
import { existsSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { DEFAULT_GUEST_API_PORT, DEFAULT_GUEST_CALL_RATE } from '../common/config/index.ts';
import { DEFAULT_LOCAL_PORT, DEFAULT_MASTER_PORT } from '../common/ports.ts';

export function thisHostName(): string {
  // A name the allocator and logs can show; dots are fine, but keep it a single token.
  return os.hostname().split(/\s/)[0] || 'localhost';
}

export function defaultSfmdCfg(hostname: string, cpus: number, ramBytes: number): string {
  const gib = Math.floor(ramBytes / 2 ** 30);
  return `# sfmd.cfg — Snowflock master daemon (classic SnowFlock syntax; parsed, never executed)
master_listen_port = 0x${DEFAULT_MASTER_PORT.toString(16).toUpperCase()}

# Hosts that may run VMs: 'host' is a name, or [unicast, multicast] names; cpus and RAM (bytes)
# are what Snowflock may hand out on that host.
cluster_hosts = [
    {'host': '${hostname}', 'cpus': ${cpus}, 'RAM': ${gib} * 1024 * 1024 * 1024},
]

network_mode = 'multicast'   # or 'unicast'
network_whitelist = []       # outside addresses, CIDR blocks or host names the clusters may reach
bandwidth_cap = 0            # Mbit/s between each cluster and the whitelisted outside, 0 = no cap
cluster_network = '10.128.0.0/12'  # private block each cluster's subnet is carved from (by clusterid)
cluster_prefix = 24          # each cluster's subnet: /24 = 253 VMs (vmid + 1 = host number; .254 is the router)
vxlan_port = 4789            # UDP port joining a cluster's bridges across hosts
clusterid = 1                # id of the first cluster
keep_operations = 10000      # Operation rows kept (at least 100); older finished ones are pruned
metrics = 'token'            # /metrics: 'token' (admin token as bearer), 'open' (no token) or 'off'
allocator = 'default'        # who places clones: 'default' (Snowflock), 'slurm' or 'sge' (README: Using a batch scheduler)
`;
}

export function defaultSfldCfg(hostname: string, masterHost = 'localhost'): string {
  return `# sfld.cfg — Snowflock local daemon of this host
hostname = '${hostname}'
master_host = '${masterHost}'
master_port = 0x${DEFAULT_MASTER_PORT.toString(16).toUpperCase()}
local_listen_port = 0x${DEFAULT_LOCAL_PORT.toString(16).toUpperCase()}
guest_call_rate = ${DEFAULT_GUEST_CALL_RATE}          # seed API calls a second each VM may make; over it calls wait
cluster_network = True       # build the VMs' cluster networks here (bridges, VXLAN, nftables, tc; needs root)
outside_interface = None     # where cluster routers send outside traffic; None = the default route's interface
metrics = 'open'             # /metrics on local_listen_port (host totals, no cluster or VM names), or 'off'
guest_api_port = ${DEFAULT_GUEST_API_PORT}        # guests' API on their cluster gateway (same on every host), or 0 for none
# sfmd's certificate, when sfmd runs on another machine ('sf fingerprint' there prints it; here it is read
# from the data directory): master_fingerprint = 'AB:CD:...'
`;
}

/** Writes the file unless it exists; returns true when it wrote it. */
export function writeIfMissing(file: string, text: string): boolean {
  if (existsSync(file)) return false;
  writeFileSync(file, text, { mode: 0o644, flag: 'wx' });
  return true;
}
