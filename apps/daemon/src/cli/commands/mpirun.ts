// `sfmpirun [-v] NUMPROCS CFG [ARGS]` / `sf mpirun`: runs an MPI program (a flat guest linked with libsfmpi) as one
// impromptu cluster — seeds the master with np=NUMPROCS (and mpi=vm for -v) in its args (MPI_Init clones the
// rest), prints every rank's console line prefixed `[rank] `, exits with the job's status, and leaves no VM or
// ticket behind.
import path from 'node:path';
import { loadSfseedConfig } from '../../common/config/index.ts';
import { messageOf, type Result, SfError } from '../../common/errors.ts';
import { call } from '../../common/sfmd-client.ts';
import type { ConsoleReplay } from '../../common/wire.ts';
import { isLiveDomainState } from '../../master/store/states.ts';
import type { Command } from '../command.ts';
import { resolveToken } from '../context.ts';
import { connect, unwrap } from './console.ts';
import { parseCount } from './guest-args.ts';
import { type Progress, startProgress, withProgress } from '../progress.ts';

const POLL_MS = 300;
/** What libsfmpi's MPI_Init prints when the ticket for the clones is refused (lib/mpi.c). */
const SHORT = /mpi: MPI_Init: the reservation is short: (.*)/;
/** What libsfmpi prints in the master when a rank's failure ended the job (a lost peer, an exit mid-job). */
const ABORTED = /mpi: job aborted: rank (\d+) failed/;
/** A line libsfmpi already prefixed with its rank (processor mode: a VM's console carries several ranks). */
const RANKED = /^\[\d+\] /;

/**
 * Splits each VM's console into lines, each printed once it is whole: a line libsfmpi prefixed with its rank as it
 * is, any other with the VM's rank (one rank per VM) or `vm V` (processor mode: lines before MPI_Init).
 */
class RankPrinter {
  #partial = new Map<number, string>();
  constructor(
    private readonly write: (text: string) => void,
    private readonly label: (vmid: number) => string,
  ) {}
  #line(vmid: number, line: string) {
    this.write(RANKED.test(line) ? `${line}\n` : `[${this.label(vmid)}] ${line}\n`);
  }
  add(vmid: number, data: string) {
    const lines = ((this.#partial.get(vmid) ?? '') + data).split('\n');
    this.#partial.set(vmid, lines.pop() ?? '');
    for (const line of lines) this.#line(vmid, line.replace(/\r$/, ''));
  }
  flush() {
    for (const [vmid, rest] of this.#partial) if (rest) this.#line(vmid, rest);
    this.#partial.clear();
  }
}

/** "rank 2" or "vm 1 (ranks 4-6)": who a VM ran, from the vCPUs of the VMs before it (ranks go VM by VM). */
function ranksOf(rows: { vmid: number; vcpus: number }[], vmid: number, np: number, oneRankPerVm: boolean): string {
  if (oneRankPerVm) return `rank ${vmid}`;
  const base = rows.filter((d) => d.vmid < vmid).reduce((n, d) => n + d.vcpus, 0);
  const own = rows.find((d) => d.vmid === vmid)?.vcpus ?? 1;
  const last = Math.min(base + own, np) - 1;
  return last <= base ? `rank ${base}` : `vm ${vmid} (ranks ${base}-${last})`;
}

export const mpirun: Command = {
  name: 'mpirun',
  args: [[], 'file'],
  classic: 'sfmpirun',
  summary: 'Run an MPI program (mpi.h) on NUMPROCS ranks as one impromptu cluster, its output rank-prefixed.',
  usage: 'sfmpirun [-v] NUMPROCS CFG [ARGS...]',
  description:
    'CFG is an sfseed.cfg whose kernel is linked with libsfmpi; ARGS and then np=NUMPROCS are added to its args. ' +
    "Processor mode (the default): one rank per vCPU, so the job takes ceil(NUMPROCS / vcpus) VMs (CFG's vcpus " +
    "sets the master's; the master's MPI_Init takes a processor ticket for the rest, and a clone may get fewer); " +
    'ranks go VM by VM (vmid 0 first), and ranks of one VM trade messages through shared memory. -v: one rank ' +
    'per VM, NUMPROCS VMs, rank = vmid. Every rank\'s console goes to stdout as "[rank] line". Exits with the ' +
    "master's status (0 when the job succeeded), 6 when the reservation is short, 1 when a rank crashed or its " +
    'failure aborted the job (named: a dead rank ends the job, and a VM silent for mpi_timeout=S seconds, an ARG, ' +
    'default 60, is taken for dead); on the end or Ctrl-C the cluster is shut down with force, so no clone or ' +
    'ticket is left.',
  options: {
    vms: { type: 'boolean', short: 'v', description: 'one rank per VM (default: one rank per vCPU)' },
  },
  examples: [
    'sfmpirun 8 native/guest/examples/heat/heat.cfg',
    'sfmpirun 5 native/guest/examples/mpialign/mpialign.cfg',
    'sfmpirun -v 4 mpitest.cfg',
    'sf mpirun 2 pingpong.cfg size=64k',
  ],
  async run(ctx, args, values) {
    const np = parseCount(args[0], 'NUMPROCS (the number of ranks)');
    if (!args[1]) throw new SfError('BAD_INPUT', 'missing CFG: the sfseed.cfg of an MPI program (sfmpirun NUMPROCS CFG [ARGS])');
    const file = path.resolve(args[1]);
    const config = await loadSfseedConfig(file);
    const oneRankPerVm = values.vms === true;
    config.args = [config.args ?? '', ...args.slice(2), `np=${np}`, oneRankPerVm ? 'mpi=vm' : ''].filter(Boolean).join(' ');
    const token = resolveToken(ctx.options, ctx.paths);
    if (!token) throw new SfError('UNAUTHORIZED', 'no admin token: pass --token or set SNOWFLOCK_TOKEN');
    const client = ctx.client();
    const socket = await connect(ctx.url, token, ctx.trust);
    /** The cluster's VMs as last seen: which ranks each runs. */
    let layout: { vmid: number; vcpus: number }[] = [];
    // Until every rank is up, one line on a terminal says how many are; rank output is printed past it.
    let progress: Progress | null = null;
    const printer = new RankPrinter(
      (text) => {
        if (progress) progress.aside(() => process.stdout.write(text));
        else process.stdout.write(text);
      },
      (vmid) => {
        if (oneRankPerVm) return String(vmid);
        const who = ranksOf(layout, vmid, np, false); /* a VM of one rank: that rank, as libsfmpi's lines say */
        return who.startsWith('rank ') ? who.slice(5) : `vm ${vmid}`;
      },
    );
    let clusterid: number | null = null;
    let cleaning: Promise<void> | null = null;
    const cleanUp = () => {
      cleaning ??= (async () => {
        if (clusterid === null) return;
        const live = (await client.state.domains.query({ all: false })).filter((d) => d.domain.startsWith(`${clusterid}:`));
        if (live.length === 0) return;
        await client.dashboard.shutdown.mutate({ clusterid, force: true }).catch((err: unknown) => {
          ctx.out.note(`sfmpirun: shutting cluster ${clusterid} down failed: ${messageOf(err)}`);
        });
      })();
      return cleaning;
    };
    let interrupted = false;
    const onSigint = () => {
      interrupted = true;
      ctx.out.note(`\nsfmpirun: interrupted: shutting cluster ${clusterid ?? '(not seeded yet)'} down`);
    };
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigint);
    try {
      const cluster = await withProgress(
        ctx.out.json,
        'booting rank 0',
        call(ctx.url, () => client.cluster.seed.mutate({ config })),
      );
      clusterid = cluster.clusterid;
      const vcpus = config.vcpus ?? 1;
      ctx.out.note(
        `sfmpirun: cluster ${clusterid}, ${np} rank${np === 1 ? '' : 's'} ` +
          (oneRankPerVm ? '(one per VM)' : `(one per vCPU, ${Math.ceil(np / vcpus)} VM${np > vcpus ? 's' : ''} of up to ${vcpus})`),
      );
      /** The VMs the job runs on: what the progress line counts (a processor-mode VM carries several ranks). */
      const vms = oneRankPerVm ? np : Math.ceil(np / vcpus);
      progress = vms > 1 ? startProgress(`waiting for ${vms - 1} of ${vms} VMs`, { machine: ctx.out.json }) : null;
      const followed = new Set<number>();
      /** Everything each rank printed (replay and live chunks): the master's tells why a job ended. */
      const output = new Map<number, string>();
      const take = (vmid: number, text: string) => {
        output.set(vmid, (output.get(vmid) ?? '') + text);
        printer.add(vmid, text);
      };
      /** Subscribes to a VM's console and takes its replay; false while its host does not know it yet. */
      const follow = async (vmid: number) => {
        const reply = (await socket
          .timeout(30_000)
          .emitWithAck('console:subscribe', { clusterid: cluster.clusterid, vmid })) as Result<ConsoleReplay>;
        if (!reply.ok && reply.error.code === 'DOMAIN_UNKNOWN') return false;
        followed.add(vmid);
        take(vmid, Buffer.from(unwrap(reply).replay).toString('utf8'));
        return true;
      };
      /** What a followed VM's console holds beyond what was taken (its replay keeps the last 64 KiB). */
      const catchUp = async (vmid: number) => {
        const reply = (await socket
          .timeout(30_000)
          .emitWithAck('console:subscribe', { clusterid: cluster.clusterid, vmid })) as Result<ConsoleReplay>;
        if (!reply.ok) return;
        const text = Buffer.from(reply.value.replay).toString('utf8');
        const had = output.get(vmid) ?? '';
        if (text.length > had.length && text.startsWith(had)) take(vmid, text.slice(had.length));
      };
      socket.on('domain:console', (chunk) => {
        if (chunk.clusterid === clusterid) take(chunk.vmid, Buffer.from(chunk.data).toString('utf8'));
      });
      for (;;) {
        if (interrupted) break;
        const rows = await client.state.domains.query({ all: true, clusterid });
        layout = rows;
        for (const d of rows) {
          const vmid = Number(d.domain.split(':')[1]);
          // A clone's console exists once its VM is up; the replay then holds everything it printed so far.
          if (followed.has(vmid) || d.state === 'defined' || d.state === 'booting') continue;
          await follow(vmid);
        }
        if (progress && followed.size >= vms) {
          progress.stop();
          progress = null;
        } else progress?.set(`waiting for ${vms - followed.size} of ${vms} VMs`);
        const master = rows.find((d) => d.domain === `${clusterid}:0`);
        // A master that ended within a poll (MPI_Init refused) may not be followed yet: its words say why.
        for (let i = 0; i < 10 && master && !isLiveDomainState(master.state) && !followed.has(0); i++)
          if (!(await follow(0))) await new Promise((r) => setTimeout(r, POLL_MS));
        const crashed = rows.find((d) => d.domain !== `${clusterid}:0` && (d.state === 'crashed' || d.state === 'lost'));
        if (crashed) {
          printer.flush();
          await cleanUp();
          const who = ranksOf(rows, Number(crashed.domain.split(':')[1]), np, oneRankPerVm);
          throw new SfError(
            'INTERNAL',
            `${who} ${crashed.state === 'lost' ? 'was lost with its host' : 'crashed'}${crashed.endReason ? ` (${crashed.endReason})` : ''}: the job is stopped`,
          );
        }
        if (master && !isLiveDomainState(master.state)) {
          await new Promise((r) => setTimeout(r, POLL_MS)); /* the last console chunks */
          // A master that failed fast may be recorded as ended before its last words reach sfmd: read them again.
          for (let i = 0; i < 5 && master.exitCode !== 0 && !/\n$/.test(output.get(0) ?? ''); i++) {
            await new Promise((r) => setTimeout(r, POLL_MS));
            await catchUp(0);
          }
          // A clone that came and went between two polls was never followed: its console is read back whole.
          for (const d of rows) {
            const vmid = Number(d.domain.split(':')[1]);
            if (followed.has(vmid) || d.state === 'defined') continue;
            const back = await client.domain.console.query({ clusterid, vmid }).catch(() => null);
            if (back) take(vmid, back.text);
          }
          printer.flush();
          const short = SHORT.exec(output.get(0) ?? '');
          if (short) throw new SfError('NO_RESOURCES', `the reservation is short: ${short[1]}; ask for fewer ranks or add hosts`);
          const aborted = ABORTED.exec(output.get(0) ?? '');
          if (aborted) throw new SfError('INTERNAL', `rank ${aborted[1]} failed and the job was aborted (its output says why)`);
          if (master.state !== 'exited')
            throw new SfError('INTERNAL', `rank 0 ${master.state}${master.endReason ? ` (${master.endReason})` : ''}`);
          return master.exitCode ?? 0;
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      printer.flush();
      return 130;
    } finally {
      progress?.stop();
      progress = null;
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigint);
      await cleanUp();
      socket.close();
    }
  },
};
