// The data-plane half of clone.master (DESIGN §4.4 steps 2-4): the master's sfld freezes the master and
// starts the ticket's clones from its snapshot; each clone record follows what really happened.
// Boundary: sfmd decides which clones exist (clones.ts); the sfld does the fork; this file connects them.
import { SfError } from '../common/errors.ts';
import { setState } from './domain-lifecycle.ts';
import { announceDomain, type LiveDomain } from './domains.ts';
import { jsonDetail, type OperationHandle } from './operations.ts';
import type { MasterServices } from './services.ts';

interface CloneRecord { id: string; vmid: number; hostId: string; host: { name: string } }

const REMOTE_CLONES_UNSUPPORTED = 'clones on a host other than the master\'s need the multi-host page distribution ' +
  '(mcdist), which this release does not have yet: run the cluster on one host';

/** Starts a ticket's clones; returns once each clone record is running or crashed (with its reason). */
export async function forkClones(svc: MasterServices, master: LiveDomain, ticketId: string, clones: CloneRecord[], op: OperationHandle) {
  const clusterid = master.cluster.clusterid;
  const local = clones.filter((c) => c.hostId === master.hostId);
  for (const c of clones.filter((c) => c.hostId !== master.hostId)) {
    await setState(svc, c.id, 'crashed', { reason: `${c.host.name}: ${REMOTE_CLONES_UNSUPPORTED}` });
  }
  if (local.length === 0) return;
  let result;
  try {
    result = await svc.links.command(master.host.name, 'domain:fork', {
      clusterid, vmid: master.vmid, ticket: ticketId, nclones: clones.length, clones: local.map((c) => ({ vmid: c.vmid })),
    });
  } catch (err) {
    const reason = `the fork of ${clusterid}:${master.vmid} failed: ${err instanceof Error ? err.message : String(err)}`;
    for (const c of local) await setState(svc, c.id, 'crashed', { reason });
    throw err instanceof SfError ? new SfError(err.code, `${reason}; merge the ticket (sfmerge) and try again`) : err;
  }
  for (const c of local) {
    const outcome = result.clones.find((r) => r.vmid === c.vmid);
    if (outcome?.ok) {
      // The clone may have exited or crashed already (its sfld reports race this answer): only a
      // record still waiting for its VM becomes running.
      const moved = await svc.db.domain.updateMany({ where: { id: c.id, state: 'defined' }, data: { state: 'running' } });
      if (moved.count > 0) announceDomain(svc, clusterid, c.vmid, c.host.name, 'running');
    } else {
      await setState(svc, c.id, 'crashed', { reason: outcome?.error ?? `${master.host.name} did not report clone ${c.vmid}` });
    }
  }
  await svc.db.operation.update({
    where: { id: op.id },
    data: { detail: jsonDetail({ clones: clones.length, started: result.clones.filter((c) => c.ok).length, pauseMs: result.pauseMs, descriptorBytes: result.descriptorBytes, fromShells: result.fromShells }) },
  });
  svc.log.info({ cluster: clusterid, ticket: ticketId, clones: local.length, pauseMs: result.pauseMs }, 'clones forked');
}
