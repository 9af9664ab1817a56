// The classic guest-side tools (sfdotix, sfdoclone, sfclone, sfmerge, sfshutdown) and their
// companions (tickets, ticket, dispose, join, exit). Outside a VM they act for --domain C:V.
import type { Command } from '../command.ts';
import { messageOf, SfError } from '../../common/errors.ts';
import { call, waitingCall } from '../../common/sfmd-client.ts';
import type { CommandContext } from '../context.ts';
import { renderTable, formatBytes } from '../output.ts';
import { parseCount, parseSeconds, parseTicket, requireDomain } from './guest-args.ts';
import type { TicketDetail } from '../../master/tickets.ts';
import { tryParseDomainRef } from '../../common/domain-ref.ts';
import { type DomainState, isLiveDomainState } from '../../common/states.ts';
import { withProgress } from '../progress.ts';

const requestOptions = {
  procs: { type: 'boolean', description: "N counts processors, spread over clones of at most the master's vcpus" },
  min: { type: 'string', value: 'M', description: 'accept as few as M (default: any, at least 1)' },
  block: { type: 'boolean', description: 'wait until at least M fit instead of failing' },
  timeout: { type: 'string', value: 'S', description: 'with --block: give up after S seconds (default: wait as long as it takes)' },
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

/** The seed's words for a granted request (§3), which scripts of its users may read. */
function grantedText(t: TicketDetail): string {
  return `Requested ${t.requested} ${t.procs ? 'processors' : 'clones'}, ${t.granted} allocations received.\nTicket is ${t.ticket}`;
}

/** The seed's words for the master's answer to a clone operation. */
const masterText = (nclones: number) => `I am the master with ${nclones} clones (original VM).`;

function requestInput(args: string[], values: Record<string, string | boolean | undefined>) {
  const nclones = parseCount(args[0], 'N (how many clones)');
  const min = typeof values.min === 'string' ? parseCount(values.min, '--min', 0) : 0;
  return { nclones, procs: values.procs === true, min, block: values.block === true };
}

/**
 * A progress probe that counts the domains of the acting cluster (from --domain) that `pick` selects and
 * says it with `say(selected, of)`, where `of` counts those that `among` selects; null (no change) without them.
 */
function domainProbe(
  ctx: CommandContext,
  among: (d: { ticket: string | null; state: DomainState }) => boolean,
  pick: (d: { state: DomainState }) => boolean,
  say: (picked: number, of: number) => string,
): () => Promise<string | null> {
  const ref = tryParseDomainRef(ctx.options.domain ?? '');
  return async () => {
    if (!ref) return null;
    const rows = (await ctx.client().state.domains.query({ all: true, clusterid: ref.clusterid })).filter(among);
    return rows.length === 0 ? null : say(rows.filter(pick).length, rows.length);
  };
}

/** REQUEST_CLONE_TICKET; with --block it waits like the seed's blocking request, as long as it takes unless --timeout. */
function requestTicket(ctx: CommandContext, args: string[], values: Record<string, string | boolean | undefined>) {
  const input = requestInput(args, values);
  const timeoutMs = parseSeconds(values.timeout, '--timeout');
  if (!input.block) return call(ctx.url, () => ctx.client().ticket.request.mutate(input));
  const what = `${input.nclones} ${input.procs ? 'processors' : 'clones'}${input.min > 0 ? ` (at least ${input.min})` : ''}`;
  return withProgress(
    ctx.out.json,
    `waiting for room for ${what}`,
    call(ctx.url, () => waitingCall((wait) => ctx.client().ticket.request.mutate({ ...input, ...wait }), timeoutMs)),
  );
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
    const ticket = await requestTicket(ctx, args, values);
    ctx.out.result(ticket, () => `${grantedText(ticket)}\n${ticketText(ticket)}`);
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
    ctx.out.result(result, () => masterText(result.nclones));
  },
};

/**
 * A failed sfclone gives back the ticket it made, so nothing stays reserved for a clone that never came:
 * disposed while still unused, merged if the fork got as far as making it outstanding. Best effort: the
 * fork's own error is what the user is told.
 */
async function releaseTicket(ctx: CommandContext, id: string): Promise<void> {
  try {
    await call(ctx.url, () => ctx.client().ticket.dispose.mutate({ ticket: id }));
    ctx.out.note(`ticket ${id} disposed`);
  } catch (err) {
    if (!(err instanceof SfError && err.code === 'TICKET_STATE')) {
      ctx.out.note(`ticket ${id} could not be disposed (${messageOf(err)}): sf dispose ${id} gives it back`);
      return;
    }
    await call(ctx.url, () => ctx.client().clone.merge.mutate({ ticket: id })).then(
      () => ctx.out.note(`ticket ${id} merged`),
      (e: unknown) => ctx.out.note(`ticket ${id} could not be merged (${messageOf(e)}): sfmerge ${id} ends it`),
    );
  }
}

export const clone: Command = {
  name: 'clone',
  classic: 'sfclone',
  summary: 'Request a ticket and clone with it in one step (sfdotix + sfdoclone).',
  usage: 'sfclone N [--procs] [--min M] [--block [--timeout S]] --domain C:0',
  options: requestOptions,
  examples: ['sfclone 2 --domain 1:0', 'sfclone 8 --procs --block --domain 1:0 --json'],
  async run(ctx, args, values) {
    requireDomain(ctx, 'sfclone');
    const ticket = await requestTicket(ctx, args, values);
    const cloning = call(ctx.url, () => ctx.client().clone.master.mutate({ ticket: ticket.ticket }));
    const result = await withProgress(
      ctx.out.json,
      `cloning ${ticket.allocations.length} VMs`,
      cloning,
      domainProbe(
        ctx,
        (d) => d.ticket === ticket.ticket,
        (d) => d.state !== 'defined' && d.state !== 'booting',
        (up, of) => `waiting for ${of - up} of ${of} clones`,
      ),
    ).catch(async (err: unknown) => {
      await releaseTicket(ctx, ticket.ticket);
      throw err;
    });
    ctx.out.result({ ...result, allocations: ticket.allocations }, () => `${grantedText(ticket)}\n${masterText(result.nclones)}`);
  },
};

export const merge: Command = {
  name: 'merge',
  classic: 'sfmerge',
  summary: "Merge (end) the clones of a ticket, or of all tickets with '' (seed) or --all (MERGE_MASTER / IC_KILL).",
  usage: "sfmerge TICKET|''|--all --domain C:0",
  options: { all: { type: 'boolean', description: "merge every outstanding ticket of the cluster (the same as TICKET '')" } },
  examples: ['sfmerge 6f1c…-… --domain 1:0', "sfmerge '' --domain 1:0", 'sfmerge --all --domain 1:0'],
  async run(ctx, args, values) {
    requireDomain(ctx, 'sfmerge');
    // The seed's way to say "every ticket" is the empty string.
    const ticket = values.all === true || args[0] === '' ? null : parseTicket(args[0]);
    const result = await call(ctx.url, () => ctx.client().clone.merge.mutate({ ticket }));
    ctx.out.result(result, () =>
      [
        'Attempting to merge virtual cluster...',
        ...(ticket === null
          ? [`Successful merge of ${result.merged.length} ticket(s), ${result.clones} clones`]
          : [`Successful merge for ticket ${ticket}`]),
      ].join('\n'),
    );
  },
};

export const shutdown: Command = {
  name: 'shutdown',
  classic: 'sfshutdown',
  summary: 'Shut the whole cluster down (SHUTDOWN_CLUSTER); refused while clones are out or tickets unmerged, unless --force.',
  usage: 'sfshutdown [--force] --domain C:0',
  options: {
    force: { type: 'boolean', description: 'stop the clones and end the tickets too (beyond the seed: it refuses)' },
  },
  examples: ['sfshutdown --domain 1:0', 'sfshutdown --force --domain 1:0'],
  async run(ctx, _args, values) {
    requireDomain(ctx, 'sfshutdown');
    const force = values.force === true;
    const result = await withProgress(
      ctx.out.json,
      'shutting the cluster down',
      call(ctx.url, () => ctx.client().cluster.shutdown.mutate({ force })),
      domainProbe(
        ctx,
        () => true,
        (d) => isLiveDomainState(d.state),
        (live) => `shutting the cluster down: ${live} domain${live === 1 ? '' : 's'} still up`,
      ),
    );
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
  options: { timeout: { type: 'string', value: 'S', description: 'give up after S seconds (default: wait as long as the clones run)' } },
  examples: ['sf join 6f1c…-… --domain 1:0'],
  async run(ctx, args, values) {
    requireDomain(ctx, 'sf join');
    const id = parseTicket(args[0]);
    const timeoutMs = parseSeconds(values.timeout, '--timeout');
    const result = await withProgress(
      ctx.out.json,
      `waiting for the clones of ${id} to exit`,
      call(ctx.url, () => waitingCall((wait) => ctx.client().clone.join.mutate({ ticket: id, ...wait }), timeoutMs)),
      domainProbe(
        ctx,
        (d) => d.ticket === id,
        (d) => isLiveDomainState(d.state),
        (running, of) => `waiting for ${running} of ${of} clones to exit`,
      ),
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
