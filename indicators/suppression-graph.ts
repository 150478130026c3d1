import { checkCount, roundCount } from './disclosure-rules.js';
import type { DisclosurePolicy, PublishedCount } from './types.js';

/**
 * Secondary suppression (disclosure.ts describes the method). The cell graph: tables as trees of sums; for
 * proportions also d = n + c per cell, with c (the complement, denominator − numerator) a hidden cell that is
 * never published.
 */

export type Status = 'published' | 'small' | 'secondary' | 'hidden';

export interface Cell {
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
export interface Group {
  parent: number;
  children: number[];
  kind: 'sum' | 'complement';
}

export interface Graph {
  cells: Cell[];
  groups: Group[];
  T: number;
}

export interface TableInput {
  /** The published total; defaults to the sum of the rows, and must equal it when given. */
  total?: number;
  rows: Array<{ key: string; count: number; strata?: Array<{ key: string; count: number }> }>;
}

/** Adds one cell under `parent` (-1 for none) and returns its id. */
export function addCell(g: Graph, path: string, count: number, parent: number, status: Status = 'published'): number {
  checkCount(count, path);
  const id = g.cells.length;
  g.cells.push({ path, count, parent, children: [], status, inherited: false, checked: status !== 'hidden' });
  if (parent >= 0) g.cells[parent].children.push(id);
  return id;
}

/** Adds an additive table (total ← rows ← strata) under `prefix` and returns the id of its total. */
export function addTable(g: Graph, prefix: string, t: TableInput): number {
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

/** Applies primary suppression and the secondary rules to the whole graph, to a fixed point. */
export function protect(g: Graph): void {
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

/** What is published for a cell after protection: its rounded count or why it is suppressed. */
export function published(c: Cell, policy: DisclosurePolicy): PublishedCount {
  if (c.status === 'small') return { value: null, suppressed: true, reason: 'small-count' };
  if (c.status === 'secondary') return { value: null, suppressed: true, reason: 'secondary' };
  return { value: roundCount(c.count, policy), suppressed: false };
}

