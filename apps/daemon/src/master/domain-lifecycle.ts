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
  const ended = !isLiveDomainState(state);
  const domain = await svc.db.domain.update({
    where: { id: domainId },
    data: { state, ...(ended ? { endedAt: new Date(), exitCode: end.exitCode ?? null, endReason: end.reason ?? null } : {}) },
    include: { cluster: true, host: true },
  });
  announceDomain(svc, domain.cluster.clusterid, domain.vmid, domain.host.name, state);
  if (ended) svc.events.emit('capacity');
  return domain;
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
      cluster: clusterNetSpec(svc, domain.cluster.clusterid, domain.host.multicast, [domain.host.multicast], {
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
