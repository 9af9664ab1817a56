// sf doctor: compares the record with what the connected sflds run and with the record's own rules, and lists
// the differences; with repair, mends each through the lifecycle functions any other change goes through.
import { messageOf } from '../common/errors.ts';
import type { DomainStateReport } from '../common/events.ts';
import type { HostInventory } from '../common/wire.ts';
import { endingsOf, vanishedReport } from './host-reconcile.ts';
import { jsonDetail, runOperation } from './operations.ts';
import type { MasterServices } from './services.ts';
import { applyStateReport } from './state-reports.ts';
import { isLiveDomainState, LIVE_DOMAIN_STATES, type HostState } from './store/states.ts';
import { address, type Diagnosis, ended, type Finding, recordDiagnoses } from './doctor-rules.ts';

export type { Finding, FindingKind } from './doctor-rules.ts';

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
  /** Who asked for a repair, as the operation log names it (default: the first-start admin token). */
  requester?: string;
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

interface Survey {
  hosts: HostCheck[];
  domains: number;
  diagnoses: Diagnosis[];
}

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

type LiveDomainRow = Awaited<ReturnType<MasterServices['db']['domain']['findMany']>>[number] & {
  cluster: { clusterid: number };
  host: { name: string };
};

/** One host's VMs against the record of its live domains (those being made skipped while an operation makes them). */
async function hostDiagnoses(
  svc: MasterServices,
  host: { id: string; name: string },
  inventory: HostInventory,
  live: LiveDomainRow[],
  inFlight: boolean,
): Promise<{ diagnoses: Diagnosis[]; compared: number }> {
  const diagnoses: Diagnosis[] = [];
  let compared = 0;
  const vms = new Map(inventory.domains.filter((d) => d.state === 'running' || d.state === 'paused').map((d) => [address(d), d]));
  const endings = endingsOf({ domains: [...vms.values()], ended: inventory.ended });
  const recorded = live.filter((d) => d.hostId === host.id);
  const known = new Set<string>();
  for (const d of recorded) {
    const key = address({ clusterid: d.cluster.clusterid, vmid: d.vmid });
    known.add(key);
    // A domain being made has no VM yet, or one its record does not show yet.
    if (inFlight && ['defined', 'booting', 'cloning'].includes(d.state)) continue;
    compared++;
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
  return { diagnoses, compared };
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
    const found = await hostDiagnoses(svc, host, inventory, live, inFlight > 0);
    diagnoses.push(...found.diagnoses);
    domains += found.compared;
  }

  diagnoses.push(
    ...(await recordDiagnoses(
      svc,
      seen.map((x) => x.host),
      live,
    )),
  );
  return { hosts: seen.map((s) => s.check), domains, diagnoses };
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
  return runOperation(svc, { kind: 'doctor.repair', target: 'record', requester: options.requester ?? 'token:admin' }, async (op) => {
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
