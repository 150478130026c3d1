/**
 * Disclosure control for published indicator counts. Pure functions, no I/O.
 *
 * RULES (policy = { threshold T = 7, rounding R = 5 } by default, both configurable)
 *  1. Primary suppression: a count from 1 to T is published as { value: null, suppressed: true, reason: 'small-count' }.
 *     Zero is publishable. The breakdown of a small count is never published: every stratum of a small organisation
 *     (and every row of a small total) is also marked 'small-count' — zeros included, otherwise the published zeros
 *     would say how many strata share the few people, and k non-zero strata under a total ≤ T pin each one down.
 *  2. Every other count is rounded to a multiple of R. Here (`roundCount`) to the nearest; publish.ts replaces that by
 *     keyed random rounding (cell-key.ts: the same count of the same organisation always publishes the same way; the
 *     rounding boundary is secret), issue 18.
 *  3. Values (rates, proportions, means), intervals, funnel limits, targets and standardised values are computed from
 *     the PUBLISHED (rounded) counts only (publish.ts), and published only when the numerator and the denominator
 *     cells are both published (`valuePublishable`). docs/indicators-disclosure.md states the rule.
 *  4. Secondary suppression ('secondary') so that no small count can be learnt by differencing (below).
 *
 * THREAT MODEL — what the checker assumes the reader knows
 *  - every published cell EXACTLY (conservative: since issue 18 no published figure carries more than the rounded
 *    counts, but suppression is judged as if the rounding could be undone). So protection of small counts comes from
 *    suppression alone; rounding is a second line, tested apart (test/indicators-disclosure-differencing.test.ts);
 *  - the additive structure: organisation rows sum to the total, strata sum to their organisation, in both the
 *    numerator and the denominator table; for proportions also denominator = numerator + complement cell by cell,
 *    the complement (those without the outcome) being a hidden cell ≥ 0 that is never published;
 *  - this algorithm, hence what each flag means: 'small-count' ⇒ 1..T (0..T under a small total), 'secondary' ⇒ ≥ T+1
 *    (complements are always non-zero publishable cells, so ≥ T+1), published 0 ⇒ exactly 0.
 *  With that knowledge the reader narrows every suppressed cell to an interval by linear differencing, repeated
 *  until nothing changes (bounds propagation over all the sums, "including after recovering other cells").
 *  PROTECTED means: for every cell whose true count is 1..T, that interval still contains both 1 and T — differencing
 *  tells the reader nothing the flag 'small-count' had not already said. This is stronger than "not recovered exactly":
 *  e.g. a small cell of 1 whose only complement is 8 in a published total of 9 would be pinned to 1 by the fact that a
 *  'secondary' cell is ≥ 8; two small cells of 1 and 1 under a published total would each be pinned to 1; both happen
 *  with the naive "two suppressed cells per group" rule, and both are prevented here.
 *
 * ALGORITHM (deterministic)
 *  a. Primary suppression (1 above). For proportions, a non-zero numerator whose denominator is suppressed is
 *     suppressed too (numerator ≤ denominator would bound the denominator from below).
 *  b. Group rule, repeated to a fixed point: a group (a total and the cells that sum to it) whose total is published
 *     must have 0 or ≥ 2 suppressed cells; one whose total is suppressed must have ≥ 1. The complement added is the
 *     smallest non-zero published cell of the group (ties by key); if the group has none, its total is suppressed,
 *     which carries the problem one level up (organisation → area total).
 *  c. Audit: bounds propagation as the reader would do it. For any small cell still narrowed, add a complement in its
 *     group large enough to restore the missing width (smallest non-zero published cell with count ≥ T+1+deficit, else
 *     the largest), or suppress the group total if there is none; back to b. Each round suppresses at least one more
 *     cell, so this ends (in the limit with everything non-zero suppressed, which is always protected).
 *  COMPLEMENTS of proportions (denominator − numerator, e.g. the 2 of 100 diabetics without a recorded HbA1c) are
 *  protected only with protectIndicator(…, { protectComplements: true }): each is then audited like a small cell,
 *  except that it need only keep what the flags and sums allow without any published value (two small counts n and
 *  d already say d − n ≤ T − 1); a narrowed complement gets its numerator suppressed ('secondary', so the value is
 *  withheld), or its numerator/denominator widened as above. Off by default: the published rules protect the
 *  numerator and denominator counts, as NHS statistical publications do, and switching it on withholds the values of
 *  organisations near 0 % or 100 %. A policy decision for the publisher; tested both ways.
 *  Not covered: tables linked in other ways than given here (e.g. publishing the same strata summed across
 *  organisations, or a different area grouping of the same rows) — pass every published total through one call.
 *
 * API
 *  - DEFAULT_POLICY, checkPolicy(policy), roundCount(count, policy), publishCount(count, policy) (primary only).
 *  - protectTable({ total?, rows: [{ key, count, strata?: [{ key, count }] }] }, policy)
 *      → { total, rows: [{ key, count, strata? }] (PublishedCount each), secondary: string[] (cell paths) }.
 *  - protectIndicator(organisations: OrganisationCount[], measure, policy, { protectComplements? }) → both tables
 *      protected together:
 *      { total, organisations: [{ code, numerator, denominator, valuePublishable, withheld, standardisedPublishable,
 *      strata? }], secondary }. `withheld` is the types.ts WithheldReason for a value that cannot be published.
 *      `standardisedPublishable` is true when the value is publishable and every stratum cell of the organisation is
 *      published — needed only if the strata are published too (see standardise.ts).
 *  - valueFromUnrounded(numerator, denominator, publishable, per = 1) → n/d·per or null.
 *  Cell paths: 'total', 'row:<key>', 'row:<key>/stratum:<key>'; protectIndicator prefixes 'numerator:' / 'denominator:'
 *  and uses organisation codes as row keys and '<sex>:<ageBand>' as stratum keys.
 */
import { checkPolicy, DEFAULT_POLICY } from './disclosure-rules.js';
import { addCell, addTable, protect, published, type Graph, type TableInput } from './suppression-graph.js';
import type { DisclosurePolicy, MeasureType, OrganisationCount, PublishedCount, WithheldReason } from './types.js';

export { checkPolicy, DEFAULT_POLICY, publishCount, roundCount, valueFromUnrounded } from './disclosure-rules.js';
export type { TableInput } from './suppression-graph.js';

// ---------------------------------------------------------------------------------------------------------------
// Public API

export interface ProtectedTable {
  total: PublishedCount;
  rows: Array<{ key: string; count: PublishedCount; strata?: Array<{ key: string; count: PublishedCount }> }>;
  /** Paths of the cells suppressed to protect others (for the methodology note and tests). */
  secondary: string[];
}

function readTable(g: Graph, root: number, input: TableInput, policy: DisclosurePolicy): ProtectedTable {
  const root_ = g.cells[root];
  return {
    total: published(root_, policy),
    rows: input.rows.map((r, i) => {
      const cell = g.cells[root_.children[i]];
      const row: ProtectedTable['rows'][number] = { key: r.key, count: published(cell, policy) };
      if (r.strata) row.strata = r.strata.map((s, j) => ({ key: s.key, count: published(g.cells[cell.children[j]], policy) }));
      return row;
    }),
    secondary: [],
  };
}

/** Primary and secondary suppression and rounding of one additive table (total ← rows ← strata). */
export function protectTable(input: TableInput, policy: DisclosurePolicy = DEFAULT_POLICY): ProtectedTable {
  checkPolicy(policy);
  const g: Graph = { cells: [], groups: [], T: policy.threshold };
  const root = addTable(g, '', input);
  protect(g);
  const out = readTable(g, root, input, policy);
  out.secondary = g.cells.filter((c) => c.status === 'secondary').map((c) => c.path);
  return out;
}

export interface ProtectedOrganisation {
  code: string;
  numerator: PublishedCount;
  denominator: PublishedCount;
  /** Both counts published and the denominator > 0: the value, CI, limits and class may be published. */
  valuePublishable: boolean;
  withheld: WithheldReason | null;
  /** Value publishable and every stratum cell (numerator and denominator) published. */
  standardisedPublishable: boolean;
  strata?: Array<{ ageBand: string; sex: string; numerator: PublishedCount; denominator: PublishedCount }>;
}

export interface ProtectedIndicator {
  total: { numerator: PublishedCount; denominator: PublishedCount; valuePublishable: boolean };
  organisations: ProtectedOrganisation[];
  secondary: string[];
}

function withheldReason(n: PublishedCount, d: PublishedCount, denominator: number): WithheldReason | null {
  if (d.suppressed) return 'denominator-suppressed';
  if (n.suppressed) return 'numerator-suppressed';
  if (denominator === 0) return 'no-denominator';
  return null;
}

/**
 * Protect an indicator's numerator and denominator tables together (organisations in the given order; their
 * strata, if any, as given). For proportions d = n + c (c ≥ 0, hidden) is part of the reader's knowledge; with
 * `protectComplements` the complements c are protected too.
 */
export function protectIndicator(
  organisations: OrganisationCount[],
  measure: MeasureType,
  policy: DisclosurePolicy = DEFAULT_POLICY,
  options: { protectComplements?: boolean } = {},
): ProtectedIndicator {
  checkPolicy(policy);
  const table = (side: 'numerator' | 'denominator'): TableInput => ({
    rows: organisations.map((o) => ({
      key: o.code,
      count: o[side],
      strata: o.strata?.map((s) => ({ key: `${s.sex}:${s.ageBand}`, count: s[side] })),
    })),
  });
  const numIn = table('numerator');
  const denIn = table('denominator');
  if (measure.type === 'proportion') {
    for (const o of organisations) {
      if (o.numerator > o.denominator) throw new RangeError(`row:${o.code}: numerator exceeds denominator in a proportion`);
      for (const s of o.strata ?? []) {
        if (s.numerator > s.denominator) throw new RangeError(`row:${o.code}/stratum:${s.sex}:${s.ageBand}: numerator exceeds denominator`);
      }
    }
  }
  const g: Graph = { cells: [], groups: [], T: policy.threshold };
  const nRoot = addTable(g, 'numerator:', numIn);
  const nEnd = g.cells.length;
  const dRoot = addTable(g, 'denominator:', denIn);
  if (measure.type === 'proportion') {
    // d = n + c for every cell (same construction order in both tables); c ≥ 0 is what numerator ≤ denominator says
    for (let n = nRoot; n < nEnd; n++) {
      const d = dRoot + (n - nRoot);
      const c = addCell(g, `complement:${g.cells[n].path.slice('numerator:'.length)}`, g.cells[d].count - g.cells[n].count, -1, 'hidden');
      g.cells[c].of = { n, d };
      g.cells[c].checked = options.protectComplements === true;
      g.groups.push({ parent: d, children: [n, c], kind: 'complement' });
    }
  }
  protect(g);
  const num = readTable(g, nRoot, numIn, policy);
  const den = readTable(g, dRoot, denIn, policy);
  const totalDen = g.cells[dRoot].count;
  return {
    total: {
      numerator: num.total,
      denominator: den.total,
      valuePublishable: !num.total.suppressed && !den.total.suppressed && totalDen > 0,
    },
    organisations: organisations.map((o, i) => {
      const n = num.rows[i].count;
      const d = den.rows[i].count;
      const withheld = withheldReason(n, d, o.denominator);
      const row: ProtectedOrganisation = { code: o.code, numerator: n, denominator: d, valuePublishable: withheld === null, withheld, standardisedPublishable: false };
      if (o.strata) {
        row.strata = o.strata.map((s, j) => ({
          ageBand: s.ageBand,
          sex: s.sex,
          numerator: num.rows[i].strata![j].count,
          denominator: den.rows[i].strata![j].count,
        }));
        row.standardisedPublishable = withheld === null && row.strata.every((s) => !s.numerator.suppressed && !s.denominator.suppressed);
      }
      return row;
    }),
    secondary: g.cells.filter((c) => c.status === 'secondary').map((c) => c.path),
  };
}
