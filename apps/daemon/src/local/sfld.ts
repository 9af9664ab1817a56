// Starts sfld in this process: reads sfld.cfg and this host's secret, connects to sfmd's /hosts
// namespace, registers the host (cpus, RAM, KVM, userfaultfd), then sends a heartbeat and metrics
// every second. socket.io reconnects by itself; every (re)connect registers again.
import http from 'node:http';
import { io, type Socket } from 'socket.io-client';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { allowShmemHugePages, hostCapabilities, sweepOverlays } from '@snowflock/native';
import { loadSfldConfig, type SfldConfig } from '../common/config/index.ts';
import { HOSTS_NAMESPACE, type HostRegistration, type SfldToSfmdEvents, type SfmdToSfldEvents } from '../common/events.ts';
import { createLogger, type Logger } from '../common/logger.ts';
import { ensureDirs, hostSecretPath, snowflockPaths } from '../common/paths.ts';
import { SNOWFLOCK_VERSION } from '../common/version.ts';
import { readSecretFile } from '../common/secret-file.ts';
import { hostIdentity } from './host-identity.ts';
import { DescriptorShelf } from './descriptor-shelf.ts';
import { DomainManager } from './domain-manager.ts';
import { guestCallLimits, newGuestCallCounts } from './guest-call-limit.ts';
import { GuestApi } from './net/guest-api.ts';
import { MetricsSampler } from './metrics.ts';
import { startDomainFigures } from './domain-figures.ts';
import { createSfmdClient } from '../common/sfmd-client.ts';
import { sfmdSocketOptions, sfmdTransport, socketCause } from '../common/pinned-tls.ts';
import { resolveTrust, sfmdScheme } from '../common/sfmd-trust.ts';
import { fail, ok, SfError, type Result } from '../common/errors.ts';
import { parseHostCommand as parseCommand } from '../common/wire.ts';
import { ClusterNetworks } from './net/cluster-network.ts';
import { cachedExposition, type CachedReading, type MetricsAnswer } from '../common/prometheus.ts';
import { sfldMetrics } from './prometheus-metrics.ts';
import { netCommands } from './net/ip-commands.ts';

export interface SfldOptions {
  home?: string;
  configPath?: string;
  secretFile?: string;
  /** Overrides local_listen_port (0 = any free port). */
  localPort?: number;
  log?: Logger;
}

export interface RunningSfld {
  config: SfldConfig;
  localPort: number;
  isRegistered(): boolean;
  /**
   * TEST ONLY: sends no heartbeat or metrics for `ms` (the connection, commands and VMs go on), as a
   * stalled machine would look to sfmd. Returns when the beats resume.
   */
  stallHeartbeatsForTest(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** sfld's /metrics: the text format, or why not (off in sfld.cfg, or sfld still starting). */
function serveMetrics(res: http.ServerResponse, metrics: CachedReading<MetricsAnswer> | 'off' | null): void {
  const refuse = (status: number, error: string) => {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ ok: false, error }));
  };
  if (metrics === 'off') {
    refuse(404, "/metrics is off on this sfld: set metrics = 'open' in sfld.cfg and restart it");
  } else if (!metrics) {
    refuse(503, 'sfld is starting: its metrics are not ready yet, retry in a second');
  } else {
    metrics.get().then(
      ({ contentType, text }) => {
        res.writeHead(200, { 'content-type': contentType });
        res.end(text);
      },
      (err: unknown) => refuse(500, `the metrics could not be read: ${err instanceof Error ? err.message : String(err)}`),
    );
  }
}

function describeHost(localListenPort: number): HostRegistration {
  const caps = hostCapabilities();
  return {
    version: SNOWFLOCK_VERSION,
    cpus: caps.cpus,
    ramBytes: caps.ramBytes,
    kernelRelease: caps.kernelRelease,
    kvm: { available: caps.kvm.available, apiVersion: caps.kvm.apiVersion, error: caps.kvm.error },
    userfaultfd: { available: caps.userfaultfd.available, features: caps.userfaultfd.features, error: caps.userfaultfd.error },
    localListenPort,
    pid: process.pid,
    domains: [],
    ended: [],
  };
}

export async function startSfld(options: SfldOptions = {}): Promise<RunningSfld> {
  const paths = snowflockPaths(options.home);
  ensureDirs(paths);
  const log = options.log ?? createLogger('sfld');
  const configured = await loadSfldConfig(options.configPath ?? paths.sfldConfig);
  // The name sfmd knows this host by: sfld.cfg's hostname, or the cluster_hosts entry it resolves to (seed §11).
  const hostname = options.secretFile ? configured.hostname : await hostIdentity(configured.hostname, paths);
  const config = { ...configured, hostname };
  if (hostname !== configured.hostname)
    log.info({ configured: configured.hostname, host: hostname }, 'hostname matched a cluster_hosts entry by address');
  const secretFile = options.secretFile ?? hostSecretPath(paths, config.hostname);
  const secret = process.env.SNOWFLOCK_HOST_SECRET ?? readSecretFile(secretFile);
  if (!secret) {
    throw new SfError(
      'BAD_CONFIG',
      `no secret for host '${config.hostname}' at ${secretFile}: sfmd writes it there when ` +
        `the host is listed in sfmd.cfg cluster_hosts; copy it to this host (or pass --secret-file)`,
    );
  }

  // Guest RAM asks for shmem huge pages: with them a fork's pause stays flat in memory size.
  const huge = allowShmemHugePages();
  if (huge.changed) log.info({ mode: huge.mode }, 'shmem huge pages allowed for mappings that ask (guest RAM)');
  else if (!huge.usable) log.warn({ mode: huge.mode, error: huge.error }, 'guest RAM gets no huge pages: forks of large VMs pause longer');

  const masterUrl = `${sfmdScheme(config.masterTls)}://${config.masterHost}:${config.masterPort}`;
  // One pinned transport for the hub link and every VM's calls; the pin is read again for each new connection.
  const transport = sfmdTransport(masterUrl, () => resolveTrust(paths, config));
  // Set once the domain manager exists: the host's guest call counters, hypercalls and network calls alike.
  let domainFigures: DomainManager | null = null;
  const guestApiCounts = newGuestCallCounts();

  // The cluster networks of an earlier run (killed, crashed) go before anything new is built.
  let networks: ClusterNetworks | null = null;
  let guestApi: GuestApi | null = null;
  if (config.clusterNetwork && process.getuid?.() !== 0) {
    log.warn('sfld is not root: VMs get no network (cluster_network needs root; set cluster_network = False to say so)');
  } else if (config.clusterNetwork) {
    if (config.guestApiPort > 0) {
      guestApi = new GuestApi({
        port: config.guestApiPort,
        clientFor: (domain) => ({
          client: createSfmdClient({
            url: masterUrl,
            host: { name: config.hostname, secret },
            domain: `${domain.clusterid}:${domain.vmid}`,
            viaClusterNetwork: true,
            fetch: transport.fetch,
          }),
          url: masterUrl,
        }),
        log,
        limits: guestCallLimits(config.guestCallRate),
        counts: () => domainFigures?.guestCalls ?? guestApiCounts,
      });
    }
    networks = new ClusterNetworks(netCommands(), log, { outsideInterface: config.outsideInterface, guestApi });
    await networks.start();
  }

  // VMs' disk overlays live here, one folder per host name (test hosts may share a home). They are unnamed
  // files that vanish with their VM; only where O_TMPFILE is missing can a killed sfld leave any: swept now.
  const overlayDir = path.join(paths.home, 'overlays', config.hostname);
  mkdirSync(overlayDir, { recursive: true, mode: 0o700 });
  const swept = sweepOverlays(overlayDir);
  if (swept > 0) log.info({ overlayDir, swept }, 'overlays left by an earlier sfld removed');

  let registered = false;
  const sampler = new MetricsSampler();
  const shelf = new DescriptorShelf();
  // Set once the domain manager exists, unless sfld.cfg turned /metrics off.
  let metrics: CachedReading<MetricsAnswer> | null = null;
  const local = http.createServer((req, res) => {
    if (shelf.handle(req, res)) return;
    if (req.url === '/metrics' || req.url?.startsWith('/metrics?')) {
      serveMetrics(res, config.metrics === 'off' ? 'off' : metrics);
      return;
    }
    res.writeHead(req.url === '/healthz' ? 200 : 404, { 'content-type': 'application/json' });
    res.end(
      JSON.stringify(
        req.url === '/healthz'
          ? {
              ok: true,
              host: config.hostname,
              registered,
              version: SNOWFLOCK_VERSION,
              startNonce: process.env.SNOWFLOCK_START_NONCE,
              shells: domainFigures?.shellCount ?? 0,
              memservers: domainFigures?.memserverCount ?? 0,
              guestCalls: domainFigures?.guestCalls ?? null,
              guestApi: guestApi ? { port: guestApi.port, clusters: guestApi.clusters() } : null,
            }
          : { ok: false, error: 'sfld serves /healthz, /metrics and /handoffs/<key> (with its token)' },
      ),
    );
  });
  await new Promise<void>((resolve, reject) => {
    local.once('error', reject);
    local.listen(options.localPort ?? config.localListenPort, () => resolve());
  });
  const address = local.address();
  const localPort = typeof address === 'object' && address ? address.port : 0;
  const registration = describeHost(localPort);

  const url = `${masterUrl}${HOSTS_NAMESPACE}`;
  if (!config.masterTls) log.warn({ master: masterUrl }, 'sfld.cfg has master_tls = False: this host secret crosses the network in clear');
  const socket: Socket<SfmdToSfldEvents, SfldToSfmdEvents> = io(url, {
    auth: { host: config.hostname, secret },
    ...sfmdSocketOptions(masterUrl, transport.agent ? () => resolveTrust(paths, config) : null),
    transports: ['websocket'],
    reconnectionDelay: 250,
    reconnectionDelayMax: 1000, // sfmd gives a restarted host a few seconds: come back well within them
  });

  const domains = new DomainManager(
    log,
    {
      clientFor: (domain) => ({
        client: createSfmdClient({
          url: masterUrl,
          host: { name: config.hostname, secret },
          domain: `${domain.clusterid}:${domain.vmid}`,
          fetch: transport.fetch,
        }),
        url: masterUrl,
      }),
      reportState: (report) => socket.emit('domain:state', report),
      console: (chunk) => socket.emit('domain:console', chunk),
      shelf,
      networks,
      overlayDir,
      pageMtu: config.pageMtu,
      pageLivenessMs: config.pageLivenessMs,
    },
    guestCallLimits(config.guestCallRate),
  );
  domainFigures = domains;
  if (config.metrics === 'open') metrics = cachedExposition(sfldMetrics(config.hostname, domains));
  // What sfmd is told on every (re)registration: the host, the VMs it runs now and how recent ones ended.
  const currentRegistration = (): HostRegistration => ({ ...registration, domains: domains.addresses(), ended: domains.endings() });
  socket.on('connect', () => {
    socket.timeout(10_000).emit('host:register', currentRegistration(), (err: Error | null, result) => {
      if (err) {
        log.warn({ err: err.message }, 'registration not answered; retrying on reconnect');
        socket.disconnect().connect();
        return;
      }
      if (!result.ok) {
        log.error({ error: result.error }, 'sfmd refused registration');
        return;
      }
      registered = true;
      refusedCertificate = null;
      log.info({ host: config.hostname, master: url }, 'registered with sfmd');
    });
  });
  socket.on('disconnect', (reason) => {
    registered = false;
    log.warn({ reason }, 'lost sfmd connection; reconnecting');
  });
  let stopping = false;
  let refusedCertificate: string | null = null;
  socket.on('connect_error', (err: Error & { data?: { code?: unknown; retryAfterS?: unknown } }) => {
    // sfmd's certificate is not the pinned one: said once at error level (each retry would repeat it), then retried
    // quietly, since a fixed sfld.cfg pin or fingerprint file is read again on the next try.
    const untrustedCertificate = socketCause(err);
    if (untrustedCertificate) {
      if (untrustedCertificate.message !== refusedCertificate) log.error({ master: url }, untrustedCertificate.message);
      refusedCertificate = untrustedCertificate.message;
      return;
    }
    log.warn({ err: err.message, master: url }, 'cannot reach sfmd; retrying');
    // sfmd refused /hosts for its rate limits: socket.io takes any refusal there as final, so come back when told.
    if (err.data?.code !== 'RATE_LIMITED') return;
    const ms = 1000 * Math.min(60, Math.max(1, Number(err.data.retryAfterS) || 1));
    setTimeout(() => {
      if (!stopping && !socket.connected) socket.connect();
    }, ms).unref();
  });
  socket.on('host:ping', (_ping, ack) => ack({ ok: true, value: { receivedAt: Date.now() } }));

  // Commands from sfmd: each answers with a Result, whatever happens. sfmd is trusted, but a bug there
  // must not become a crash here: check what commands carry (a malformed one is refused with BAD_INPUT).
  const answer = <T>(ack: (r: Result<T>) => void, work: () => T | Promise<T>) => {
    if (typeof ack !== 'function') return;
    Promise.resolve()
      .then(work)
      .then(
        (value) => ack(ok(value)),
        (err: unknown) => ack(fail(err, (leaked) => log.error({ err: leaked }, 'command from sfmd failed'), 'sfld')),
      );
  };
  socket.on('domain:boot', (spec, ack) => answer(ack, () => domains.boot(parseCommand('domain:boot', spec))));
  socket.on('domain:fork', (spec, ack) => answer(ack, () => domains.fork(parseCommand('domain:fork', spec))));
  socket.on('domain:clone-remote', (spec, ack) => answer(ack, () => domains.cloneRemote(parseCommand('domain:clone-remote', spec))));
  socket.on('domain:destroy', (address, ack) => answer(ack, () => domains.destroy(parseCommand('domain:destroy', address))));
  socket.on('domain:input', (input, ack) =>
    answer(ack, () => {
      const { data, ...address } = parseCommand('domain:input', input);
      return domains.input(address, data);
    }),
  );
  // sfmd declared this host offline (it heard no heartbeat in time) while we stayed connected: it asks
  // for the registration again to take the host back and reconcile its VMs.
  socket.on('host:reregister', (request, ack) =>
    answer(ack, () => {
      const { reason } = parseCommand('host:reregister', request);
      log.warn({ reason, domains: domains.running }, 'sfmd asked this host to re-register');
      return currentRegistration();
    }),
  );
  socket.on('host:inventory', (request, ack) =>
    answer(ack, () => {
      parseCommand('host:inventory', request);
      return { domains: domains.inventory(), ended: domains.endings() };
    }),
  );
  socket.on('domain:console-replay', (address, ack) => answer(ack, () => domains.replay(parseCommand('domain:console-replay', address))));
  socket.on('cluster:peers', (peers, ack) =>
    answer(ack, () => {
      const { clusterid, hosts, vms } = parseCommand('cluster:peers', peers);
      return domains.clusterPeers(clusterid, hosts, vms);
    }),
  );
  socket.on('ticket:ended', (ended, ack) => answer(ack, () => domains.ticketEnded(parseCommand('ticket:ended', ended).ticket)));
  socket.on('ticket:shells', (spec, ack) => answer(ack, () => domains.prepareShells(parseCommand('ticket:shells', spec))));
  socket.on('fork:release', (release, ack) =>
    answer(ack, () => {
      const { clusterid, ticket } = parseCommand('fork:release', release);
      return domains.releaseFork(clusterid, ticket);
    }),
  );

  let seq = 0;
  let stalledUntil = 0;
  const ticker = setInterval(() => {
    if (!registered || Date.now() < stalledUntil) return;
    socket.emit('host:heartbeat', { seq: ++seq, sentAt: Date.now() });
    socket.emit('host:metrics', sampler.sample(domains.running, domains.guestCalls));
  }, 1000);
  startDomainFigures(socket, domains, () => registered, log);

  log.info({ host: config.hostname, localPort, kvm: registration.kvm.available }, 'sfld started');
  return {
    config,
    localPort,
    isRegistered: () => registered,
    async stallHeartbeatsForTest(ms) {
      log.warn({ ms }, 'TEST HOOK: heartbeats stalled on purpose');
      stalledUntil = Date.now() + ms;
      await new Promise((resolve) => setTimeout(resolve, ms));
    },
    async stop() {
      stopping = true;
      clearInterval(ticker);
      await domains.destroyAll();
      await guestApi?.stop();
      socket.close();
      await new Promise<void>((resolve) => local.close(() => resolve()));
      log.info('sfld stopped');
    },
  };
}
