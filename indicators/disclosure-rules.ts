/**
 * The primary disclosure rules for one count on its own: the policy (threshold, rounding), rounding, and
 * suppression of small counts. Secondary suppression across a table is in suppression-graph.ts; the whole
 * method is described in disclosure.ts.
 */
import type { DisclosurePolicy, PublishedCount } from './types.js';

/** The default policy: counts 1–7 suppressed, everything else rounded to the nearest 5. */
export const DEFAULT_POLICY: Readonly<DisclosurePolicy> = Object.freeze({ threshold: 7, rounding: 5 });

/** Throws a RangeError unless the threshold is an integer ≥ 0 and the rounding an integer ≥ 1. */
export function checkPolicy(policy: DisclosurePolicy): void {
  if (!Number.isInteger(policy.threshold) || policy.threshold < 0) throw new RangeError('disclosure threshold must be an integer ≥ 0');
  if (!Number.isInteger(policy.rounding) || policy.rounding < 1) throw new RangeError('disclosure rounding must be an integer ≥ 1');
}

/** Nearest multiple of `rounding` (halves up); a positive count never becomes 0. */
export function roundCount(count: number, policy: DisclosurePolicy = DEFAULT_POLICY): number {
  const r = Math.round(count / policy.rounding) * policy.rounding;
  return count > 0 && r === 0 ? policy.rounding : r;
}

/** Primary rule for one count on its own (no secondary suppression). */
export function publishCount(count: number, policy: DisclosurePolicy = DEFAULT_POLICY): PublishedCount {
  checkCount(count, 'count');
  if (count >= 1 && count <= policy.threshold) return { value: null, suppressed: true, reason: 'small-count' };
  return { value: roundCount(count, policy), suppressed: false };
}

/** n/d × per, or null when not publishable or d = 0 (publish.ts passes the PUBLISHED counts, never the exact ones). */
export function valueFromUnrounded(numerator: number, denominator: number, publishable: boolean, per = 1): number | null {
  return publishable && denominator > 0 ? (numerator / denominator) * per : null;
}

/** Throws a RangeError unless `count` is an integer ≥ 0 (`where` names the cell). */
export function checkCount(count: number, where: string): void {
  if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`${where}: counts must be integers ≥ 0, got ${count}`);
}

/** The disclosure rule in words (JSON catalogue, metadata CSV and the public pages). */
export function disclosureText(policy: DisclosurePolicy): string {
  return (
    `Counts from 1 to ${policy.threshold} are suppressed, and so is any further cell from which a suppressed one could be ` +
    `worked out (secondary suppression); other counts are rounded to a multiple of ${policy.rounding} by keyed random rounding ` +
    '(the same count of the same organisation is always published the same way). Every value, interval, funnel limit, ' +
    'comparison and standardised value is computed from the published (rounded) counts, never the exact ones, and only ' +
    'when numerator and denominator are both publishable. The opt-outs applied follow the same rule.'
  );
}

