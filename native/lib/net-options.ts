// The VM option `net` (one virtio-net NIC on an existing tap, with the identity its DHCP answers give) and the
// NIC's counters: the checks that run before native code sees the option, and the parse of what it reports.
// Boundary: the option's shape and rules (the binding and the VMM check them again); taps are sfld's business.
import type { NativeNetConfig, NativeNetStats } from './addon.ts';
import { malformedAnswer, readCounters } from './addon-results.ts';
import { badInput, describe } from './argument-checks.ts';

export interface NetOptions {
  /** An existing tap interface (sfld creates it with `ip tuntap add … mode tap` and attaches it), ≤ 15 bytes. */
  tap: string;
  /** 'aa:bb:cc:dd:ee:ff', unicast (even first octet). */
  mac: string;
  /** Dotted IPv4: the address the guest's DHCP client is given. */
  ip: string;
  /** 1..30. */
  prefixLength: number;
  /** Another host of the same subnet, or null (the DHCP server id is then the network's first host). */
  gateway: string | null;
  /** At most 4 dotted IPv4 addresses. */
  dns: string[];
}

/** The NIC's counters (VirtualMachine.netStats()). */
export interface NetStats {
  rxPackets: number;
  rxBytes: number;
  txPackets: number;
  txBytes: number;
  rxDrops: number;
  txDrops: number;
  badChains: number;
  dhcpAnswers: number;
  wakeups: number;
}

const netStatsKeys = [
  'rxPackets',
  'rxBytes',
  'txPackets',
  'txBytes',
  'rxDrops',
  'txDrops',
  'badChains',
  'dhcpAnswers',
  'wakeups',
] as const satisfies readonly (keyof NativeNetStats)[];

const dottedQuad = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const macAddress = /^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$/;
const MAX_DNS = 4;

function ipv4(name: string, value: unknown): number {
  if (typeof value !== 'string' || !dottedQuad.test(value)) badInput(`net.${name} must be a dotted IPv4 address, got ${describe(value)}.`);
  return value.split('.').reduce((a, part) => a * 256 + Number(part), 0);
}

/** `net` as the binding takes it; null when absent. Throws VmError('BAD_INPUT') naming the field and the rule. */
export function checkNetOptions(value: unknown): NativeNetConfig | null {
  if (value === undefined || value === null) return null;
  if (typeof value !== 'object' || Array.isArray(value)) badInput(`net must be an object or null, got ${describe(value)}.`);
  const o = value as Partial<Record<keyof NetOptions, unknown>>;
  const tap = o.tap;
  if (typeof tap !== 'string' || !/^[^/\s:\0]{1,15}$/.test(tap) || Buffer.byteLength(tap) > 15) {
    badInput(`net.tap must be an interface name of 1 to 15 bytes without '/', ':' or spaces, got ${describe(tap)}.`);
  }
  const mac = o.mac;
  if (typeof mac !== 'string' || !macAddress.test(mac)) badInput(`net.mac must be 'aa:bb:cc:dd:ee:ff', got ${describe(mac)}.`);
  const first = Number.parseInt(mac.slice(0, 2), 16);
  if ((first & 1) !== 0 || /^(00:){5}00$/.test(mac))
    badInput(`net.mac ${mac} must be a unicast address (even first octet), not all zeros.`);
  const prefixLength = o.prefixLength;
  if (typeof prefixLength !== 'number' || !Number.isInteger(prefixLength) || prefixLength < 1 || prefixLength > 30) {
    badInput(`net.prefixLength must be an integer from 1 to 30, got ${describe(prefixLength)}.`);
  }
  const ip = ipv4('ip', o.ip);
  const mask = prefixLength === 0 ? 0 : (0xffff_ffff << (32 - prefixLength)) >>> 0;
  const network = (ip & mask) >>> 0;
  const isHost = (a: number) => (a & mask) >>> 0 === network && (a & ~mask) >>> 0 !== 0 && (a | mask) >>> 0 !== 0xffff_ffff;
  if (!isHost(ip)) badInput(`net.ip ${o.ip} is the network or broadcast address of its /${prefixLength}.`);
  let gateway: string | null = null;
  if (o.gateway !== null && o.gateway !== undefined) {
    const g = ipv4('gateway', o.gateway);
    if (!isHost(g) || g === ip) badInput(`net.gateway ${o.gateway} must be another host of the subnet of ${o.ip}/${prefixLength}.`);
    gateway = o.gateway as string;
  } else if (network + 1 === ip) {
    badInput(`net.ip ${o.ip}: without a gateway the DHCP server takes the network's first host; use another address.`);
  }
  const dns = o.dns ?? [];
  if (!Array.isArray(dns) || dns.length > MAX_DNS)
    badInput(`net.dns must be an array of at most ${MAX_DNS} addresses, got ${describe(dns)}.`);
  dns.forEach((d, i) => {
    if (ipv4(`dns[${i}]`, d) === 0) badInput(`net.dns[${i}] 0.0.0.0 is not an address.`);
  });
  return { tap, mac: mac.toLowerCase(), ip: o.ip as string, prefixLength, gateway, dns: [...(dns as string[])] };
}

/** netStats(): null when the VM has no NIC (or is gone). */
export function parseNetStats(value: unknown): NetStats | null {
  if (value === null) return null;
  return readCounters(value, netStatsKeys, (k, v) => malformedAnswer(`netStats.${k}`, v));
}
