// Admin commands: sfstate (hosts and domains), sfseed (a new cluster from an sfseed.cfg), and the
// operation log. They need the admin token.
import path from 'node:path';
import { checkDiskImage, loadSfseedConfig } from '../../common/config/index.ts';
import { SfError } from '../../common/errors.ts';
import type { Command } from '../command.ts';
import { domainBasicColumns, formatBytes, renderTable } from '../output.ts';
import { call } from '../../common/sfmd-client.ts';
import { parseCount } from './guest-args.ts';
import { withProgress } from '../progress.ts';
import { followOperations } from './events.ts';

export const state: Command = {
  name: 'state',
  classic: 'sfstate',
  summary: 'Show the hosts (cpus, RAM, what is in use) and the domains (VMs) Snowflock manages.',
  usage: 'sfstate [--all [--limit N]] [--json]',
  options: {
    all: { type: 'boolean', description: 'include domains that have ended (the newest 1000 of them)' },
    limit: { type: 'string', description: 'with --all: how many of the newest domains to show' },
  },
  examples: ['sfstate', 'sfstate --json | jq .hosts', 'sfstate --all', 'sfstate --all --limit 50'],
  async run(ctx, _args, values) {
    const client = ctx.client();
    const limit = typeof values.limit === 'string' ? parseCount(values.limit, '--limit', 1) : undefined;
    const [hosts, domains] = await call(ctx.url, () =>
      Promise.all([client.state.hosts.query(), client.state.domains.query({ all: values.all === true, ...(limit ? { limit } : {}) })]),
    );
    ctx.out.result({ hosts, domains }, () =>
      [
        // Who places clones; with a batch scheduler, its count of each host's CPUs is a column of its own.
        hosts[0] && hosts[0].allocator !== 'default' ? `HOSTS (clones placed by ${hosts[0].allocator})` : 'HOSTS',
        renderTable(hosts, [
          { header: 'NAME', value: (h) => h.name },
          { header: 'STATE', value: (h) => h.state },
          { header: 'CPUS', value: (h) => `${h.cpusUsed}/${h.cpus}`, align: 'right' },
          { header: 'RAM', value: (h) => `${formatBytes(h.ramUsed)}/${formatBytes(h.ram)}`, align: 'right' },
          { header: 'KVM', value: (h) => (h.kvm ? 'yes' : 'no') },
          ...(hosts.some((h) => h.scheduler)
            ? [
                {
                  header: 'SCHEDULER SNOWFLOCK/OTHERS/CPUS',
                  value: (h: (typeof hosts)[number]) =>
                    h.scheduler ? `${h.scheduler.bySnowflock}/${h.scheduler.byOthers}/${h.scheduler.cpus} (${h.scheduler.node})` : null,
                  align: 'right' as const,
                },
              ]
            : []),
          { header: 'LAST SEEN', value: (h) => h.lastSeen },
          // Since sfmd started: beats read over 1.5 intervals after the previous one, and the longest gap.
          { header: 'LATE BEATS', value: (h) => (h.heartbeat ? `${h.heartbeat.late} (max gap ${h.heartbeat.maxGapMs} ms)` : null) },
        ]),
        '',
        'DOMAINS',
        domains.length === 0
          ? '(none: seed one with sfseed CFG)'
          : renderTable(domains, [
              ...domainBasicColumns<(typeof domains)[number]>(),
              { header: 'MAC', value: (d) => d.mac },
              // What the NIC moved: live while the VM runs, its final counters after.
              { header: 'NET RX/TX', value: (d) => (d.net ? `${formatBytes(d.net.rxBytes)}/${formatBytes(d.net.txBytes)}` : null) },
              // What the disk did: bytes the guest wrote, the space its own overlay takes (took) on its host, and
              // what it fetched of the fork's disk from the master's host (a clone elsewhere; 4 KiB blocks).
              {
                header: 'DISK W/OVL/REMOTE',
                value: (d) => {
                  const f = d.disk?.figures;
                  return f ? `${formatBytes(f.writtenBytes)}/${formatBytes(f.overlayBytes)}/${formatBytes(f.remoteBlocks * 4096)}` : null;
                },
              },
              { header: 'TICKET', value: (d) => d.ticket },
              { header: 'REASON', value: (d) => d.endReason },
            ]),
      ].join('\n'),
    );
  },
};

export const seed: Command = {
  name: 'seed',
  args: ['file'],
  classic: 'sfseed',
  summary: 'Start a new cluster: place its master VM as described by an sfseed.cfg.',
  usage: 'sfseed CFG [--json]',
  description:
    "CFG is a classic seed file: kernel = '...' (a flat guest), vcpus = N, memory = MiB (plus disk_image: the guest's data disk, args, name).",
  examples: ['sfseed ./hello.cfg', 'sfseed /etc/snowflock/align.cfg --json'],
  async run(ctx, args) {
    if (!args[0]) throw new SfError('BAD_INPUT', 'missing CFG: the path of an sfseed.cfg file');
    const file = path.resolve(args[0]);
    const config = await loadSfseedConfig(file);
    // A flat guest's data disk is checked here first, where the seed file is (sfld checks again on its host).
    if (config.kernel && config.diskImage) await checkDiskImage(config.diskImage, `${file}: disk_image`);
    const cluster = await withProgress(
      ctx.out.json,
      `booting the new cluster's master (${config.vcpus} vcpu${config.vcpus === 1 ? '' : 's'}, ${config.memoryMiB} MiB)`,
      call(ctx.url, () => ctx.client().cluster.seed.mutate({ config })),
    );
    const master = cluster.domains.find((d) => d.vmid === 0);
    // The seed's first line is (domid, 'ip'): here the domid is the cluster id (its master is CLUSTERID:0).
    ctx.out.result(
      cluster,
      () =>
        `(${cluster.clusterid}, '${master?.ip ?? ''}')\n` +
        `cluster ${cluster.clusterid} seeded: master ${cluster.clusterid}:0 on ${master?.host} (${master?.state})`,
    );
  },
};

export const ops: Command = {
  name: 'ops',
  summary: 'Show the operation log: every mutating call, who asked, how it ended.',
  usage: 'sf ops [--limit N] [--kind KIND] [--follow]',
  options: {
    limit: { type: 'string', value: 'N', description: 'how many, newest first (default 20)' },
    kind: { type: 'string', value: 'KIND', description: 'only this kind, e.g. ticket.request' },
    follow: {
      type: 'boolean',
      short: 'f',
      description: 'then print each operation as it starts and ends, until Ctrl-C (--json: one JSON object per line)',
    },
  },
  examples: ['sf ops', 'sf ops --kind host.release --json', 'sf ops --follow', 'sf ops -f --json | jq -c .kind'],
  async run(ctx, _args, values) {
    const limit = typeof values.limit === 'string' ? parseCount(values.limit, '--limit') : 20;
    const kind = typeof values.kind === 'string' ? values.kind : undefined;
    if (values.follow === true) return followOperations(ctx, limit, kind);
    const list = await call(ctx.url, () => ctx.client().operations.list.query({ limit, ...(kind ? { kind } : {}) }));
    ctx.out.result(list, () =>
      renderTable(list, [
        { header: 'STARTED', value: (o) => o.startedAt },
        { header: 'KIND', value: (o) => o.kind },
        { header: 'TARGET', value: (o) => o.target },
        { header: 'BY', value: (o) => o.requester },
        { header: 'STATUS', value: (o) => o.status },
        { header: 'ERROR', value: (o) => o.error },
      ]),
    );
  },
};

export const adminCommands = [state, seed, ops];
