// The host registry: hosts come from sfmd.cfg's cluster_hosts (each gets a per-host secret), go
// online when their sfld registers, and go offline when they fall silent — releasing what they held.
// Offline is a presumption: a heartbeat or a registration from the host takes it back (host-reconcile.ts).
import { existsSync } from 'node:fs';
import type { Heartbeat, HostRegistration, HostMetrics, RegisterReply } from '../common/events.ts';
import { SfError } from '../common/errors.ts';
import { hostSecretPath, type SnowflockPaths } from '../common/paths.ts';
import { writeSecretFile } from '../common/secret-file.ts';
import { hashSecret, newSecret, secretMatches } from './auth.ts';
import { endCluster } from './clusters.ts';
import { runOperation } from './operations.ts';
import type { MasterServices } from './services.ts';
import { LIVE_DOMAIN_STATES } from './store/states.ts';
import { offlineEndReasonPrefix, reconcileDomains } from './host-reconcile.ts';
import { lastSeenWriter } from './last-seen-writer.ts';
import { heartbeatLane } from './heartbeat-lane.ts';
import { tellClusterTicketsEnded } from './ticket-ended.ts';

export interface HostSyncResult {
  created: string[];
  secretsWritten: string[];
  removed: string[];
}

/**
 * Makes the Host table match cluster_hosts. A host new to the table gets a fresh secret written to
 * $SNOWFLOCK_HOME/secrets/NAME.secret; so does one whose secret file was deleted (the old secret
 * stops working, which is what deleting it means). Hosts no longer configured become `removed`.
 */
export async function syncConfiguredHosts(svc: MasterServices, paths: SnowflockPaths): Promise<HostSyncResult> {
  const result: HostSyncResult = { created: [], secretsWritten: [], removed: [] };
  const configured = new Set<string>();
  for (const host of svc.config.clusterHosts) {
    configured.add(host.name);
    const secretFile = hostSecretPath(paths, host.name);
    const existing = await svc.db.host.findUnique({ where: { name: host.name } });
    let secretHash = existing?.secretHash;
    if (!existing || !existsSync(secretFile)) {
      const secret = newSecret();
      writeSecretFile(secretFile, secret);
      secretHash = hashSecret(secret);
      result.secretsWritten.push(host.name);
    }
    const fields = { unicast: host.unicast, multicast: host.multicast, cpus: host.cpus, ram: BigInt(host.ram), secretHash: secretHash! };
    if (existing) {
      await svc.db.host.update({
        where: { id: existing.id },
        data: { ...fields, state: existing.state === 'removed' ? 'offline' : existing.state },
      });
    } else {
      await svc.db.host.create({ data: { name: host.name, ...fields, state: 'offline' } });
      result.created.push(host.name);
    }
  }
  // Filtered here, not with `notIn`: a thousand configured names would pass SQLite's bound-parameter limit.
  const stale = (await svc.db.host.findMany({ where: { state: { not: 'removed' } } })).filter((h) => !configured.has(h.name));
  for (const host of stale) {
    await releaseHost(svc, host.id, 'removed', 'no longer in cluster_hosts of sfmd.cfg');
    result.removed.push(host.name);
  }
  return result;
}

/** Checks an sfld's credentials; the error never says which half was wrong. */
export async function authenticateHost(svc: MasterServices, name: string, secret: string) {
  const host = await svc.db.host.findUnique({ where: { name } });
  if (!host || host.state === 'removed' || !secretMatches(secret, host.secretHash)) {
    throw new SfError(
      'UNAUTHORIZED',
      `host '${name}' is not known to sfmd or its secret is wrong: ` +
        `check that it is listed in sfmd.cfg cluster_hosts and that sfld uses the secret from sfmd's secrets/${name}.secret`,
    );
  }
  return host;
}

/**
 * What shows that a host sfmd declared offline is alive after all: the heartbeat that came, and how long
 * the host had been silent before it (lastSeen is the last beat before sfmd gave up on it).
 */
export interface HeartbeatEvidence {
  seq: number | null;
  sentAt: string | null;
  receivedAt: string;
  lastSeen: string | null;
  silentMs: number | null;
}

/**
 * (Re)registers a host and reconciles the record of its domains with the VMs its sfld runs (see
 * reconcileDomains). `evidence` is set when sfmd asked for the registration because a heartbeat came
 * from a host it had declared offline; a reconnecting sfld registers without it.
 */
export async function registerHost(
  svc: MasterServices,
  name: string,
  info: HostRegistration,
  evidence: HeartbeatEvidence | null = null,
): Promise<RegisterReply> {
  return runOperation(
    svc,
    { kind: 'host.register', target: name, requester: `host:${name}`, detail: { version: info.version, evidence } },
    async () => {
      const before = await svc.db.host.findUniqueOrThrow({ where: { name } });
      const now = new Date();
      const host = await svc.db.host.update({
        where: { name },
        data: { state: 'online', lastSeen: now, registeredAt: now, capabilities: JSON.stringify(info) },
      });
      heartbeatLane(svc).registered(name, now.getTime());
      svc.events.emit('host:state', { host: name, state: 'online', at: now.toISOString() });
      const outcome = await reconcileDomains(svc, before, info);
      svc.events.emit('capacity');
      if (before.state === 'offline' && (evidence || outcome.revived.length + outcome.ended.length + outcome.destroyed.length > 0)) {
        // Declaring the host lost was a presumption; this is the evidence that undid it and what it changed.
        svc.log.warn({ host: name, evidence, ...outcome }, 'host declared offline is back: online again, its domains reconciled');
      }
      svc.log.info({ host: name, cpus: host.cpus, kvm: info.kvm.available }, 'host registered');
      return { hostId: host.id, name, heartbeatMs: svc.timing.heartbeatMs, offlineAfterMs: svc.timing.offlineAfterMs };
    },
  );
}

/**
 * Records a heartbeat in sfmd's heartbeat lane the moment it is read (heartbeat-lane.ts: memory, no
 * database on the way), and writes lastSeen to the record at most every offlineAfterMs/3. A heartbeat from
 * a host sfmd declared offline is returned as evidence that it is alive (the caller asks its sfld to
 * re-register); a removed host's beats count for nothing.
 */
export async function recordHeartbeat(svc: MasterServices, name: string, beat?: Heartbeat): Promise<HeartbeatEvidence | null> {
  const lane = heartbeatLane(svc);
  const receipt = lane.beat(name, beat?.sentAt);
  if (receipt.state === 'removed' || (receipt.state === 'online' && !receipt.persist)) return null;
  const now = new Date(receipt.at);
  // The lane knows the host online (it learns every change of state where the record changes): batched.
  if (receipt.state === 'online') {
    lastSeenWriter(svc).note(name, receipt.at);
    return null;
  }
  if (receipt.state !== 'offline') {
    const { count } = await svc.db.host.updateMany({ where: { name, state: 'online' }, data: { lastSeen: now } });
    if (count > 0) {
      lane.known(name, 'online');
      return null;
    }
  }
  const host = await svc.db.host.findUnique({ where: { name } });
  if (host?.state === 'online') lane.known(name, 'online');
  if (host?.state !== 'offline') return null;
  lane.known(name, 'offline');
  const lastSeen = lane.heardBeforeRelease(name) ?? host.lastSeen?.getTime() ?? null;
  return {
    seq: beat?.seq ?? null,
    sentAt: beat ? new Date(beat.sentAt).toISOString() : null,
    receivedAt: now.toISOString(),
    lastSeen: lastSeen === null ? null : new Date(lastSeen).toISOString(),
    silentMs: lastSeen === null ? null : now.getTime() - lastSeen,
  };
}

export function recordMetrics(svc: MasterServices, name: string, metrics: HostMetrics): void {
  svc.metrics.set(name, metrics);
  svc.events.emit('host:metrics', { ...metrics, host: name });
}

/**
 * Takes a host out of service: reservations of unused tickets on it are released (a ticket left
 * with none is disposed), its live domains are lost, and a cluster whose master was there is lost
 * and ended (endCluster): its clones elsewhere stopped, its tickets over. An outstanding ticket of a
 * master still running elsewhere stays outstanding: its clones lost here end it through the master's
 * join (they count as crashed there) or merge.
 */
export async function releaseHost(svc: MasterServices, hostId: string, state: 'offline' | 'removed', reason: string) {
  const host = await svc.db.host.findUniqueOrThrow({ where: { id: hostId } });
  const lane = heartbeatLane(svc);
  await runOperation(svc, { kind: 'host.release', target: host.name, requester: 'sfmd', detail: { state, reason } }, async () => {
    // The record keeps when the host was really last heard (the lane writes lastSeen only now and then).
    const heardAt = lane.lastAt(host.name);
    const disposed: { id: string; clusterId: string }[] = [];
    const lostDomains = await svc.db.$transaction(async (tx) => {
      await tx.host.update({ where: { id: hostId }, data: { state, ...(heardAt ? { lastSeen: new Date(heardAt) } : {}) } });
      const allocations = await tx.allocation.findMany({ where: { hostId, ticket: { state: 'unused' } } });
      await tx.allocation.deleteMany({ where: { id: { in: allocations.map((a) => a.id) } } });
      for (const ticketId of new Set(allocations.map((a) => a.ticketId))) {
        const left = await tx.allocation.count({ where: { ticketId } });
        const ticket = await tx.ticket.update({
          where: { id: ticketId },
          data: left === 0 ? { granted: 0, state: 'disposed', endedAt: new Date() } : { granted: left },
        });
        if (left === 0) disposed.push(ticket);
      }
      const domains = await tx.domain.findMany({
        where: { hostId, state: { in: [...LIVE_DOMAIN_STATES] } },
        include: { cluster: true },
      });
      const now = new Date();
      // The reason reaches a master's join (its clones there ended with the host) and sfstate.
      // A host that went offline may come back: reconcileDomains finds these domains by this reason.
      const endReason = `${state === 'offline' ? offlineEndReasonPrefix(host.name) : `host ${host.name} was removed (`}${reason}): its VMs are gone`;
      await tx.domain.updateMany({ where: { id: { in: domains.map((d) => d.id) } }, data: { state: 'lost', endedAt: now, endReason } });
      const lostMasters = domains.filter((d) => d.vmid === 0).map((d) => d.clusterId);
      await tx.cluster.updateMany({ where: { id: { in: lostMasters } }, data: { state: 'lost', endedAt: now } });
      return domains;
    });
    lane.released(host.name, state);
    // A disposed ticket's master runs on another host (or ends below), whose sfld holds its clone shells.
    for (const clusterId of new Set(disposed.map((t) => t.clusterId))) {
      await tellClusterTicketsEnded(
        svc,
        clusterId,
        disposed.filter((t) => t.clusterId === clusterId).map((t) => t.id),
      );
    }
    const at = new Date().toISOString();
    svc.events.emit('host:state', { host: host.name, state, at });
    for (const d of lostDomains) {
      svc.events.emit('domain:state', { clusterid: d.cluster.clusterid, vmid: d.vmid, host: host.name, state: 'lost', at });
    }
    // A cluster whose master was here cannot go on: its clones on other hosts are destroyed there and
    // recorded `stopped` with the reason, its outstanding tickets end merged (their clones were made and
    // are over), its unused ones disposed. What they held is free again.
    for (const m of lostDomains.filter((d) => d.vmid === 0)) {
      await endCluster(svc, m.clusterId, 'lost', `its master ${m.cluster.clusterid}:0 was lost with host ${host.name} (${reason})`);
    }
    svc.events.emit('capacity');
    svc.log.warn({ host: host.name, reason, lostDomains: lostDomains.length }, 'host released');
  });
}

/**
 * Marks silent hosts offline. Runs every heartbeat interval; returns the names it took offline. The
 * judgement is the heartbeat lane's, in memory: a host is silent for the time sfmd was awake to hear it
 * (after a stall of sfmd's own, every host gets a full offlineAfterMs); the record's lastSeen counts only
 * for hosts sfmd has not heard since it started.
 */
export async function sweepSilentHosts(svc: MasterServices): Promise<string[]> {
  const lane = heartbeatLane(svc);
  const online = await svc.db.host.findMany({ where: { state: 'online' } });
  const swept: string[] = [];
  for (const host of online) {
    // Judged right before each release: an earlier release took time, during which beats may have come.
    const now = lane.now();
    const { silent, countedMs, heardAt } = lane.silence(host.name, host.lastSeen, now);
    if (!silent) continue;
    // The evidence for declaring the host lost: when it was last heard and how long it has been silent.
    const heard =
      heardAt === null
        ? 'since sfmd started'
        : `for ${now - heardAt} ms (last at ${new Date(heardAt).toISOString()}${now - heardAt > countedMs ? `; ${countedMs} ms of it counted: not sfmd's own stalls or start-up grace` : ''})`;
    await releaseHost(svc, host.id, 'offline', `no heartbeat ${heard}`);
    swept.push(host.name);
  }
  return swept;
}

/** After sfmd restarts, hosts that were online get a fresh grace period to reconnect. */
export async function graceOnlineHosts(svc: MasterServices): Promise<void> {
  const at = new Date();
  heartbeatLane(svc).grace(at.getTime());
  await svc.db.host.updateMany({ where: { state: 'online' }, data: { lastSeen: at } });
}
