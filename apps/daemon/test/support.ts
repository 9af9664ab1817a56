// Test fixtures for sfmd: a fresh data directory with a real SQLite file, services over it, hosts
// brought online through the real registration path, and tRPC callers built from real headers.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openDatabase } from '@snowflock/db';
import { DEFAULT_KEEP_OPERATIONS, DEFAULT_RATE_LIMITS, DEFAULT_VXLAN_PORT, type SfmdConfig } from '../src/common/config/index.ts';
import { DEFAULT_CLUSTER_NETWORK, DEFAULT_CLUSTER_PREFIX } from '../src/common/cluster-addresses.ts';
import { createLogger } from '../src/common/logger.ts';
import { snowflockPaths, ensureDirs, hostSecretPath, type SnowflockPaths } from '../src/common/paths.ts';
import { readSecretFile } from '../src/common/secret-file.ts';
import type { HostCommand, HostCommandMap, HostRegistration } from '../src/common/events.ts';
import type { SfError } from '../src/common/errors.ts';
import type { ReportedVmState } from '../src/common/states.ts';
import type { HostLinks } from '../src/master/host-links.ts';
import { getAllocator } from '../src/master/allocator/index.ts';
import { contextFromHeaders } from '../src/master/api/context.ts';
import { appRouter } from '../src/master/api/router.ts';
import { ensureAdminToken } from '../src/master/auth.ts';
import { recordHeartbeat, registerHost, sweepSilentHosts, syncConfiguredHosts } from '../src/master/hosts.ts';
import { createServices, type MasterServices, type Timing } from '../src/master/services.ts';
import { tokenRegistry } from '../src/master/tokens.ts';

export const GiB = 2 ** 30;
export const MiB = 2 ** 20;

export interface HostSpec {
  name: string;
  cpus: number;
  ram: number;
}

export function makeConfig(hosts: HostSpec[]): SfmdConfig {
  return {
    masterListenPort: 0,
    clusterHosts: hosts.map((h) => ({ name: h.name, unicast: h.name, multicast: h.name, cpus: h.cpus, ram: h.ram })),
    networkMode: 'multicast',
    networkWhitelist: [],
    bandwidthCap: 0,
    clusterNetwork: { block: DEFAULT_CLUSTER_NETWORK, prefix: DEFAULT_CLUSTER_PREFIX },
    vxlanPort: DEFAULT_VXLAN_PORT,
    clusterId: 1,
    keepOperations: DEFAULT_KEEP_OPERATIONS,
    rateLimits: { ...DEFAULT_RATE_LIMITS },
    metrics: 'token',
  };
}

export function tempHome(prefix = 'sf-test-'): string {
  return mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function registration(overrides: Partial<HostRegistration> = {}): HostRegistration {
  return {
    version: '0.1.0',
    cpus: 2,
    ramBytes: 4 * GiB,
    kernelRelease: 'test',
    kvm: { available: true, apiVersion: 12, error: null },
    userfaultfd: { available: true, features: ['MISSING_SHMEM'], error: null },
    localListenPort: 7001,
    pid: process.pid,
    domains: [],
    ended: [],
    ...overrides,
  };
}

export type ApiCaller = ReturnType<typeof appRouter.createCaller>;

export interface MasterFixture {
  svc: MasterServices;
  paths: SnowflockPaths;
  adminToken: string;
  links: RecordingHostLinks;
  hostSecret(name: string): string;
  /** Brings hosts online through the real registration path. */
  online(...names: string[]): Promise<void>;
  caller(headers: Record<string, string>): Promise<ApiCaller>;
  admin(domain?: string): ReturnType<MasterFixture['caller']>;
  close(): Promise<void>;
}

export async function masterFixture(hosts: HostSpec[], timing: Partial<Timing> = {}): Promise<MasterFixture> {
  const home = tempHome();
  const paths = snowflockPaths(home);
  ensureDirs(paths);
  const db = await openDatabase(paths.database);
  const log = createLogger('test');
  log.level = 'silent';
  const links = new RecordingHostLinks();
  const svc = createServices({ db, log, config: makeConfig(hosts), allocator: getAllocator('default'), timing, links });
  await syncConfiguredHosts(svc, paths);
  const { token, created } = ensureAdminToken(paths.adminToken);
  await tokenRegistry(svc).adoptAdminToken(token, created);
  const fixture: MasterFixture = {
    svc,
    paths,
    adminToken: token,
    links,
    hostSecret: (name) => readSecretFile(hostSecretPath(paths, name))!,
    async online(...names) {
      for (const name of names) await registerHost(svc, name, registration());
    },
    async caller(headers) {
      return appRouter.createCaller(await contextFromHeaders(svc, headers));
    },
    admin(domain) {
      return fixture.caller({ authorization: `Bearer ${token}`, ...(domain ? { 'x-snowflock-domain': domain } : {}) });
    },
    async close() {
      await db.$disconnect();
      rmSync(home, { recursive: true, force: true });
    },
  };
  return fixture;
}

export const seedConfig = (vcpus = 1, memoryMiB = 256) => ({
  name: null,
  diskImage: null,
  kernel: '/guests/test.elf',
  args: null,
  vcpus,
  memoryMiB,
});

/** Hosts alpha and beta online and cluster 1 seeded; its master asks for `nclones` clones (spread over both hosts). */
export async function twoHostTicket(f: MasterFixture, nclones = 4) {
  await f.online('alpha', 'beta');
  const admin = await f.admin();
  await admin.cluster.seed({ config: seedConfig(1, 256) });
  const masterHost = (await admin.state.domains())[0]!.host;
  const otherHost = masterHost === 'alpha' ? 'beta' : 'alpha';
  const master = await f.admin('1:0');
  const ticket = await master.ticket.request({ nclones });
  return { admin, master, ticket, masterHost, otherHost };
}

/** Lets `silent` miss its heartbeats while `beating` beats, and has sfmd sweep it offline (fixture offlineAfterMs ≤ 200). */
export async function silenceHost(f: MasterFixture, silent: string, beating: string): Promise<void> {
  await new Promise((r) => setTimeout(r, 250));
  await recordHeartbeat(f.svc, beating);
  const swept = await sweepSilentHosts(f.svc);
  if (swept.length !== 1 || swept[0] !== silent) throw new Error(`expected only ${silent} swept offline, got ${JSON.stringify(swept)}`);
}

export interface SentCommand {
  host: string;
  command: HostCommand;
  payload: unknown;
}

/**
 * Stands in for the sflds' data plane in tests of the control plane around it: every command is
 * recorded and answered as a healthy sfld would, unless `fail` says otherwise.
 */
export class RecordingHostLinks implements HostLinks {
  readonly sent: SentCommand[] = [];
  fail: Partial<Record<HostCommand, SfError>> = {};
  /**
   * The VMs each host runs by the commands answered ('CLUSTER:VMID' → state), which host:inventory reports:
   * a test changes it to play a VM the sflds did not report (gone, stray, paused).
   */
  readonly vms = new Map<string, Map<string, ReportedVmState>>();
  isConnected(_host: string): boolean {
    return true;
  }
  vmsOf(host: string): Map<string, ReportedVmState> {
    if (!this.vms.has(host)) this.vms.set(host, new Map());
    return this.vms.get(host)!;
  }
  #track(host: string, command: HostCommand, payload: unknown): void {
    const p = payload as { clusterid: number; vmid?: number; clones?: { vmid: number }[] };
    if (command === 'domain:boot') this.vmsOf(host).set(`${p.clusterid}:${p.vmid}`, 'running');
    if (command === 'domain:fork' || command === 'domain:clone-remote')
      for (const c of p.clones ?? []) this.vmsOf(host).set(`${p.clusterid}:${c.vmid}`, 'running');
    if (command === 'domain:destroy') this.vmsOf(host).delete(`${p.clusterid}:${p.vmid}`);
  }
  async command<C extends HostCommand>(host: string, command: C, payload: HostCommandMap[C][0]): Promise<HostCommandMap[C][1]> {
    this.sent.push({ host, command, payload });
    const failure = this.fail[command];
    if (failure) throw failure;
    this.#track(host, command, payload);
    const answers: { [K in HostCommand]: HostCommandMap[K][1] } = {
      'domain:boot': { state: 'running' },
      'domain:destroy': { state: 'stopped' },
      'ticket:shells': { preparing: (payload as HostCommandMap['ticket:shells'][0]).count },
      'domain:clone-remote': {
        clones: (payload as HostCommandMap['domain:clone-remote'][0]).clones?.map((c) => ({ vmid: c.vmid, ok: true, error: null })) ?? [],
      },
      'domain:fork': {
        clones: (payload as HostCommandMap['domain:fork'][0]).clones?.map((c) => ({ vmid: c.vmid, ok: true, error: null })) ?? [],
        pauseMs: 1,
        descriptorBytes: 8192,
        fromShells: 0,
        served: (payload as HostCommandMap['domain:fork'][0]).serve
          ? { snapshotId: '00000000000000aa', memserverPort: 40000, group: '239.1.2.3:40000' }
          : null,
      },
      'domain:input': { accepted: 0 },
      'cluster:peers': { peers: (payload as HostCommandMap['cluster:peers'][0]).hosts?.length ?? 0 },
      'domain:console-replay': { data: Buffer.alloc(0) },
      'host:ping': { receivedAt: Date.now() },
      'host:reregister': registration(),
      'ticket:ended': { released: 0 },
      'fork:release': { stopped: 0 },
      'host:inventory': {
        domains: [...this.vmsOf(host)].map(([address, state]) => {
          const [clusterid, vmid] = address.split(':').map(Number);
          return { clusterid: clusterid!, vmid: vmid!, state };
        }),
        ended: [],
      },
    };
    return answers[command];
  }
}
