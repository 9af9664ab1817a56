// sf doctor: compares the record with what the connected sflds run and with the record's own rules, and lists
// the differences; with repair, mends each through the lifecycle functions any other change goes through.
import { messageOf } from '../common/errors.ts';
import type { DomainStateReport } from '../common/events.ts';
import type { HostInventory } from '../common/wire.ts';
import { endCluster } from './clusters.ts';
import { endingsOf, vanishedReport } from './host-reconcile.ts';
import { releaseHost } from './hosts.ts';
import { jsonDetail, runOperation } from './operations.ts';
import type { MasterServices } from './services.ts';
import { applyStateReport, endClusterAfterMaster } from './state-reports.ts';
import { isLiveDomainState, LIVE_DOMAIN_STATES, type DomainState, type HostState } from './store/states.ts';

/** What kind of difference a finding is. */
export type FindingKind =
  /** Recorded live; its sfld runs no VM for it. */
  | 'vm-missing'
  /** A VM runs that the record says ended, or does not know. */
  | 'vm-unrecorded'
  /** The record and the VM disagree on its state (running, paused; or a VM runs for a record still `defined`). */
  | 'state-differs'
  /** Recorded live on a host that is offline or removed (whose release should have ended it). */
  | 'live-on-unavailable-host'
  /** A running cluster whose master ended: it should have ended with it. */
  | 'cluster-master-ended'
  /** A live domain of a cluster that ended. */
  | 'live-in-ended-cluster'
  /** An unused or outstanding ticket of a cluster that ended. */
  | 'ticket-open-in-ended-cluster'
  /** An outstanding ticket none of whose clones is live and whose master ended: nobody will ever merge it. */
  | 'ticket-orphaned';

export interface Finding {
  kind: FindingKind;
  /** CLUSTER:VMID, cluster:N or ticket:ID. */
  subject: string;
  /** The host the difference was seen on (null for the record's own rules about a cluster or ticket). */
  host: string | null;
  recorded: string;
  actual: string;
  /** What the repair does (or did). */
  repair: string;
  /** Whether the repair ran and succeeded (false when only checking). */
  repaired: boolean;
  /** Why the repair failed, when it did. */
  error: string | null;
}

export interface HostCheck {
  name: string;
  state: HostState;
  /** Whether its sfld was asked what it runs (online and connected, and it answered). */
  checked: boolean;
  /** Why it was not checked. */
  note: string | null;
  /** VMs its sfld runs (null when not checked). */
  vms: number | null;
}

export interface DoctorReport {
  checkedAt: string;
  repair: boolean;
  hosts: HostCheck[];
  /** Live domains of the checked hosts compared with their VMs. */
  domains: number;
  findings: Finding[];
  /** With repair: what a fresh check finds after it (null when only checking). */
  after: Finding[] | null;
  /** Nothing left to repair: no findings, or all repaired and a fresh check finds none. */
  clean: boolean;
  /** The doctor.repair Operation (null when only checking). */
  operation: string | null;
}

export interface DoctorOptions {
  repair: boolean;
  /**
   * A difference counts only if a second look this much later still finds it: a change in flight (a fork
   * between its pause and resume reports, a cluster ending) is not a difference.
   */
  settleMs?: number;
}

const DEFAULT_SETTLE_MS = 300;
const INVENTORY_TIMEOUT_MS = 10_000;
/** Operations still running that started in this sfmd process are in flight; older ones died with an earlier sfmd. */
const PROCESS_STARTED = new Date(performance.timeOrigin);
/** Operations that make domains: while one runs, a domain `defined` or `booting` is on its way, not stuck. */
const MAKING_DOMAINS = ['cluster.seed', 'clone.master'];

/** A finding with the repair that mends it; repairs sharing a key are one repair (e.g. ending one cluster). */
interface Diagnosis extends Omit<Finding, 'repaired' | 'error'> {
  fix: { key: string; run: () => Promise<unknown> };
}

interface Survey {
  hosts: HostCheck[];
  domains: number;
  diagnoses: Diagnosis[];
}

const address = (d: { clusterid: number; vmid: number }) => `${d.clusterid}:${d.vmid}`;
const ended = (state: string, exitCode: number | null, reason: string | null) =>
  `${state}${exitCode !== null ? `(${exitCode})` : ''}${reason ? `: ${reason}` : ''}`;

/** What each online, connected host runs; the others (and hosts that do not answer) are not checked. */
async function inventories(svc: MasterServices) {
  const hosts = await svc.db.host.findMany({ orderBy: { name: 'asc' } });
  return Promise.all(
    hosts.map(async (host) => {
      const check: HostCheck = { name: host.name, state: host.state, checked: false, note: null, vms: null };
      let inventory: HostInventory | null = null;
      if (host.state !== 'online') check.note = `${host.state}: only the record is checked`;
      else if (!svc.links.isConnected(host.name)) check.note = 'its sfld is not connected';
      else {
        try {
          inventory = await svc.links.command(host.name, 'host:inventory', {}, INVENTORY_TIMEOUT_MS);
          check.checked = true;
          check.vms = inventory.domains.length;
        } catch (err) {
          check.note = `its sfld did not say what it runs: ${messageOf(err)}`;
        }
      }
      return { host, check, inventory };
    }),
  );
}

/** The record against what the sflds run, and the record's own rules; one look. */
async function survey(svc: MasterServices): Promise<Survey> {
  const seen = await inventories(svc);
  const inFlight = await svc.db.operation.count({
    where: { status: 'running', kind: { in: MAKING_DOMAINS }, startedAt: { gte: PROCESS_STARTED } },
  });
  const live = await svc.db.domain.findMany({
    where: { state: { in: [...LIVE_DOMAIN_STATES] } },
    include: { cluster: true, host: true },
    orderBy: [{ cluster: { clusterid: 'asc' } }, { vmid: 'asc' }],
  });
  const diagnoses: Diagnosis[] = [];
  let domains = 0;

  for (const { host, inventory } of seen) {
    if (!inventory) continue;
    const vms = new Map(inventory.domains.filter((d) => d.state === 'running' || d.state === 'paused').map((d) => [address(d), d]));
    const endings = endingsOf({ domains: [...vms.values()], ended: inventory.ended });
    const recorded = live.filter((d) => d.hostId === host.id);
    const known = new Set<string>();
    for (const d of recorded) {
      const key = address({ clusterid: d.cluster.clusterid, vmid: d.vmid });
      known.add(key);
      // A domain being made has no VM yet, or one its record does not show yet.
      if (inFlight > 0 && ['defined', 'booting', 'cloning'].includes(d.state)) continue;
      domains++;
      const vm = vms.get(key);
      if (!vm) {
        const report = vanishedReport(
          { clusterid: d.cluster.clusterid, vmid: d.vmid },
          endings,
          `sf doctor found no VM for it on host ${host.name}`,
        );
        const ending = endings.get(key);
        diagnoses.push({
          kind: 'vm-missing',
          subject: key,
          host: host.name,
          recorded: d.state,
          actual: ending ? `its VM ${ended(ending.state, ending.exitCode, ending.reason)}` : 'no VM',
          repair: `record it ${report.state} (${report.reason ?? 'as its sfld reported'})${d.vmid === 0 ? ', and end its cluster' : ''}`,
          fix: { key: `domain:${d.id}`, run: () => applyStateReport(svc, host.name, report) },
        });
      } else if (vm.state !== d.state) {
        const report: DomainStateReport = { ...vm, exitCode: null, reason: null };
        diagnoses.push({
          kind: 'state-differs',
          subject: key,
          host: host.name,
          recorded: d.state,
          actual: `its VM is ${vm.state}`,
          repair: `record it ${vm.state}`,
          fix: { key: `domain:${d.id}`, run: () => applyStateReport(svc, host.name, report) },
        });
      }
    }
    for (const [key, vm] of vms) {
      if (known.has(key)) continue;
      const newest = await svc.db.domain.findFirst({
        where: { vmid: vm.vmid, cluster: { clusterid: vm.clusterid } },
        include: { host: true },
        orderBy: { createdAt: 'desc' },
      });
      diagnoses.push({
        kind: 'vm-unrecorded',
        subject: key,
        host: host.name,
        recorded: !newest
          ? 'no such domain'
          : isLiveDomainState(newest.state)
            ? `${newest.state} on host ${newest.host.name}`
            : ended(newest.state, newest.exitCode, newest.endReason),
        actual: `its VM is ${vm.state}`,
        repair: `destroy the VM on host ${host.name}`,
        fix: {
          key: `vm:${host.name}:${key}`,
          run: () => svc.links.command(host.name, 'domain:destroy', { clusterid: vm.clusterid, vmid: vm.vmid }),
        },
      });
    }
  }

  for (const { host } of seen) {
    if (host.state === 'online') continue;
    const stranded = live.filter((d) => d.hostId === host.id);
    for (const d of stranded) {
      diagnoses.push({
        kind: 'live-on-unavailable-host',
        subject: address({ clusterid: d.cluster.clusterid, vmid: d.vmid }),
        host: host.name,
        recorded: d.state,
        actual: `host ${host.name} is ${host.state}`,
        repair: `release host ${host.name} again: its domains lost, clusters of its masters ended`,
        fix: {
          key: `host:${host.id}`,
          run: async () => {
            const now = await svc.db.host.findUniqueOrThrow({ where: { id: host.id } });
            if (now.state === 'online') return;
            await releaseHost(svc, host.id, now.state, `sf doctor found ${stranded.length} domain(s) still recorded live on it`);
          },
        },
      });
    }
  }

  diagnoses.push(...(await clusterDiagnoses(svc)));
  return { hosts: seen.map((s) => s.check), domains, diagnoses };
}

/** Clusters and tickets that outlived what ends them: a master that ended, a cluster that ended. */
async function clusterDiagnoses(svc: MasterServices): Promise<Diagnosis[]> {
  const out: Diagnosis[] = [];
  const running = await svc.db.cluster.findMany({
    where: { state: 'running' },
    include: {
      domains: { where: { vmid: 0 }, orderBy: { createdAt: 'desc' }, take: 1 },
      tickets: { where: { state: 'outstanding' }, include: { domains: true } },
    },
    orderBy: { clusterid: 'asc' },
  });
  for (const c of running) {
    const master = c.domains[0];
    if (!master || isLiveDomainState(master.state)) continue;
    const fix = { key: `cluster:${c.id}`, run: () => mendCluster(svc, c.id) };
    const how = ended(master.state, master.exitCode, master.endReason);
    out.push({
      kind: 'cluster-master-ended',
      subject: `cluster:${c.clusterid}`,
      host: null,
      recorded: 'running',
      actual: `its master ${c.clusterid}:0 ${how}`,
      repair: `end the cluster as its master's end does (clones stopped, tickets closed)`,
      fix,
    });
    for (const t of c.tickets.filter((t) => !t.domains.some((d) => isLiveDomainState(d.state)))) {
      out.push({
        kind: 'ticket-orphaned',
        subject: `ticket:${t.id}`,
        host: null,
        recorded: 'outstanding',
        actual: `none of its clones is live and its master ${c.clusterid}:0 ${master.state}`,
        repair: `merge it with its cluster's end`,
        fix,
      });
    }
  }

  const over = await svc.db.cluster.findMany({
    where: {
      state: { in: ['shutdown', 'lost'] },
      OR: [
        { domains: { some: { state: { in: [...LIVE_DOMAIN_STATES] } } } },
        { tickets: { some: { state: { in: ['unused', 'outstanding'] } } } },
      ],
    },
    include: {
      domains: { where: { state: { in: [...LIVE_DOMAIN_STATES] } }, include: { host: true }, orderBy: { vmid: 'asc' } },
      tickets: { where: { state: { in: ['unused', 'outstanding'] } }, orderBy: { createdAt: 'asc' } },
    },
    orderBy: { clusterid: 'asc' },
  });
  for (const c of over) {
    const fix = { key: `cluster:${c.id}`, run: () => mendCluster(svc, c.id) };
    const repair = `end cluster ${c.clusterid} again: live VMs destroyed and stopped, tickets closed`;
    for (const d of c.domains) {
      out.push({
        kind: 'live-in-ended-cluster',
        subject: `${c.clusterid}:${d.vmid}`,
        host: d.host.name,
        recorded: d.state,
        actual: `its cluster ${c.clusterid} is ${c.state}`,
        repair,
        fix,
      });
    }
    for (const t of c.tickets) {
      out.push({
        kind: 'ticket-open-in-ended-cluster',
        subject: `ticket:${t.id}`,
        host: null,
        recorded: t.state,
        actual: `its cluster ${c.clusterid} is ${c.state}`,
        repair,
        fix,
      });
    }
  }
  return out;
}

/** Ends what a cluster left behind, as its end would have, if the record still shows it (repairs may overlap). */
async function mendCluster(svc: MasterServices, clusterId: string): Promise<void> {
  const c = await svc.db.cluster.findUniqueOrThrow({
    where: { id: clusterId },
    include: { domains: { where: { vmid: 0 }, orderBy: { createdAt: 'desc' }, take: 1 } },
  });
  if (c.state === 'running') {
    const master = c.domains[0];
    if (!master || isLiveDomainState(master.state)) return;
    await endClusterAfterMaster(svc, c.id, c.clusterid, master.state as DomainState, master.endReason);
    return;
  }
  const leftovers =
    (await svc.db.domain.count({ where: { clusterId, state: { in: [...LIVE_DOMAIN_STATES] } } })) +
    (await svc.db.ticket.count({ where: { clusterId, state: { in: ['unused', 'outstanding'] } } }));
  if (leftovers > 0) await endCluster(svc, clusterId, c.state, 'sf doctor found it ended with live domains or open tickets');
}

const keyOf = (d: { kind: string; subject: string; host: string | null }) => `${d.kind} ${d.subject} ${d.host ?? ''}`;

/** Differences that a second look still finds (as the second look sees them). */
async function settledSurvey(svc: MasterServices, settleMs: number): Promise<Survey> {
  const first = await survey(svc);
  if (first.diagnoses.length === 0) return first;
  await new Promise((resolve) => setTimeout(resolve, settleMs));
  const second = await survey(svc);
  const before = new Set(first.diagnoses.map(keyOf));
  return { ...second, diagnoses: second.diagnoses.filter((d) => before.has(keyOf(d))) };
}

const asFinding = (d: Diagnosis, repaired = false, error: string | null = null): Finding => ({
  kind: d.kind,
  subject: d.subject,
  host: d.host,
  recorded: d.recorded,
  actual: d.actual,
  repair: d.repair,
  repaired,
  error,
});

/**
 * Compares the record with what the sflds of online, connected hosts run (read-only: host:inventory) and
 * with the record's own rules; with `repair`, mends every difference as one `doctor.repair` Operation and
 * checks again. Hosts not checked (offline, not connected, not answering) are listed, not counted as differences.
 */
export async function checkConsistency(svc: MasterServices, options: DoctorOptions): Promise<DoctorReport> {
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const checkedAt = new Date().toISOString();
  if (!options.repair) {
    const s = await settledSurvey(svc, settleMs);
    const findings = s.diagnoses.map((d) => asFinding(d));
    return {
      checkedAt,
      repair: false,
      hosts: s.hosts,
      domains: s.domains,
      findings,
      after: null,
      clean: findings.length === 0,
      operation: null,
    };
  }
  return runOperation(svc, { kind: 'doctor.repair', target: 'record', requester: 'admin' }, async (op) => {
    const s = await settledSurvey(svc, settleMs);
    // Domains first (the record follows the VMs), then what follows from them (clusters, tickets); one repair per key.
    const order = (d: Diagnosis) => (d.fix.key.startsWith('cluster:') ? 1 : 0);
    const outcome = new Map<string, string | null>();
    for (const d of [...s.diagnoses].sort((a, b) => order(a) - order(b))) {
      if (outcome.has(d.fix.key)) continue;
      try {
        await d.fix.run();
        outcome.set(d.fix.key, null);
      } catch (err) {
        outcome.set(d.fix.key, messageOf(err));
        svc.log.warn({ err, finding: keyOf(d) }, 'sf doctor could not repair a difference');
      }
    }
    const findings = s.diagnoses.map((d) => {
      const error = outcome.get(d.fix.key) ?? null;
      return asFinding(d, error === null, error);
    });
    const after = findings.length === 0 ? [] : (await settledSurvey(svc, settleMs)).diagnoses.map((d) => asFinding(d));
    await svc.db.operation.update({
      where: { id: op.id },
      data: {
        detail: jsonDetail({
          findings: findings.map((f) => ({ kind: f.kind, subject: f.subject, host: f.host, repair: f.repair, error: f.error })),
          after: after.length,
        }),
      },
    });
    if (findings.length > 0) svc.log.warn({ findings: findings.length, after: after.length }, 'sf doctor repaired the record');
    return { checkedAt, repair: true, hosts: s.hosts, domains: s.domains, findings, after, clean: after.length === 0, operation: op.id };
  });
}
