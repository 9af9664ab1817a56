// `node scripts/schedulers.mjs up slurm|sge [--dir D] [--node NAME:CPUS ...] | down --dir D | check KIND | install`: a Slurm
// (munged, slurmctld, slurmd) or Grid Engine (qmaster, execd) made from scratch in a throwaway folder, and its teardown.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  chownSync,
  closeSync,
  symlinkSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

/** The Debian packages each scheduler needs, by the command that shows it is installed. */
export const PACKAGES = {
  slurm: { slurmctld: 'slurm-wlm', slurmd: 'slurm-wlm', sbatch: 'slurm-wlm', munged: 'munge' },
  sge: { sge_qmaster: 'gridengine-master', sge_execd: 'gridengine-exec', qsub: 'gridengine-client' },
};
const SBIN = ['/usr/sbin', '/usr/bin', '/sbin', '/bin'];
const STATE_FILE = 'scheduler.json';

function found(command) {
  return SBIN.some((d) => existsSync(path.join(d, command)));
}

/** The packages `kind` still needs on this machine ([] when it can run). */
export function missingPackages(kind) {
  return [...new Set(Object.entries(PACKAGES[kind]).flatMap(([cmd, pkg]) => (found(cmd) ? [] : [pkg])))];
}

/** Why scheduler daemons cannot be started here, or null: tests skip with this reason. */
export function cannotRunScheduler(kind) {
  if (process.platform !== 'linux') return 'batch schedulers are tested on Linux only';
  if (process.getuid?.() !== 0) return `starting ${kind} daemons needs root (they run jobs as their submitter)`;
  const missing = missingPackages(kind);
  if (missing.length) return `${kind} is not installed (apt-get install ${missing.join(' ')}, or node scripts/schedulers.mjs install)`;
  return null;
}

/** apt-get install of what is missing, for both schedulers. */
export function installSchedulers() {
  const need = [...new Set([...missingPackages('slurm'), ...missingPackages('sge')])];
  if (need.length === 0) return [];
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['install', '-y', '-qq', ...need], { env, stdio: 'inherit' });
  return need;
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Runs a daemon in the background, its output into `log`; returns its pid (recorded for the teardown). */
function daemon(command, args, env, log, user) {
  const out = openLog(log);
  const [cmd, argv] = user ? ['runuser', ['-u', user, '--', command, ...args]] : [command, args];
  const child = spawn(cmd, argv, { env, stdio: ['ignore', out, out], detached: true });
  child.unref();
  closeSync(out);
  return child.pid;
}

function openLog(file) {
  return openSync(file, 'a');
}

async function until(what, check, timeoutMs, logs = []) {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    const r = check();
    if (r === true) return;
    last = typeof r === 'string' ? r : last;
    await sleep(150);
  }
  const tails = logs
    .filter((f) => existsSync(f))
    .map((f) => `--- ${f}\n${readFileSync(f, 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('\n');
  throw new Error(`${what} did not happen within ${timeoutMs} ms${last ? ` (last: ${last.trim()})` : ''}\n${tails}`);
}

function run(cmd, args, env) {
  const r = spawnSync(cmd, args, { env, encoding: 'utf8', timeout: 10_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}

/** Nodes as { name, cpus }; the default is this machine alone, under its own host name. */
function nodesOf(nodes) {
  return nodes?.length ? nodes : [{ name: os.hostname(), cpus: os.availableParallelism() }];
}

// ---- Slurm ----

/** A failed start still hands its daemons' pids to the teardown. */
async function waitOrReport(pids, wait) {
  try {
    await wait();
  } catch (err) {
    err.pids = pids;
    throw err;
  }
}

async function startMunge(dir) {
  const m = path.join(dir, 'munge');
  mkdirSync(m, { mode: 0o755 });
  const { uid, gid } = userIds('munge');
  chownSync(m, uid, gid);
  const key = path.join(m, 'munge.key');
  writeFileSync(key, randomBytes(1024), { mode: 0o400 });
  chownSync(key, uid, gid);
  const socket = path.join(m, 'munge.socket');
  const pid = daemon(
    'munged',
    [
      '--foreground',
      '--key-file',
      key,
      '--socket',
      socket,
      '--pid-file',
      `${m}/munged.pid`,
      '--seed-file',
      `${m}/seed`,
      '--log-file',
      `${m}/munged.log`,
    ],
    process.env,
    path.join(dir, 'munged.out'),
    'munge',
  );
  await until('munged listening', () => existsSync(socket), 10_000, [path.join(dir, 'munged.out'), `${m}/munged.log`]);
  return { pid, socket };
}

function userIds(name) {
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`${name}:`));
  if (!line) throw new Error(`user ${name} does not exist: is its package installed?`);
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

function slurmConf(dir, socket, ports, nodes) {
  const host = os.hostname();
  const lines = [
    'ClusterName=snowflock',
    `SlurmctldHost=${host}(127.0.0.1)`,
    'SlurmUser=root',
    'SlurmdUser=root',
    'AuthType=auth/munge',
    `AuthInfo=socket=${socket}`,
    'CredType=cred/munge',
    `SlurmctldPort=${ports.ctld}`,
    `StateSaveLocation=${dir}/state`,
    `SlurmdSpoolDir=${dir}/spool/%n`,
    `SlurmctldPidFile=${dir}/slurmctld.pid`,
    `SlurmdPidFile=${dir}/slurmd.%n.pid`,
    `SlurmctldLogFile=${dir}/slurmctld.log`,
    `SlurmdLogFile=${dir}/slurmd.%n.log`,
    'ProctrackType=proctrack/linuxproc',
    'TaskPlugin=task/none',
    'SelectType=select/cons_tres',
    'SelectTypeParameters=CR_CPU',
    'ReturnToService=2',
    // Nodes may claim more CPUs than this machine has: the tests give each node the size of a Snowflock host.
    'SlurmdParameters=config_overrides',
    'MpiDefault=none',
    'JobCompType=jobcomp/none',
    'AccountingStorageType=accounting_storage/none',
    'SchedulerParameters=sched_interval=1',
    'MinJobAge=2',
    'SlurmdTimeout=10',
    'InactiveLimit=0',
    'KillWait=1',
    ...nodes.map(
      (n, i) => `NodeName=${n.name} NodeHostname=${host} NodeAddr=127.0.0.1 Port=${ports.slurmd[i]} CPUs=${n.cpus} State=UNKNOWN`,
    ),
    'PartitionName=snowflock Nodes=ALL Default=YES MaxTime=INFINITE State=UP',
  ];
  return `${lines.join('\n')}\n`;
}

async function startSlurm(dir, nodes) {
  const munge = await startMunge(dir);
  const ports = { ctld: await freePort(), slurmd: [] };
  for (const _ of nodes) ports.slurmd.push(await freePort());
  for (const d of ['state', 'spool']) mkdirSync(path.join(dir, d));
  const conf = path.join(dir, 'slurm.conf');
  writeFileSync(conf, slurmConf(dir, munge.socket, ports, nodes));
  const env = { SLURM_CONF: conf };
  const penv = { ...process.env, ...env };
  const pids = [munge.pid];
  pids.push(daemon('slurmctld', ['-D', '-i'], penv, path.join(dir, 'slurmctld.out')));
  for (const n of nodes) pids.push(daemon('slurmd', ['-D', '-N', n.name], penv, path.join(dir, `slurmd.${n.name}.out`)));
  const logs = [
    path.join(dir, 'slurmctld.out'),
    path.join(dir, 'slurmctld.log'),
    ...nodes.map((n) => path.join(dir, `slurmd.${n.name}.log`)),
  ];
  await waitOrReport(pids, () =>
    until(
      `every Slurm node idle (${nodes.map((n) => n.name).join(', ')})`,
      () => {
        const r = run('sinfo', ['-h', '-N', '-o', '%N %t'], penv);
        if (!r.ok) return r.out;
        const idle = r.out.split('\n').filter((l) => /\sidle$/.test(l.trim())).length;
        return idle === nodes.length ? true : r.out;
      },
      30_000,
      logs,
    ),
  );
  return { env, pids };
}

// ---- Grid Engine ----

const SGE_UTIL = '/var/lib/gridengine';
const SGE_UTILBIN = '/usr/lib/gridengine';

// The global configuration a fresh cell needs before qmaster starts (the installer writes the same keys).
function sgeGlobalConf(dir) {
  return `execd_spool_dir ${dir}/spool/execd
mailer /bin/true
xterm /usr/bin/xterm
load_sensor none
prolog none
epilog none
shell_start_mode posix_compliant
login_shells sh,bash
min_uid 0
min_gid 0
user_lists none
xuser_lists none
projects none
xprojects none
enforce_project false
enforce_user auto
load_report_time 00:00:05
max_unheard 00:00:30
reschedule_unknown 00:00:00
loglevel log_warning
administrator_mail none
set_token_cmd none
pag_cmd none
token_extend_time none
shepherd_cmd none
qmaster_params none
execd_params none
reporting_params accounting=false reporting=false flush_time=00:00:15 joblog=false sharelog=00:00:00
finished_jobs 0
gid_range 20000-20100
qlogin_command builtin
qlogin_daemon builtin
rlogin_daemon builtin
max_aj_instances 2000
max_aj_tasks 75000
max_u_jobs 0
max_jobs 0
max_advance_reservations 0
auto_user_oticket 0
auto_user_fshare 0
auto_user_default_project none
auto_user_delete_time 86400
delegated_file_staging false
reprioritize 0
jsv_url none
`;
}

// A cluster queue holding each node's CPUs as slots, with the smp parallel environment (all of a task's slots on one host).
function sgeQueue(host, cpus) {
  const fields = {
    qname: 'snowflock',
    hostlist: host,
    seq_no: 0,
    load_thresholds: 'NONE',
    suspend_thresholds: 'NONE',
    nsuspend: 1,
    suspend_interval: '00:05:00',
    priority: 0,
    min_cpu_interval: '00:05:00',
    processors: 'UNDEFINED',
    qtype: 'BATCH INTERACTIVE',
    ckpt_list: 'NONE',
    pe_list: 'smp',
    rerun: 'FALSE',
    slots: cpus,
    tmpdir: '/tmp',
    shell: '/bin/sh',
    prolog: 'NONE',
    epilog: 'NONE',
    shell_start_mode: 'posix_compliant',
    starter_method: 'NONE',
    suspend_method: 'NONE',
    resume_method: 'NONE',
    terminate_method: 'NONE',
    notify: '00:00:60',
    owner_list: 'NONE',
    user_lists: 'NONE',
    xuser_lists: 'NONE',
    subordinate_list: 'NONE',
    complex_values: 'NONE',
    projects: 'NONE',
    xprojects: 'NONE',
    calendar: 'NONE',
    initial_state: 'default',
  };
  for (const l of ['rt', 'cpu', 'fsize', 'data', 'stack', 'core', 'rss', 'vmem']) {
    fields[`s_${l}`] = 'INFINITY';
    fields[`h_${l}`] = 'INFINITY';
  }
  return `${Object.entries(fields)
    .map(([k, v]) => `${k} ${v}`)
    .join('\n')}\n`;
}

function sge(env, args, what) {
  const r = run(args[0], args.slice(1), env);
  if (!r.ok) throw new Error(`${what} failed: ${args.join(' ')}: ${r.out.trim()}`);
  return r.out;
}

async function startSge(dir, nodes) {
  const host = os.hostname();
  // One execd per machine: Grid Engine names an execution host after the machine it runs on.
  if (nodes.length !== 1 || nodes[0].name !== host) {
    throw new Error(`Grid Engine runs one execution host per machine: use --node ${host}:CPUS (this machine) only`);
  }
  const root = path.join(dir, 'root');
  const common = path.join(root, 'default', 'common');
  mkdirSync(common, { recursive: true });
  for (const d of ['qmaster', 'execd']) mkdirSync(path.join(dir, 'spool', d), { recursive: true });
  for (const d of ['bin', 'lib', 'util', 'utilbin']) symlinkSync(path.join(SGE_UTIL, d), path.join(root, d));
  const qmasterSpool = path.join(dir, 'spool', 'qmaster');
  writeFileSync(
    path.join(common, 'bootstrap'),
    [
      'admin_user none',
      'default_domain none',
      'ignore_fqdn true',
      'spooling_method classic',
      'spooling_lib libspoolc',
      `spooling_params ${common};${qmasterSpool}`,
      'binary_path /usr/sbin',
      `qmaster_spool_dir ${qmasterSpool}`,
      'security_mode none',
      'listener_threads 2',
      'worker_threads 2',
      'scheduler_threads 1',
      '',
    ].join('\n'),
  );
  writeFileSync(path.join(common, 'act_qmaster'), `${host}\n`);
  // Clients on this machine reach qmaster from 127.0.0.1, which resolves to localhost: the same host to Grid Engine.
  writeFileSync(path.join(common, 'host_aliases'), `${host} localhost\n`);
  const env = {
    SGE_ROOT: root,
    SGE_CELL: 'default',
    SGE_QMASTER_PORT: String(await freePort()),
    SGE_EXECD_PORT: String(await freePort()),
  };
  const penv = { ...process.env, ...env, SGE_ND: 'true' }; // SGE_ND: the daemons stay in the foreground, so their pids are ours
  const util = (...args) => sge(penv, [path.join(SGE_UTILBIN, args[0]), ...args.slice(1)], 'initialising the Grid Engine cell');
  util('spoolinit', 'classic', 'libspoolc', `${common};${qmasterSpool}`, 'init');
  writeFileSync(path.join(dir, 'global.conf'), sgeGlobalConf(dir));
  util('spooldefaults', 'configuration', path.join(dir, 'global.conf'));
  util('spooldefaults', 'complexes', path.join(SGE_UTIL, 'util/resources/centry'));
  util('spooldefaults', 'pes', path.join(SGE_UTIL, 'util/resources/pe'));
  util('spooldefaults', 'usersets', path.join(SGE_UTIL, 'util/resources/usersets'));
  util('spooldefaults', 'managers', 'root');
  util('spooldefaults', 'operators', 'root');
  util('spooldefaults', 'adminhosts', host);
  util('spooldefaults', 'submithosts', host);
  const pids = [daemon('/usr/lib/gridengine/sge_qmaster', [], penv, path.join(dir, 'qmaster.out'))];
  const logs = [path.join(dir, 'qmaster.out'), path.join(qmasterSpool, 'messages')];
  try {
    await until('qmaster answering', () => run('qconf', ['-sh'], penv).ok || run('qconf', ['-sh'], penv).out, 20_000, logs);
    // Submit host and a scheduler that looks every second, so placeholder tasks start at once.
    run('qconf', ['-as', host], penv);
    const sconf = sge(penv, ['qconf', '-ssconf'], 'reading the scheduler configuration')
      .replace(/^schedule_interval .*$/m, 'schedule_interval 0:0:1')
      .replace(/^flush_submit_sec .*$/m, 'flush_submit_sec 1')
      .replace(/^flush_finish_sec .*$/m, 'flush_finish_sec 1')
      .replace(/^job_load_adjustments .*$/m, 'job_load_adjustments NONE')
      .replace(/^load_adjustment_decay_time .*$/m, 'load_adjustment_decay_time 0:0:0')
      .replace(/^queue_sort_method .*$/m, 'queue_sort_method seqno');
    writeFileSync(path.join(dir, 'sched.conf'), sconf);
    sge(penv, ['qconf', '-Msconf', path.join(dir, 'sched.conf')], 'configuring the scheduler');
    pids.push(daemon('/usr/lib/gridengine/sge_execd', [], penv, path.join(dir, 'execd.out')));
    logs.push(path.join(dir, 'execd.out'));
    await until('execd registered', () => run('qconf', ['-se', host], penv).ok, 20_000, logs);
    writeFileSync(path.join(dir, 'queue.conf'), sgeQueue(host, nodes[0].cpus));
    sge(penv, ['qconf', '-Aq', path.join(dir, 'queue.conf')], 'adding the snowflock queue');
    await until(
      'the snowflock queue open',
      () => {
        const r = run('qstat', ['-f', '-q', 'snowflock'], penv);
        return (r.ok && new RegExp(`snowflock@${host}\\s+\\S+\\s+\\d+/\\d+/\\d+\\s+\\S+\\s+\\S+\\s*$`, 'm').test(r.out)) || r.out;
      },
      20_000,
      logs,
    );
  } catch (err) {
    err.pids = pids;
    throw err;
  }
  return { env, pids };
}

// ---- up / down ----

/** Starts `kind` in `dir` (a fresh temporary folder when omitted). Returns { dir, kind, env, nodes, pids }. */
export async function schedulerUp(kind, options = {}) {
  const reason = cannotRunScheduler(kind);
  if (reason) throw new Error(reason);
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), `sf-${kind}-`));
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755); // munged wants every folder above its socket traversable by all
  const nodes = nodesOf(options.nodes);
  const state = { dir, kind, nodes, env: {}, pids: [] };
  try {
    const started = kind === 'slurm' ? await startSlurm(dir, nodes) : await startSge(dir, nodes);
    Object.assign(state, started);
  } catch (err) {
    schedulerDown(dir, [...state.pids, ...(err.pids ?? [])]);
    throw err;
  } finally {
    writeFileSync(path.join(dir, STATE_FILE), JSON.stringify(state, null, 2));
  }
  return state;
}

/** Stops the daemons started in `dir` (by their recorded pids) and removes the folder. */
export function schedulerDown(dir, pids) {
  const file = path.join(dir, STATE_FILE);
  const state = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
  if (state) stopJobs(state);
  const recorded = pids ?? state?.pids ?? [];
  for (const pid of recorded.toReversed()) {
    try {
      process.kill(-pid, 'SIGTERM');
    } catch {}
  }
  const end = Date.now() + 5000;
  for (const pid of recorded) {
    while (alive(pid) && Date.now() < end) spawnSync('sleep', ['0.05']);
    if (alive(pid)) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {}
    }
  }
  killStragglers(dir);
  rmSync(dir, { recursive: true, force: true });
}

// A shepherd or job step the scheduler had not finished ending when its daemon stopped: found by the environment
// our daemons gave it (SGE_ROOT or SLURM_CONF inside `dir`), so nothing of anyone else is touched.
function killStragglers(dir) {
  const marks = [`SGE_ROOT=${path.join(dir, 'root')}`, `SLURM_CONF=${path.join(dir, 'slurm.conf')}`];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    let env = '';
    try {
      env = readFileSync(`/proc/${entry}/environ`, 'latin1');
    } catch {
      continue;
    }
    if (!env.split('\0').some((v) => marks.includes(v))) continue;
    try {
      process.kill(Number(entry), 'SIGKILL');
    } catch {}
  }
}

// Jobs outlive their daemons (sge_shepherd and slurmstepd have sessions of their own): end them through the scheduler first.
function stopJobs(state) {
  const env = { ...process.env, ...state.env };
  if (state.kind === 'slurm') {
    const ids = run('squeue', ['-h', '-o', '%i'], env)
      .out.split('\n')
      .filter((l) => /^\d/.test(l));
    if (ids.length) run('scancel', ids, env);
    waitUntil(() => !/^\d/m.test(run('squeue', ['-h', '-o', '%i'], env).out), 5000);
  } else {
    for (const n of state.nodes) run('qconf', ['-kej', n.name], env);
    run('qconf', ['-km'], env);
  }
}

function waitUntil(check, ms) {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) spawnSync('sleep', ['0.1']);
}

// A zombie (its parent, often a container's init, has not reaped it yet) has stopped all the same.
function alive(pid) {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function parseNodes(list) {
  return list.map((s) => {
    const [name, cpus] = s.split(':');
    if (!name || !Number(cpus)) throw new Error(`--node wants NAME:CPUS, got '${s}'`);
    return { name, cpus: Number(cpus) };
  });
}

async function main() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { dir: { type: 'string' }, node: { type: 'string', multiple: true } },
  });
  const [cmd, kind] = positionals;
  if (cmd === 'check' && (kind === 'slurm' || kind === 'sge')) {
    const reason = cannotRunScheduler(kind);
    console.log(reason ?? `${kind} can run here`);
    process.exit(reason ? 3 : 0);
  } else if (cmd === 'install') {
    const done = installSchedulers();
    console.log(done.length ? `installed ${done.join(' ')}` : 'slurm and gridengine are installed');
  } else if (cmd === 'up' && (kind === 'slurm' || kind === 'sge')) {
    const s = await schedulerUp(kind, { dir: values.dir, nodes: values.node ? parseNodes(values.node) : undefined });
    console.log(`${kind} is up in ${s.dir} (nodes ${s.nodes.map((n) => `${n.name}:${n.cpus}`).join(', ')})`);
    for (const [k, v] of Object.entries(s.env)) console.log(`export ${k}=${v}`);
  } else if (cmd === 'down' && values.dir) {
    schedulerDown(values.dir);
    console.log(`stopped and removed ${values.dir}`);
  } else {
    console.error(
      'usage: node scripts/schedulers.mjs install | check slurm|sge | up slurm|sge [--dir D] [--node NAME:CPUS ...] | down --dir D',
    );
    process.exit(2);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err) => {
    console.error(`schedulers: ${err.message}`);
    process.exit(1);
  });
}
