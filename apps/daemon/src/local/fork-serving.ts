// A fork's way to other hosts: on the master's host, a memserver for its pages (multicast or unicast, as
// sfmd.cfg says) and its descriptor on the shelf; on a target host, the options its remote clones take.
// Boundary: networking choices and name resolution; the VMs are domain-manager.ts's, the protocol native code's.
import { lookup } from 'node:dns/promises';
import { isIPv4 } from 'node:net';
import { startMemserver, type Memserver, type VmSnapshot } from '@snowflock/native';
import type { ForkNetwork, ServedFork } from '../common/events.ts';
import { SfError } from '../common/errors.ts';
import type { DescriptorShelf } from './descriptor-shelf.ts';

/** The IPv4 address of a cluster host name (cluster_hosts names; addresses pass through). */
export async function resolveIPv4(name: string, what: string): Promise<string> {
  if (isIPv4(name)) return name;
  const found = await lookup(name, { family: 4 }).catch(() => null);
  if (!found) throw new SfError('BAD_CONFIG', `cannot resolve ${what} '${name}' to an IPv4 address: give it one in sfmd.cfg cluster_hosts`);
  return found.address;
}

/**
 * Test-only page loss (SNOWFLOCK_TEST_PAGE_LOSS, a fraction ≤ 0.5): memservers leave that share of reply
 * datagrams unsent and mirrors discard that share of what arrives, so tests can prove clones converge anyway.
 */
export function pageLossForTest(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.SNOWFLOCK_TEST_PAGE_LOSS;
  if (raw === undefined || raw === '') return 0;
  const loss = Number(raw);
  if (!Number.isFinite(loss) || loss < 0 || loss > 0.5) {
    throw new SfError('BAD_CONFIG', `SNOWFLOCK_TEST_PAGE_LOSS must be a fraction from 0 to 0.5, got '${raw}'`);
  }
  return loss;
}

/**
 * The memserver's datagram size for sfld.cfg page_mtu: the UDP payload that MTU carries unfragmented (IPv4 and UDP
 * headers take 28 bytes), 0 for 'auto' (the memserver reads the interface's MTU), undefined for the default
 * 1500-byte path.
 */
export function datagramForMtu(pageMtu: number | 'auto' | null | undefined): number | undefined {
  if (pageMtu === 'auto') return 0;
  return typeof pageMtu === 'number' ? pageMtu - 28 : undefined;
}

export interface ServeOptions {
  shelf: DescriptorShelf;
  /** The master's previous memserver: the pages its clones wanted are streamed to the new ones first. */
  previous: Memserver | undefined;
  lossForTest: number;
  /** sfld.cfg page_mtu (see datagramForMtu). */
  pageMtu?: number | 'auto' | null;
}

/**
 * Serves `snapshot` to clones on other hosts, and hands its descriptor to the targets waiting for
 * `network.handoff` (the shelf expects it since the fork command arrived). The memserver is the caller's to stop.
 */
export async function serveFork(
  snapshot: VmSnapshot,
  network: ForkNetwork,
  options: ServeOptions,
): Promise<{ memserver: Memserver; served: ServedFork }> {
  const iface = await resolveIPv4(network.interface, "this host's page-network name");
  const maxDatagram = datagramForMtu(options.pageMtu);
  const memserver = startMemserver(snapshot, {
    bind: '0.0.0.0:0',
    mode: network.mode,
    interface: iface,
    ...(maxDatagram !== undefined ? { maxDatagram } : {}),
    workingSet: options.previous?.workingSet() ?? null,
    ...(options.lossForTest > 0 ? { lossForTest: options.lossForTest } : {}),
  });
  const served = { snapshotId: snapshot.id, memserverPort: Number(memserver.endpoint.split(':').at(-1)), group: memserver.group };
  options.shelf.offer(network.handoff.key, { descriptor: snapshot.descriptor(), ...served });
  return { memserver, served };
}
