// Starts sfmd in this process: migrates the database, syncs hosts from sfmd.cfg, makes the admin
// token on first start, serves the API and sweeps silent hosts. Returns a handle to stop it cleanly.
import { openDatabase, openReadOnlyDatabase } from '@snowflock/db';
import { loadSfmdConfig } from '../common/config/index.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { ensureDirs, snowflockPaths } from '../common/paths.ts';
import { getAllocator } from './allocator/index.ts';
import { ensureAdminToken } from './auth.ts';
import { heartbeatLane } from './heartbeat-lane.ts';
import { graceOnlineHosts, sweepSilentHosts, syncConfiguredHosts } from './hosts.ts';
import { failInterruptedOperations, pruneOperations } from './operations.ts';
import { startMasterServer } from './server.ts';
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
    allocator: getAllocator(options.allocator ?? 'default'),
    ...(options.timing ? { timing: options.timing } : {}),
  });
  const sync = await syncConfiguredHosts(svc, paths);
  await graceOnlineHosts(svc);
  await failInterruptedOperations(svc);
  await pruneOperations(svc);
  const { token, created } = ensureAdminToken(paths.adminToken);
  const server = await startMasterServer(
    svc,
    token,
    options.port ?? config.masterListenPort,
    options.listen ?? process.env.SNOWFLOCK_LISTEN ?? '0.0.0.0',
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
    { port, home: paths.home, hosts: config.clusterHosts.length, newHosts: sync.created, secretsWritten: sync.secretsWritten },
    'sfmd started',
  );
  return {
    port,
    adminToken: token,
    adminTokenCreated: created,
    svc,
    async stop() {
      clearInterval(sweeper);
      lane.stopWatching();
      await server.close();
      await reads.$disconnect();
      await db.$disconnect();
      log.info('sfmd stopped');
    },
  };
}
