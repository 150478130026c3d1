import type { Coding, Resource } from 'fhir/r4.js';
import type { IncludeDef, SearchParamDef, TypeSearchDef } from './search-parameters.js';

/**
 * Pure search semantics over resources, after http://hl7.org/fhir/R4/search.html: token matching
 * (system|code), date ranges with prefixes, sorting and reference following. The facade applies every
 * filter here (whatever a source did with it), and the sandbox source systems use the same functions.
 */

/** One token alternative: `system` undefined = any system, '' = no system; `code` undefined = any code in the system. */
export interface TokenValue {
  system?: string;
  code?: string;
}

export type DatePrefix = 'eq' | 'gt' | 'lt' | 'ge' | 'le';
export const DATE_PREFIXES: readonly DatePrefix[] = ['eq', 'gt', 'lt', 'ge', 'le'];

/** A half-open instant range [lo, hi) in epoch ms; ±Infinity for an open end. */
export interface DateRange {
  lo: number;
  hi: number;
}

/** A parsed filter: `text` is its canonical value (used again in paging links and when pushed to a source). */
export type Filter =
  | { kind: 'token'; name: string; values: TokenValue[]; text: string }
  | { kind: 'date'; name: string; prefix: DatePrefix; range: DateRange; text: string };

const DATE_RE = /^(\d{4})(?:-(\d{2})(?:-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})?)?)?)?$/;

/** The range a FHIR date/dateTime/instant covers at its precision (2020 = the whole year); undefined if malformed. */
export function parseDateRange(text: string): DateRange | undefined {
  const m = DATE_RE.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, hh, mi, ss, frac, tz] = m;
  const year = Number(y);
  const month = mo === undefined ? 0 : Number(mo) - 1;
  const day = d === undefined ? 1 : Number(d);
  if (month < 0 || month > 11 || day < 1 || day > 31) return undefined;
  if (hh !== undefined && (Number(hh) > 23 || Number(mi) > 59 || Number(ss ?? 0) > 59)) return undefined;
  const ms = frac ? Math.floor(Number(`0${frac}`) * 1000) : 0;
  const start = Date.UTC(year, month, day, Number(hh ?? 0), Number(mi ?? 0), Number(ss ?? 0), ms);
  if (new Date(Date.UTC(year, month, day)).getUTCDate() !== day) return undefined; // 2021-02-30
  let end: number;
  if (mo === undefined) end = Date.UTC(year + 1, 0, 1);
  else if (d === undefined) end = Date.UTC(year, month + 1, 1);
  else if (hh === undefined) end = Date.UTC(year, month, day + 1);
  else end = start + (frac ? 1 : ss !== undefined ? 1000 : 60_000);
  const offset = tz && tz !== 'Z' ? (tz[0] === '-' ? -1 : 1) * (Number(tz.slice(1, 3)) * 60 + Number(tz.slice(4, 6))) * 60_000 : 0;
  return { lo: start - offset, hi: end - offset };
}

/** Values found at a dotted path, arrays flattened at every step. */
export function valuesAt(node: unknown, path: string): unknown[] {
  let current: unknown[] = [node];
  for (const step of path.split('.')) {
    const next: unknown[] = [];
    for (const v of current) {
      const x = v && typeof v === 'object' ? (v as Record<string, unknown>)[step] : undefined;
      if (Array.isArray(x)) next.push(...x);
      else if (x !== undefined && x !== null) next.push(x);
    }
    current = next;
  }
  return current;
}

function codingsOf(v: unknown): Coding[] {
  if (typeof v === 'string') return [{ code: v }];
  if (!v || typeof v !== 'object') return [];
  const o = v as { coding?: Coding[]; system?: string; code?: string };
  if (Array.isArray(o.coding)) return o.coding;
  if (typeof o.code === 'string' || typeof o.system === 'string') return [o as Coding];
  return [];
}

function tokenMatches(c: Coding, t: TokenValue): boolean {
  if (t.code !== undefined && c.code !== t.code) return false;
  if (t.system === undefined) return true;
  if (t.system === '') return !c.system;
  return c.system === t.system;
}

function rangeOf(v: unknown): DateRange | undefined {
  if (typeof v === 'string') return parseDateRange(v);
  if (v && typeof v === 'object') {
    const p = v as { start?: string; end?: string };
    if (p.start === undefined && p.end === undefined) return undefined;
    const start = p.start !== undefined ? parseDateRange(p.start) : undefined;
    const end = p.end !== undefined ? parseDateRange(p.end) : undefined;
    return { lo: start ? start.lo : -Infinity, hi: end ? end.hi : Infinity };
  }
  return undefined;
}

/** FHIR R4 date prefix semantics over ranges (search.html#prefix). */
function dateMatches(r: DateRange, prefix: DatePrefix, p: DateRange): boolean {
  const within = p.lo <= r.lo && r.hi <= p.hi;
  switch (prefix) {
    case 'eq':
      return within;
    case 'gt':
      return r.hi > p.hi;
    case 'lt':
      return r.lo < p.lo;
    case 'ge':
      return r.hi > p.hi || within;
    case 'le':
      return r.lo < p.lo || within;
  }
}

function paramOf(def: TypeSearchDef, name: string): SearchParamDef {
  const p = def.params.find((x) => x.name === name);
  if (!p) throw new Error(`no search parameter ${def.type}.${name}`);
  return p;
}

/** True when the resource satisfies one filter (any value at any of the parameter's paths). */
export function matchesFilter(r: Resource, def: TypeSearchDef, f: Filter): boolean {
  const values = paramOf(def, f.name).paths.flatMap((path) => valuesAt(r, path));
  if (f.kind === 'token') return values.some((v) => codingsOf(v).some((c) => f.values.some((t) => tokenMatches(c, t))));
  return values.some((v) => {
    const range = rangeOf(v);
    return range !== undefined && dateMatches(range, f.prefix, f.range);
  });
}

/** True when the resource is of the searched type and satisfies every filter (AND). */
export function matchesAll(r: Resource, def: TypeSearchDef, filters: readonly Filter[]): boolean {
  return r.resourceType === def.type && filters.every((f) => matchesFilter(r, def, f));
}

export interface SortKey {
  name: string;
  descending: boolean;
}

/** Earliest instant of a date parameter's values, or undefined when the resource has none. */
function sortValue(r: Resource, p: SearchParamDef): number | undefined {
  let best: number | undefined;
  for (const path of p.paths) {
    for (const v of valuesAt(r, path)) {
      const range = rangeOf(v);
      if (range && (best === undefined || range.lo < best)) best = range.lo;
    }
  }
  return best;
}

const ordinal = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/** Sorts in place by the keys (resources without a value last), then by id so paging is stable between calls. */
export function sortResources(resources: Resource[], def: TypeSearchDef, keys: readonly SortKey[]): Resource[] {
  const params = keys.map((k) => ({ k, p: paramOf(def, k.name) }));
  const cache = new Map<Resource, (number | undefined)[]>();
  const valuesOf = (r: Resource) => {
    let v = cache.get(r);
    if (!v) cache.set(r, (v = params.map(({ p }) => sortValue(r, p))));
    return v;
  };
  return resources.sort((a, b) => {
    const va = valuesOf(a);
    const vb = valuesOf(b);
    for (let i = 0; i < params.length; i++) {
      const x = va[i];
      const y = vb[i];
      if (x === y) continue;
      if (x === undefined) return 1;
      if (y === undefined) return -1;
      return params[i]!.k.descending ? y - x : x - y;
    }
    return ordinal(a.id ?? '', b.id ?? '');
  });
}

/** Relative references (`Type/id`) an include follows from a resource, limited to its target types. */
export function includeReferences(r: Resource, inc: IncludeDef): string[] {
  const out: string[] = [];
  for (const path of inc.paths) {
    for (const v of valuesAt(r, path)) {
      const ref = (v as { reference?: unknown } | null)?.reference;
      if (typeof ref !== 'string') continue;
      const type = ref.split('/')[0]!;
      if (/^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/.test(ref) && inc.targets.includes(type)) out.push(ref);
    }
  }
  return out;
}
