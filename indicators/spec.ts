import type { Criterion, IndicatorSource, IndicatorSpec } from '../adapters/aggregate-query.js';
import type { IndicatorMeta } from './types.js';

export type { Criterion, IndicatorSpec, Population } from '../adapters/aggregate-query.js';

/**
 * The declarative criteria language of the indicators (issue #5): DATA, not code paths. A new indicator
 * of a known shape is a new catalogue entry; the sources compile these specs to SQL
 * (scripts/sandbox/extract/compile.ts) and the service splits cross-source specs (indicators/compute.ts).
 *
 * Dates: every criterion is judged at the reporting period end `E` and over a window of
 * `windowMonths` ending at E (the indicator's, or the criterion's own `withinMonths`): [windowStart(E, m), E].
 */

export const CODE_SYSTEMS = {
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  socialCareService: 'https://sandbox-social-care.example.gov.uk/service-type',
  socialCareReview: 'https://sandbox-social-care.example.gov.uk/review',
} as const;

export type CriterionKind = Criterion['kind'];
export const CRITERION_KINDS: readonly CriterionKind[] = [
  'condition', 'observation', 'immunization', 'procedure', 'medication-count', 'encounter', 'care-package', 'care-review', 'not', 'any',
];

export interface IndicatorDefinition extends IndicatorMeta {
  spec: IndicatorSpec;
}

export const SPEC_SHAPES: readonly IndicatorSpec['shape'][] = [
  'person-proportion', 'person-rate', 'episode-readmission', 'episode-length-of-stay', 'org-return', 'org-return-ratio',
];
const SOURCES: readonly IndicatorSource[] = ['gp', 'hospital', 'social-care'];

/** The source that holds a criterion's facts (its own `source`, else the population's). */
export const sourceOf = (c: Criterion, fallback: IndicatorSource): IndicatorSource =>
  c.kind === 'not' ? sourceOf(c.criterion, fallback) : c.kind === 'any' ? (c.criteria[0] ? sourceOf(c.criteria[0], fallback) : fallback) : (c.source ?? fallback);

/** Every source a spec needs, population source first. */
export function sourcesOfSpec(spec: IndicatorSpec): IndicatorSource[] {
  const set = new Set<IndicatorSource>();
  if (spec.shape === 'person-proportion' || spec.shape === 'person-rate') {
    set.add(spec.population.source);
    for (const c of spec.population.criteria ?? []) set.add(sourceOf(c, spec.population.source));
    if (spec.shape === 'person-proportion') for (const c of spec.numerator) set.add(sourceOf(c, spec.population.source));
  } else set.add(spec.source);
  return [...set];
}

/** First day of the window of `months` months ending at `periodEnd` (both inclusive), YYYY-MM-DD. */
export function windowStart(periodEnd: string, months: number): string {
  const d = new Date(`${periodEnd}T00:00:00Z`);
  const y = d.getUTCFullYear();
  const m = d.getUTCMonth() - months;
  const day = d.getUTCDate();
  // Same day-of-month `months` earlier (clamped to that month's length), plus one day.
  const lastDay = new Date(Date.UTC(y, m + 1, 0)).getUTCDate();
  const start = new Date(Date.UTC(y, m, Math.min(day, lastDay)));
  start.setUTCDate(start.getUTCDate() + 1);
  return start.toISOString().slice(0, 10);
}

/** The date `years` before `date` (Feb 29 → Feb 28), YYYY-MM-DD. */
export function yearsBefore(date: string, years: number): string {
  const [y, m, d] = date.split('-').map(Number) as [number, number, number];
  const lastDay = new Date(Date.UTC(y - years, m, 0)).getUTCDate();
  return `${String(y - years).padStart(4, '0')}-${String(m).padStart(2, '0')}-${String(Math.min(d, lastDay)).padStart(2, '0')}`;
}

// ---- Validation (catalogue load time, and every spec a source receives) ----

const CODE = /^[A-Za-z0-9._:-]{1,64}$/;
const ITEM = /^[a-z-]{1,32}:[A-Za-z0-9._+-]{1,40}$/;
const isCodes = (v: unknown): v is string[] => Array.isArray(v) && v.length > 0 && v.length <= 200 && v.every((c) => typeof c === 'string' && CODE.test(c));
const isInt = (v: unknown, min: number, max: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const optMonths = (c: { withinMonths?: unknown }, at: string, errors: string[]): void => {
  if (c.withinMonths !== undefined && !isInt(c.withinMonths, 1, 120)) errors.push(`${at}.withinMonths must be an integer from 1 to 120`);
};
const isSource = (v: unknown): v is IndicatorSource => SOURCES.includes(v as IndicatorSource);

/** Checks one criterion; returns problems as "path: message" (empty when well-formed). */
export function validateCriterion(c: unknown, at: string, errors: string[] = [], depth = 0): string[] {
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return (errors.push(`${at} must be an object`), errors);
  const x = c as Record<string, unknown>;
  if (depth > 6) return (errors.push(`${at} is nested too deeply`), errors);
  if (x.source !== undefined && !isSource(x.source)) errors.push(`${at}.source must be one of ${SOURCES.join(', ')}`);
  const allowed: Record<CriterionKind, string[]> = {
    condition: ['codes', 'timing', 'withinMonths'],
    observation: ['codes', 'value', 'valueCodes', 'withinMonths'],
    immunization: ['codes', 'withinMonths'],
    procedure: ['codes', 'withinMonths'],
    'medication-count': ['atLeast'],
    encounter: ['classes', 'withinMonths'],
    'care-package': ['serviceTypes'],
    'care-review': ['withinMonths'],
    not: ['criterion'],
    any: ['criteria'],
  };
  const kind = x.kind as CriterionKind;
  if (!CRITERION_KINDS.includes(kind)) return (errors.push(`${at}.kind must be one of ${CRITERION_KINDS.join(', ')}`), errors);
  for (const key of Object.keys(x)) {
    if (key !== 'kind' && key !== 'source' && !allowed[kind].includes(key)) errors.push(`${at}.${key} is not allowed for kind ${kind}`);
  }
  if (kind === 'condition' || kind === 'observation' || kind === 'immunization' || kind === 'procedure') {
    if (!isCodes(x.codes)) errors.push(`${at}.codes must be 1 to 200 codes`);
    optMonths(x, at, errors);
  }
  if (kind === 'condition' && x.timing !== 'active-at-end' && x.timing !== 'onset-in-window') {
    errors.push(`${at}.timing must be active-at-end or onset-in-window`);
  }
  if (kind === 'observation') {
    if (x.value !== undefined) {
      const v = x.value as Record<string, unknown> | null;
      if (!v || typeof v !== 'object' || !['>=', '>', '<=', '<', '='].includes(v.op as string) || typeof v.value !== 'number' || !Number.isFinite(v.value)) {
        errors.push(`${at}.value must be {op: >=|>|<=|<|=, value: number}`);
      }
    }
    if (x.valueCodes !== undefined && !isCodes(x.valueCodes)) errors.push(`${at}.valueCodes must be 1 to 200 codes`);
    if (x.value !== undefined && x.valueCodes !== undefined) errors.push(`${at} may have value or valueCodes, not both`);
  }
  if (kind === 'medication-count' && !isInt(x.atLeast, 1, 100)) errors.push(`${at}.atLeast must be an integer from 1 to 100`);
  if (kind === 'encounter') {
    if (!isCodes(x.classes)) errors.push(`${at}.classes must be 1 or more encounter classes`);
    optMonths(x, at, errors);
  }
  if (kind === 'care-package' && x.serviceTypes !== undefined && !isCodes(x.serviceTypes)) errors.push(`${at}.serviceTypes must be 1 or more codes`);
  if (kind === 'care-review') optMonths(x, at, errors);
  if (kind === 'not') validateCriterion(x.criterion, `${at}.criterion`, errors, depth + 1);
  if (kind === 'any') {
    if (!Array.isArray(x.criteria) || x.criteria.length === 0) errors.push(`${at}.criteria must be a non-empty array`);
    else {
      x.criteria.forEach((cc, i) => validateCriterion(cc, `${at}.criteria[${i}]`, errors, depth + 1));
      const srcs = new Set((x.criteria as Criterion[]).map((cc) => sourceOf(cc, 'gp')));
      if (srcs.size > 1) errors.push(`${at}.criteria must all be held by one source`);
    }
  }
  if (kind === 'not' && x.source !== undefined) errors.push(`${at}.source belongs on the inner criterion`);
  if (kind === 'any' && x.source !== undefined) errors.push(`${at}.source belongs on the inner criteria`);
  return errors;
}

function validatePopulation(p: unknown, at: string, errors: string[]): void {
  if (p === null || typeof p !== 'object' || Array.isArray(p)) {
    errors.push(`${at} must be an object`);
    return;
  }
  const x = p as Record<string, unknown>;
  for (const key of Object.keys(x)) if (!['source', 'age', 'sex', 'criteria', 'linkableOnly'].includes(key)) errors.push(`${at}.${key} is not allowed`);
  if (!isSource(x.source)) errors.push(`${at}.source must be one of ${SOURCES.join(', ')}`);
  if (x.age !== undefined) {
    const a = x.age as Record<string, unknown> | null;
    if (!a || typeof a !== 'object' || (a.min !== undefined && !isInt(a.min, 0, 130)) || (a.max !== undefined && !isInt(a.max, 0, 130))) {
      errors.push(`${at}.age must be {min?, max?} whole years from 0 to 130`);
    } else if (typeof a.min === 'number' && typeof a.max === 'number' && a.min > a.max) errors.push(`${at}.age.min must not exceed age.max`);
  }
  if (x.sex !== undefined && x.sex !== 'male' && x.sex !== 'female') errors.push(`${at}.sex must be male or female`);
  if (x.linkableOnly !== undefined && typeof x.linkableOnly !== 'boolean') errors.push(`${at}.linkableOnly must be a boolean`);
  if (x.criteria !== undefined) {
    if (!Array.isArray(x.criteria)) errors.push(`${at}.criteria must be an array`);
    else
      x.criteria.forEach((c, i) => {
        validateCriterion(c, `${at}.criteria[${i}]`, errors);
        if (isSource(x.source) && errors.length === 0 && sourceOf(c as Criterion, x.source) !== x.source) {
          errors.push(`${at}.criteria[${i}] must be held by the population's source`);
        }
      });
  }
}

/** Checks a spec; returns problems as "path: message" (empty when well-formed). */
export function validateSpec(spec: unknown, at = 'spec'): string[] {
  const errors: string[] = [];
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) return [`${at} must be an object`];
  const x = spec as Record<string, unknown>;
  const shape = x.shape as IndicatorSpec['shape'];
  if (!SPEC_SHAPES.includes(shape)) return [`${at}.shape must be one of ${SPEC_SHAPES.join(', ')}`];
  const keys: Record<IndicatorSpec['shape'], string[]> = {
    'person-proportion': ['population', 'numerator'],
    'person-rate': ['population', 'denominatorItem'],
    'episode-readmission': ['source', 'classes', 'followedBy'],
    'episode-length-of-stay': ['source', 'classes'],
    'org-return': ['source', 'itemPrefix'],
    'org-return-ratio': ['source', 'numeratorItem', 'denominatorItem'],
  };
  for (const key of Object.keys(x)) if (key !== 'shape' && !keys[shape].includes(key)) errors.push(`${at}.${key} is not allowed for shape ${shape}`);
  if (shape === 'person-proportion' || shape === 'person-rate') validatePopulation(x.population, `${at}.population`, errors);
  if (shape === 'person-proportion') {
    if (!Array.isArray(x.numerator) || x.numerator.length === 0) errors.push(`${at}.numerator must be a non-empty array of criteria`);
    else x.numerator.forEach((c, i) => validateCriterion(c, `${at}.numerator[${i}]`, errors));
  }
  if (shape === 'person-rate' && (typeof x.denominatorItem !== 'string' || !ITEM.test(x.denominatorItem))) {
    errors.push(`${at}.denominatorItem must be a return item such as population:18+`);
  }
  if (shape === 'org-return-ratio') {
    for (const k of ['numeratorItem', 'denominatorItem']) {
      if (typeof x[k] !== 'string' || !ITEM.test(x[k] as string)) errors.push(`${at}.${k} must be a return item such as food-survey:responses`);
    }
  }
  if (shape === 'episode-readmission' || shape === 'episode-length-of-stay' || shape === 'org-return' || shape === 'org-return-ratio') {
    if (!isSource(x.source)) errors.push(`${at}.source must be one of ${SOURCES.join(', ')}`);
  }
  if (shape === 'episode-readmission' || shape === 'episode-length-of-stay') {
    if (!isCodes(x.classes)) errors.push(`${at}.classes must be 1 or more encounter classes`);
  }
  if (shape === 'episode-readmission') {
    const f = x.followedBy as Record<string, unknown> | null | undefined;
    if (!f || typeof f !== 'object' || !isCodes(f.classes) || !isInt(f.withinDays, 1, 365)) {
      errors.push(`${at}.followedBy must be {classes: [...], withinDays: 1..365}`);
    }
  }
  if (shape === 'org-return' && (typeof x.itemPrefix !== 'string' || !/^[a-z-]{1,32}:$/.test(x.itemPrefix))) {
    errors.push(`${at}.itemPrefix must be a prefix such as food:`);
  }
  return errors;
}
