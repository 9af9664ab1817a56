// How long one call of a waiting procedure (a blocking ticket request, a join) may hold its HTTP request:
// as long as the caller's own time limit (none: wait like waitpid), or less when the client asks to be
// answered "still waiting" after pollMs, so no HTTP timeout in between ever cuts a long wait.
import { SfError } from '../common/errors.ts';

export interface WaitInput {
  /** The caller's limit for the whole wait; absent: no limit. */
  timeoutMs?: number | undefined;
  /** Answer STILL_WAITING after this long; the client then asks again. */
  pollMs?: number | undefined;
  /** Aborts when the caller disconnects: its wait ends with it. */
  signal?: AbortSignal | undefined;
}

export interface WaitWindow {
  /** How long this call waits (Infinity: until done). */
  limitMs: number;
  /** True when the window ends before the caller's limit: running out means "ask again", not a timeout. */
  pollOnly: boolean;
}

export function waitWindow(input: WaitInput): WaitWindow {
  const limit = input.timeoutMs ?? Number.POSITIVE_INFINITY;
  if (input.pollMs !== undefined && input.pollMs < limit) return { limitMs: input.pollMs, pollOnly: true };
  return { limitMs: limit, pollOnly: false };
}

/** What a waiting procedure answers when its poll window ends first: the client calls again. */
export function stillWaiting(what: string): SfError {
  return new SfError('STILL_WAITING', `still waiting for ${what}: call again to go on waiting`);
}
