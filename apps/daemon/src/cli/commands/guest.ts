// The classic guest-side tools (sfdotix, sfdoclone, sfclone, sfmerge, sfshutdown) and their
// companions (tickets, ticket, dispose, join, exit). Outside a VM they act for --domain C:V.
import type { Command } from '../command.ts';
import { call } from '../../common/sfmd-client.ts';
import { renderTable, formatBytes } from '../output.ts';
import { parseCount, parseSeconds, parseTicket, requireDomain } from './guest-args.ts';
import type { TicketDetail } from '../../master/tickets.ts';

const requestOptions = {
  procs: { type: 'boolean', description: "N counts processors, spread over clones of at most the master's vcpus" },
  min: { type: 'string', value: 'M', description: 'accept as few as M (default: any, at least 1)' },
  block: { type: 'boolean', description: 'wait until at least M fit instead of failing' },
  timeout: { type: 'string', value: 'S', description: 'with --block: give up after S seconds (default 60)' },
} as const;

function ticketText(t: TicketDetail): string {
  return [
    `ticket ${t.ticket} (${t.state}): ${t.granted} of ${t.requested} ${t.procs ? 'processors' : 'clones'} granted`,
    renderTable(t.allocations, [
      { header: 'VMID', value: (a) => a.vmid, align: 'right' },
      { header: 'HOST', value: (a) => a.host },
      { header: 'PROCESSORS', value: (a) => a.processors, align: 'right' },
      { header: 'MEMORY', value: (a) => formatBytes(a.memory), align: 'right' },
    ]),
  ].join('\n');
}

function requestInput(args: string[], values: Record<string, string | boolean | undefined>) {
  const nclones = parseCount(args[0], 'N (how many clones)');
  const min = typeof values.min === 'string' ? parseCount(values.min, '--min', 0) : 0;
  const timeoutMs = parseSeconds(values.timeout, '--timeout');
  return { nclones, procs: values.procs === true, min, block: values.block === true, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}

export const dotix: Command = {
  name: 'dotix',
  classic: 'sfdotix',
  summary: 'Request a clone ticket: reserve resources for up to N clones (REQUEST_CLONE_TICKET).',
  usage: 'sfdotix N [--procs] [--min M] [--block [--timeout S]] --domain C:0',
  options: requestOptions,
  examples: ['sfdotix 4 --domain 1:0', 'sfdotix 16 --procs --min 4 --block --timeout 120 --domain 1:0 --json'],
  async run(ctx, args, values) {
    requireDomain(ctx, 'sfdotix');
    const input = requestInput(args, values);
    const ticket = await call(ctx.url, () => ctx.client().ticket.request.mutate(input));
    ctx.out.result(ticket, () => ticketText(ticket));
  },
};

export const doclone: Command = {
  name: 'doclone',
  classic: 'sfdoclone',
  summary: 'Clone the master with a ticket (CLONE_MASTER); the master gets vmid 0.',
  usage: 'sfdoclone TICKET --domain C:0',
  examples: ['sfdoclone 6f1c…-… --domain 1:0'],
  async run(ctx, args) {
    requireDomain(ctx, 'sfdoclone');
    const ticket = parseTicket(args[0]);
    const result = await call(ctx.url, () => ctx.client().clone.master.mutate({ ticket }));
    ctx.out.result(result, () => `cloned ${result.nclones} VMs on ticket ${result.ticket}; this is vmid ${result.vmid}`);
  },
};

export const clone: Command = {
  name: 'clone',
  classic: 'sfclone',
  summary: 'Request a ticket and clone with it in one step (sfdotix + sfdoclone).',
  usage: 'sfclone N [--procs] [--min M] [--block [--timeout S]] --domain C:0',
  options: requestOptions,
  examples: ['sfclone 2 --domain 1:0', 'sfclone 8 --procs --block --domain 1:0 --json'],
  async run(ctx, args, values) {
    requireDomain(ctx, 'sfclone');
    const input = requestInput(args, values);
    const ticket = await call(ctx.url, () => ctx.client().ticket.request.mutate(input));
    ctx.out.note(`ticket ${ticket.ticket}: ${ticket.granted} granted`);
    const result = await call(ctx.url, () => ctx.client().clone.master.mutate({ ticket: ticket.ticket }));
    ctx.out.result(
      { ...result, allocations: ticket.allocations },
      () => `cloned ${result.nclones} VMs on ticket ${result.ticket}; this is vmid ${result.vmid}`,
    );
  },
};

export const merge: Command = {
  name: 'merge',
  classic: 'sfmerge',
  summary: 'Merge (end) the clones of a ticket, or of all tickets with --all (MERGE_MASTER / IC_KILL).',
  usage: 'sfmerge TICKET|--all --domain C:0',
  options: { all: { type: 'boolean', description: 'merge every outstanding ticket of the cluster' } },
  examples: ['sfmerge 6f1c…-… --domain 1:0', 'sfmerge --all --domain 1:0'],
  async run(ctx, args, values) {
    requireDomain(ctx, 'sfmerge');
    const ticket = values.all === true ? null : parseTicket(args[0]);
    const result = await call(ctx.url, () => ctx.client().clone.merge.mutate({ ticket }));
    ctx.out.result(result, () => `merged ${result.clones} clones of ${result.merged.length} ticket(s)`);
  },
};

export const shutdown: Command = {
  name: 'shutdown',
  classic: 'sfshutdown',
  summary: 'Shut the whole cluster down: every VM stops and its resources are released (SHUTDOWN_CLUSTER).',
  usage: 'sfshutdown --domain C:0',
  examples: ['sfshutdown --domain 1:0'],
  async run(ctx) {
    requireDomain(ctx, 'sfshutdown');
    const result = await call(ctx.url, () => ctx.client().cluster.shutdown.mutate());
    ctx.out.result(result, () => `cluster ${result.clusterid} is ${result.state}`);
  },
};

export const tickets: Command = {
  name: 'tickets',
  summary: "List the cluster's unused and outstanding tickets (LIST_TICKETS).",
  usage: 'sf tickets --domain C:0',
  examples: ['sf tickets --domain 1:0 --json'],
  async run(ctx) {
    requireDomain(ctx, 'sf tickets');
    const list = await call(ctx.url, () => ctx.client().ticket.list.query());
    ctx.out.result(
      list,
      () => [...list.unused.map((t) => `${t}  unused`), ...list.outstanding.map((t) => `${t}  outstanding`)].join('\n') || 'no tickets',
    );
  },
};

export const ticket: Command = {
  name: 'ticket',
  summary: "Show a ticket's allocation: vmid → host and processors (READ_TICKET_INFO).",
  usage: 'sf ticket TICKET --domain C:0',
  examples: ['sf ticket 6f1c…-… --domain 1:0'],
  async run(ctx, args) {
    requireDomain(ctx, 'sf ticket');
    const id = parseTicket(args[0]);
    const info = await call(ctx.url, () => ctx.client().ticket.info.query({ ticket: id }));
    ctx.out.result(info, () => ticketText(info));
  },
};

export const dispose: Command = {
  name: 'dispose',
  summary: "Give back an unused ticket's reservations (DISPOSE_TICKET).",
  usage: 'sf dispose TICKET --domain C:0',
  examples: ['sf dispose 6f1c…-… --domain 1:0'],
  async run(ctx, args) {
    requireDomain(ctx, 'sf dispose');
    const id = parseTicket(args[0]);
    const info = await call(ctx.url, () => ctx.client().ticket.dispose.mutate({ ticket: id }));
    ctx.out.result(info, () => `ticket ${info.ticket} disposed`);
  },
};

export const join: Command = {
  name: 'join',
  summary: 'Wait until every clone of a ticket has exited, then merge it (IC_JOIN).',
  usage: 'sf join TICKET [--timeout S] --domain C:0',
  options: { timeout: { type: 'string', value: 'S', description: 'give up after S seconds (default 600)' } },
  examples: ['sf join 6f1c…-… --domain 1:0'],
  async run(ctx, args, values) {
    requireDomain(ctx, 'sf join');
    const id = parseTicket(args[0]);
    const timeoutMs = parseSeconds(values.timeout, '--timeout');
    const result = await call(ctx.url, () =>
      ctx.client().clone.join.mutate({ ticket: id, ...(timeoutMs !== undefined ? { timeoutMs } : {}) }),
    );
    ctx.out.result(result, () => `all ${result.clones} clones of ${result.ticket} exited; merged`);
  },
};

export const exit: Command = {
  name: 'exit',
  summary: 'A clone says it is done (IC_EXIT); its resources return to the pool.',
  usage: 'sf exit [STATUS] --domain C:V',
  examples: ['sf exit 0 --domain 1:3'],
  async run(ctx, args) {
    requireDomain(ctx, 'sf exit');
    const status = args[0] === undefined ? 0 : parseCount(args[0], 'STATUS', 0);
    const result = await call(ctx.url, () => ctx.client().clone.exit.mutate({ status }));
    ctx.out.result(result, () => `domain ${result.clusterid}:${result.vmid} exited with status ${result.status}`);
  },
};

export const guestCommands = [dotix, doclone, clone, merge, shutdown, tickets, ticket, dispose, join, exit];
