// Admin commands: sfstate (hosts and domains), sfseed (a new cluster from an sfseed.cfg), and the
// operation log. They need the admin token.
import path from 'node:path';
import { checkDiskImage, loadSfseedConfig } from '../../common/config/index.ts';
import { SfError } from '../../common/errors.ts';
import type { Command } from '../command.ts';
import { formatBytes, renderTable } from '../output.ts';
import { call } from '../../common/sfmd-client.ts';
import { parseCount } from './guest-args.ts';

export const state: Command = {
  name: 'state',
  classic: 'sfstate',
  summary: 'Show the hosts (cpus, RAM, what is in use) and the domains (VMs) Snowflock manages.',
  usage: 'sfstate [--all] [--json]',
  options: { all: { type: 'boolean', description: 'include domains that have ended' } },
  examples: ['sfstate', 'sfstate --json | jq .hosts', 'sfstate --all'],
  async run(ctx, _args, values) {
    const client = ctx.client();
    const [hosts, domains] = await call(ctx.url, () =>
      Promise.all([client.state.hosts.query(), client.state.domains.query({ all: values.all === true })]),
    );
    ctx.out.result({ hosts, domains }, () =>
      [
        'HOSTS',
        renderTable(hosts, [
          { header: 'NAME', value: (h) => h.name },
          { header: 'STATE', value: (h) => h.state },
          { header: 'CPUS', value: (h) => `${h.cpusUsed}/${h.cpus}`, align: 'right' },
          { header: 'RAM', value: (h) => `${formatBytes(h.ramUsed)}/${formatBytes(h.ram)}`, align: 'right' },
          { header: 'KVM', value: (h) => (h.kvm ? 'yes' : 'no') },
          { header: 'LAST SEEN', value: (h) => h.lastSeen },
          // Since sfmd started: beats read over 1.5 intervals after the previous one, and the longest gap.
          { header: 'LATE BEATS', value: (h) => (h.heartbeat ? `${h.heartbeat.late} (max gap ${h.heartbeat.maxGapMs} ms)` : null) },
        ]),
        '',
        'DOMAINS',
        domains.length === 0
          ? '(none: seed one with sfseed CFG)'
          : renderTable(domains, [
              { header: 'DOMAIN', value: (d) => d.domain },
              { header: 'HOST', value: (d) => d.host },
              { header: 'VCPUS', value: (d) => d.vcpus, align: 'right' },
              { header: 'MEMORY', value: (d) => formatBytes(d.memory), align: 'right' },
              { header: 'STATE', value: (d) => (d.exitCode !== null ? `${d.state}(${d.exitCode})` : d.state) },
              { header: 'IP', value: (d) => d.ip },
              { header: 'MAC', value: (d) => d.mac },
              // What the NIC moved: live while the VM runs, its final counters after.
              { header: 'NET RX/TX', value: (d) => (d.net ? `${formatBytes(d.net.rxBytes)}/${formatBytes(d.net.txBytes)}` : null) },
              // What the disk did: bytes the guest wrote, and the space its own overlay takes (took) on its host.
              {
                header: 'DISK W/OVL',
                value: (d) =>
                  d.disk?.figures ? `${formatBytes(d.disk.figures.writtenBytes)}/${formatBytes(d.disk.figures.overlayBytes)}` : null,
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
    const cluster = await call(ctx.url, () => ctx.client().cluster.seed.mutate({ config }));
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
  usage: 'sf ops [--limit N] [--kind KIND]',
  options: {
    limit: { type: 'string', value: 'N', description: 'how many, newest first (default 20)' },
    kind: { type: 'string', value: 'KIND', description: 'only this kind, e.g. ticket.request' },
  },
  examples: ['sf ops', 'sf ops --kind host.release --json'],
  async run(ctx, _args, values) {
    const limit = typeof values.limit === 'string' ? parseCount(values.limit, '--limit') : 20;
    const kind = typeof values.kind === 'string' ? values.kind : undefined;
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
