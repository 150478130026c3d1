import { badRequest } from './outcomes.js';
import { integerParam, PARAM_NAME } from './parameters.js';
import { DEFAULT_COUNT, MAX_COUNT, RESULT_PARAMS, searchDef, type IncludeDef, type TypeSearchDef } from './search-parameters.js';
import { DATE_PREFIXES, parseDateRange, type DatePrefix, type Filter, type SortKey, type TokenValue } from './type-filter.js';

/**
 * Parses a type-level search (`GET /fhir/{type}?patient=…`) once into its typed form, after Medplum's
 * parseSearchRequest; everything downstream (adapters, matcher, links) works from that form.
 * http://hl7.org/fhir/R4/search.html
 *
 * Handling (http://hl7.org/fhir/R4/http.html#prefer): with `Prefer: handling=strict` an unknown or
 * unsupported parameter (or modifier, or `_include`) is a 400 naming it; by default (lenient) it is
 * ignored and listed in `ignored`, which the response reports in an OperationOutcome entry. A bad value
 * of a supported parameter is a 400 either way. Values are never echoed (they may identify a patient).
 */

export type SummaryMode = 'true' | 'text' | 'data' | 'count';

export interface TypeSearch {
  type: string;
  /** The integrated patient id (never an NHS number). */
  patientId: string;
  filters: Filter[];
  sort: SortKey[];
  count: number;
  offset: number;
  summary?: SummaryMode;
  elements?: string[];
  /** `_include`s asked for, e.g. `Encounter:practitioner`. */
  include: string[];
  total?: 'none' | 'estimate' | 'accurate';
  /** Parameter names ignored under lenient handling (reported back, never silently). */
  ignored: string[];
}

const ID_RE = /^[A-Za-z0-9\-.]{1,64}$/;

/** `Prefer: handling=strict` (anything else, or no header, is lenient). */
export function preferStrict(prefer: string | undefined): boolean {
  return !!prefer && prefer.split(/[;,]/).some((p) => p.trim().toLowerCase().replace(/\s+/g, '') === 'handling=strict');
}

function valuesOf(name: string, v: unknown): string[] {
  const list = Array.isArray(v) ? v : [v];
  return list.map((x) => {
    if (typeof x === 'string') return x;
    if (typeof x === 'number') return String(x);
    throw badRequest('invalid-parameter', `Parameter '${safeName(name)}' has a value of an unexpected shape.`, expr(name));
  });
}

const safeName = (name: string) => (PARAM_NAME.test(name) ? name : '(unrecognised name)');
const expr = (name: string) => (PARAM_NAME.test(name) ? [name] : undefined);

function once(name: string, values: string[]): string {
  if (values.length !== 1) throw badRequest('repeated-parameter', `Parameter '${name}' must be given once.`, [name]);
  return values[0]!;
}

const int = (name: string, v: string, min: number, max: number): number => integerParam(name, v, min, max, min);

function parseToken(name: string, value: string): Filter {
  const values: TokenValue[] = value.split(',').map((part) => {
    if (part.length === 0) throw badRequest('invalid-parameter', `'${name}' has an empty token; use [system]|[code].`, [name]);
    const bar = part.indexOf('|');
    if (bar < 0) return { code: part };
    const system = part.slice(0, bar);
    const code = part.slice(bar + 1);
    if (code.includes('|') || (system === '' && code === '')) throw badRequest('invalid-parameter', `'${name}' must be [system]|[code], |[code], [system]| or [code].`, [name]);
    return { system, ...(code === '' ? {} : { code }) };
  });
  return { kind: 'token', name, values, text: value };
}

function parseDate(name: string, value: string): Filter {
  const m = /^([a-z]{2})?([\s\S]*)$/.exec(value)!;
  const prefix = (m[1] ?? 'eq') as DatePrefix;
  if (m[1] && !DATE_PREFIXES.includes(prefix)) {
    throw badRequest('unsupported-prefix', `'${name}' supports the prefixes ${DATE_PREFIXES.join(', ')}.`, [name]);
  }
  const range = parseDateRange(m[2]!);
  if (!range) throw badRequest('invalid-date', `'${name}' must be a date YYYY[-MM[-DD[Thh:mm[:ss][Z|±hh:mm]]]] with an optional prefix (${DATE_PREFIXES.join(', ')}).`, [name]);
  return { kind: 'date', name, prefix, range, text: `${prefix}${m[2]}` };
}

function parseSort(def: TypeSearchDef, value: string): SortKey[] {
  const dates = def.params.filter((p) => p.type === 'date').map((p) => p.name);
  return value.split(',').map((item) => {
    const descending = item.startsWith('-');
    let name = descending ? item.slice(1) : item;
    if (name === 'date' && !dates.includes('date')) name = def.principalDate;
    if (!dates.includes(name)) {
      throw badRequest('invalid-parameter', `'_sort' for ${def.type} supports ${[...new Set(['date', ...dates])].join(', ')} (prefix '-' for descending).`, ['_sort']);
    }
    return { name, descending };
  });
}

function parsePatient(value: string): string {
  const id = value.startsWith('Patient/') ? value.slice('Patient/'.length) : value;
  if (!ID_RE.test(id)) throw badRequest('invalid-parameter', "'patient' must be Patient/<id> (the integrated patient id).", ['patient']);
  return id;
}

/** The include a `_include` value names (`Type:param[:Target]`), if the type supports it. */
export function includeOf(def: TypeSearchDef, value: string): IncludeDef | undefined {
  const [source, name, target, ...rest] = value.split(':');
  if (source !== def.type || rest.length > 0) return undefined;
  const inc = def.includes.find((i) => i.name === name);
  if (!inc || (target !== undefined && !inc.targets.includes(target))) return undefined;
  return target === undefined ? inc : { ...inc, targets: [target] };
}

/** Parses the query (or form body) of a search on `type`. */
export function parseTypeSearch(type: string, raw: Record<string, unknown>, opts: { strict: boolean }): TypeSearch {
  const def = searchDef(type);
  if (!def) throw badRequest('unsupported-type', `Search on ${safeName(type)} is not supported.`);
  const q: TypeSearch = { type, patientId: '', filters: [], sort: [], count: DEFAULT_COUNT, offset: 0, include: [], ignored: [] };
  const unsupported = (name: string, why: string) => {
    if (opts.strict) throw badRequest(why === 'modifier' ? 'unsupported-modifier' : 'unknown-parameter', unsupportedMessage(def, name, why), expr(name.split('=')[0]!));
    q.ignored.push(safeName(name.split('=')[0]!) + (name.includes('=') ? name.slice(name.indexOf('=')) : ''));
  };
  let patient: string | undefined;
  let summary: string | undefined;
  for (const [key, v] of Object.entries(raw)) {
    const values = valuesOf(key, v).filter((x) => x !== ''); // FHIR: empty values are ignored
    const [name, modifier] = key.split(':', 2) as [string, string | undefined];
    if (name === '_include' && modifier === undefined) {
      for (const value of values) {
        const inc = includeOf(def, value);
        if (inc) q.include.push(value);
        else unsupported(`_include=${PARAM_NAME.test(value) ? value : '…'}`, 'include');
      }
      continue;
    }
    const param = def.params.find((p) => p.name === name);
    const result = RESULT_PARAMS.some((p) => p.name === name);
    if (!param && !result) {
      unsupported(key, 'unknown');
      continue;
    }
    if (modifier !== undefined) {
      unsupported(key, 'modifier');
      continue;
    }
    if (values.length === 0) continue;
    if (param) {
      for (const value of values) q.filters.push(param.type === 'token' ? parseToken(name, value) : parseDate(name, value));
      continue;
    }
    const value = once(name, values);
    switch (name) {
      case 'patient':
        patient = parsePatient(value);
        break;
      case '_count':
        q.count = int('_count', value, 1, MAX_COUNT);
        break;
      case '_offset':
        q.offset = int('_offset', value, 0, 10_000_000);
        break;
      case '_sort':
        q.sort = parseSort(def, value);
        break;
      case '_summary':
        if (!['true', 'text', 'data', 'false', 'count'].includes(value)) throw badRequest('invalid-parameter', "'_summary' must be true, text, data, false or count.", ['_summary']);
        summary = value;
        break;
      case '_elements': {
        const elements = value.split(',').map((e) => e.trim());
        if (elements.some((e) => !/^[a-z][A-Za-z0-9]*$/.test(e))) throw badRequest('invalid-parameter', "'_elements' must be a comma-separated list of element names.", ['_elements']);
        q.elements = elements;
        break;
      }
      case '_total':
        if (value !== 'none' && value !== 'estimate' && value !== 'accurate') throw badRequest('invalid-parameter', "'_total' must be none, estimate or accurate.", ['_total']);
        q.total = value;
        break;
    }
  }
  if (patient === undefined) {
    throw badRequest('missing-parameter', `A ${type} search needs 'patient' (Patient/<id>, the integrated patient id).`, ['patient']);
  }
  q.patientId = patient;
  if (summary !== undefined && summary !== 'false') q.summary = summary as SummaryMode;
  if (q.summary && q.elements) throw badRequest('invalid-combination', "Use '_summary' or '_elements', not both.", ['_elements']);
  return q;
}

function unsupportedMessage(def: TypeSearchDef, name: string, why: string): string {
  const n = safeName(name);
  if (why === 'modifier') return `Parameter '${n}': modifiers are not supported on ${def.type} search.`;
  if (why === 'include') return `'${n}' is not supported; ${def.type} supports ${def.includes.map((i) => `${def.type}:${i.name}`).join(', ') || 'no _include'}.`;
  return `Search parameter '${n}' is not supported for ${def.type}; supported: ${[...def.params.map((p) => p.name), ...RESULT_PARAMS.map((p) => p.name), '_include'].join(', ')}.`;
}

/** Why a count cannot be given, when the search asks for one (`_summary=count`, `_total=accurate|estimate`). */
export function countRequestedBy(q: TypeSearch): string | undefined {
  if (q.summary === 'count') return '_summary';
  if (q.total === 'accurate' || q.total === 'estimate') return '_total';
  return undefined;
}

/**
 * The URL of a page of this search: the integrated patient id and the parameters actually used (never
 * an NHS number or any other patient identifier), so next/previous links are stable and safe in logs.
 */
export function searchLink(fhirBase: string, q: TypeSearch, offset: number): string {
  const p = new URLSearchParams();
  p.set('patient', `Patient/${q.patientId}`);
  for (const f of q.filters) p.append(f.name, f.text);
  for (const i of q.include) p.append('_include', i);
  if (q.sort.length > 0) p.set('_sort', q.sort.map((s) => `${s.descending ? '-' : ''}${s.name}`).join(','));
  if (q.summary) p.set('_summary', q.summary);
  if (q.elements) p.set('_elements', q.elements.join(','));
  if (q.total) p.set('_total', q.total);
  p.set('_count', String(q.count));
  if (offset > 0) p.set('_offset', String(offset));
  return `${fhirBase}/${q.type}?${p}`;
}

/** The resource types a search can return: the searched type and the targets of the asked-for `_include`s. */
export function resultTypes(q: TypeSearch): Set<string> {
  const def = searchDef(q.type)!;
  const types = new Set([q.type]);
  for (const value of q.include) for (const t of includeOf(def, value)?.targets ?? []) types.add(t);
  return types;
}
