// Starts sfmd in this process: migrates the database, syncs hosts from sfmd.cfg, makes the admin
// token on first start (the token row named `admin`), serves the API and sweeps silent hosts. Returns a handle to stop it cleanly.
import path from 'node:path';
import { openDatabase, openReadOnlyDatabase } from '@snowflock/db';
import { DEFAULT_SCHEDULER_SETTINGS, loadSfmdConfig } from '../common/config/index.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { ensureDirs, snowflockPaths } from '../common/paths.ts';
import { getAllocator } from './allocator/index.ts';
import { ensureAdminToken } from './auth.ts';
import { heartbeatLane } from './heartbeat-lane.ts';
import { graceOnlineHosts, sweepSilentHosts, syncConfiguredHosts } from './hosts.ts';
import { failInterruptedOperations, pruneOperations } from './operations.ts';
import { batchScheduler, startSchedulerAllocation, type SchedulerAllocation } from './scheduler/index.ts';
import { startMasterServer } from './server.ts';
import { tokenRegistry } from './tokens.ts';
import { servedCertificate } from './tls-files.ts';
import { createServices, type MasterServices, type Timing } from './services.ts';

export interface SfmdOptions {
  home?: string;
  configPath?: string;
  /** Overrides master_listen_port (0 = any free port). */
  port?: number;
  listen?: string;
  allocator?: string;
  timing?: Partial<Timing>;
  log?: Logger;
}

export interface RunningSfmd {
  port: number;
  /** The SHA-256 fingerprint of the certificate it serves; null when it serves plain HTTP (`tls = False`). */
  fingerprint: string | null;
  adminToken: string;
  adminTokenCreated: boolean;
  svc: MasterServices;
  stop(): Promise<void>;
}

export async function startSfmd(options: SfmdOptions = {}): Promise<RunningSfmd> {
  const paths = snowflockPaths(options.home);
  ensureDirs(paths);
  const log = options.log ?? createLogger('sfmd');
  const config = await loadSfmdConfig(options.configPath ?? paths.sfmdConfig);
  const db = await openDatabase(paths.database);
  const reads = await openReadOnlyDatabase(paths.database);
  const svc = createServices({
    db,
    reads,
    log,
    config,
    allocator: getAllocator(options.allocator ?? config.allocator ?? 'default'),
    ...(options.timing ? { timing: options.timing } : {}),
    operationArchive: path.join(paths.home, 'archive'),
  });
  const sync = await syncConfiguredHosts(svc, paths);
  await graceOnlineHosts(svc);
  await failInterruptedOperations(svc);
  await pruneOperations(svc);
  // With a batch scheduler in charge, its queue and the tickets are reconciled before anyone can ask for more.
  let scheduling: SchedulerAllocation | null = null;
  const allocatorName = svc.allocator.name;
  if (allocatorName === 'slurm' || allocatorName === 'sge') {
    const settings = config.scheduler ?? DEFAULT_SCHEDULER_SETTINGS;
    scheduling = await startSchedulerAllocation(svc, batchScheduler(allocatorName, settings), settings, paths.home);
  }
  const { token, created } = ensureAdminToken(paths.adminToken);
  await tokenRegistry(svc).adoptAdminToken(token, created);
  const certificate = servedCertificate(config.tls, paths);
  if (!certificate) {
    log.warn(
      'sfmd.cfg has tls = False: the admin token, host secrets and all API traffic cross the network in clear; ' +
        'remove the line to serve HTTPS (sflds then need master_tls = True, the default)',
    );
  }
  const server = await startMasterServer(
    svc,
    options.port ?? config.masterListenPort,
    options.listen ?? process.env.SNOWFLOCK_LISTEN ?? '0.0.0.0',
    certificate,
  );
  const address = server.server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  // sfmd's own stalls are noted as they happen, so that they never count as a host's silence.
  const lane = heartbeatLane(svc);
  lane.watchLoop();
  let sweeping = false;
  const sweeper = setInterval(() => {
    if (sweeping) return;
    sweeping = true;
    sweepSilentHosts(svc)
      .catch((err: unknown) => log.error({ err }, 'host sweep failed'))
      .finally(() => {
        sweeping = false;
      });
  }, svc.timing.heartbeatMs);

  log.info(
    {
      port,
      home: paths.home,
      allocator: allocatorName,
      hosts: config.clusterHosts.length,
      newHosts: sync.created,
      secretsWritten: sync.secretsWritten,
      tls: certificate ? certificate.origin : 'off',
      fingerprint: certificate?.fingerprint ?? null,
    },
    // One message whatever the transport (log searches find it); the fields say which, and the fingerprint.
    'sfmd started',
  );
  return {
    port,
    fingerprint: certificate?.fingerprint ?? null,
    adminToken: token,
    adminTokenCreated: created,
    svc,
    async stop() {
      clearInterval(sweeper);
      scheduling?.stop();
      lane.stopWatching();
      await server.close();
      await reads.$disconnect();
      await db.$disconnect();
      log.info('sfmd stopped');
    },
  };
}
