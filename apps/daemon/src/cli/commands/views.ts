// The dashboard's Host View and Cluster View in the terminal: `sf hosts`, `sf clusters` and `sf cluster show
// ID`, read from the same sfmd procedures the dashboard's pages read (dashboard.overview, cluster.list, dashboard.cluster).
import { SfError } from '../../common/errors.ts';
import { call } from '../../common/sfmd-client.ts';
import type { Command } from '../command.ts';
import { domainBasicColumns, formatBytes, renderTable } from '../output.ts';
import { parseCount } from './guest-args.ts';
import { operationLine } from './events.ts';

const percent = (fraction: number) => `${Math.round(fraction * 100)}%`;

function uptime(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  return h >= 24
    ? `${Math.floor(h / 24)}d${h % 24}h`
    : h > 0
      ? `${h}h${Math.floor((seconds % 3600) / 60)}m`
      : `${Math.floor(seconds / 60)}m`;
}

export const hosts: Command = {
  name: 'hosts',
  summary: "The Host View: each host's state, KVM, CPUs and RAM reserved and in use, load, and the domains on it.",
  usage: 'sf hosts [--json|--format yaml]',
  description:
    "What the dashboard's Host View shows, from the same call (dashboard.overview, without the chart history). " +
    'CPUS and RAM are reserved/total, then what the machine itself uses (busy, in use) from its latest metrics.',
  examples: ['sf hosts', 'sf hosts --json | jq ".hosts[] | {name, state}"'],
  async run(ctx) {
    const { history: _charts, ...view } = await call(ctx.url, () => ctx.client().dashboard.overview.query());
    ctx.out.result(view, () => {
      const on = (host: string) => view.domains.filter((d) => d.host === host).map((d) => `${d.domain}(${d.state})`);
      return view.hosts.length === 0
        ? '(no hosts: list them in cluster_hosts of sfmd.cfg)'
        : renderTable(view.hosts, [
            { header: 'HOST', value: (h) => h.name },
            { header: 'STATE', value: (h) => h.state },
            { header: 'KVM', value: (h) => (h.registeredAt ? (h.kvm ? 'yes' : 'no') : null) },
            {
              header: 'CPUS',
              value: (h) =>
                `${h.cpusUsed}/${h.cpus}${h.state === 'online' && h.metrics ? ` ${percent(h.metrics.cpuUtilization)} busy` : ''}`,
            },
            {
              header: 'RAM',
              value: (h) =>
                `${formatBytes(h.ramUsed)}/${formatBytes(h.ram)}${
                  h.state === 'online' && h.metrics ? ` ${formatBytes(h.metrics.memTotal - h.metrics.memAvailable)} in use` : ''
                }`,
            },
            { header: 'LOAD', value: (h) => (h.state === 'online' && h.metrics ? h.metrics.load1.toFixed(2) : null) },
            { header: 'UP', value: (h) => (h.state === 'online' && h.metrics ? uptime(h.metrics.uptimeSeconds) : null) },
            { header: 'LAST SEEN', value: (h) => (h.state === 'online' ? null : h.lastSeen) },
            { header: 'DOMAINS', value: (h) => on(h.name).join(' ') || null },
          ]);
    });
  },
};

export const clusters: Command = {
  name: 'clusters',
  summary: 'Every cluster: its state, how many domains are live, when it started and ended.',
  usage: 'sf clusters [--json|--format yaml]',
  examples: ['sf clusters', 'sf clusters --format yaml'],
  async run(ctx) {
    const list = await call(ctx.url, () => ctx.client().cluster.list.query());
    ctx.out.result(list, () =>
      list.length === 0
        ? '(no clusters: seed one with sfseed CFG)'
        : renderTable(list, [
            { header: 'CLUSTER', value: (c) => c.clusterid, align: 'right' },
            { header: 'NAME', value: (c) => c.name },
            { header: 'STATE', value: (c) => c.state },
            { header: 'LIVE', value: (c) => c.liveDomains, align: 'right' },
            { header: 'CREATED', value: (c) => c.createdAt },
            { header: 'ENDED', value: (c) => c.endedAt },
          ]),
    );
  },
};

export const cluster: Command = {
  name: 'cluster',
  summary: "The Cluster View of one cluster: its domains, tickets with their allocation maps, clones' figures, operations.",
  usage: 'sf cluster show ID [--json|--format yaml]',
  description: "What the dashboard's page of the cluster shows, from the same call (dashboard.cluster).",
  args: [['show'], 'cluster'],
  examples: ['sf cluster show 1', 'sf cluster show 1 --json | jq ".tickets[].allocations"'],
  async run(ctx, args) {
    if (args[0] !== 'show')
      throw new SfError('BAD_INPUT', `unknown action '${args[0] ?? ''}': use sf cluster show ID (sf clusters lists them)`);
    const clusterid = parseCount(args[1], 'ID (a cluster id: sf clusters lists them)', 0);
    const view = await call(ctx.url, () => ctx.client().dashboard.cluster.query({ clusterid }));
    ctx.out.result(view, () => {
      const seed = view.seedConfig;
      const figures = view.figures as Record<
        string,
        { host: string; latest: { faults: number; pagesFetched: number; present: number; faultP99Ns: number } }
      >;
      return [
        `cluster ${view.clusterid}${view.name ? ` (${view.name})` : ''}: ${view.state}, created ${view.createdAt}${view.endedAt ? `, ended ${view.endedAt}` : ''}`,
        `  seed: ${seed.kernel ? `kernel ${seed.kernel}` : `disk ${seed.diskImage}`}, ${seed.vcpus} vcpus, ${seed.memoryMiB} MiB${seed.args ? `, args '${seed.args}'` : ''}`,
        '',
        'DOMAINS',
        renderTable(view.domains, [
          ...domainBasicColumns<(typeof view.domains)[number]>(),
          { header: 'TICKET', value: (d) => d.ticket?.slice(0, 8) },
          // A lazy clone's memory: page faults served, pages fetched from the snapshot, pages it holds, p99 fault time.
          {
            header: 'FAULTS/FETCHED/HELD',
            value: (d) => {
              const f = figures[String(Number(d.domain.split(':')[1]))]?.latest;
              return f ? `${f.faults}/${f.pagesFetched}/${f.present}` : null;
            },
          },
          { header: 'REASON', value: (d) => d.endReason },
        ]),
        '',
        'TICKETS',
        view.tickets.length === 0
          ? '(none)'
          : renderTable(view.tickets, [
              { header: 'TICKET', value: (t) => t.ticket },
              { header: 'STATE', value: (t) => t.state },
              { header: 'GRANTED', value: (t) => `${t.granted}/${t.requested}${t.procs ? ' procs' : ''}`, align: 'right' },
              {
                header: 'ALLOCATION MAP (VMID→HOST:PROCESSORS)',
                value: (t) => t.allocations.map((a) => `${a.vmid}→${a.host}:${a.processors}`).join(' '),
              },
            ]),
        '',
        'OPERATIONS (newest first)',
        view.operations.length === 0 ? '(none)' : view.operations.map(operationLine).join('\n'),
      ].join('\n');
    });
  },
};

export const viewCommands = [hosts, clusters, cluster];
