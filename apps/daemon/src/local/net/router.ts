// A cluster's router on its master's host (seed §7's router VM, made of kernel parts): a veth leg on the
// cluster's bridge holding the gateway address, IP forwarding, and the outside traffic capped with tc.
// NAT, the whitelist and inbound ports are nftables rules (rules.ts). In-cluster frames never meet any of it.
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import type { RouterSpec } from '../../common/wire.ts';
import type { NetCommands } from './ip-commands.ts';
import { routerLegNames } from './names.ts';
import { addOwnedLink } from './owned-link.ts';

/** The interface of this host's default route (where the router sends outside traffic); null: there is none. */
export async function defaultRouteInterface(cmd: NetCommands): Promise<string | null> {
  const routes = await cmd.json<{ dev?: string }>(['-4', 'route', 'show', 'default']);
  return routes.find((r) => r.dev)?.dev ?? null;
}

/** Whitelist entries as addresses or blocks: host names are resolved now (seed: when the master starts). */
export async function resolveWhitelist(entries: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const e of entries) {
    if (isIPv4(e) || /^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(e)) out.push(e);
    else if (e.includes(':'))
      continue; // IPv6: clusters have IPv4 only
    else {
      const found = await lookup(e, { family: 4, all: true }).catch(() => []);
      out.push(...found.map((a) => a.address));
    }
  }
  return [...new Set(out)];
}

/** Bytes a token bucket may hold: 20 ms at the cap, at least 32 KiB (a few full-size frames), so short bursts keep the rate. */
export function burstBytes(mbit: number): number {
  return Math.max(32 * 1024, Math.round((mbit * 1e6) / 8 / 50));
}

/** The router's leg on the bridge with the gateway address, forwarding on, and the outside traffic capped both ways. */
export async function buildRouter(
  cmd: NetCommands,
  clusterid: number,
  bridge: string,
  gateway: string,
  prefixLength: number,
  spec: RouterSpec,
) {
  const leg = routerLegNames(clusterid);
  await cmd.quiet('ip', ['link', 'del', 'dev', leg.port]);
  await addOwnedLink(cmd, ['link', 'add', 'name', leg.port, 'type', 'veth', 'peer', 'name', leg.gateway], [leg.port, leg.gateway]);
  await cmd.run('ip', ['link', 'set', 'dev', leg.port, 'master', bridge, 'up']);
  await cmd.run('ip', ['addr', 'replace', `${gateway}/${prefixLength}`, 'dev', leg.gateway]);
  await cmd.run('ip', ['link', 'set', 'dev', leg.gateway, 'up']);
  await cmd.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
  if (spec.bandwidthCapMbit > 0) {
    const rate = `${spec.bandwidthCapMbit}mbit`;
    const burst = String(burstBytes(spec.bandwidthCapMbit));
    // Out of `port` = towards the router (the VMs' traffic out); out of `gateway` = towards the VMs (the outside's in).
    for (const end of [leg.port, leg.gateway]) {
      await cmd.run('tc', ['qdisc', 'replace', 'dev', end, 'root', 'tbf', 'rate', rate, 'burst', burst, 'latency', '50ms']);
    }
  }
  return leg;
}
