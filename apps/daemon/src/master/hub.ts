// sfmd's socket.io hub: sflds connect to /hosts (per-host secret) to register and send heartbeats
// and metrics; dashboards connect to /dash (an API token) and receive live events and consoles. Both
// pass socket-limits.ts: handshakes and events are rate-limited, failed credentials strictly. A dashboard's
// feed ends the moment its token is revoked or expires; console input needs an operate token, checked per event.
import type { Server as HttpServer } from 'node:http';
import { Server, type Namespace } from 'socket.io';
import { fail, forClient, isWellFormedText, SfError } from '../common/errors.ts';
import {
  DASHBOARD_NAMESPACE,
  HOSTS_NAMESPACE,
  type DashboardToSfmdEvents,
  type SfldToSfmdEvents,
  type SfmdToDashboardEvents,
  type SfmdToSfldEvents,
} from '../common/events.ts';
import { domainStateReportSchema, heartbeatSchema, hostMetricsSchema, hostRegistrationSchema, parseWire } from '../common/wire.ts';
import { recordHeartbeat, recordMetrics, registerHost } from './hosts.ts';
import type { MasterServices } from './services.ts';
import { applyStateReport } from './state-reports.ts';
import { ConsoleRelay } from './console-relay.ts';
import { SocketHostLinks } from './host-links.ts';
import { attachFigureRelay } from './dashboard-figures.ts';
import { metricHistory } from './dashboard-metric-history.ts';
import { MetricsCoalescer } from './metrics-coalescer.ts';
import { releaseForksAsClonesEnd } from './fork-release.ts';
import type { EdgeLimits } from './edge-limits.ts';
import { rateOf } from './rate-limits.ts';
import { handshakeError, limitSocketEvents, SOCKET_CONNECT_TIMEOUT_MS, SocketGate } from './socket-limits.ts';
import { roleAtLeast, type TokenIdentity } from './tokens.ts';
import type { TokenRole } from './store/states.ts';

/** What an sfld's socket sends that is never dropped for its rate: registrations, heartbeats, fork pause/resume. */
const ESSENTIAL_HOST_EVENTS: ReadonlySet<string> = new Set(['host:register', 'host:heartbeat', 'domain:state']);

/** The longest a timer may wait (setTimeout's bound); a token expiring later is checked again then. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export function attachHub(httpServer: HttpServer, svc: MasterServices, limits: EdgeLimits): Server {
  const gate = new SocketGate(limits);
  const io = new Server(httpServer, {
    serveClient: false,
    maxHttpBufferSize: 1 << 20,
    cors: { origin: false },
    connectTimeout: SOCKET_CONNECT_TIMEOUT_MS,
    allowRequest: gate.allowRequest,
  });
  io.engine.on('connection', (conn: Parameters<SocketGate['track']>[0]) => gate.track(conn));
  // The default namespace serves nobody: refuse it so stray clients learn quickly.
  io.of('/').use((_socket, next) => next(new Error('connect to /hosts (sfld) or /dash (dashboard)')));

  const links = svc.links instanceof SocketHostLinks ? svc.links : new SocketHostLinks();
  const dash = io.of(DASHBOARD_NAMESPACE) as unknown as Namespace<
    DashboardToSfmdEvents,
    SfmdToDashboardEvents,
    Record<string, never>,
    { token: TokenIdentity }
  >;
  const consoles = new ConsoleRelay(svc, dash);
  const figures = attachFigureRelay(svc, (e) => dash.emit('domain:figures', e));
  const hosts = io.of(HOSTS_NAMESPACE) as unknown as Namespace<SfldToSfmdEvents, SfmdToSfldEvents, Record<string, never>, { host: string }>;
  hosts.use(async (socket, next) => {
    const limited = gate.beforeCredentials(socket);
    if (limited) return next(limited);
    const auth = socket.handshake.auth as { host?: unknown; secret?: unknown };
    try {
      if (typeof auth.host !== 'string' || typeof auth.secret !== 'string') {
        throw new SfError('UNAUTHORIZED', 'sfld must send {host, secret} when it connects');
      }
      for (const [field, value] of Object.entries({ host: auth.host, secret: auth.secret })) {
        if (!isWellFormedText(value) || value.length > 1024) {
          throw new SfError(
            'BAD_INPUT',
            `${field} is not well-formed Unicode of at most 1024 characters: send the name and secret sfmd made`,
          );
        }
      }
      const host = await limits.hosts.authenticate(auth.host, auth.secret);
      socket.data.host = host.name;
      next();
    } catch (err) {
      const { error, leaked } = forClient(err);
      if (leaked) svc.log.error({ err }, 'sfld handshake failed');
      else gate.failedCredentials(socket);
      next(handshakeError(error.code, error.message));
    }
  });
  hosts.on('connection', (socket) => {
    const name = socket.data.host;
    gate.accepted(socket.conn);
    limitSocketEvents(socket, rateOf(limits.settings.hostEvents), {
      who: { host: name },
      keep: ESSENTIAL_HOST_EVENTS,
      log: svc.log,
      setting: 'host_events',
    });
    svc.log.info({ host: name }, 'sfld connected');
    // One host's registrations and reports are applied in the order it sent them: a fork's pause and
    // resume arrive a millisecond apart, and applied concurrently the pause could land last and stick;
    // a report sent after a registration's VM list must land on the record that list reconciled.
    let inOrder: Promise<unknown> = Promise.resolve();
    const serially = <T>(work: () => Promise<T>): Promise<T> => {
      const done = inOrder.then(work);
      inOrder = done.catch(() => undefined);
      return done;
    };
    socket.on('host:register', (info, ack) => {
      if (typeof ack !== 'function') return;
      serially(() => registerHost(svc, name, parseWire(hostRegistrationSchema, info, `registration from ${name}`))).then(
        (reply) => ack({ ok: true, value: reply }),
        (err: unknown) => ack(fail(err, (leaked) => svc.log.error({ err: leaked, host: name }, 'registration failed'))),
      );
    });
    // A heartbeat from a host declared offline is evidence that it lives (a stall, not a death): ask its
    // sfld for its registration (the VMs it runs now) and take the host back. One request at a time.
    let reregistering = false;
    socket.on('host:heartbeat', (beat) => {
      const parsed = heartbeatSchema.safeParse(beat);
      recordHeartbeat(svc, name, parsed.success ? parsed.data : undefined)
        .then(async (evidence) => {
          if (!evidence || reregistering) return;
          reregistering = true;
          try {
            svc.log.warn({ host: name, evidence }, 'heartbeat from a host declared offline: asking its sfld to re-register');
            const reason = `sfmd declared ${name} offline after ${evidence.silentMs ?? '?'} ms without a heartbeat; heartbeat ${evidence.seq ?? '?'} shows it alive`;
            const info = await svc.links.command(name, 'host:reregister', { reason }, 10_000);
            await serially(() => registerHost(svc, name, info, evidence));
          } finally {
            reregistering = false;
          }
        })
        .catch((err: unknown) => svc.log.error({ err, host: name }, 'heartbeat not recorded or host not taken back'));
    });
    socket.on('host:metrics', (metrics) => {
      const parsed = hostMetricsSchema.safeParse(metrics);
      if (parsed.success) recordMetrics(svc, name, parsed.data);
      else svc.log.warn({ host: name }, 'dropped malformed metrics');
    });
    socket.on('domain:state', (report) => {
      const parsed = domainStateReportSchema.safeParse(report);
      if (!parsed.success) return void svc.log.warn({ host: name }, 'dropped malformed domain state');
      serially(() => applyStateReport(svc, name, parsed.data)).catch((err: unknown) =>
        svc.log.error({ err, host: name }, 'domain state not applied'),
      );
    });
    socket.on('domain:console', (chunk) => consoles.fromHost(name, chunk));
    socket.on('domain:figures', (batch) => figures.fromHost(name, batch));
    links.attach(name, socket);
    socket.on('disconnect', (reason) => {
      links.detach(name, socket);
      svc.log.info({ host: name, reason }, 'sfld disconnected');
    });
  });

  dash.use(async (socket, next) => {
    const limited = gate.beforeCredentials(socket);
    if (limited) return next(limited);
    const token = (socket.handshake.auth as { token?: unknown }).token;
    const check = typeof token === 'string' && token.length <= 1024 ? await limits.tokens.check(token) : { reason: 'no token was sent' };
    if ('token' in check) {
      socket.data.token = check.token;
      return next();
    }
    gate.failedCredentials(socket);
    next(handshakeError('UNAUTHORIZED', `the dashboard feed needs an API token (${check.reason})`));
  });
  type DashSocket = Parameters<Parameters<typeof dash.on<'connection'>>[1]>[0];
  /** Tells the dashboard why, then closes its feed (it does not reconnect by itself after this). */
  const endSession = (socket: DashSocket, reason: string) => {
    socket.emit('session:ended', { reason: `${reason}: sign in again with a valid token` });
    socket.disconnect(true);
  };
  limits.tokens.onRevoked((name) => {
    for (const socket of dash.sockets.values()) {
      if (socket.data.token.name === name) endSession(socket, `token '${name}' was revoked`);
    }
  });
  dash.on('connection', (socket) => {
    gate.accepted(socket.conn);
    limitSocketEvents(socket, rateOf(limits.settings.dashEvents), {
      who: { dashboard: socket.handshake.address },
      log: svc.log,
      setting: 'dash_events',
    });
    const { id, expiresAt } = socket.data.token;
    let expiry: NodeJS.Timeout | null = null;
    const watchExpiry = () => {
      if (!expiresAt) return;
      const left = expiresAt.getTime() - Date.now();
      expiry = setTimeout(
        () => (left > MAX_TIMER_MS ? watchExpiry() : endSession(socket, `token '${socket.data.token.name}' expired`)),
        Math.max(0, Math.min(left, MAX_TIMER_MS)),
      );
    };
    watchExpiry();
    socket.on('disconnect', () => {
      if (expiry) clearTimeout(expiry);
    });
    // Each console event checks the token as it is now and the role that event needs.
    consoles.serve(socket, (needed: TokenRole) => {
      const now = limits.tokens.stillValid(id);
      if ('reason' in now) throw new SfError('UNAUTHORIZED', `${now.reason}: sign in again with a valid token`);
      if (!roleAtLeast(now.token.role, needed)) {
        throw new SfError(
          'FORBIDDEN',
          `console input needs a token with role ${needed} or above; token '${now.token.name}' has role ${now.token.role}`,
        );
      }
    });
  });
  svc.events.on('host:metrics', new MetricsCoalescer((batch) => dash.emit('host:metrics-batch', batch)).push);
  svc.events.on('host:state', (e) => dash.emit('host:state', e));
  svc.events.on('domain:state', (e) => dash.emit('domain:state', e));
  svc.events.on('operation:progress', (e) => dash.emit('operation:progress', e));
  // A fork's memserver (on its master's host) goes with the last of its clones on other hosts.
  releaseForksAsClonesEnd(svc);
  // Charts of the last minutes are ready for a dashboard that connects later.
  metricHistory(svc);
  return io;
}
