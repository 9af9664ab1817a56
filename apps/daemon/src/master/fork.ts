// The data-plane half of clone.master (DESIGN §4.4 steps 2-4): the master's sfld freezes the master and
// starts the clones placed on its host; clones placed elsewhere are made by their hosts' sflds, asked at the
// same moment: each waits on the master's sfld for the fork's descriptor (a hand-off sfmd names), then takes
// pages from the master host's memserver over mcdist (sfmd.cfg network_mode). Each clone record follows what
// really happened. The record costs two transactions: clones.ts's before the commands, setStates' after the answers.
// Boundary: sfmd decides which clones exist (clones.ts); the sflds do the work.
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { messageOf, SfError } from '../common/errors.ts';
import { roundMs, type Stopwatch } from '../common/stopwatch.ts';
import type { CloneOutcome } from '../common/events.ts';
import type { RemoteCloneTiming } from '../common/wire.ts';
import { clusterNetSpec, tellClusterHosts, vmNet } from './cluster-net.ts';
import { setStates, type StateChange } from './domain-lifecycle.ts';
import { DEFAULT_COMMAND_TIMEOUT_MS } from './host-links.ts';
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
 * went to the master's sfld (the other hosts' commands go with it); forkMs until that sfld answered (capture and
 * its local clones started: its own split is the detail's forkTiming); remoteMs from then until the last other
 * host answered (about 0 with none or when they finished first; each host's own time since the commands went, in
 * remoteHostMs); recordMs the clones' outcomes written; totalMs from arrival to outcomes written.
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

/** Where the master host's sfld hands over the fork's descriptor: its host, its local port (from its registration). */
interface HandoffPlace {
  host: string;
  port: number;
  key: string;
  token: string;
}

/** The master host's sfld's local HTTP port, as it registered it; null when it never said (no remote clones then). */
function sfldPort(host: { capabilities: string }): number | null {
  try {
    const port = (JSON.parse(host.capabilities) as { localListenPort?: unknown }).localListenPort;
    return Number.isInteger(port) && (port as number) > 0 && (port as number) <= 65535 ? (port as number) : null;
  } catch {
    return null;
  }
}

/**
 * Has each other host make its clones of the fork being captured (all at once, while the master's sfld forks): each
 * waits for the hand-off, then makes its clones. Records nothing itself.
 */
async function cloneRemote(
  svc: MasterServices,
  master: LiveDomain,
  ticketId: string,
  nclones: number,
  remote: CloneRecord[],
  descriptor: HandoffPlace,
  placement: { vmid: number; host: string }[],
): Promise<RemoteResult> {
  const clusterid = master.cluster.clusterid;
  const out: RemoteResult = { changes: [], started: 0, failed: [], hostMs: {}, fromShells: 0, hostTiming: {} };
  await Promise.all(
    groupByHost(remote).map(async ([host, mine]) => {
      const sent = performance.now();
      try {
        const made = await svc.links.command(
          host,
          'domain:clone-remote',
          {
            clusterid,
            ticket: ticketId,
            nclones,
            descriptor,
            interface: mine[0]!.host.multicast,
            clones: mine.map((c) => withNet(svc, clusterid, c)),
            cluster: clusterNetSpec(svc, clusterid, mine[0]!.host.multicast, placement, null),
          },
          // Its wait for the fork (as long as sfmd waits for the fork itself), then the time to make its clones.
          2 * DEFAULT_COMMAND_TIMEOUT_MS,
        );
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

function groupByHost(clones: CloneRecord[]): [string, CloneRecord[]][] {
  const byHost = new Map<string, CloneRecord[]>();
  for (const c of clones) byHost.set(c.host.name, [...(byHost.get(c.host.name) ?? []), c]);
  return [...byHost.entries()];
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
  const port = sfldPort(master.host);
  // The hand-off's names: a key the targets ask for, a token only they and the master's sfld learn.
  const handoff =
    remote.length > 0 && port !== null ? { key: randomBytes(8).toString('hex'), token: randomBytes(32).toString('hex') } : null;
  const spec = {
    clusterid,
    vmid: master.vmid,
    ticket: ticketId,
    nclones: clones.length,
    clones: local.map((c) => withNet(svc, clusterid, c)),
    serve: handoff ? { mode: svc.config.networkMode, interface: master.host.multicast, handoff } : null,
    cluster: clusterNetSpec(svc, clusterid, master.host.multicast, placement, { inboundPorts: seed.inboundPorts ?? [] }),
  };
  const sendMs = watch.lap();
  // The fork and the other hosts' clones at once: they wait on the master's sfld for the descriptor.
  const forking = svc.links.command(master.host.name, 'domain:fork', spec).then(
    (value) => ({ value, forkMs: watch.lap() }),
    (err: unknown) => ({ err }),
  );
  const farAway: Promise<RemoteResult> =
    handoff && port !== null
      ? cloneRemote(svc, master, ticketId, clones.length, remote, { host: master.host.unicast, port, ...handoff }, placement)
      : Promise.resolve({
          changes: crashChanges(remote, `${master.host.name}'s sfld never said its local port: restart it (sfld restart) and fork again`),
          started: 0,
          failed: [],
          hostMs: {},
          fromShells: 0,
          hostTiming: {},
        });
  const forked = await forking;
  if ('err' in forked) {
    const err = forked.err;
    const reason = `the fork of ${clusterid}:${master.vmid} failed: ${messageOf(err)}`;
    await setStates(svc, crashChanges(clones, reason));
    await destroyLeftovers(svc, master.host.name, clusterid, local);
    // The other hosts learn of it from the master's sfld (or give up waiting); a clone one made anyway (the fork
    // was served, its answer lost) goes when its host says so.
    void farAway.then((far) => {
      const made = new Set(far.changes.filter((c) => c.state === 'running').map((c) => c.id));
      return Promise.all(
        groupByHost(remote.filter((c) => made.has(c.id))).map(([host, mine]) => destroyLeftovers(svc, host, clusterid, mine)),
      );
    });
    throw err instanceof SfError ? new SfError(err.code, `${reason}; merge the ticket (sfmerge) and try again`) : err;
  }
  const { value: result, forkMs } = forked;
  const changes = outcomeChanges(local, result.clones, `${master.host.name} did not report this clone`);
  const served = result.served;
  const far = await farAway;
  changes.push(...far.changes);
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
