// The network half of the multi-host harness: a bridge, one network namespace per host joined to it by
// a veth pair, addresses in 198.18.0.0/15 and a multicast route, and an "outside" namespace with test
// servers that every host routes to by default; found again by name prefix to tear down.
import { execFileSync, spawnSync } from 'node:child_process';

/** 198.18.0.0/15 (RFC 2544, benchmarking): never routed on the Internet, so harness traffic cannot leak. */
const RANGE_FIRST = 198 * 256 + 18; // first two octets as one number: 198.18 … 198.19
const RANGE_LAST = 198 * 256 + 19;
export const BRIDGE_HOST = 1; // 198.18.X.1 on the bridge: where sfmd is reached from the namespaces
export const HOST_BASE = 10; // host i gets 198.18.X.(10 + i)
export const MAX_HOSTS = 64; // each host is a node process of ~100 MB: more does not fit a small machine
export const MULTICAST_ROUTE = '224.0.0.0/4';
/** The "outside" namespace's two addresses: OUTSIDE_HOST is what tests whitelist, OUTSIDE_OTHER what they do not. */
export const OUTSIDE_HOST = 250;
export const OUTSIDE_OTHER = 251;

// Interface names are at most 15 bytes: `${prefix}-h64p` and `${prefix}br0` must fit.
const PREFIX = /^[a-z][a-z0-9]{0,7}$/;

export function checkPrefix(prefix) {
  if (!PREFIX.test(prefix)) {
    throw new HarnessError(
      `prefix '${prefix}' must be a lowercase letter then up to 7 lowercase letters or digits (interface names are short)`,
      2,
    );
  }
  return prefix;
}

export class HarnessError extends Error {
  constructor(message, exitCode = 1) {
    super(message);
    this.exitCode = exitCode;
  }
}

export const bridgeName = (prefix) => `${prefix}br0`;
/** The namespace and the root-side end of its veth pair share a name (namespaces and links are separate name spaces). */
export const hostNames = (prefix, i) => ({ netns: `${prefix}-h${i}`, veth: `${prefix}-h${i}`, peer: `${prefix}-h${i}p` });
/** The "outside": a namespace on the same bridge holding test servers, every host's default route. */
export const outsideNames = (prefix) => ({ netns: `${prefix}-out`, veth: `${prefix}-out`, peer: `${prefix}-outp` });

/** Why this process cannot build the harness, or null. Checked before anything is changed. */
export function cannotBuildNetwork() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    return 'needs root: it creates network namespaces, veth pairs and a bridge (run it as root, e.g. with sudo)';
  }
  const ip = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (ip.error || ip.status !== 0) return "needs iproute2's `ip` command, which is missing (apt-get install iproute2)";
  const netns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  if (netns.status !== 0) return `\`ip netns\` does not work here: ${(netns.stderr || '').trim() || 'no network namespace support'}`;
  return null;
}

function ip(args, { input } = {}) {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], input });
  } catch (err) {
    throw new HarnessError(`ip ${args.join(' ')} failed: ${(err.stderr || err.message || '').trim()}`);
  }
}

/** `ip` that may fail (the thing is already gone): returns whether it worked. */
function ipQuietly(args) {
  return spawnSync('ip', args, { stdio: 'ignore' }).status === 0;
}

function ipJson(args) {
  const text = ip(['-j', ...args]).trim();
  return text ? JSON.parse(text) : [];
}

/** '198.18.5.0/24' (or '198.18.5') → { base: '198.18.5', cidr: '198.18.5.0/24' }, refusing anything outside 198.18.0.0/15. */
export function parseSubnet(text) {
  const m = /^198\.(18|19)\.(\d{1,3})(?:\.0(?:\/24)?)?$/.exec(String(text).trim());
  if (!m || Number(m[2]) > 255) {
    throw new HarnessError(`subnet '${text}' must be a /24 inside 198.18.0.0/15, e.g. 198.18.0.0/24 or 198.19.7.0/24 (or 'auto')`, 2);
  }
  const base = `198.${m[1]}.${Number(m[2])}`;
  return { base, cidr: `${base}.0/24` };
}

/** The root namespace's IPv4 addresses and routes that fall in base.0/24, described for an error message. */
export function subnetUsers(base) {
  const users = [];
  for (const link of ipJson(['-4', 'addr'])) {
    for (const a of link.addr_info ?? []) if (a.local?.startsWith(`${base}.`)) users.push(`${a.local} on ${link.ifname}`);
  }
  for (const r of ipJson(['-4', 'route'])) if (r.dst?.startsWith(`${base}.`)) users.push(`route ${r.dst} via ${r.dev}`);
  return users;
}

/** A /24 in 198.18.0.0/15 that nothing here uses; starts at a random one so parallel runs rarely race. */
export function pickFreeSubnet() {
  const used = new Set();
  for (const link of ipJson(['-4', 'addr'])) for (const a of link.addr_info ?? []) used.add(a.local?.split('.').slice(0, 3).join('.'));
  for (const r of ipJson(['-4', 'route'])) used.add(r.dst?.split('/')[0].split('.').slice(0, 3).join('.'));
  // 198.18.0.0/24 is the default harness's (npm start -- --hosts N): auto never takes it.
  const count = (RANGE_LAST - RANGE_FIRST + 1) * 256 - 1;
  const start = Math.floor(Math.random() * count);
  for (let k = 0; k < count; k++) {
    const n = 1 + ((start + k) % count);
    const base = `198.${18 + (n >> 8)}.${n & 255}`;
    if (!used.has(base)) return parseSubnet(base);
  }
  throw new HarnessError('no free /24 left in 198.18.0.0/15');
}

export function listNamespaces(prefix) {
  const re = new RegExp(`^${prefix}-h(\\d+)$`);
  return ip(['netns', 'list'])
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0])
    .map((name) => ({ name, m: re.exec(name ?? '') }))
    .filter((x) => x.m)
    .map((x) => ({ netns: x.name, index: Number(x.m[1]) }))
    .sort((a, b) => a.index - b.index);
}

/** Links in the root namespace that belong to the harness with this prefix (bridge, veth ends). */
export function listLinks(prefix) {
  const re = new RegExp(`^(${prefix}br0|${prefix}-h\\d+p?|${prefix}-outp?)$`);
  return ipJson(['link'])
    .map((l) => l.ifname)
    .filter((n) => re.test(n));
}

export function bridgeAddress(prefix) {
  try {
    return ipJson(['-4', 'addr', 'show', 'dev', bridgeName(prefix)])[0]?.addr_info?.[0]?.local ?? null;
  } catch {
    return null; // no bridge
  }
}

export function namespaceAddress(netns) {
  try {
    const links = ipJson(['-n', netns, '-4', 'addr', 'show', 'dev', 'eth0']);
    return links[0]?.addr_info?.[0]?.local ?? null;
  } catch {
    return null;
  }
}

export function namespacePids(netns) {
  const r = spawnSync('ip', ['netns', 'pids', netns], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.split('\n').filter(Boolean).map(Number) : [];
}

/** The outside namespace if it exists (made by createNetwork; removed by destroyNetwork). */
export function outsideNamespace(prefix) {
  const { netns } = outsideNames(prefix);
  const names = ip(['netns', 'list'])
    .split('\n')
    .map((line) => line.trim().split(/\s+/)[0]);
  return names.includes(netns) ? netns : null;
}

/**
 * Builds the network for `count` hosts. Multicast snooping is off on the bridge, so it floods every
 * multicast frame to every port: group traffic needs no IGMP querier (nothing here would be one), and
 * page distribution behaves like a plain switch. No default route in the namespaces: they reach only
 * each other, the bridge address and multicast groups, never the machine's real network.
 */
export function createNetwork({ prefix, base, count }) {
  const bridge = bridgeName(prefix);
  const bridgeIp = `${base}.${BRIDGE_HOST}`;
  ip(['link', 'add', bridge, 'type', 'bridge', 'mcast_snooping', '0', 'stp_state', '0']);
  ip(['addr', 'add', `${bridgeIp}/24`, 'dev', bridge]);
  ip(['link', 'set', bridge, 'up']);
  const hosts = [];
  for (let i = 1; i <= count; i++) {
    const { netns, veth, peer } = hostNames(prefix, i);
    const address = `${base}.${HOST_BASE + i}`;
    ip(['netns', 'add', netns]);
    ip(['link', 'add', veth, 'type', 'veth', 'peer', 'name', peer]);
    ip(['link', 'set', peer, 'netns', netns]);
    ip(['-n', netns, 'link', 'set', peer, 'name', 'eth0']);
    ip(['-n', netns, 'addr', 'add', `${address}/24`, 'dev', 'eth0']);
    ip(['-n', netns, 'link', 'set', 'lo', 'up']); // sfld's own /healthz is polled on 127.0.0.1
    ip(['-n', netns, 'link', 'set', 'eth0', 'up']);
    ip(['-n', netns, 'route', 'add', MULTICAST_ROUTE, 'dev', 'eth0']);
    ip(['link', 'set', veth, 'master', bridge]);
    ip(['link', 'set', veth, 'up']);
    hosts.push({ index: i, netns, veth, address });
  }
  // The outside: a namespace with two addresses and no route beyond the bridge. Each host's default
  // route points at it, so clusters' routers (NAT, whitelist, cap) have an outside to reach, and
  // nothing ever leaves for this machine's real network.
  const out = outsideNames(prefix);
  const outside = { netns: out.netns, whitelisted: `${base}.${OUTSIDE_HOST}`, other: `${base}.${OUTSIDE_OTHER}` };
  ip(['netns', 'add', out.netns]);
  ip(['link', 'add', out.veth, 'type', 'veth', 'peer', 'name', out.peer]);
  ip(['link', 'set', out.peer, 'netns', out.netns]);
  ip(['-n', out.netns, 'link', 'set', out.peer, 'name', 'eth0']);
  for (const a of [outside.whitelisted, outside.other]) ip(['-n', out.netns, 'addr', 'add', `${a}/24`, 'dev', 'eth0']);
  ip(['-n', out.netns, 'link', 'set', 'lo', 'up']);
  ip(['-n', out.netns, 'link', 'set', 'eth0', 'up']);
  ip(['link', 'set', out.veth, 'master', bridge]);
  ip(['link', 'set', out.veth, 'up']);
  for (const h of hosts) ip(['-n', h.netns, 'route', 'add', 'default', 'via', outside.whitelisted]);
  return { bridge, bridgeAddress: bridgeIp, hosts, outside };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
};

/** Ends every process in these namespaces: SIGTERM, then SIGKILL after `graceMs`. Returns the pids it found. */
export async function killNamespaceProcesses(namespaces, graceMs = 5000) {
  const pids = namespaces.flatMap((ns) => namespacePids(ns));
  for (const pid of pids)
    try {
      process.kill(pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  const deadline = Date.now() + graceMs;
  while (pids.some(alive) && Date.now() < deadline) await sleep(50);
  for (const pid of pids.filter(alive))
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  while (pids.some(alive) && Date.now() < deadline + 2000) await sleep(20);
  return pids;
}

/**
 * Removes everything with this prefix, whatever state a crash left it in: processes in the
 * namespaces, the namespaces (their veth pairs go with them), stray veth ends and the bridge.
 */
export async function destroyNetwork(prefix) {
  const outside = outsideNamespace(prefix);
  const namespaces = [...listNamespaces(prefix).map((n) => n.netns), ...(outside ? [outside] : [])];
  const killed = await killNamespaceProcesses(namespaces);
  for (const ns of namespaces) ipQuietly(['netns', 'del', ns]);
  const links = listLinks(prefix);
  for (const link of links) ipQuietly(['link', 'del', link]);
  const left = [...listNamespaces(prefix).map((n) => `namespace ${n.netns}`), ...listLinks(prefix).map((l) => `link ${l}`)];
  if (left.length) throw new HarnessError(`could not remove ${left.join(', ')}`);
  return { namespaces, links, killed };
}
