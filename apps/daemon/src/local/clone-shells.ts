// Clone shells made ahead of a fork: when a master's ticket is granted, this host prepares one shell per
// clone it may run (KVM VM, vCPUs, empty RAM), so the fork itself only restores state into them.
// Boundary: a cache with a lifetime and a cap; the fork (domain-manager.ts) decides when to take them,
// and the master's own guest calls say when they are no longer wanted (ticket disposed, merged, joined),
// or sfmd does when the ticket ended another way (ticket:ended).
import { SfHypercall, SfStatus, VirtualMachine, type GuestCall, type GuestReply } from '@snowflock/native';
import { messageOf } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

export interface CloneShape {
  memoryMiB: number;
  vcpus: number;
  /** Shells for a fork on another host (its clones come with domain:clone-remote). */
  remote?: boolean;
}

/** Shells not taken by a fork within this time are destroyed (a ticket may be disposed of elsewhere). */
export const SHELL_LIFETIME_MS = 120_000;
/** Never more than this many prepared shells per ticket (they cost kernel memory, not guest RAM). */
export const MAX_SHELLS_PER_TICKET = 64;
/** Never more than this many prepared shells on a host: a new ticket's shells push out the oldest. */
export const MAX_SHELLS_PER_HOST = 128;

interface Entry {
  shells: Promise<VirtualMachine[]>;
  count: number;
  /** Shells still wanted: lowered by take/release so that making stops early. */
  wanted: { n: number };
  timer: NodeJS.Timeout;
}

export type ShellFactory = (shape: CloneShape) => Promise<VirtualMachine>;

const prepareClone: ShellFactory = (shape) =>
  VirtualMachine.prepareClone({ memoryMiB: shape.memoryMiB, vcpus: shape.vcpus, ...(shape.remote ? { remote: true } : {}) });

export class CloneShells {
  /** Oldest first (insertion order): the cap releases from the front. */
  readonly #byTicket = new Map<string, Entry>();

  constructor(
    private readonly log: Logger,
    private readonly lifetimeMs = SHELL_LIFETIME_MS,
    private readonly make: ShellFactory = prepareClone,
    private readonly maxShells = MAX_SHELLS_PER_HOST,
    /** A ticket's shells went unused (released, not taken by a fork): what was prepared with them goes too. */
    private readonly onRelease: (ticket: string) => void = () => {},
  ) {}

  /** Shells held or being made, over all tickets. */
  get count(): number {
    let n = 0;
    for (const e of this.#byTicket.values()) n += e.count;
    return n;
  }

  /**
   * What a master's guest call means for its shells: a granted ticket gets them prepared; a ticket
   * disposed of, merged or joined (its clones are gone) has them released at once.
   */
  afterGuestCall(call: GuestCall, reply: GuestReply, shape: CloneShape | null | undefined): void {
    if (reply.status !== SfStatus.OK) return;
    switch (call.nr) {
      case SfHypercall.TICKET_REQUEST:
        if (reply.ticket && shape) this.prepare(reply.ticket, shape, reply.count ?? 0);
        return;
      case SfHypercall.TICKET_DISPOSE:
      case SfHypercall.CLONE_MERGE:
      case SfHypercall.CLONE_JOIN:
        if (call.request.ticket) void this.release(call.request.ticket);
        return;
    }
  }

  /**
   * Starts preparing `count` shells for `ticket` in the background; failures only mean no shells. `exact`: sfmd's
   * count of this host's share (ticket:shells), which also bounds what the guest's reply started (that counts every
   * clone of the ticket, wherever placed), and a share of 0 means none.
   */
  prepare(ticket: string, shape: CloneShape, count: number, exact = false): void {
    const known = this.#byTicket.get(ticket);
    if (known) {
      if (exact && count < known.wanted.n) {
        known.wanted.n = count; // the making stops there; take() destroys any made beyond it
        known.count = Math.min(known.count, count);
      }
      return;
    }
    if (count < 1 && !exact) return;
    const n = Math.min(count, MAX_SHELLS_PER_TICKET, this.maxShells);
    let held = this.count;
    for (const [oldest, entry] of this.#byTicket) {
      if (held + n <= this.maxShells) break;
      held -= entry.count;
      this.log.info({ ticket: oldest, shells: entry.count }, 'clone shells released to make room for a newer ticket');
      void this.release(oldest);
    }
    const wanted = { n };
    const shells = (async () => {
      const made: VirtualMachine[] = [];
      // One at a time: shells are made while the master computes, and must not crowd it out.
      while (made.length < wanted.n) {
        try {
          made.push(await this.make(shape));
        } catch (err) {
          this.log.warn({ ticket, err: messageOf(err) }, 'cannot prepare a clone shell; the fork will make its clones from scratch');
          break;
        }
      }
      return made;
    })();
    const timer = setTimeout(() => void this.release(ticket), this.lifetimeMs);
    timer.unref();
    this.#byTicket.set(ticket, { shells, count: n, wanted, timer });
  }

  /** Up to `n` shells for `ticket` (waiting for those still being made); the rest are destroyed. */
  async take(ticket: string, n: number): Promise<VirtualMachine[]> {
    const entry = this.#byTicket.get(ticket);
    if (!entry) return [];
    this.#byTicket.delete(ticket);
    clearTimeout(entry.timer);
    entry.wanted.n = Math.min(entry.wanted.n, n);
    const shells = await entry.shells;
    await Promise.all(shells.slice(n).map((s) => s.destroy()));
    return shells.slice(0, n);
  }

  /**
   * Destroys the shells of `ticket` (disposed of, merged, or simply not used in time); returns how many
   * it held or was making (0 for a ticket without shells here).
   */
  async release(ticket: string): Promise<number> {
    const count = this.#byTicket.get(ticket)?.count ?? 0;
    if (count > 0) this.onRelease(ticket);
    await this.take(ticket, 0);
    return count;
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.#byTicket.keys()].map((t) => this.release(t)));
  }
}
