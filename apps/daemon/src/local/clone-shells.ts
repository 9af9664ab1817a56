// Clone shells made ahead of a fork: when a master's ticket is granted, this host prepares one shell per
// clone it may run (KVM VM, vCPUs, empty RAM), so the fork itself only restores state into them.
// Boundary: a cache with a lifetime; the fork (domain-manager.ts) decides when to take them.
import { VirtualMachine } from '@snowflock/native';
import { messageOf } from '../common/errors.ts';
import type { Logger } from '../common/logger.ts';

export interface CloneShape {
  memoryMiB: number;
  vcpus: number;
}

/** Shells not taken by a fork within this time are destroyed (a ticket may be disposed of elsewhere). */
export const SHELL_LIFETIME_MS = 120_000;
/** Never more than this many prepared shells per ticket (they cost kernel memory, not guest RAM). */
export const MAX_SHELLS_PER_TICKET = 64;

interface Entry {
  shells: Promise<VirtualMachine[]>;
  timer: NodeJS.Timeout;
}

export class CloneShells {
  readonly #byTicket = new Map<string, Entry>();

  constructor(
    private readonly log: Logger,
    private readonly lifetimeMs = SHELL_LIFETIME_MS,
  ) {}

  /** Starts preparing `count` shells for `ticket` in the background; failures only mean no shells. */
  prepare(ticket: string, shape: CloneShape, count: number): void {
    if (this.#byTicket.has(ticket) || count < 1) return;
    const n = Math.min(count, MAX_SHELLS_PER_TICKET);
    const shells = (async () => {
      const made: VirtualMachine[] = [];
      // One at a time: shells are made while the master computes, and must not crowd it out.
      for (let i = 0; i < n; i++) {
        try {
          made.push(await VirtualMachine.prepareClone({ memoryMiB: shape.memoryMiB, vcpus: shape.vcpus }));
        } catch (err) {
          this.log.warn({ ticket, err: messageOf(err) }, 'cannot prepare a clone shell; the fork will make its clones from scratch');
          break;
        }
      }
      return made;
    })();
    const timer = setTimeout(() => void this.release(ticket), this.lifetimeMs);
    timer.unref();
    this.#byTicket.set(ticket, { shells, timer });
  }

  /** Up to `n` shells for `ticket` (waiting for those still being made); the rest are destroyed. */
  async take(ticket: string, n: number): Promise<VirtualMachine[]> {
    const entry = this.#byTicket.get(ticket);
    if (!entry) return [];
    this.#byTicket.delete(ticket);
    clearTimeout(entry.timer);
    const shells = await entry.shells;
    await Promise.all(shells.slice(n).map((s) => s.destroy()));
    return shells.slice(0, n);
  }

  /** Destroys the shells of `ticket` (disposed of, merged, or simply not used in time). */
  async release(ticket: string): Promise<void> {
    await this.take(ticket, 0);
  }

  async releaseAll(): Promise<void> {
    await Promise.all([...this.#byTicket.keys()].map((t) => this.release(t)));
  }
}
