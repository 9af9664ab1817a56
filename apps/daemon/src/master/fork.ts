// The data-plane half of clone.master (DESIGN §4.4 steps 2-4): the master's sfld freezes the master and
// starts the clones placed on its host; clones placed elsewhere are made by their hosts' sflds from the
// fork's descriptor (fetched from the master's sfld), with pages from the master host's memserver over
// mcdist (sfmd.cfg network_mode). Each clone record follows what really happened.
// Boundary: sfmd decides which clones exist (clones.ts); the sflds do the work.
import { messageOf, SfError } from '../common/errors.ts';
import type { CloneOutcome, HostCommandMap } from '../common/events.ts';
import { clusterNetSpec, vmNet } from './cluster-net.ts';
import { setState } from './domain-lifecycle.ts';
import type { SeedConfig } from './seed-config.ts';
import { announceDomain, type LiveDomain } from './domains.ts';
import { jsonDetail, type OperationHandle } from './operations.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES } from './store/states.ts';

interface CloneRecord {
  id: string;
  vmid: number;
  hostId: string;
  host: { name: string; unicast: string; multicast: string };
}

async function applyOutcomes(svc: MasterServices, clusterid: number, clones: CloneRecord[], outcomes: CloneOutcome[], fallback: string) {
  for (const c of clones) {
    const outcome = outcomes.find((r) => r.vmid === c.vmid);
    if (outcome?.ok) {
      // The clone may have exited or crashed already (its sfld's reports race this answer): only a
      // record still waiting for its VM becomes running.
      const moved = await svc.db.domain.updateMany({ where: { id: c.id, state: 'defined' }, data: { state: 'running' } });
      if (moved.count > 0) announceDomain(svc, clusterid, c.vmid, c.host.name, 'running');
    } else {
      await setState(svc, c.id, 'crashed', { reason: outcome?.error ?? fallback });
    }
  }
}

/** Records the clones that are still live as crashed; one that already ended (a lost host's) keeps its end. */
async function crashAll(svc: MasterServices, clones: CloneRecord[], reason: string) {
  const live = await svc.db.domain.findMany({
    where: { id: { in: clones.map((c) => c.id) }, state: { in: [...LIVE_DOMAIN_STATES] } },
    select: { id: true },
  });
  for (const c of live) await setState(svc, c.id, 'crashed', { reason });
}

/**
 * After a fork command failed without a usable answer (a timeout, or an answer the wire contract refuses), its
 * sfld may still run some of the clones: they are recorded as crashed, so nothing else would ever stop them.
 * Best effort: a host that is gone or never made the clone answers with an error, which changes nothing.
 */
async function destroyLeftovers(svc: MasterServices, host: string, clusterid: number, clones: CloneRecord[]) {
  await Promise.all(
    clones.map((c) =>
      svc.links.command(host, 'domain:destroy', { clusterid, vmid: c.vmid }, 5_000).catch((err: unknown) => {
        svc.log.debug({ host, clusterid, vmid: c.vmid, err: messageOf(err) }, 'no leftover clone to destroy');
      }),
    ),
  );
}

/** Starts a ticket's clones; returns once each clone record is running or crashed (with its reason). */
export async function forkClones(svc: MasterServices, master: LiveDomain, ticketId: string, clones: CloneRecord[], op: OperationHandle) {
  const clusterid = master.cluster.clusterid;
  const local = clones.filter((c) => c.hostId === master.hostId);
  const remote = clones.filter((c) => c.hostId !== master.hostId);
  // Only one clone generation is live at a time: the master's host and the clones' are all the cluster's hosts.
  const hosts = [master.host.multicast, ...clones.map((c) => c.host.multicast)];
  const seed = JSON.parse(master.cluster.seedConfig) as SeedConfig;
  const withNet = (c: CloneRecord) => ({ vmid: c.vmid, net: vmNet(svc, clusterid, c.vmid) });
  let result: HostCommandMap['domain:fork'][1];
  try {
    result = await svc.links.command(master.host.name, 'domain:fork', {
      clusterid,
      vmid: master.vmid,
      ticket: ticketId,
      nclones: clones.length,
      clones: local.map(withNet),
      serve: remote.length > 0 ? { mode: svc.config.networkMode, interface: master.host.multicast } : null,
      cluster: clusterNetSpec(svc, clusterid, master.host.multicast, hosts, { inboundPorts: seed.inboundPorts ?? [] }),
    });
  } catch (err) {
    const reason = `the fork of ${clusterid}:${master.vmid} failed: ${messageOf(err)}`;
    await crashAll(svc, clones, reason);
    await destroyLeftovers(svc, master.host.name, clusterid, local);
    throw err instanceof SfError ? new SfError(err.code, `${reason}; merge the ticket (sfmerge) and try again`) : err;
  }
  await applyOutcomes(svc, clusterid, local, result.clones, `${master.host.name} did not report this clone`);

  let remoteStarted = 0;
  const served = result.served;
  if (remote.length > 0) {
    if (!served) {
      await crashAll(svc, remote, `${master.host.name} did not serve the fork's memory to other hosts`);
    } else {
      // Each target sfld fetches the descriptor from the master's sfld (TCP) and pages from its memserver.
      const descriptor = {
        host: master.host.unicast,
        port: served.descriptorPort,
        snapshotId: served.snapshotId,
        token: served.descriptorToken,
      };
      const server = `${master.host.unicast}:${served.memserverPort}`;
      const byHost = new Map<string, CloneRecord[]>();
      for (const c of remote) byHost.set(c.host.name, [...(byHost.get(c.host.name) ?? []), c]);
      await Promise.all(
        [...byHost.entries()].map(async ([host, mine]) => {
          try {
            const made = await svc.links.command(host, 'domain:clone-remote', {
              clusterid,
              ticket: ticketId,
              nclones: clones.length,
              descriptor,
              server,
              group: served.group,
              interface: mine[0]!.host.multicast,
              clones: mine.map(withNet),
              cluster: clusterNetSpec(svc, clusterid, mine[0]!.host.multicast, hosts, null),
            });
            remoteStarted += made.clones.filter((c) => c.ok).length;
            await applyOutcomes(svc, clusterid, mine, made.clones, `${host} did not report this clone`);
          } catch (err) {
            await crashAll(svc, mine, `${host} could not make its clones: ${messageOf(err)}`);
            await destroyLeftovers(svc, host, clusterid, mine);
          }
        }),
      );
    }
  }
  await svc.db.operation.update({
    where: { id: op.id },
    data: {
      detail: jsonDetail({
        clones: clones.length,
        started: result.clones.filter((c) => c.ok).length + remoteStarted,
        remote: remote.length,
        pauseMs: result.pauseMs,
        descriptorBytes: result.descriptorBytes,
        fromShells: result.fromShells,
        network: served
          ? { mode: svc.config.networkMode, group: served.group, snapshotId: served.snapshotId, memserverPort: served.memserverPort }
          : null,
      }),
    },
  });
  svc.log.info(
    { cluster: clusterid, ticket: ticketId, local: local.length, remote: remote.length, pauseMs: result.pauseMs },
    'clones forked',
  );
}
