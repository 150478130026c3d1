import { createHmac } from 'node:crypto';
import type { DisclosurePolicy } from './types.js';

/**
 * Keyed, deterministic random rounding of published counts (issue 18, defect 2) — the idea of the ONS cell-key
 * method (a perturbation that is random to the reader but the same every time the same cell is published).
 *
 * A count x that is not a multiple of R is published as ⌊x⌋_R or ⌈x⌉_R (multiples of R), rounding up with
 * probability (x mod R)/R (unbiased), the draw being u = HMAC-SHA256(key, "<scope>|<x>") / 2⁴⁸ from a secret key.
 * So:
 *  - the same count in the same scope is always published the same way: re-publishing a cell (a refresh, another
 *    indicator or period holding the same count for the same organisation) gives the same figure, and comparing
 *    them tells nothing;
 *  - a count that changes by 1 gets a fresh draw: where the rounding boundary falls is unknown to the reader, so a
 *    pair of snapshots differing by one person does not pin either count (nearest rounding would: 42 → 40 and
 *    43 → 45 says "42 then 43" to a reader who knows one person left);
 *  - a published P says only x ∈ (P − R, P + R).
 * The scope is the organisation code (or a fixed name such as "opt-outs"): not the indicator or period, so the same
 * count of the same organisation is published the same way everywhere. Counts from 1 to T are suppressed before
 * this (disclosure.ts); a count above T never publishes at or below T (it is rounded up instead), so a published
 * figure never looks like a small count. Zero stays 0. Strata used only inside a computation (standardisation) are
 * rounded with `keyedRoundRaw` (no floor; 0 allowed).
 */

/** The key for cell-key rounding, derived from the service's long-lived indicator secret. */
export function cellKeyFrom(secret: Uint8Array): Buffer {
  return createHmac('sha256', secret).update('indicator-disclosure-cell-key', 'utf8').digest();
}

/** The keyed uniform draw in [0, 1) for a count in a scope. */
export function cellDraw(key: Uint8Array, scope: string, count: number): number {
  const h = createHmac('sha256', key).update(`${scope}|${count}`, 'utf8').digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/** Keyed unbiased random rounding to a multiple of `rounding` (0 allowed). */
export function keyedRoundRaw(count: number, rounding: number, key: Uint8Array, scope: string): number {
  if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`counts must be integers ≥ 0, got ${count}`);
  const rest = count % rounding;
  if (rest === 0) return count;
  const down = count - rest;
  return cellDraw(key, scope, count) < rest / rounding ? down + rounding : down;
}

/**
 * The published figure of a publishable count (0, or above the threshold): keyed random rounding, never landing
 * at or below the threshold for a count above it.
 */
export function keyedRound(count: number, policy: DisclosurePolicy, key: Uint8Array, scope: string): number {
  if (count === 0) return 0;
  const r = keyedRoundRaw(count, policy.rounding, key, scope);
  if (count > policy.threshold && r <= policy.threshold) return Math.ceil((policy.threshold + 1) / policy.rounding) * policy.rounding;
  return r;
}

/** What a reader can tell from a published figure P alone: the counts that could have been published as P. */
export function countsBehind(published: number, policy: DisclosurePolicy): [number, number] {
  if (published === 0) return [0, 0];
  const floor = Math.ceil((policy.threshold + 1) / policy.rounding) * policy.rounding;
  const lo = Math.max(policy.threshold + 1, published - policy.rounding + 1);
  const hi = published + policy.rounding - 1;
  return published === floor ? [policy.threshold + 1, hi] : [lo, hi];
}
