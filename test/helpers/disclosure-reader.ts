/**
 * An independent "reader" (attacker) for disclosure-control tests: given what was published and the structure of the
 * tables, work out everything linear differencing can tell about each cell, and report any small count it reveals.
 *
 * The reader is deliberately stronger than a real one: it knows every PUBLISHED cell exactly (as if rounding had been
 * undone, e.g. through published rates), every flag's meaning ('small-count' ⇒ 1..T, or 0..T under a small-count
 * total; 'secondary' ⇒ ≥ T+1; published ⇒ that count), all the sums (total = Σ rows, row = Σ strata) and any extra
 * sums given (for proportions: denominator = numerator + complement, the complement being a hidden cell ≥ 0 that is
 * never published). It then tightens interval bounds equation by equation — "total minus the sum of the siblings",
 * repeated after every cell it has narrowed or recovered — until nothing changes.
 * A disclosure is any cell whose true count is 1..T and whose interval no longer contains both 1 and T (recovered
 * exactly, or pinned within the small range) — for a hidden cell, whose interval is narrower than what the flags of
 * the cells in its sum already imply. Also `enumerate` gives the exact feasible set by brute force for small tables
 * (every integer assignment of the suppressed cells that satisfies all the sums).
 */
import type { PublishedCount } from '../../indicators/types.js';

export interface ReaderCell {
  /** Identifier (for messages). */
  path: string;
  /** True count (used only to judge the result, never in the deduction). */
  truth: number;
  /** null: a hidden cell (never published; the reader knows only that it is ≥ 0). */
  published: PublishedCount | null;
  /** Path of the cell this one sums into, if any. */
  parent?: string;
}

/** parent = Σ children, beyond the parent links of the cells. */
export interface ExtraSum {
  parent: string;
  children: string[];
}

export interface ReaderFinding {
  path: string;
  truth: number;
  lo: number;
  hi: number;
}

function knowledge(cells: ReaderCell[], T: number, withoutValues = false): Map<string, [number, number]> {
  const byPath = new Map(cells.map((c) => [c.path, c]));
  const underSmall = (c: ReaderCell): boolean => {
    for (let p = c.parent && byPath.get(c.parent); p; p = p.parent ? byPath.get(p.parent) : undefined) {
      if (p.published?.suppressed && p.published.reason === 'small-count') return true;
    }
    return false;
  };
  const k = new Map<string, [number, number]>();
  for (const c of cells) {
    const p = c.published;
    if (p === null || (withoutValues && !p.suppressed)) k.set(c.path, [0, Infinity]);
    else if (!p.suppressed) k.set(c.path, [c.truth, c.truth]);
    else if (p.reason === 'small-count') k.set(c.path, [underSmall(c) ? 0 : 1, T]);
    else k.set(c.path, [T + 1, Infinity]);
  }
  return k;
}

function sums(cells: ReaderCell[], extra: ExtraSum[]): ExtraSum[] {
  const kids = new Map<string, string[]>();
  for (const c of cells) if (c.parent) kids.set(c.parent, [...(kids.get(c.parent) ?? []), c.path]);
  return [...[...kids].map(([parent, children]) => ({ parent, children })), ...extra];
}

/** Bounds a reader can derive, by repeated differencing. */
export function readerBounds(cells: ReaderCell[], T: number, extra: ExtraSum[] = [], withoutValues = false): Map<string, [number, number]> {
  const bounds = knowledge(cells, T, withoutValues);
  const truth = new Map(cells.map((c) => [c.path, c.truth]));
  // the flags must tell the truth (e.g. a 'secondary' cell is never 0): otherwise the publication misleads
  for (const [p, [a, b]] of bounds) if (truth.get(p)! < a || truth.get(p)! > b) throw new Error(`flag of ${p} does not fit its count ${truth.get(p)}: [${a}, ${b}]`);
  // each equation: parent − Σ children = 0, as a list of [path, coefficient]
  const equations: Array<Array<[string, 1 | -1]>> = sums(cells, extra).map((e) => [[e.parent, 1], ...e.children.map((x) => [x, -1] as [string, -1])]);
  for (let sweep = 0; ; sweep++) {
    if (sweep > 1_000_000) throw new Error('reader did not converge');
    let changed = false;
    const tighten = (path: string, lo: number, hi: number) => {
      const [a, b] = bounds.get(path)!;
      const na = Math.max(a, lo);
      const nb = Math.min(b, hi);
      if (truth.get(path)! < na || truth.get(path)! > nb) throw new Error(`reader is unsound at ${path}: ${truth.get(path)} outside [${na}, ${nb}]`);
      if (na !== a || nb !== b) {
        bounds.set(path, [na, nb]);
        changed = true;
      }
    };
    for (const eq of equations) {
      for (const [target, coef] of eq) {
        // coef·x_target = −Σ_{others} c_i x_i
        let minRest = 0;
        let maxRest = 0;
        for (const [p, c] of eq) {
          if (p === target) continue;
          const [lo, hi] = bounds.get(p)!;
          minRest += c > 0 ? -hi : lo; // min of −c·x
          maxRest += c > 0 ? -lo : hi; // max of −c·x
        }
        if (coef > 0) tighten(target, minRest, maxRest);
        else tighten(target, -maxRest, -minRest);
      }
    }
    if (!changed) return bounds;
  }
}

/**
 * Small counts that differencing pins down (exactly or within 1..T). Empty = protected. Hidden cells are judged only
 * with `checkHidden`, and against what the flags and sums alone allow (the same reading with no published value
 * known): published figures must not narrow them further.
 */
export function disclosures(cells: ReaderCell[], T: number, extra: ExtraSum[] = [], checkHidden = false): ReaderFinding[] {
  const bounds = readerBounds(cells, T, extra);
  const base = checkHidden ? readerBounds(cells, T, extra, true) : null;
  const out: ReaderFinding[] = [];
  for (const c of cells) {
    const [lo, hi] = bounds.get(c.path)!;
    if (c.truth < lo || c.truth > hi) throw new Error(`reader is unsound at ${c.path}: ${c.truth} outside [${lo}, ${hi}]`);
    if (c.truth < 1 || c.truth > T) continue;
    let want: [number, number] = [1, T];
    if (c.published === null) {
      if (!base) continue;
      const [bl, bh] = base.get(c.path)!;
      want = [Math.max(1, bl), Math.min(T, bh)];
    }
    if (lo > want[0] || hi < want[1]) out.push({ path: c.path, truth: c.truth, lo, hi });
  }
  return out;
}

/**
 * Brute force: every integer assignment of the suppressed cells (each within its flag's range, capped at `cap`)
 * that satisfies every sum; returns the set of feasible values of each suppressed cell. Small tables only.
 */
export function enumerate(cells: ReaderCell[], T: number, cap: number, extra: ExtraSum[] = []): Map<string, Set<number>> {
  const k = knowledge(cells, T);
  const unknown = cells.filter((c) => c.published === null || c.published.suppressed);
  const value = new Map<string, number>();
  for (const c of cells) if (c.published && !c.published.suppressed) value.set(c.path, c.truth);
  const eqs = sums(cells, extra).map((e) => [e.parent, e.children] as [string, string[]]);
  const feasible = new Map(unknown.map((c) => [c.path, new Set<number>()]));
  const ok = (): boolean => {
    for (const [p, ch] of eqs) {
      // with the parent known: the assigned children plus the least/most the others can be must straddle it
      if (!value.has(p)) continue;
      let least = 0;
      let most = 0;
      for (const x of ch) {
        const v = value.get(x);
        least += v ?? k.get(x)![0];
        most += v ?? Math.min(k.get(x)![1], cap);
      }
      if (least > value.get(p)! || most < value.get(p)!) return false;
    }
    return true;
  };
  const go = (i: number): void => {
    if (i === unknown.length) {
      for (const c of unknown) feasible.get(c.path)!.add(value.get(c.path)!);
      return;
    }
    const path = unknown[i].path;
    const [lo, hi] = k.get(path)!;
    // if a sum involving this cell has every other member known, only one value is possible
    let forced: number | undefined;
    for (const [p, ch] of eqs) {
      const members = [p, ...ch];
      if (!members.includes(path) || members.some((x) => x !== path && !value.has(x))) continue;
      forced = p === path ? ch.reduce((s, x) => s + value.get(x)!, 0) : value.get(p)! - ch.reduce((s, x) => s + (x === path ? 0 : value.get(x)!), 0);
      break;
    }
    const from = forced ?? lo;
    const to = forced ?? Math.min(hi, cap);
    for (let v = Math.max(from, lo); v <= Math.min(to, hi); v++) {
      value.set(path, v);
      if (ok()) go(i + 1);
    }
    value.delete(path);
  };
  go(0);
  return feasible;
}

// ---------------------------------------------------------------------------------------------------------------
// The figure reader (issue 18, defect 2): tries to recover exact counts from the published VALUES, INTERVALS and
// STANDARDISED VALUES beside the rounded counts, within one snapshot and by differencing snapshots, periods and
// indicators. It knows the documented rule (docs/indicators-disclosure.md) but not the secret rounding key.

/** Exact counts a published count P can stand for under the rule: 0 → 0; else any count that rounds to P. */
export function boxOf(p: PublishedCount, policy: { threshold: number; rounding: number }): number[] {
  if (p.suppressed) return Array.from({ length: policy.threshold }, (_, i) => i + 1);
  if (p.value === 0) return [0];
  const out: number[] = [];
  for (let x = p.value - policy.rounding + 1; x <= p.value + policy.rounding - 1; x++) {
    // a count above the threshold never publishes at or below it (it is rounded up instead)
    if (x > policy.threshold) out.push(x);
  }
  return out;
}

export interface FigureReading {
  /** Exact (numerator, denominator) pairs consistent with every published figure of the row. */
  pairs: Array<[number, number]>;
  /** Which explanation of the figures the reader found: 'published-counts' = the figures are those of the published
   *  counts (they then say nothing more), 'exact-counts' = they are those of exact counts (filtered pairs). */
  explanation: 'published-counts' | 'exact-counts' | 'none';
}

/**
 * Reads one organisation row: the candidate exact pairs are the boxes of its published counts; the reader keeps the
 * pairs whose value (and interval, via `interval`) reproduce the published ones exactly. If the published counts
 * themselves reproduce them, the figures carry nothing beyond the counts and every pair stays.
 */
export function readRow(
  row: { numerator: PublishedCount; denominator: PublishedCount; value: number | null; ci95: { lower: number; upper: number } | null },
  policy: { threshold: number; rounding: number },
  interval: (n: number, d: number) => { lower: number; upper: number },
  per = 1,
): FigureReading {
  const ns = boxOf(row.numerator, policy);
  const ds = boxOf(row.denominator, policy);
  const all: Array<[number, number]> = ns.flatMap((n) => ds.filter((d) => d >= n || per !== 1).map((d) => [n, d] as [number, number]));
  if (row.value === null) return { pairs: all, explanation: 'none' };
  const fits = (n: number, d: number) => {
    if (d === 0 || (n / d) * per !== row.value) return false;
    if (!row.ci95) return true;
    const ci = interval(n, d);
    return ci.lower * per === row.ci95.lower && ci.upper * per === row.ci95.upper;
  };
  if (!row.numerator.suppressed && !row.denominator.suppressed && fits(row.numerator.value, row.denominator.value)) {
    return { pairs: all, explanation: 'published-counts' };
  }
  return { pairs: all.filter(([n, d]) => fits(n, d)), explanation: 'exact-counts' };
}

/**
 * Differencing two publications of counts x1 (first) and x2 (second) that the reader knows to differ by one of
 * `differences` (x1 − x2; e.g. [0, 1] when exactly one person opted out in between): the x1 values and the differences
 * still feasible.
 */
export function difference(box1: number[], box2: number[], differences: number[]): { x1: number[]; differences: number[] } {
  const in2 = new Set(box2);
  const x1 = box1.filter((x) => differences.some((k) => in2.has(x - k)));
  const ks = differences.filter((k) => box1.some((x) => in2.has(x - k)));
  return { x1, differences: ks };
}
