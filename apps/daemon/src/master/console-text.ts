// A domain's console as text for plain HTTP callers (domain.console): what `sf console --once` prints, without
// socket.io, so a script in any language can read a guest's result lines.
import type { DomainAddress } from '../common/wire.ts';
import { findLatestDomain } from './domains.ts';
import type { MasterServices } from './services.ts';

/** The last 64 KiB its sfld keeps of a domain's console (an ended domain's too, while its host keeps it). */
export async function consoleText(svc: MasterServices, address: DomainAddress) {
  const domain = await findLatestDomain(svc, address);
  const where = { clusterid: domain.cluster.clusterid, vmid: domain.vmid };
  const { data } = await svc.links.command(domain.host.name, 'domain:console-replay', where);
  return { domain: `${where.clusterid}:${where.vmid}`, text: Buffer.from(data).toString('utf8') };
}
