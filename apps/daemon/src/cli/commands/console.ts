// `sf console DOMAIN`: follows a domain's serial console through sfmd (the last 64 KiB replayed
// first) and types what you type into it. Ctrl-] detaches; --once prints the replay and exits.
import { io, type Socket } from 'socket.io-client';
import { parseDomainRef } from '../../common/domain-ref.ts';
import { messageOf, SfError, type Result } from '../../common/errors.ts';
import { DASHBOARD_NAMESPACE, type DashboardToSfmdEvents, type SfmdToDashboardEvents } from '../../common/events.ts';
import type { ConsoleReplay } from '../../common/wire.ts';
import type { Command } from '../command.ts';
import { resolveToken } from '../context.ts';
import { socketCause, type SfmdTrust, sfmdSocketOptions } from '../../common/pinned-tls.ts';

const DETACH = 0x1d; // Ctrl-]

/** A socket on sfmd's dashboard namespace (consoles); sfmpirun follows every rank through one too. */
export function connect(url: string, token: string, trust: SfmdTrust): Promise<Socket<SfmdToDashboardEvents, DashboardToSfmdEvents>> {
  return new Promise((resolve, reject) => {
    const socket: Socket<SfmdToDashboardEvents, DashboardToSfmdEvents> = io(`${url}${DASHBOARD_NAMESPACE}`, {
      auth: { token },
      transports: ['websocket'],
      reconnection: false,
      ...sfmdSocketOptions(url, trust),
    });
    socket.once('connect', () => resolve(socket));
    socket.once('connect_error', (err) => {
      socket.close();
      const refused = socketCause(err);
      if (refused) return reject(refused);
      reject(new SfError(/token/.test(err.message) ? 'UNAUTHORIZED' : 'UNAVAILABLE', `cannot attach to sfmd at ${url}: ${err.message}`));
    });
  });
}

export function unwrap<T>(result: Result<T>): T {
  if (result.ok) return result.value;
  throw new SfError(result.error.code, result.error.message);
}

export const consoleCommand: Command = {
  name: 'console',
  args: ['domain'],
  summary: "Follow a domain's serial console and type into it (Ctrl-] to detach).",
  usage: 'sf console CLUSTER:VMID [--once] [--json]',
  description: 'The last 64 KiB of output are replayed first. With --json each chunk is a JSON line {domain, data}.',
  options: { once: { type: 'boolean', description: 'print what the console holds now and exit' } },
  examples: ['sf console 1:0', 'sf console 1:0 --once', 'echo help | sf console 1:0'],
  async run(ctx, args, values) {
    if (!args[0]) throw new SfError('BAD_INPUT', 'name the domain: sf console CLUSTER:VMID (see sfstate)');
    const address = parseDomainRef(args[0]);
    const token = resolveToken(ctx.options, ctx.paths);
    if (!token) throw new SfError('UNAUTHORIZED', `no admin token: pass --token or set SNOWFLOCK_TOKEN`);
    const socket = await connect(ctx.url, token, ctx.trust);
    const print = (data: Buffer) => {
      if (ctx.options.json) process.stdout.write(`${JSON.stringify({ domain: args[0], data: data.toString('utf8') })}\n`);
      else process.stdout.write(data);
    };
    try {
      const { replay } = unwrap((await socket.timeout(30_000).emitWithAck('console:subscribe', address)) as Result<ConsoleReplay>);
      print(Buffer.from(replay));
      if (values.once === true) return 0;
      socket.on('domain:console', (chunk) => {
        if (chunk.clusterid === address.clusterid && chunk.vmid === address.vmid) print(Buffer.from(chunk.data));
      });
      ctx.out.note(`[attached to ${args[0]}; Ctrl-] detaches]`);
      return await new Promise<number>((resolve) => {
        const finish = (code: number) => {
          socket.off('disconnect', onDisconnect);
          if (process.stdin.isTTY) process.stdin.setRawMode(false);
          process.stdin.pause();
          resolve(code);
        };
        const onDisconnect = () => {
          ctx.out.note('[sfmd went away]');
          finish(12);
        };
        socket.on('disconnect', onDisconnect);
        if (process.stdin.isTTY) process.stdin.setRawMode(true);
        process.stdin.on('data', (data: Buffer) => {
          const detach = data.indexOf(DETACH);
          const keys = detach >= 0 ? data.subarray(0, detach) : data;
          if (keys.length > 0) {
            socket
              .timeout(10_000)
              .emitWithAck('console:input', { ...address, data: keys })
              .then(unwrap, (err: unknown) => ctx.out.note(`[input lost: ${messageOf(err)}]`));
          }
          if (detach >= 0) finish(0);
        });
        process.stdin.on('end', () => {
          /* piped input done: keep following until Ctrl-C */
        });
      });
    } finally {
      socket.close();
    }
  },
};
