// `node scripts/hosts.mjs up N | status | down | exec HOST -- CMD`: N Snowflock hosts on this machine, each an
// sfld in its own network namespace on a bridge, sfmd reachable from all; and the teardown of all of it.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import {
  HarnessError,
  MAX_HOSTS,
  bridgeAddress,
  bridgeName,
  cannotBuildNetwork,
  checkPrefix,
  createNetwork,
  destroyNetwork,
  listLinks,
  listNamespaces,
  namespaceAddress,
  outsideNamespace,
  outsideNames,
  parseSubnet,
  pickFreeSubnet,
  subnetUsers,
} from './hosts-net.mjs';

export { HarnessError, cannotBuildNetwork } from './hosts-net.mjs';

const root = path.resolve(import.meta.dirname, '..');
const SF = path.join(root, 'apps', 'daemon', 'bin', 'sf.mjs');
const STATE_FILE = 'hosts.json';
const SFLD_PORT = 0xc01f; // every sfld has its namespace's port space to itself: all use the classic port
const DEFAULT_SUBNET = '198.18.0.0/24';

export const defaultPrefix = () => process.env.SNOWFLOCK_HOSTS_PREFIX || 'sf';

/** The harness's own data directory: its sfmd.cfg lists the namespaced hosts, so it must not be the everyday one. */
export function defaultHome(prefix = defaultPrefix()) {
  if (process.env.SNOWFLOCK_HOSTS_HOME) return path.resolve(process.env.SNOWFLOCK_HOSTS_HOME);
  const base = process.env.SNOWFLOCK_HOME || path.join(os.homedir(), '.snowflock');
  // After `export SNOWFLOCK_HOME=…/hosts-sf` (what npm start -- --hosts suggests for the CLI) it is the harness's home.
  if (path.basename(path.resolve(base)) === `hosts-${prefix}`) return path.resolve(base);
  return path.resolve(base, `hosts-${prefix}`);
}

function where(opts = {}) {
  const prefix = checkPrefix(opts.prefix ?? defaultPrefix());
  return { prefix, home: path.resolve(opts.home ?? defaultHome(prefix)) };
}

const statePath = (home) => path.join(home, STATE_FILE);

function readState(home) {
  try {
    return JSON.parse(readFileSync(statePath(home), 'utf8'));
  } catch {
    return null;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

/** A pid from a pid file counts only while it is still a Snowflock process: pids get reused after a crash. */
function snowflockPid(pidFile) {
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0 || !alive(pid)) return null;
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('sf.mjs') ? pid : null;
  } catch {
    return null;
  }
}

function daemonPid(home, id) {
  const file = path.join(home, 'run', `${id}.pid`);
  return existsSync(file) ? snowflockPid(file) : null;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** Runs `sf ARGS --json` (inside a namespace when given) against the harness's data directory. */
function sfJson(home, args, netns = null) {
  const [cmd, argv] = netns
    ? ['ip', ['netns', 'exec', netns, process.execPath, SF, ...args, '--json']]
    : [process.execPath, [SF, ...args, '--json']];
  return new Promise((resolve, reject) => {
    execFile(cmd, argv, { env: { ...process.env, SNOWFLOCK_HOME: home }, timeout: 60_000, maxBuffer: 4 << 20 }, (error, stdout, stderr) => {
      let value = null;
      try {
        value = JSON.parse(stdout);
      } catch {
        /* not JSON: reported below */
      }
      if (error || !value || value.error) {
        const message = value?.error?.message ?? (stderr.trim() || stdout.trim() || error?.message);
        reject(new HarnessError(`sf ${args.join(' ')}${netns ? ` (in ${netns})` : ''} failed: ${message}`));
      } else resolve(value);
    });
  });
}

function sfmdConfig(port, hosts, cpus, ramGiB, networkMode, whitelist) {
  return `# sfmd.cfg of the multi-host harness (scripts/hosts.mjs): rewritten by every \`up\`.
# Hosts are named by their addresses: sfmd and the other hosts reach each sfld at NAME:${SFLD_PORT}.
master_listen_port = ${port}
cluster_hosts = [
${hosts.map((h) => `    {'host': '${h.address}', 'cpus': ${cpus}, 'RAM': ${ramGiB} << 30},   # h${h.index}, namespace ${h.netns}`).join('\n')}
]
clusterid = 1
network_mode = '${networkMode}'
${whitelist.length > 0 ? `network_whitelist = [${whitelist.map((a) => `'${a}'`).join(', ')}]   # the outside's test servers clusters may reach\n` : ''}`;
}

function sfldConfig(host, masterAddress, port) {
  return `# sfld.cfg of harness host h${host.index} (namespace ${host.netns}), written by scripts/hosts.mjs
hostname = '${host.address}'
master_host = '${masterAddress}'
master_port = ${port}
local_listen_port = ${SFLD_PORT}
`;
}

function positiveInt(value, what, max) {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new HarnessError(`${what} must be a whole number from 1 to ${max}, got '${value}'`, 2);
  return n;
}

/** The outside's test servers (HTTP on 80, echo on 7), left running in its namespace until `down` ends its processes. */
function startOutsideServers(netns, home) {
  const log = openSync(path.join(home, 'outside-servers.log'), 'a');
  const child = spawn('ip', ['netns', 'exec', netns, process.execPath, path.join(import.meta.dirname, 'outside-servers.mjs')], {
    detached: true,
    stdio: ['ignore', log, log],
  });
  child.unref();
}

/**
 * Brings up `count` hosts and sfmd; on any failure tears down what it made and throws.
 * opts: { count, prefix?, home?, subnet? ('auto' or a /24 in 198.18.0.0/15), port?, cpus?, ramGiB?, networkMode? }
 */
export async function hostsUp(opts) {
  const why = cannotBuildNetwork();
  if (why) throw new HarnessError(`the multi-host harness ${why}`);
  const { prefix, home } = where(opts);
  const count = positiveInt(opts.count, 'the number of hosts', MAX_HOSTS);
  const cpus = positiveInt(opts.cpus ?? 2, '--cpus', 1024);
  const ramGiB = positiveInt(opts.ramGiB ?? 2, '--ram-gib', 1 << 20);
  const downHint = `node scripts/hosts.mjs down${prefix === defaultPrefix() ? '' : ` --prefix ${prefix}`}${opts.home ? ` --home ${home}` : ''}`;
  const leftovers = [...listNamespaces(prefix).map((n) => `namespace ${n.netns}`), ...listLinks(prefix).map((l) => `link ${l}`)];
  if (outsideNamespace(prefix)) leftovers.push(`namespace ${outsideNames(prefix).netns}`);
  const sfmdPid = daemonPid(home, 'sfmd');
  if (sfmdPid) leftovers.push(`sfmd pid ${sfmdPid}`);
  if (leftovers.length) {
    throw new HarnessError(
      `hosts with prefix '${prefix}' are already up or left over from a crash (${leftovers.join(', ')}): ` +
        `see node scripts/hosts.mjs status, or remove them with ${downHint}`,
    );
  }
  const requested = opts.subnet ?? process.env.SNOWFLOCK_HOSTS_SUBNET ?? DEFAULT_SUBNET;
  const subnet = requested === 'auto' ? pickFreeSubnet() : parseSubnet(requested);
  const users = subnetUsers(subnet.base);
  if (users.length)
    throw new HarnessError(
      `subnet ${subnet.cidr} is already used here (${users.join(', ')}): pick another with --subnet (or --subnet auto)`,
    );
  const port = opts.port === undefined ? await freePort() : positiveInt(opts.port, '--port', 65535);
  const networkMode = opts.networkMode ?? 'multicast';
  if (!['multicast', 'unicast'].includes(networkMode))
    throw new HarnessError(`--network-mode must be multicast or unicast, got '${networkMode}'`, 2);

  mkdirSync(home, { recursive: true });
  try {
    const network = createNetwork({ prefix, base: subnet.base, count });
    const hosts = network.hosts.map((h) => ({ ...h, name: h.address, config: path.join(home, `sfld-h${h.index}.cfg`) }));
    const whitelist = opts.whitelistOutside ? [network.outside.whitelisted] : [];
    writeFileSync(path.join(home, 'sfmd.cfg'), sfmdConfig(port, hosts, cpus, ramGiB, networkMode, whitelist));
    for (const h of hosts) writeFileSync(h.config, sfldConfig(h, network.bridgeAddress, port));
    startOutsideServers(network.outside.netns, home);
    const outside = { ...network.outside, httpPort: 80, echoPort: 7 };
    const state = {
      prefix,
      subnet: subnet.cidr,
      bridge: network.bridge,
      bridgeAddress: network.bridgeAddress,
      port,
      cpus,
      ramGiB,
      hosts,
      outside,
    };
    writeFileSync(statePath(home), `${JSON.stringify(state, null, 2)}\n`);
    // sfmd listens on every address (its default): the namespaces reach it at the bridge address, this
    // machine's CLI and dashboard at 127.0.0.1 (where `sfmd start` also checks that it is up).
    const master = await sfJson(home, ['sfmd', 'start']);
    // Each host pins sfmd's certificate in its own sfld.cfg, as a host on another machine would (it could read
    // the shared data directory's sfmd.fingerprint, but then a missing pin would go unnoticed here).
    if (master.fingerprint) {
      for (const h of hosts) appendFileSync(h.config, `master_fingerprint = '${master.fingerprint}'\n`);
    }
    // Two at a time: each start is a node process, and this is meant to work on a 2-core machine.
    const queue = [...hosts];
    const worker = async () => {
      for (let h = queue.shift(); h; h = queue.shift()) {
        const started = await sfJson(home, ['sfld', 'start', '--config', h.config], h.netns);
        if (!started.registered) {
          throw new HarnessError(
            `sfld h${h.index} (${h.address}) started but did not register with sfmd at ${network.bridgeAddress}:${port}; see ${started.logFile}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(2, hosts.length) }, worker));
  } catch (err) {
    await hostsDown({ prefix, home }).catch(() => {});
    throw err;
  }
  return hostsStatus({ prefix, home });
}

/** What is up with this prefix and data directory: hosts, addresses, pids. Works after a crash too. */
export function hostsStatus(opts = {}) {
  const { prefix, home } = where(opts);
  const state = readState(home);
  const namespaces = listNamespaces(prefix);
  const byIndex = new Map();
  for (const h of state?.hosts ?? []) byIndex.set(h.index, { index: h.index, netns: h.netns, address: h.address, config: h.config });
  for (const n of namespaces) byIndex.set(n.index, { index: n.index, config: null, ...byIndex.get(n.index), netns: n.netns });
  const present = new Set(namespaces.map((n) => n.netns));
  const canInspect = process.getuid?.() === 0;
  const hosts = [...byIndex.values()]
    .sort((a, b) => a.index - b.index)
    .map((h) => {
      const address = (canInspect && present.has(h.netns) ? namespaceAddress(h.netns) : null) ?? h.address ?? null;
      const pid = address ? daemonPid(home, `sfld-${address}`) : null;
      return {
        host: `h${h.index}`,
        name: address,
        netns: h.netns,
        present: present.has(h.netns),
        address,
        sfldPort: SFLD_PORT,
        pid,
        running: pid !== null,
        config: h.config,
      };
    });
  const bridgeIp = bridgeAddress(prefix);
  const port = state?.port ?? null;
  const sfmdPid = daemonPid(home, 'sfmd');
  const masterIp = bridgeIp ?? state?.bridgeAddress ?? null;
  return {
    prefix,
    home,
    up: namespaces.length > 0 || bridgeIp !== null || sfmdPid !== null,
    subnet: state?.subnet ?? null,
    bridge: { name: bridgeName(prefix), address: bridgeIp, present: bridgeIp !== null || listLinks(prefix).includes(bridgeName(prefix)) },
    sfmd: {
      pid: sfmdPid,
      running: sfmdPid !== null,
      port,
      url: masterIp && port ? `https://${masterIp}:${port}` : null,
      localUrl: port ? `https://127.0.0.1:${port}` : null,
    },
    dashboard: { pid: daemonPid(home, 'web'), running: daemonPid(home, 'web') !== null },
    hosts,
    // Test servers for clusters' routers: whitelist `whitelisted`, leave `other` out.
    outside: state?.outside ? { ...state.outside, present: canInspect ? outsideNamespace(prefix) !== null : null } : null,
  };
}

/** Whether anything of this harness may be up (a state file, namespaces, links or daemons); never throws. */
export function hostsPresent(opts = {}) {
  const { prefix, home } = where(opts);
  if (existsSync(statePath(home)) || daemonPid(home, 'sfmd') !== null) return true;
  try {
    return listNamespaces(prefix).length > 0 || listLinks(prefix).length > 0 || outsideNamespace(prefix) !== null;
  } catch {
    return false; // no `ip`: then there cannot be namespaces either
  }
}

/** Stops every Snowflock daemon with a pid file in this data directory (sfmd, the dashboard, stray sflds). */
async function stopHomeDaemons(home, graceMs = 10_000) {
  const runDir = path.join(home, 'run');
  if (!existsSync(runDir)) return [];
  const daemons = readdirSync(runDir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => ({
      id: f.slice(0, -4),
      file: path.join(runDir, f),
      pid: snowflockPid(path.join(runDir, f)),
    }));
  const running = daemons.filter((d) => d.pid !== null);
  for (const d of running)
    try {
      process.kill(d.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  const deadline = Date.now() + graceMs;
  while (running.some((d) => alive(d.pid)) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  for (const d of running.filter((x) => alive(x.pid)))
    try {
      process.kill(d.pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  for (const d of daemons) rmSync(d.file, { force: true });
  return running.map((d) => ({ id: d.id, pid: d.pid }));
}

/** Tears everything down; safe to repeat, and after a crash (it finds things by name, not by memory). */
export async function hostsDown(opts = {}) {
  const { prefix, home } = where(opts);
  if (typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new HarnessError('the multi-host harness needs root to remove its namespaces, veth pairs and bridge (run it as root)');
  }
  // The sflds first (they live in the namespaces), so sfmd sees them leave before it stops itself.
  const network = await destroyNetwork(prefix);
  const stopped = await stopHomeDaemons(home);
  rmSync(statePath(home), { force: true });
  if (opts.purge) rmSync(home, { recursive: true, force: true });
  return {
    prefix,
    home,
    removedNamespaces: network.namespaces,
    removedLinks: network.links,
    killedInNamespaces: network.killed,
    stopped,
    purged: Boolean(opts.purge),
  };
}

/** Runs a command inside one host's namespace; HOST is h2, 2, the namespace name or the address. */
export function hostsExec(opts, host, command) {
  const status = hostsStatus(opts);
  const h = status.hosts.find((x) => [x.host, String(x.host.slice(1)), x.netns, x.address].includes(host));
  if (!h?.present) throw new HarnessError(`no host '${host}' is up (hosts: ${status.hosts.map((x) => x.host).join(', ') || 'none'})`, 2);
  if (command.length === 0) throw new HarnessError('exec needs a command after --, e.g. exec h1 -- node -v', 2);
  const r = spawnSync('ip', ['netns', 'exec', h.netns, ...command], {
    stdio: 'inherit',
    env: { ...process.env, SNOWFLOCK_HOME: status.home },
  });
  return r.status ?? 1;
}

export function describeStatus(s) {
  if (!s.up) return `no harness hosts are up (prefix ${s.prefix}, data ${s.home})`;
  return [
    `${s.hosts.length} host(s), prefix ${s.prefix}, subnet ${s.subnet ?? '?'}, bridge ${s.bridge.name} ${s.bridge.address ?? '(missing)'}`,
    `  sfmd       ${s.sfmd.running ? `pid ${s.sfmd.pid}` : 'not running'}   ${s.sfmd.url ?? ''}${s.sfmd.localUrl ? ` (from this machine ${s.sfmd.localUrl})` : ''}`,
    ...s.hosts.map(
      (h) =>
        `  ${h.host.padEnd(4)} ${h.netns.padEnd(12)} ${String(h.address ?? '?').padEnd(15)} sfld ${h.running ? `pid ${h.pid}` : 'not running'}${h.present ? '' : '   (namespace missing)'}`,
    ),
    `  data       ${s.home}   (SNOWFLOCK_HOME=${s.home} npx sfstate)`,
  ].join('\n');
}

const HELP = `Multi-host harness: N Snowflock hosts on this machine, each an sfld in its own network namespace
on a bridge, with sfmd reachable from all of them. Needs root and iproute2.

Usage: node scripts/hosts.mjs up N | status | down | exec HOST -- COMMAND... [options]

  up N       create bridge PREFIXbr0 (198.18.X.1/24) and namespaces PREFIX-h1 … PREFIX-hN (198.18.X.11 …),
             each with loopback, a veth to the bridge and a route for multicast (224.0.0.0/4); start sfmd
             on this machine and an sfld in every namespace; print the status. Fails, changing nothing,
             if not root, if \`ip\` is missing, or if the prefix or subnet is taken.
  status     hosts, addresses and pids (exit status 3 when nothing is up)
  down       stop the sflds, sfmd and dashboard of the harness; remove namespaces, veths and bridge.
             Safe to repeat and after a crash: it finds everything by the prefix.
  exec HOST -- COMMAND   run COMMAND inside a host's namespace (HOST: h2, 2, PREFIX-h2 or its address)

Options:
  --prefix P     name prefix: bridge Pbr0, namespaces P-h1 … (default $SNOWFLOCK_HOSTS_PREFIX or sf)
  --subnet S     a /24 inside 198.18.0.0/15, or auto for a free one (default $SNOWFLOCK_HOSTS_SUBNET or ${DEFAULT_SUBNET})
  --home DIR     the harness's data directory (default $SNOWFLOCK_HOSTS_HOME, else $SNOWFLOCK_HOME/hosts-P,
                 i.e. ~/.snowflock/hosts-sf); it is separate from the everyday one because its sfmd.cfg lists
                 the namespaced hosts
  --port N       sfmd's port (default: a free one, written into the data directory's sfmd.cfg)
  --cpus N       cpus each host offers to VMs (default 2)
  --ram-gib N    GiB of RAM each host offers to VMs (default 2)
  --network-mode multicast|unicast   how pages travel between hosts (sfmd.cfg network_mode; default multicast)
  --whitelist-outside   sfmd.cfg network_whitelist lists the outside's first test address (its second stays off it)
  --purge        with down: also delete the data directory (database, logs, secrets)
  --json         print one JSON document
  -h, --help     this help

Hosts are named by their addresses in sfmd.cfg (cluster_hosts), so sfmd and the other hosts reach each
sfld at ADDRESS:${SFLD_PORT}. The namespaces have no default route: they reach each other, the bridge
address (sfmd) and multicast groups, never the machine's real network. Multicast snooping is off on the
bridge, so every group datagram is flooded to every host.

Examples:
  node scripts/hosts.mjs up 3
  SNOWFLOCK_HOME=~/.snowflock/hosts-sf npx sfstate
  node scripts/hosts.mjs exec h2 -- ip addr
  node scripts/hosts.mjs status --json
  node scripts/hosts.mjs down
  node scripts/hosts.mjs up 2 --prefix t1 --subnet auto --home /tmp/t1 && node scripts/hosts.mjs down --prefix t1 --home /tmp/t1 --purge
  npm start -- --hosts 3      (the same with the dashboard; npm stop takes it all down)
`;

async function main(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      prefix: { type: 'string' },
      subnet: { type: 'string' },
      home: { type: 'string' },
      port: { type: 'string' },
      cpus: { type: 'string' },
      'ram-gib': { type: 'string' },
      'network-mode': { type: 'string' },
      'whitelist-outside': { type: 'boolean' },
      purge: { type: 'boolean' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command || command === 'help') {
    process.stdout.write(HELP);
    return command || values.help ? 0 : 2;
  }
  const opts = { prefix: values.prefix, home: values.home };
  const print = (value, text) => console.log(values.json ? JSON.stringify(value, null, 2) : text);
  if (command === 'up') {
    if (rest.length !== 1) throw new HarnessError('up needs the number of hosts, e.g. up 3', 2);
    const status = await hostsUp({
      ...opts,
      count: rest[0],
      subnet: values.subnet,
      port: values.port,
      cpus: values.cpus,
      ramGiB: values['ram-gib'],
      networkMode: values['network-mode'],
      whitelistOutside: values['whitelist-outside'],
    });
    print(status, describeStatus(status));
    return 0;
  }
  if (command === 'status') {
    const status = hostsStatus(opts);
    print(status, describeStatus(status));
    return status.up ? 0 : 3;
  }
  if (command === 'down') {
    const result = await hostsDown({ ...opts, purge: values.purge });
    print(
      result,
      `removed ${result.removedNamespaces.length} namespace(s) and ${result.removedLinks.length} link(s); ` +
        `stopped ${result.killedInNamespaces.length} process(es) in them and ${result.stopped.map((d) => d.id).join(', ') || 'no other daemons'}` +
        `${result.purged ? `; deleted ${result.home}` : ''}`,
    );
    return 0;
  }
  if (command === 'exec') {
    const why = cannotBuildNetwork();
    if (why) throw new HarnessError(`exec ${why}`);
    return hostsExec(opts, rest[0] ?? '', rest.slice(1));
  }
  throw new HarnessError(`unknown command '${command}': use up N, status, down or exec (see --help)`, 2);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const json = process.argv.includes('--json');
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err) => {
      const code = err instanceof HarnessError ? err.exitCode : String(err.code).startsWith('ERR_PARSE_ARGS') ? 2 : 1;
      if (json) console.log(JSON.stringify({ error: { message: err.message } }, null, 2));
      else console.error(`hosts: ${err.message}`);
      process.exitCode = code;
    },
  );
}
