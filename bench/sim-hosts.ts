// Simulated sflds for bench/scale: real socket.io clients on /hosts, each from its own loopback address with
// its host's real secret, registering, sending heartbeats and metrics every second (random phase) and
// answering sfmd's commands after a plausible delay. Only the VMs are simulated. Run as a child process:
//   node --import tsx bench/sim-hosts.ts URL SFMD_HOME NAME... ; it tells its parent (IPC) when all registered.
import { readFileSync } from 'node:fs';
import { io, type Socket } from 'socket.io-client';
import { HOSTS_NAMESPACE } from '../apps/daemon/src/common/events.ts';
import { hostSecretPath, snowflockPaths } from '../apps/daemon/src/common/paths.ts';
import { sfmdSocketOptions } from '../apps/daemon/src/common/pinned-tls.ts';
import { homeTrust } from '../apps/daemon/src/common/sfmd-trust.ts';
import type { DomainStateReport, HostRegistration } from '../apps/daemon/src/common/wire.ts';

/** What each command costs a real sfld, roughly (ms): booting a flat guest, tearing one down, the rest. */
const DELAY_MS: Record<string, number> = { 'domain:boot': 4, 'domain:destroy': 2, 'domain:fork': 5, 'domain:clone-remote': 5 };
const CPUS = 16;
const RAM = 64 * 2 ** 30;

interface SimHost {
  name: string;
  socket: Socket;
  running: Map<string, { clusterid: number; vmid: number }>;
  registered: boolean;
}

const [url, home, ...names] = process.argv.slice(2);
if (!url || !home || names.length === 0) {
  console.error('usage: sim-hosts.ts URL SFMD_HOME HOSTNAME...');
  process.exit(2);
}
const paths = snowflockPaths(home);
// Pinned to sfmd's certificate as a real sfld is (sfld.cfg master_fingerprint; here sfmd's own home has it).
const tlsOptions = sfmdSocketOptions(url, () => homeTrust(paths));

const started = Date.now();
let registered = 0;
let commands = 0;
let samplesSent = 0;
const send = (m: unknown) => process.send?.(m);

function registration(host: SimHost): HostRegistration {
  return {
    version: 'sim',
    cpus: CPUS,
    ramBytes: RAM,
    kernelRelease: 'sim',
    kvm: { available: true, apiVersion: 12, error: null },
    userfaultfd: { available: true, features: [], error: null },
    localListenPort: 0,
    pid: process.pid,
    domains: [...host.running.values()],
    ended: [],
  };
}

function report(host: SimHost, address: { clusterid: number; vmid: number }, state: DomainStateReport['state']) {
  host.socket.emit('domain:state', { ...address, state, exitCode: state === 'running' ? null : 0, reason: null });
}

/** The value a real sfld would answer each command with (only what sfmd reads back). */
function answerFor(host: SimHost, command: string, payload: Record<string, unknown>): unknown {
  const key = `${payload.clusterid}:${payload.vmid}`;
  switch (command) {
    case 'domain:boot':
      host.running.set(key, { clusterid: payload.clusterid as number, vmid: payload.vmid as number });
      setImmediate(() => report(host, { clusterid: payload.clusterid as number, vmid: payload.vmid as number }, 'running'));
      return { state: 'running' };
    case 'domain:destroy':
      if (host.running.delete(key))
        setImmediate(() => report(host, { clusterid: payload.clusterid as number, vmid: payload.vmid as number }, 'stopped'));
      return { state: 'stopped' };
    case 'host:ping':
      return { receivedAt: Date.now() };
    case 'host:reregister':
      return registration(host);
    case 'host:inventory':
      return { domains: [...host.running.values()].map((d) => ({ ...d, state: 'running' })), ended: [] };
    case 'ticket:ended':
      return { released: 0 };
    case 'fork:release':
      return { stopped: 0 };
    case 'cluster:peers':
      return { peers: Array.isArray(payload.hosts) ? payload.hosts.length : 0 };
    case 'domain:input':
      return { accepted: 0 };
    case 'domain:console-replay':
      return { data: '' };
    default:
      return null;
  }
}

function connect(name: string): SimHost {
  const secret = readFileSync(hostSecretPath(paths, name), 'utf8').trim();
  const socket = io(`${url}${HOSTS_NAMESPACE}`, {
    auth: { host: name, secret },
    transports: ['websocket'],
    ...tlsOptions,
    localAddress: name, // each host its own address, as on a real site (sfmd limits handshakes per address)
    reconnectionDelay: 250,
    reconnectionDelayMax: 1000,
  } as Parameters<typeof io>[1]);
  const host: SimHost = { name, socket, running: new Map(), registered: false };
  socket.on('connect', () => {
    socket.timeout(30_000).emit('host:register', registration(host), (err: Error | null, result: { ok: boolean }) => {
      if (err || !result.ok) return void socket.disconnect().connect();
      if (!host.registered) {
        host.registered = true;
        registered++;
        if (registered === names.length) send({ kind: 'registered', ms: Date.now() - started });
      }
    });
  });
  socket.on('disconnect', () => {
    if (host.registered) registered--;
    host.registered = false;
  });
  socket.onAny((command: string, ...args: unknown[]) => {
    const ack = args[args.length - 1];
    if (typeof ack !== 'function') return;
    commands++;
    const payload = (args[0] ?? {}) as Record<string, unknown>;
    setTimeout(() => {
      const value = answerFor(host, command, payload);
      ack(
        value === null
          ? { ok: false, error: { code: 'BAD_INPUT', message: `the simulated sfld does not do ${command}` } }
          : { ok: true, value },
      );
    }, DELAY_MS[command] ?? 1);
  });
  return host;
}

const hosts = names.map(connect);
// Progress on long registrations (a thousand hosts on a loaded machine take a while), to stderr.
const progress = setInterval(() => {
  if (registered === names.length) return clearInterval(progress);
  console.error(`# sim-hosts: ${registered}/${names.length} registered after ${Math.round((Date.now() - started) / 1000)} s`);
}, 10_000);
let seq = 0;
const bootAt = Date.now();
// Every host beats once a second at its own phase: sfmd sees a steady stream, not a thundering herd.
for (const host of hosts) {
  setTimeout(
    () =>
      setInterval(() => {
        if (!host.registered) return;
        host.socket.emit('host:heartbeat', { seq: ++seq, sentAt: Date.now() });
        samplesSent++;
        host.socket.emit('host:metrics', {
          sampledAt: Date.now(),
          cpuUtilization: Math.random() * 0.5,
          load1: Math.random() * 4,
          memTotal: RAM,
          memAvailable: RAM * (0.5 + Math.random() * 0.4),
          domainsRunning: host.running.size,
          uptimeSeconds: (Date.now() - bootAt) / 1000,
        });
      }, 1000),
    Math.random() * 1000,
  );
}

process.on('message', (m: { kind?: string }) => {
  if (m.kind === 'stats') send({ kind: 'stats', registered, commands, samplesSent, cpu: process.cpuUsage() });
  if (m.kind === 'stop') {
    for (const h of hosts) h.socket.close();
    setTimeout(() => process.exit(0), 100);
  }
});
