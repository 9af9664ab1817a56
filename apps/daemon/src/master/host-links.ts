// sfmd's live links to sflds: the socket of each connected host, and typed commands sent over it
// whose acks carry a Result, checked against the wire contract. A host that is not connected, or does
// not answer in time, is HOST_LOST; an answer the contract does not allow is INTERNAL (an sfld bug).
import type { Socket } from 'socket.io';
import { isErrorCode, messageOf, SfError } from '../common/errors.ts';
import type { HostCommand, HostCommandMap, SfldToSfmdEvents, SfmdToSfldEvents } from '../common/events.ts';
import { hostCommandSchemas, parseWire } from '../common/wire.ts';

export type HostSocket = Socket<SfldToSfmdEvents, SfmdToSfldEvents, Record<string, never>, { host: string }>;

export interface HostLinks {
  isConnected(host: string): boolean;
  command<C extends HostCommand>(
    host: string,
    command: C,
    payload: HostCommandMap[C][0],
    timeoutMs?: number,
  ): Promise<HostCommandMap[C][1]>;
}

export const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;

/** An sfld's ack to a command: the Result of the command map's answer type. */
type CommandAck<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string } };

export class SocketHostLinks implements HostLinks {
  readonly #sockets = new Map<string, HostSocket>();

  attach(host: string, socket: HostSocket): void {
    const previous = this.#sockets.get(host);
    // One sfld per host: a second connection with the same secret replaces the first.
    if (previous && previous !== socket) previous.disconnect(true);
    this.#sockets.set(host, socket);
  }

  detach(host: string, socket: HostSocket): void {
    if (this.#sockets.get(host) === socket) this.#sockets.delete(host);
  }

  isConnected(host: string): boolean {
    return this.#sockets.get(host)?.connected === true;
  }

  async command<C extends HostCommand>(
    host: string,
    command: C,
    payload: HostCommandMap[C][0],
    timeoutMs = DEFAULT_COMMAND_TIMEOUT_MS,
  ): Promise<HostCommandMap[C][1]> {
    const socket = this.#sockets.get(host);
    if (!socket?.connected)
      throw new SfError('HOST_LOST', `host ${host} is not connected: is its sfld running? (sfld status on that host)`);
    let result: CommandAck<HostCommandMap[C][1]>;
    // A socket that closes never acks: fail at once rather than wait out the timeout (an sfld killed
    // mid-fork must not hold the master's clone call for 30 s).
    let onDisconnect: (() => void) | undefined;
    const disconnected = new Promise<never>((_resolve, reject) => {
      onDisconnect = () =>
        reject(new SfError('HOST_LOST', `host ${host}'s sfld disconnected before it answered ${command}: is it running? (sfld status)`));
      socket.once('disconnect', onDisconnect);
    });
    try {
      // The typed emit cannot see through the mapped command type; the map above is the contract.
      const acked = (socket.timeout(timeoutMs) as unknown as { emitWithAck(ev: string, p: unknown): Promise<unknown> }).emitWithAck(
        command,
        payload,
      );
      result = (await Promise.race([acked, disconnected])) as CommandAck<HostCommandMap[C][1]>;
    } catch (err) {
      if (err instanceof SfError) throw err;
      throw new SfError('HOST_LOST', `host ${host} did not answer ${command} within ${timeoutMs} ms`);
    } finally {
      if (onDisconnect) socket.off('disconnect', onDisconnect);
    }
    if (!result || typeof result !== 'object') throw new SfError('INTERNAL', `host ${host} answered ${command} with garbage`);
    if (result.ok) {
      // A record is written from this answer: an sfld bug must not become a wrong record.
      try {
        return parseWire(hostCommandSchemas[command].value, result.value, `answer to ${command}`) as HostCommandMap[C][1];
      } catch (err) {
        throw new SfError('INTERNAL', `host ${host}: ${messageOf(err)}; is its sfld the same version as sfmd?`);
      }
    }
    const error = result.error as { code?: unknown; message?: unknown } | undefined;
    const code = isErrorCode(error?.code) ? error.code : 'INTERNAL';
    throw new SfError(code, `host ${host}: ${typeof error?.message === 'string' ? error.message : `${command} failed without a reason`}`);
  }
}
