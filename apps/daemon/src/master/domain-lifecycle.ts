// Turning domain records into running VMs and back: sfmd asks the domain's sfld to boot or destroy
// its VM, and records each change of a domain's state. Mechanism only: what a change means for the
// cluster (a master that ends takes its cluster with it) is decided above, in state-reports.ts.
import { messageOf, SfError } from '../common/errors.ts';
import { clusterNetSpec, vmNet } from './cluster-net.ts';
import { announceDomain } from './domains.ts';
import type { SeedConfig } from './seed-config.ts';
import type { MasterServices } from './services.ts';
import { isLiveDomainState, type DomainState } from './store/states.ts';

/** Why a seed with a disk_image and no kernel cannot boot (yet). */
export const DISK_ONLY_SEED =
  'this seed config names only a disk_image (a Linux guest), which needs a host with ' +
  "hardware virtualisation and a later Snowflock; for a flat guest give kernel = 'path/to/guest.elf'";

/** Record states in which an sfld holds a VM for the domain. */
const HAS_VM: readonly DomainState[] = ['booting', 'running', 'paused'];

/** Records a domain's new state (ended states with their exit code and reason) and announces it. */
export async function setState(
  svc: MasterServices,
  domainId: string,
  state: DomainState,
  end: { exitCode?: number | null; reason?: string | null } = {},
) {
  const domain = await writeState(svc, { id: domainId }, state, end);
  return domain!;
}

/**
 * setState only while the record is still `from`: an sfld's report read the record before sfmd's own end
 * of that domain (a merge, a cluster's loss) wrote it, and must not overwrite that end and its reason.
 * null when the record had moved on.
 */
export async function setStateIf(
  svc: MasterServices,
  domainId: string,
  from: DomainState,
  state: DomainState,
  end: { exitCode?: number | null; reason?: string | null } = {},
) {
  return writeState(svc, { id: domainId, state: from }, state, end);
}

async function writeState(
  svc: MasterServices,
  where: { id: string; state?: DomainState },
  state: DomainState,
  end: { exitCode?: number | null; reason?: string | null },
) {
  const ended = !isLiveDomainState(state);
  const data = { state, ...(ended ? { endedAt: new Date(), exitCode: end.exitCode ?? null, endReason: end.reason ?? null } : {}) };
  const { count } = await svc.db.domain.updateMany({ where, data });
  if (count === 0) {
    if (where.state === undefined) throw new SfError('DOMAIN_UNKNOWN', `domain record ${where.id} does not exist`);
    return null;
  }
  const domain = await svc.db.domain.findUniqueOrThrow({ where: { id: where.id }, include: { cluster: true, host: true } });
  announceDomain(svc, domain.cluster.clusterid, domain.vmid, domain.host.name, state);
  if (ended) svc.events.emit('capacity');
  return domain;
}

/** One record's change in a batch: it moves to `state` only while it is still in one of `from`. */
export interface StateChange {
  id: string;
  from: readonly DomainState[];
  state: DomainState;
  end?: { exitCode?: number | null; reason?: string | null };
}

/**
 * setStateIf for many records in one transaction (a fork's clones): one read of their states and one
 * update per distinct outcome, instead of two round trips per record. Records the same columns and
 * makes the same announcements as setState; returns the ids that moved.
 */
export async function setStates(svc: MasterServices, changes: readonly StateChange[]): Promise<string[]> {
  if (changes.length === 0) return [];
  const endedAt = new Date();
  const moved = await svc.db.$transaction(async (tx) => {
    const now = await tx.domain.findMany({
      where: { id: { in: changes.map((c) => c.id) } },
      select: { id: true, state: true, vmid: true, host: { select: { name: true } }, cluster: { select: { clusterid: true } } },
    });
    const byId = new Map(now.map((d) => [d.id, d]));
    const moving = changes.filter((c) => {
      const d = byId.get(c.id);
      return d !== undefined && c.from.includes(d.state);
    });
    // Records with the same change (from, state, code, reason) share one statement.
    const groups = new Map<string, StateChange[]>();
    for (const c of moving) {
      const k = JSON.stringify([[...c.from].sort(), c.state, c.end?.exitCode ?? null, c.end?.reason ?? null]);
      groups.set(k, [...(groups.get(k) ?? []), c]);
    }
    for (const group of groups.values()) {
      const { from, state, end = {} } = group[0]!;
      const ended = !isLiveDomainState(state);
      const data = { state, ...(ended ? { endedAt, exitCode: end.exitCode ?? null, endReason: end.reason ?? null } : {}) };
      await tx.domain.updateMany({ where: { id: { in: group.map((c) => c.id) }, state: { in: [...from] } }, data });
    }
    return moving.map((c) => ({ change: c, domain: byId.get(c.id)! }));
  });
  for (const { change, domain } of moved) announceDomain(svc, domain.cluster.clusterid, domain.vmid, domain.host.name, change.state);
  if (moved.some(({ change }) => !isLiveDomainState(change.state))) svc.events.emit('capacity');
  return moved.map(({ change }) => change.id);
}

/** Boots the VM of a `defined` domain on its host; on failure the domain is `crashed` and the error thrown. */
export async function bootDomain(svc: MasterServices, domainId: string): Promise<DomainState> {
  const domain = await svc.db.domain.findUniqueOrThrow({ where: { id: domainId }, include: { cluster: true, host: true } });
  const seed = JSON.parse(domain.cluster.seedConfig) as SeedConfig;
  if (!seed.kernel) {
    const error = new SfError('BAD_CONFIG', DISK_ONLY_SEED);
    await setState(svc, domainId, 'crashed', { reason: `not booted: ${error.message}` });
    throw error;
  }
  await setState(svc, domainId, 'booting');
  try {
    const reply = await svc.links.command(domain.host.name, 'domain:boot', {
      clusterid: domain.cluster.clusterid,
      vmid: domain.vmid,
      vcpus: domain.vcpus,
      memoryMiB: Number(domain.memory / 1048576n),
      image: seed.kernel,
      args: seed.args ?? '',
      // A flat guest's data disk: the sfld checks the image on its host and gives the VM its overlay.
      ...(seed.diskImage ? { disk: { image: seed.diskImage } } : {}),
      // Only a master is booted: its host carries the cluster's router.
      net: vmNet(svc, domain.cluster.clusterid, domain.vmid),
      cluster: clusterNetSpec(svc, domain.cluster.clusterid, domain.host.multicast, [{ vmid: domain.vmid, host: domain.host.multicast }], {
        inboundPorts: seed.inboundPorts ?? [],
      }),
    });
    // The VM may already have finished (a short guest): keep the newer state the sfld reported.
    const now = await svc.db.domain.findUniqueOrThrow({ where: { id: domainId } });
    if (now.state === 'booting') await setState(svc, domainId, reply.state);
    return reply.state;
  } catch (err) {
    await setState(svc, domainId, 'crashed', { reason: messageOf(err) });
    throw err;
  }
}

/** Asks the domain's sfld to destroy its VM, if it has one; a lost host has nothing left to destroy. */
export async function destroyDomainVm(
  svc: MasterServices,
  domain: { state: DomainState; vmid: number; host: { name: string }; cluster: { clusterid: number } },
): Promise<void> {
  if (!HAS_VM.includes(domain.state)) return;
  try {
    await svc.links.command(domain.host.name, 'domain:destroy', { clusterid: domain.cluster.clusterid, vmid: domain.vmid });
  } catch (err) {
    svc.log.warn({ err, host: domain.host.name, domain: `${domain.cluster.clusterid}:${domain.vmid}` }, 'could not destroy VM');
  }
}
