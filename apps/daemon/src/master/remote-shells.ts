// Clone shells on the hosts of a ticket's clones (DESIGN §4.4, issue 19): when the ticket is granted each host is
// told to prepare shells and taps for its share; when the ticket ends unused, the other hosts to let them go.
// Best-effort, like ticket-ended.ts: no operation waits for these commands, and unanswered shells expire on their own.
import { messageOf } from '../common/errors.ts';
import { clusterNetSpec, vmNet } from './cluster-net.ts';
import type { LiveDomain } from './domains.ts';
import type { MasterServices } from './services.ts';

/** Longest an answer is awaited (in the background): unanswered, the shells simply expire. */
const SHELL_COMMAND_TIMEOUT_MS = 5000;

interface GrantedTicket {
  ticket: string;
  clusterid: number;
  allocations: { vmid: number; host: string }[];
}

/** The vmids of `granted`'s clones on each of its hosts. */
function shares(granted: GrantedTicket): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const a of granted.allocations) out.set(a.host, [...(out.get(a.host) ?? []), a.vmid]);
  return out;
}

/**
 * Tells every host of a granted ticket, and the master's, to prepare shells of the master's shape for its clones (the
 * master's own host: for forks there, the others: for remote ones), and their taps on the cluster's network (the
 * network the fork will find, from the master and this ticket's clones; the fork's own placement then adds what changed).
 */
export function prepareTicketShells(svc: MasterServices, master: LiveDomain, granted: GrantedTicket): void {
  const byHost = shares(granted);
  if (byHost.size === 0) return;
  // The master's host hears too, even with no clone of its own: its sfld bounds the shells it started from the
  // guest's reply (which counts every clone) to its share, and writes the cluster's new forwarding entries now
  // rather than in the fork.
  if (!byHost.has(master.host.name)) byHost.set(master.host.name, []);
  void (async () => {
    const hosts = await svc.db.host.findMany({ where: { name: { in: [...byHost.keys()] } }, select: { name: true, multicast: true } });
    const multicast = new Map(hosts.map((h) => [h.name, h.multicast]));
    const placement = [
      { vmid: master.vmid, host: master.host.multicast },
      ...granted.allocations.map((a) => ({
        vmid: a.vmid,
        host: a.host === master.host.name ? master.host.multicast : (multicast.get(a.host) ?? a.host),
      })),
    ];
    for (const [host, vmids] of byHost) {
      const net = {
        clusterid: granted.clusterid,
        clones: vmids.map((vmid) => ({ vmid, net: vmNet(svc, granted.clusterid, vmid) })),
        cluster: clusterNetSpec(svc, granted.clusterid, multicast.get(host) ?? host, placement, null),
      };
      const remote = host !== master.host.name;
      const payload = {
        ticket: granted.ticket,
        memoryMiB: Number(master.memory) / 2 ** 20,
        vcpus: master.vcpus,
        count: vmids.length,
        remote,
        net,
      };
      svc.links.command(host, 'ticket:shells', payload, SHELL_COMMAND_TIMEOUT_MS).catch((err: unknown) => {
        svc.log.debug(
          { host, ticket: granted.ticket, err: messageOf(err) },
          'ticket:shells not delivered: its clones are made at the fork',
        );
      });
    }
  })().catch((err: unknown) => {
    svc.log.warn({ ticket: granted.ticket, err: messageOf(err) }, 'cannot tell the hosts of a ticket to prepare its shells');
  });
}

/**
 * Tells the other hosts of `tickets` that ended without a fork (found in the record) that they did: their shells
 * go at once. A ticket that was forked needs no word: its fork took the shells.
 */
export async function releaseRemoteShells(svc: MasterServices, masterHost: string, tickets: readonly string[]): Promise<void> {
  if (tickets.length === 0) return;
  try {
    const allocations = await svc.db.allocation.findMany({
      where: { ticketId: { in: [...tickets] }, host: { name: { not: masterHost } }, ticket: { domains: { none: {} } } },
      select: { ticketId: true, host: { select: { name: true } } },
    });
    const sent = new Set<string>();
    for (const a of allocations) {
      const once = `${a.host.name} ${a.ticketId}`;
      if (sent.has(once)) continue;
      sent.add(once);
      svc.links.command(a.host.name, 'ticket:ended', { ticket: a.ticketId }, SHELL_COMMAND_TIMEOUT_MS).catch((err: unknown) => {
        svc.log.debug({ host: a.host.name, ticket: a.ticketId, err: messageOf(err) }, 'ticket:ended not delivered: its shells expire');
      });
    }
  } catch (err) {
    svc.log.warn({ tickets, err: messageOf(err) }, 'cannot tell which hosts hold shells of ended tickets');
  }
}
