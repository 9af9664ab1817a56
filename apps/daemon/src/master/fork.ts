// The data-plane half of clone.master (DESIGN §4.4 steps 2-4): the master's sfld freezes the master and
// starts the clones placed on its host; clones placed elsewhere are made by their hosts' sflds from the
// fork's descriptor (fetched from the master's sfld), with pages from the master host's memserver over
// mcdist (sfmd.cfg network_mode). Each clone record follows what really happened.
// The record costs two transactions: clones.ts's before the fork command, setStates' after the answers.
// Boundary: sfmd decides which clones exist (clones.ts); the sflds do the work.
import { performance } from 'node:perf_hooks';
import { messageOf, SfError } from '../common/errors.ts';
import { roundMs, type Stopwatch } from '../common/stopwatch.ts';
import type { CloneOutcome, HostCommandMap } from '../common/events.ts';
import type { RemoteCloneTiming } from '../common/wire.ts';
import { clusterNetSpec, tellClusterHosts, vmNet } from './cluster-net.ts';
import { setStates, type StateChange } from './domain-lifecycle.ts';
import type { SeedConfig } from './seed-config.ts';
import type { LiveDomain } from './domains.ts';
import type { OperationHandle } from './operations.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES, type DomainState } from './store/states.ts';

type Db = MasterServices['db'];
type Tx = Parameters<Parameters<Db['$transaction']>[0]>[0];

export interface CloneRecord {
  id: string;
  vmid: number;
  hostId: string;
  host: { name: string; unicast: string; multicast: string };
  /** Its processors (the allocation's): the clone runs that many of the master's vCPUs. */
  vcpus: number;
}

/**
 * Where a clone.master's time went, in ms, each stage after the one before (the operation's detail, for
 * bench/cluster): txMs from the call's arrival to the commit of its one transaction (the operation row
 * before it; ticket, allocations, clone rows and other tickets' clones in it); sendMs until the fork command
 * went to the master's sfld; forkMs until that sfld answered (capture and its local clones started: its own
 * split is the detail's forkTiming); remoteMs until the last other host answered (0 with none; each host's
 * own in remoteHostMs); recordMs the clones' outcomes written; totalMs from arrival to outcomes written.
 */
export interface CloneStages {
  txMs: number;
  sendMs: number;
  forkMs: number;
  remoteMs: number;
  remoteHostMs: Record<string, number>;
  recordMs: number;
  totalMs: number;
}

/** A record still waiting for its VM: only such a record becomes running when its host says it started. */
const WAITING: readonly DomainState[] = ['defined'];
/** A clone that did not start ends crashed unless it has ended already (a lost host's keeps its end). */
const LIVE: readonly DomainState[] = LIVE_DOMAIN_STATES;

/**
 * Other tickets' clones that are live: the cluster's network spans every live VM. Read in clone.master's
 * transaction, so the fork's placement and the new clone rows are one view of the record.
 */
export function liveOthers(db: Db | Tx, master: LiveDomain, ticketId: string) {
  return db.domain.findMany({
    where: {
      clusterId: master.clusterId,
      state: { in: [...LIVE_DOMAIN_STATES] },
      vmid: { gt: 0 },
      ticketId: { not: ticketId },
    },
    select: { vmid: true, host: { select: { multicast: true } } },
  });
}
export type OtherClone = Awaited<ReturnType<typeof liveOthers>>[number];

/**
 * What a host said of its clones, as record changes: a started clone becomes running (it may have exited or
 * crashed already, its sfld's reports racing this answer: then it keeps that), one not started crashed.
 */
function outcomeChanges(clones: CloneRecord[], outcomes: CloneOutcome[], fallback: string): StateChange[] {
  const byVmid = new Map(outcomes.map((r) => [r.vmid, r]));
  return clones.map((c) => {
    const outcome = byVmid.get(c.vmid);
    return outcome?.ok
      ? { id: c.id, from: WAITING, state: 'running' }
      : { id: c.id, from: LIVE, state: 'crashed', end: { reason: outcome?.error ?? fallback } };
  });
}

/** The clones that are still live recorded as crashed with `reason`. */
function crashChanges(clones: CloneRecord[], reason: string): StateChange[] {
  return clones.map((c) => ({ id: c.id, from: LIVE, state: 'crashed', end: { reason } }));
}

/**
 * After a fork command failed without a usable answer (a timeout, or an answer the wire contract refuses), its
 * sfld may still run some of the clones: they are recorded as crashed, so nothing else would ever stop them.
 * Best effort: a host that is gone or never made the clone answers with an error, which changes nothing.
 * Called after the crash is recorded: the sfld's report of a destroyed VM must find the record ended already.
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

/** What the clones on other hosts came to: their record changes, the hosts that failed, each host's time. */
interface RemoteResult {
  changes: StateChange[];
  started: number;
  failed: { host: string; clones: CloneRecord[] }[];
  hostMs: Record<string, number>;
  fromShells: number;
  /** Each host's own split of its time (absent from older sflds). */
  hostTiming: Record<string, RemoteCloneTiming>;
}

/** Has each other host make its clones from the served fork (all at once); records nothing itself. */
async function cloneRemote(
  svc: MasterServices,
  master: LiveDomain,
  ticketId: string,
  nclones: number,
  remote: CloneRecord[],
  served: NonNullable<HostCommandMap['domain:fork'][1]['served']>,
  placement: { vmid: number; host: string }[],
): Promise<RemoteResult> {
  const clusterid = master.cluster.clusterid;
  const out: RemoteResult = { changes: [], started: 0, failed: [], hostMs: {}, fromShells: 0, hostTiming: {} };
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
      const sent = performance.now();
      try {
        const made = await svc.links.command(host, 'domain:clone-remote', {
          clusterid,
          ticket: ticketId,
          nclones,
          descriptor,
          server,
          group: served.group,
          interface: mine[0]!.host.multicast,
          clones: mine.map((c) => withNet(svc, clusterid, c)),
          cluster: clusterNetSpec(svc, clusterid, mine[0]!.host.multicast, placement, null),
        });
        out.started += made.clones.filter((c) => c.ok).length;
        out.fromShells += made.fromShells ?? 0;
        if (made.timing) out.hostTiming[host] = made.timing;
        out.changes.push(...outcomeChanges(mine, made.clones, `${host} did not report this clone`));
      } catch (err) {
        out.changes.push(...crashChanges(mine, `${host} could not make its clones: ${messageOf(err)}`));
        out.failed.push({ host, clones: mine });
      }
      out.hostMs[host] = roundMs(performance.now() - sent);
    }),
  );
  return out;
}

function withNet(svc: MasterServices, clusterid: number, c: CloneRecord) {
  return { vmid: c.vmid, vcpus: c.vcpus, net: vmNet(svc, clusterid, c.vmid) };
}

/**
 * Starts a ticket's clones, whose rows clones.ts has just written (`defined`) in the transaction that read
 * `others`; returns once each clone record is running or crashed (with its reason). `watch` has run since
 * the call arrived, its first lap (`txMs`) taken at that transaction's commit.
 */
export async function forkClones(
  svc: MasterServices,
  master: LiveDomain,
  ticketId: string,
  clones: CloneRecord[],
  others: OtherClone[],
  op: OperationHandle,
  watch: Stopwatch,
  txMs: number,
) {
  const clusterid = master.cluster.clusterid;
  const local = clones.filter((c) => c.hostId === master.hostId);
  const remote = clones.filter((c) => c.hostId !== master.hostId);
  const placement = [master, ...others, ...clones].map((d) => ({ vmid: d.vmid, host: d.host.multicast }));
  const seed = JSON.parse(master.cluster.seedConfig) as SeedConfig;
  const spec = {
    clusterid,
    vmid: master.vmid,
    ticket: ticketId,
    nclones: clones.length,
    clones: local.map((c) => withNet(svc, clusterid, c)),
    serve: remote.length > 0 ? { mode: svc.config.networkMode, interface: master.host.multicast } : null,
    cluster: clusterNetSpec(svc, clusterid, master.host.multicast, placement, { inboundPorts: seed.inboundPorts ?? [] }),
  };
  const sendMs = watch.lap();
  let result: HostCommandMap['domain:fork'][1];
  try {
    result = await svc.links.command(master.host.name, 'domain:fork', spec);
  } catch (err) {
    const reason = `the fork of ${clusterid}:${master.vmid} failed: ${messageOf(err)}`;
    await setStates(svc, crashChanges(clones, reason));
    await destroyLeftovers(svc, master.host.name, clusterid, local);
    throw err instanceof SfError ? new SfError(err.code, `${reason}; merge the ticket (sfmerge) and try again`) : err;
  }
  const forkMs = watch.lap();

  const changes = outcomeChanges(local, result.clones, `${master.host.name} did not report this clone`);
  const served = result.served;
  let far: RemoteResult = { changes: [], started: 0, failed: [], hostMs: {}, fromShells: 0, hostTiming: {} };
  if (remote.length > 0 && !served) {
    changes.push(...crashChanges(remote, `${master.host.name} did not serve the fork's memory to other hosts`));
  } else if (remote.length > 0 && served) {
    far = await cloneRemote(svc, master, ticketId, clones.length, remote, served, placement);
    changes.push(...far.changes);
  }
  const remoteMs = watch.lap();
  // Local and remote outcomes in one transaction; the clones of hosts that failed are destroyed after it.
  await setStates(svc, changes);
  const stages: CloneStages = { txMs, sendMs, forkMs, remoteMs, remoteHostMs: far.hostMs, recordMs: watch.lap(), totalMs: watch.total() };
  await Promise.all(far.failed.map((f) => destroyLeftovers(svc, f.host, clusterid, f.clones)));
  // Written with the operation's finish (runOperation): no round trip of its own.
  op.setDetail({
    clones: clones.length,
    started: result.clones.filter((c) => c.ok).length + far.started,
    remote: remote.length,
    pauseMs: result.pauseMs,
    descriptorBytes: result.descriptorBytes,
    fromShells: result.fromShells,
    // Clones on other hosts made in the shells those hosts prepared when the ticket was granted.
    remoteFromShells: far.fromShells,
    remoteTiming: far.hostTiming,
    network: served
      ? { mode: svc.config.networkMode, group: served.group, snapshotId: served.snapshotId, memserverPort: served.memserverPort }
      : null,
    stages,
    forkTiming: result.timing ?? null,
  });
  // Hosts of other tickets' clones learn of this fork's hosts (their flooding list grows).
  if (others.length > 0) await tellClusterHosts(svc, master.clusterId);
  svc.log.info(
    { cluster: clusterid, ticket: ticketId, local: local.length, remote: remote.length, pauseMs: result.pauseMs, stages },
    'clones forked',
  );
}
