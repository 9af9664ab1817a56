// Tells a master's sfld when the last clone on another host of one of its forks has ended, so that fork's
// memserver stops there and its frozen memory goes while the master runs on. Best-effort, like ticket:ended:
// unheard, the memserver stops with its master as before; nothing waits for the answer or fails on it.
import { messageOf } from '../common/errors.ts';
import type { MasterServices } from './services.ts';
import { isLiveDomainState, LIVE_DOMAIN_STATES } from './store/states.ts';

/** Longest an answer is awaited (in the background). */
export const FORK_RELEASE_TIMEOUT_MS = 5000;

/**
 * After a clone ended (announced as `event`): if it ran on another host than its master and was the last
 * live clone of its ticket there, the master's sfld is told to release that fork's memserver.
 */
export async function releaseForkIfDone(svc: MasterServices, event: { clusterid: number; vmid: number; host: string }): Promise<void> {
  if (event.vmid === 0) return;
  try {
    const ended = await svc.db.domain.findFirst({
      where: {
        vmid: event.vmid,
        cluster: { clusterid: event.clusterid },
        host: { name: event.host },
        state: { notIn: [...LIVE_DOMAIN_STATES] },
      },
      orderBy: { createdAt: 'desc' },
    });
    const ticket = ended?.ticketId ?? null;
    if (!ended || ticket === null) return;
    const master = await svc.db.domain.findFirst({
      where: { clusterId: ended.clusterId, vmid: 0, state: { in: [...LIVE_DOMAIN_STATES] } },
      include: { host: true },
    });
    // A clone on the master's own host never fetched through the memserver; a master that ended took its memservers along.
    if (!master || master.hostId === ended.hostId) return;
    const remote = await svc.db.domain.count({
      where: { ticketId: ticket, vmid: { gt: 0 }, hostId: { not: master.hostId }, state: { in: [...LIVE_DOMAIN_STATES] } },
    });
    if (remote > 0) return;
    const clusterid = event.clusterid;
    svc.links.command(master.host.name, 'fork:release', { clusterid, ticket }, FORK_RELEASE_TIMEOUT_MS).then(
      (r) => {
        if (r.stopped > 0)
          svc.log.info({ host: master.host.name, clusterid, ticket }, "fork's memserver released: its remote clones ended");
      },
      (err: unknown) =>
        svc.log.debug(
          { host: master.host.name, ticket, err: messageOf(err) },
          'fork:release not delivered: the memserver stops with its master',
        ),
    );
  } catch (err) {
    svc.log.warn({ ...event, err: messageOf(err) }, "cannot tell whether a fork's remote clones all ended");
  }
}

/** Watches clone ends (however they end: exit, merge, kill, crash, a lost host) for forks to release. */
export function releaseForksAsClonesEnd(svc: MasterServices): void {
  svc.events.on('domain:state', (e) => {
    if (e.vmid !== 0 && !isLiveDomainState(e.state)) void releaseForkIfDone(svc, e);
  });
}
