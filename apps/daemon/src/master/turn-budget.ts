// How long the current turn of sfmd's event loop has been serving API calls: the edge refuses further calls
// in a turn that has spent its budget, so that every turn stays short (libuv accepts one new connection per
// turn, and /healthz and hosts' messages are read once per turn).
import { performance } from 'node:perf_hooks';

/**
 * Time a turn may spend on admin and anonymous calls before more are refused. sfmd answers a typical call in
 * 1–2 ms; a turn of 20 ms still serves a dozen, and keeps /healthz, a host's registration or a new connection
 * within a few tens of milliseconds however many calls are waiting.
 */
export const TURN_BUDGET_MS = 20;

/**
 * Why per turn and not per second: Node answers every request that is readable in one turn before it polls
 * again, so a flood over hundreds of connections makes each turn long without any single call being slow —
 * no rate, concurrency or delay limit sees it, but everyone else waits for the turn to end.
 */
export class TurnBudget {
  #startedAt: number | null = null;

  constructor(
    readonly budgetMs = TURN_BUDGET_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** Whether this turn has spent its budget; the first call in a turn starts the clock. */
  spent(): boolean {
    if (this.#startedAt === null) {
      this.#startedAt = this.now();
      // setImmediate runs after the poll phase that is reading these requests: the next turn starts afresh.
      setImmediate(() => {
        this.#startedAt = null;
      });
      return false;
    }
    return this.now() - this.#startedAt >= this.budgetMs;
  }

  /** How long this turn has served calls, in ms (0 between turns). */
  elapsed(): number {
    return this.#startedAt === null ? 0 : this.now() - this.#startedAt;
  }
}
