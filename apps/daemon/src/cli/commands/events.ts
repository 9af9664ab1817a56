// `sf events` and `sf ops --follow`: sfmd's live feed (the socket.io channel the dashboard listens to) as
// lines for people or NDJSON for programs, until Ctrl-C, which ends them with status 0.
import type { Socket } from 'socket.io-client';
import { messageOf, SfError } from '../../common/errors.ts';
import type { DashboardToSfmdEvents, SfmdToDashboardEvents } from '../../common/events.ts';
import { call } from '../../common/sfmd-client.ts';
import type { OperationView } from '../../master/views.ts';
import type { Command } from '../command.ts';
import { type CommandContext, resolveToken } from '../context.ts';
import { connect } from './console.ts';
import { parseCount } from './guest-args.ts';

type Feed = Socket<SfmdToDashboardEvents, DashboardToSfmdEvents>;

/**
 * Connects to sfmd's dashboard feed, lets `listen` subscribe, and resolves with the exit status once
 * Ctrl-C (or SIGTERM) ends it (0) or sfmd goes away (UNAVAILABLE's status, with a note saying so).
 */
export async function followFeed(ctx: CommandContext, listen: (feed: Feed) => void | Promise<void>): Promise<number> {
  const token = resolveToken(ctx.options, ctx.paths);
  if (!token)
    throw new SfError('UNAUTHORIZED', `no admin token: pass --token, set SNOWFLOCK_TOKEN, or run where ${ctx.paths.adminToken} exists`);
  const feed = await connect(ctx.url, token, ctx.trust);
  try {
    await listen(feed);
    return await new Promise<number>((resolve) => {
      const end = (code: number) => {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
        feed.off('disconnect', onDisconnect);
        resolve(code);
      };
      const onSignal = () => end(0);
      const onDisconnect = (reason: string) => {
        // Our own close (Ctrl-C) is not news; sfmd stopping or dropping us is.
        if (reason !== 'io client disconnect')
          ctx.out.note(`sf: sfmd at ${ctx.url} went away (${reason}): start sf events again once it is back`);
        end(12);
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      feed.on('disconnect', onDisconnect);
    });
  } finally {
    feed.close();
  }
}

/** One event as a record: what --json prints per line, and the line people read. */
export interface EventRecord {
  event: string;
  at: string;
  [field: string]: unknown;
}

export function eventLine(r: EventRecord): string {
  const time = r.at.slice(11, 19);
  switch (r.event) {
    case 'host:state':
      return `${time}  host      ${r.host} is ${r.state}`;
    case 'domain:state':
      return `${time}  domain    ${r.clusterid}:${r.vmid} is ${r.state} on ${r.host}`;
    case 'operation:progress': {
      const pct = r.status === 'running' && typeof r.progress === 'number' && r.progress > 0 ? ` ${Math.round(r.progress * 100)}%` : '';
      return `${time}  operation ${r.kind} ${r.target} ${r.status}${pct}${r.error ? `: ${r.error}` : ''}`;
    }
    case 'host:metrics':
      return `${time}  metrics   ${r.host} cpu ${typeof r.cpuUtilization === 'number' ? `${Math.round(r.cpuUtilization * 100)}%` : '-'}, ${r.domainsRunning} VMs running`;
    default:
      return `${time}  ${r.event}`;
  }
}

export const events: Command = {
  name: 'events',
  summary: 'Follow what happens live: hosts coming and going, domains changing state, operations (Ctrl-C ends).',
  usage: 'sf events [--cluster N] [--metrics] [--json]',
  description:
    'The same live feed the dashboard shows. One line per event; with --json one JSON object per line (NDJSON), ' +
    'each with "event" (host:state, domain:state, operation:progress, host:metrics) and "at".',
  options: {
    cluster: { type: 'string', value: 'N', description: "only this cluster's domains (host and operation events still show)" },
    metrics: { type: 'boolean', description: "also each host's metrics as they arrive (every few seconds per host)" },
  },
  examples: ['sf events', 'sf events --cluster 1', 'sf events --json | jq -c "select(.event == \\"domain:state\\")"'],
  async run(ctx, _args, values) {
    const cluster = typeof values.cluster === 'string' ? parseCount(values.cluster, '--cluster', 0) : null;
    const print = (r: EventRecord) => ctx.out.record(r, () => eventLine(r));
    return followFeed(ctx, (feed) => {
      feed.on('host:state', (e) => print({ event: 'host:state', ...e }));
      feed.on('domain:state', (e) => {
        if (cluster === null || e.clusterid === cluster) print({ event: 'domain:state', ...e });
      });
      feed.on('operation:progress', (e) => print({ event: 'operation:progress', at: new Date().toISOString(), ...e }));
      if (values.metrics === true)
        feed.on('host:metrics-batch', (batch) => {
          for (const m of batch) print({ event: 'host:metrics', at: new Date().toISOString(), ...m });
        });
      ctx.out.note(`[following sfmd at ${ctx.url}; Ctrl-C ends]`);
    });
  },
};

export function operationLine(o: OperationView): string {
  return `${o.startedAt}  ${o.kind.padEnd(18)} ${o.target.padEnd(24)} by ${o.requester.padEnd(12)} ${o.status}${o.error ? `: ${o.error}` : ''}`;
}

/**
 * `sf ops --follow`: the newest `limit` operations (oldest first, like tail -f), then each operation
 * again whenever its status changes: once when it starts, once when it ends.
 */
export function followOperations(ctx: CommandContext, limit: number, kind: string | undefined): Promise<number> {
  const print = (o: OperationView) => ctx.out.record(o, () => operationLine(o));
  const shown = new Map<string, string>();
  // Events are handled one at a time, so lines come out in the order sfmd sent them.
  let queue: Promise<void> = Promise.resolve();
  return followFeed(ctx, async (feed) => {
    feed.on('operation:progress', (e) => {
      if ((kind && e.kind !== kind) || shown.get(e.id) === e.status) return;
      shown.set(e.id, e.status);
      queue = queue.then(async () => {
        const op = await call(ctx.url, () => ctx.client().operations.get.query({ id: e.id })).catch((err: unknown) => {
          ctx.out.note(`sf: operation ${e.id} could not be read: ${messageOf(err)}`);
          return null;
        });
        // The line reports this event's change, even when the record has moved on since.
        if (op) print({ ...op, status: e.status, progress: e.progress, error: e.error });
      });
    });
    // Subscribed first, listed second: an operation that starts in between is not lost.
    const recent = await call(ctx.url, () => ctx.client().operations.list.query({ limit, ...(kind ? { kind } : {}) }));
    for (const o of recent.reverse()) {
      if (shown.has(o.id)) continue; // an event has just told of it
      shown.set(o.id, o.status);
      print(o);
    }
    ctx.out.note('[following new operations; Ctrl-C ends]');
  });
}
