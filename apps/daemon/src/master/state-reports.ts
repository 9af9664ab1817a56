// What sfmd makes of an sfld's report about one of its VMs: the domain's record follows the VM, and a
// master that ends takes its cluster with it. Sits above the record mechanism (domain-lifecycle.ts)
// and the cluster policy (clusters.ts), so neither of those needs the other.
import type { DomainStateReport } from '../common/events.ts';
import type { DiskFigures, NicFigures } from '../common/wire.ts';
import { endCluster } from './clusters.ts';
import { setStateIf } from './domain-lifecycle.ts';
import type { MasterServices } from './services.ts';
import { isLiveDomainState, LIVE_DOMAIN_STATES, type DomainState, type ReportedVmState } from './store/states.ts';

const REPORTED_TO_RECORD: Record<ReportedVmState, DomainState> = {
  running: 'running',
  paused: 'paused',
  halted: 'halted',
  exited: 'exited',
  crashed: 'crashed',
  stopped: 'stopped',
};

/** Master end states that are not an orderly end of its cluster: the cluster is `lost`, not `shutdown`. */
const MASTER_FAILURES: readonly DomainState[] = ['crashed', 'lost'];

/**
 * Ends the cluster of a master that ended (as an sfld reported it): a master that exited, halted or was
 * stopped ends it `shutdown`; one that crashed ends it `lost`. Either way with the master's end as the reason.
 */
export async function endClusterAfterMaster(
  svc: MasterServices,
  clusterId: string,
  clusterid: number,
  masterState: DomainState,
  masterReason: string | null,
) {
  const why = `its master ${clusterid}:0 ${masterState}${masterReason ? ` (${masterReason})` : ''}`;
  await endCluster(svc, clusterId, MASTER_FAILURES.includes(masterState) ? 'lost' : 'shutdown', why);
}

/**
 * Applies an sfld's report about one of its VMs. Reports about domains on other hosts, or about
 * domains whose record already ended (merged, stopped), are ignored: the record wins.
 */
export async function applyStateReport(svc: MasterServices, hostName: string, report: DomainStateReport): Promise<boolean> {
  const applied = await applyState(svc, hostName, report);
  if (report.nic) await recordNicFigures(svc, hostName, report, report.nic);
  if (report.disk) await recordDiskFigures(svc, hostName, report, report.disk);
  return applied;
}

/**
 * Keeps an ended VM's final figures on its record. The record may have ended before the report came (a clone's
 * sf_exit_status), and the vmid may already serve a newer clone: the figures go to the newest ended domain of
 * that address on that host whose `unset` column is still empty.
 */
async function recordEndFigures(
  svc: MasterServices,
  hostName: string,
  report: DomainStateReport,
  unset: 'rxBytes' | 'diskReads',
  data: Record<string, bigint>,
): Promise<void> {
  const domain = await svc.db.domain.findFirst({
    where: {
      vmid: report.vmid,
      cluster: { clusterid: report.clusterid },
      host: { name: hostName },
      state: { notIn: [...LIVE_DOMAIN_STATES] },
      [unset]: null,
    },
    orderBy: { createdAt: 'desc' },
  });
  if (domain) await svc.db.domain.update({ where: { id: domain.id }, data });
}

function recordNicFigures(svc: MasterServices, hostName: string, report: DomainStateReport, nic: NicFigures): Promise<void> {
  return recordEndFigures(svc, hostName, report, 'rxBytes', {
    rxBytes: BigInt(nic.rxBytes),
    txBytes: BigInt(nic.txBytes),
    rxPackets: BigInt(nic.rxPackets),
    txPackets: BigInt(nic.txPackets),
    netDrops: BigInt(nic.drops),
  });
}

function recordDiskFigures(svc: MasterServices, hostName: string, report: DomainStateReport, disk: DiskFigures): Promise<void> {
  return recordEndFigures(svc, hostName, report, 'diskReads', {
    diskReads: BigInt(disk.reads),
    diskWrites: BigInt(disk.writes),
    diskReadBytes: BigInt(disk.readBytes),
    diskWrittenBytes: BigInt(disk.writtenBytes),
    overlayBytes: BigInt(disk.overlayBytes),
    diskRemoteBlocks: BigInt(disk.remoteBlocks),
  });
}

async function applyState(svc: MasterServices, hostName: string, report: DomainStateReport): Promise<boolean> {
  const domain = await svc.db.domain.findFirst({
    where: { vmid: report.vmid, cluster: { clusterid: report.clusterid }, host: { name: hostName } },
    orderBy: { createdAt: 'desc' },
  });
  if (!domain || !isLiveDomainState(domain.state)) return false;
  const state = REPORTED_TO_RECORD[report.state];
  if (state === domain.state) return false;
  // Every end carries a reason: the sfld's, or what it reported and from where.
  const ended = !isLiveDomainState(state);
  const reason =
    report.reason ??
    (ended ? `its VM ${state}${report.exitCode !== null ? ` with status ${report.exitCode}` : ''} (reported by host ${hostName})` : null);
  // Conditional: sfmd may have ended this domain itself (merge, the cluster's loss) since the read above.
  if (!(await setStateIf(svc, domain.id, domain.state, state, { exitCode: report.exitCode, reason }))) return false;
  if (domain.vmid === 0 && ended) {
    // The master is gone: its cluster cannot go on. Release everything it held.
    await endClusterAfterMaster(svc, domain.clusterId, report.clusterid, state, reason);
  }
  svc.log.info({ domain: `${report.clusterid}:${report.vmid}`, state, exitCode: report.exitCode, reason: report.reason }, 'domain state');
  return true;
}
