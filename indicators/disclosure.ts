/**
 * Disclosure control for published indicator counts. Pure functions, no I/O.
 *
 * RULES (policy = { threshold T = 7, rounding R = 5 } by default, both configurable)
 *  1. Primary suppression: a count from 1 to T is published as { value: null, suppressed: true, reason: 'small-count' }.
 *     Zero is publishable. The breakdown of a small count is never published: every stratum of a small organisation
 *     (and every row of a small total) is also marked 'small-count' — zeros included, otherwise the published zeros
 *     would say how many strata share the few people, and k non-zero strata under a total ≤ T pin each one down.
 *  2. Every other count is rounded to the nearest multiple of R (halves up; a positive count never rounds to 0).
 *  3. Values (rates, proportions, means) are computed from UNROUNDED counts (funnel.ts) and published only when the
 *     numerator and the denominator cells are both published (`valuePublishable`).
 *  4. Secondary suppression ('secondary') so that no small count can be learnt by differencing (below).
 *
 * THREAT MODEL — what the checker assumes the reader knows
 *  - every published cell EXACTLY. Rounding alone does not protect against differencing here: a published value
 *    n/d is computed from the unrounded counts, and together with n and d rounded to ±R/2 it usually singles out
 *    the exact n and d (few pairs in the ±2 boxes give that exact ratio). So protection comes from suppression only;
 *    rounding is a second line (it blurs any figure whose rate is not published);
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
import type { DisclosurePolicy, MeasureType, OrganisationCount, PublishedCount, WithheldReason } from './types.js';

export const DEFAULT_POLICY: Readonly<DisclosurePolicy> = Object.freeze({ threshold: 7, rounding: 5 });

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

/** n/d × per from unrounded counts, or null when not publishable or d = 0. */
export function valueFromUnrounded(numerator: number, denominator: number, publishable: boolean, per = 1): number | null {
  return publishable && denominator > 0 ? (numerator / denominator) * per : null;
}

function checkCount(count: number, where: string): void {
  if (!(Number.isInteger(count) && count >= 0)) throw new RangeError(`${where}: counts must be integers ≥ 0, got ${count}`);
}

// ---------------------------------------------------------------------------------------------------------------
// The cell graph: tables as trees of sums; for proportions also d = n + c per cell, with c (the complement,
// denominator − numerator) a hidden cell that is never published.

type Status = 'published' | 'small' | 'secondary' | 'hidden';

interface Cell {
  path: string;
  count: number;
  parent: number; // tree parent within its table; -1 for a root or a hidden cell
  children: number[];
  status: Status;
  /** Marked small because an ancestor is small (reader's interval then starts at 0). */
  inherited: boolean;
  /** Hidden complement cells: the numerator and denominator cells it is the difference of. */
  of?: { n: number; d: number };
  /** Whether the audit protects this cell when its count is 1..T (hidden cells only when asked). */
  checked: boolean;
}

/** parent = Σ children. Tree groups (kind 'sum') take part in the group rule; 'complement' groups do not. */
interface Group {
  parent: number;
  children: number[];
  kind: 'sum' | 'complement';
}

interface Graph {
  cells: Cell[];
  groups: Group[];
  T: number;
}

export interface TableInput {
  /** The published total; defaults to the sum of the rows, and must equal it when given. */
  total?: number;
  rows: Array<{ key: string; count: number; strata?: Array<{ key: string; count: number }> }>;
}

function addCell(g: Graph, path: string, count: number, parent: number, status: Status = 'published'): number {
  checkCount(count, path);
  const id = g.cells.length;
  g.cells.push({ path, count, parent, children: [], status, inherited: false, checked: status !== 'hidden' });
  if (parent >= 0) g.cells[parent].children.push(id);
  return id;
}

function addTable(g: Graph, prefix: string, t: TableInput): number {
  for (const r of t.rows) {
    checkCount(r.count, `${prefix}row:${r.key}`);
    for (const x of r.strata ?? []) checkCount(x.count, `${prefix}row:${r.key}/stratum:${x.key}`);
  }
  const sum = t.rows.reduce((s, r) => s + r.count, 0);
  if (t.total !== undefined && t.total !== sum) throw new RangeError(`${prefix}total: ${t.total} is not the sum of the rows (${sum})`);
  const root = addCell(g, `${prefix}total`, sum, -1);
  const seen = new Set<string>();
  for (const r of t.rows) {
    if (seen.has(r.key)) throw new RangeError(`${prefix}row:${r.key}: duplicate row key`);
    seen.add(r.key);
    const row = addCell(g, `${prefix}row:${r.key}`, r.count, root);
    if (!r.strata) continue;
    const ssum = r.strata.reduce((s, x) => s + x.count, 0);
    if (ssum !== r.count) throw new RangeError(`${prefix}row:${r.key}: strata sum to ${ssum}, not ${r.count}`);
    const skeys = new Set<string>();
    for (const x of r.strata) {
      if (skeys.has(x.key)) throw new RangeError(`${prefix}row:${r.key}/stratum:${x.key}: duplicate stratum key`);
      skeys.add(x.key);
      addCell(g, `${prefix}row:${r.key}/stratum:${x.key}`, x.count, row);
    }
  }
  for (let id = root; id < g.cells.length; id++) {
    if (g.cells[id].children.length) g.groups.push({ parent: id, children: g.cells[id].children, kind: 'sum' });
  }
  return root;
}

const isSuppressed = (c: Cell) => c.status !== 'published';

/** Reader's interval for a cell from its flag alone. */
function flagBounds(c: Cell, T: number): [number, number] {
  if (c.status === 'published') return [c.count, c.count];
  if (c.status === 'small') return [c.inherited ? 0 : 1, T];
  if (c.status === 'hidden') return [0, Infinity];
  return [T + 1, Infinity];
}

/**
 * Bounds propagation over every group (worklist until a fixed point). `withoutValues`: as if no published value were
 * known (flags and sums only) — the baseline against which complements are judged.
 */
function readerIntervals(g: Graph, withoutValues = false): { lo: number[]; hi: number[] } {
  const lo: number[] = [];
  const hi: number[] = [];
  for (const c of g.cells) {
    const [a, b] = withoutValues && c.status === 'published' ? [0, Infinity] : flagBounds(c, g.T);
    lo.push(a);
    hi.push(b);
  }
  const groupsOf: number[][] = g.cells.map(() => []);
  g.groups.forEach((gr, k) => {
    groupsOf[gr.parent].push(k);
    for (const ch of gr.children) groupsOf[ch].push(k);
  });
  const queue: number[] = g.groups.map((_, k) => k);
  const queued = new Uint8Array(g.groups.length).fill(1);
  const touch = (id: number) => {
    for (const k of groupsOf[id]) if (!queued[k]) { queued[k] = 1; queue.push(k); }
  };
  const setLo = (id: number, v: number) => { if (v > lo[id]) { lo[id] = v; touch(id); } };
  const setHi = (id: number, v: number) => { if (v < hi[id]) { hi[id] = v; touch(id); } };
  for (let head = 0; head < queue.length; head++) {
    if (head > 5_000_000) throw new Error('disclosure audit did not converge');
    const k = queue[head];
    queued[k] = 0;
    const { parent: p, children: kids } = g.groups[k];
    let sumLo = 0, finHi = 0, infHi = 0;
    for (const c of kids) {
      sumLo += lo[c];
      if (hi[c] === Infinity) infHi++; else finHi += hi[c];
    }
    setLo(p, sumLo);
    if (infHi === 0) setHi(p, finHi);
    for (const c of kids) {
      if (hi[p] !== Infinity) setHi(c, hi[p] - (sumLo - lo[c]));
      const othersInf = infHi - (hi[c] === Infinity ? 1 : 0);
      if (othersInf === 0) setLo(c, lo[p] - (finHi - (hi[c] === Infinity ? 0 : hi[c])));
    }
  }
  return { lo, hi };
}

/**
 * Checked cells with a count 1..T whose interval differencing has narrowed; with how much width is missing.
 * A table cell must keep [1, T]. A hidden complement must keep what the flags and sums alone already allow
 * (its interval without any published value, within [1, T]): e.g. two small counts n and d leave c ≤ T − 1 whatever
 * is done, and that is the flags speaking, not the published figures.
 */
function narrowed(g: Graph): Array<{ id: number; deficit: number }> {
  const { lo, hi } = readerIntervals(g);
  const hidden = g.cells.some((c) => c.checked && c.of && c.count >= 1 && c.count <= g.T);
  const base = hidden ? readerIntervals(g, true) : null;
  const out: Array<{ id: number; deficit: number }> = [];
  g.cells.forEach((c, id) => {
    if (!c.checked || c.count < 1 || c.count > g.T) return;
    const want = c.of ? [Math.max(1, base!.lo[id]), Math.min(g.T, base!.hi[id])] : [1, g.T];
    if (lo[id] > want[0] || hi[id] < want[1]) out.push({ id, deficit: Math.max(want[1] - hi[id], lo[id] - want[0], 1) });
  });
  return out;
}

function suppress(g: Graph, id: number): void {
  if (g.cells[id].status === 'published') g.cells[id].status = 'secondary';
}

/** Published non-zero cells of a tree group, smallest first (ties by path). */
function candidates(g: Graph, parent: number): number[] {
  return g.cells[parent].children
    .filter((k) => g.cells[k].status === 'published' && g.cells[k].count > 0)
    .sort((a, b) => g.cells[a].count - g.cells[b].count || (g.cells[a].path < g.cells[b].path ? -1 : 1));
}

/** Rule (a): primary suppression and inheritance down small totals. */
function primary(g: Graph): void {
  for (const c of g.cells) if (c.status !== 'hidden' && c.count >= 1 && c.count <= g.T) c.status = 'small';
  const inherit = (id: number) => {
    for (const k of g.cells[id].children) {
      g.cells[k].status = 'small';
      g.cells[k].inherited = true;
      inherit(k);
    }
  };
  g.cells.forEach((c, id) => { if (c.status === 'small' && !c.inherited) inherit(id); });
}

/** Rule (b) and the numerator-with-suppressed-denominator rule, to a fixed point. */
function groupRules(g: Graph): void {
  for (let changed = true; changed;) {
    changed = false;
    for (const c of g.cells) {
      if (!c.of) continue;
      const n = g.cells[c.of.n];
      if (isSuppressed(g.cells[c.of.d]) && !isSuppressed(n) && n.count > 0) { suppress(g, c.of.n); changed = true; }
    }
    for (const gr of g.groups) {
      const c = g.cells[gr.parent];
      if (gr.kind !== 'sum' || c.status === 'small') continue;
      const sup = gr.children.filter((k) => isSuppressed(g.cells[k])).length;
      if (c.status === 'published' ? sup !== 1 : sup !== 0) continue;
      const cand = candidates(g, gr.parent);
      if (cand.length) suppress(g, cand[0]);
      else if (c.status === 'published') suppress(g, gr.parent);
      else continue;
      changed = true;
    }
  }
}

/** Rule (c): widen a narrowed cell. Returns whether a cell was suppressed. */
function widen(g: Graph, id: number, deficit: number): boolean {
  const cell = g.cells[id];
  if (cell.of) {
    // a complement d − n: hide the numerator, else widen the numerator (or the denominator) in its own table
    const n = g.cells[cell.of.n];
    if (n.status === 'published') {
      if (n.count > 0) { suppress(g, cell.of.n); return true; }
      return widen(g, cell.of.d, deficit); // n = 0: the complement is the denominator itself
    }
    return widen(g, cell.of.n, deficit) || widen(g, cell.of.d, deficit);
  }
  const p = cell.parent;
  if (p < 0) return false;
  const cand = candidates(g, p);
  if (cand.length) {
    const big = cand.find((k) => g.cells[k].count >= g.T + 1 + deficit);
    suppress(g, big ?? cand[cand.length - 1]);
    return true;
  }
  if (g.cells[p].status === 'published' && g.cells[p].count > 0) { suppress(g, p); return true; }
  return widen(g, p, deficit);
}

function protect(g: Graph): void {
  primary(g);
  const ancestors = (id: number): number[] => {
    const out: number[] = [];
    for (let p = g.cells[id].parent; p >= 0; p = g.cells[p].parent) out.push(p);
    return out;
  };
  for (let round = 0; ; round++) {
    groupRules(g);
    const bad = narrowed(g);
    if (bad.length === 0) return;
    // Fix the top-most narrowed cells first, one per group per round: widening a total widens what lies under it.
    const failing = new Set(bad.map((b) => b.id));
    const touched = new Set<number>();
    let changed = false;
    for (const b of bad) {
      const up = ancestors(b.id);
      if (up.some((a) => failing.has(a) || touched.has(a))) continue;
      if (widen(g, b.id, b.deficit)) {
        changed = true;
        touched.add(up[0] ?? b.id);
      }
    }
    if (!changed || round > g.cells.length) {
      // Not expected; a safe fallback: hide every non-zero published cell.
      for (const c of g.cells) if (c.status === 'published' && c.count > 0) c.status = 'secondary';
      return;
    }
  }
}

function published(c: Cell, policy: DisclosurePolicy): PublishedCount {
  if (c.status === 'small') return { value: null, suppressed: true, reason: 'small-count' };
  if (c.status === 'secondary') return { value: null, suppressed: true, reason: 'secondary' };
  return { value: roundCount(c.count, policy), suppressed: false };
}

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
