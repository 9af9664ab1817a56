// Tells a master's sfld that tickets ended by another path than the master's own dispose, merge or join
// (the admin, a cluster's end, a lost host), so the clone shells it prepared for them go at once.
// Best-effort: a host that is gone holds nothing to release, and no operation waits for it or fails on it.
import { messageOf } from '../common/errors.ts';
import { releaseRemoteShells } from './remote-shells.ts';
import type { MasterServices } from './services.ts';

/** Who made a guest call: the guest itself (through its sfld), or the admin acting for its domain. */
export type CallActor = 'guest' | 'admin';

/** Longest an answer is awaited (in the background): unanswered, the shells go after their own lifetime. */
export const TICKET_ENDED_TIMEOUT_MS = 5000;

/** Sends ticket:ended for each ticket to `host`, the host of their master, without waiting for answers. */
export function tellTicketsEnded(svc: MasterServices, host: string, tickets: Iterable<string>): void {
  for (const ticket of tickets) {
    svc.links.command(host, 'ticket:ended', { ticket }, TICKET_ENDED_TIMEOUT_MS).catch((err: unknown) => {
      svc.log.debug({ host, ticket, err: messageOf(err) }, 'ticket:ended not delivered: its clone shells go after their lifetime');
    });
  }
}

/** The same for tickets of one cluster: sent to the host of its master, whatever state that is in now. */
export async function tellClusterTicketsEnded(svc: MasterServices, clusterId: string, tickets: readonly string[]): Promise<void> {
  if (tickets.length === 0) return;
  try {
    const master = await svc.db.domain.findFirst({
      where: { clusterId, vmid: 0 },
      include: { host: true },
      orderBy: { createdAt: 'desc' },
    });
    if (master) {
      tellTicketsEnded(svc, master.host.name, tickets);
      await releaseRemoteShells(svc, master.host.name, tickets);
    }
  } catch (err) {
    svc.log.warn({ clusterId, tickets, err: messageOf(err) }, 'cannot tell which host holds shells of ended tickets');
  }
}
