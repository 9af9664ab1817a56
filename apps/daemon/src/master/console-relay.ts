// Consoles through sfmd: a dashboard (or `sf console`) subscribes to a domain and gets the replay
// from the domain's sfld, then live chunks; keystrokes go back to that sfld. Chunks are relayed only
// from the host that holds the domain, in the order they arrive.
import type { Namespace, Socket } from 'socket.io';
import { fail, SfError } from '../common/errors.ts';
import type { DashboardToSfmdEvents, SfmdToDashboardEvents } from '../common/events.ts';
import { consoleChunkSchema, domainAddressSchema, type DomainAddress } from '../common/wire.ts';
import { findLatestDomain, findLiveDomain } from './domains.ts';
import type { MasterServices } from './services.ts';
import type { TokenRole } from './store/states.ts';

/** Throws (UNAUTHORIZED, FORBIDDEN) unless the socket's token may now do what needs `role`. */
export type RoleCheck = (role: TokenRole) => void;

const roomOf = (a: DomainAddress) => `console:${a.clusterid}:${a.vmid}`;

type DashNamespace = Namespace<DashboardToSfmdEvents, SfmdToDashboardEvents>;
type DashSocket = Socket<DashboardToSfmdEvents, SfmdToDashboardEvents>;

export class ConsoleRelay {
  /** room → the host whose sfld holds that console (learnt when someone subscribes). */
  readonly #holder = new Map<string, string>();

  constructor(
    private readonly svc: MasterServices,
    private readonly dash: DashNamespace,
  ) {}

  /** The domain a console call names: live for input; an ended one can still be read. */
  async #target(address: unknown, live: boolean) {
    const parsed = domainAddressSchema.safeParse(address);
    if (!parsed.success) throw new SfError('BAD_INPUT', 'name the domain as {clusterid, vmid}');
    return live ? findLiveDomain(this.svc, parsed.data) : findLatestDomain(this.svc, parsed.data);
  }

  /** A chunk an sfld sent: relayed if someone listens and the sender holds that console. */
  fromHost(host: string, chunk: unknown): void {
    const parsed = consoleChunkSchema.safeParse(chunk);
    if (!parsed.success) return;
    const room = roomOf(parsed.data);
    if (this.#holder.get(room) === host && this.dash.adapter.rooms.get(room)?.size) this.dash.to(room).emit('domain:console', parsed.data);
  }

  serve(socket: DashSocket, may: RoleCheck): void {
    socket.on('console:subscribe', async (address, ack) => {
      if (typeof ack !== 'function') return;
      try {
        may('read');
        const domain = await this.#target(address, false);
        const where = { clusterid: domain.cluster.clusterid, vmid: domain.vmid };
        const { data } = await this.svc.links.command(domain.host.name, 'domain:console-replay', where);
        this.#holder.set(roomOf(where), domain.host.name);
        await socket.join(roomOf(where));
        ack({ ok: true, value: { replay: data } });
      } catch (err) {
        ack(fail(err, (leaked) => this.svc.log.error({ err: leaked }, 'console subscription failed')));
      }
    });
    socket.on('console:unsubscribe', (address) => {
      const parsed = domainAddressSchema.safeParse(address);
      if (parsed.success) void socket.leave(roomOf(parsed.data));
    });
    socket.on('console:input', async (input, ack) => {
      if (typeof ack !== 'function') return;
      try {
        may('operate');
        const parsed = consoleChunkSchema.safeParse(input);
        if (!parsed.success) throw new SfError('BAD_INPUT', 'console input needs {clusterid, vmid, data} with at most 64 KiB of data');
        const domain = await this.#target(parsed.data, true);
        ack({ ok: true, value: await this.svc.links.command(domain.host.name, 'domain:input', parsed.data) });
      } catch (err) {
        ack(fail(err, (leaked) => this.svc.log.error({ err: leaked }, 'console input failed')));
      }
    });
  }
}
