// Checks on what snowflock.node hands back where a wrapper does not take the binding's word for it (counters, guest
// calls, VM states), so a stale binary fails loudly. Boundary: the checks; each caller names the error it becomes.
import { describe } from './argument-checks.ts';
import { VmError } from './errors.ts';

/** The native VM answered with something of the wrong shape: a TypeError naming the field. */
export function shapeError(what: string, value: unknown): never {
  throw new TypeError(`native VM: ${what} has an unexpected shape (${describe(value)}); rebuild the native addon.`);
}

/** A malformed addon answer: VmError('INTERNAL') naming the field. */
export function malformedAnswer(what: string, value: unknown): never {
  throw new VmError('INTERNAL', `The native addon returned a malformed ${what} (${String(value)}).`);
}

/**
 * A fresh record of `keys` read from `value`, each a finite non-negative number; `onBad` throws for the first
 * that is not (a `value` that is no object has none of them).
 */
export function readCounters<K extends string>(
  value: unknown,
  keys: readonly K[],
  onBad: (key: K, value: unknown) => never,
): Record<K, number> {
  const o = (typeof value === 'object' && value !== null ? value : {}) as Partial<Record<K, unknown>>;
  const out = {} as Record<K, number>;
  for (const k of keys) {
    const v = o[k];
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) onBad(k, v);
    out[k] = v;
  }
  return out;
}
