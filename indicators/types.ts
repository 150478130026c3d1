/**
 * Shared vocabulary of the transparency indicators (issue #5).
 *
 * Three parts meet here:
 *  - the catalogue and the computation (`catalogue.ts`, `spec.ts`, `compute.ts`, the source adapters'
 *    aggregate queries): definitions in, unrounded counts per organisation and stratum out (`ComputeRun`);
 *  - the statistics (`disclosure.ts`, `funnel.ts`, `standardise.ts`): pure functions, no I/O;
 *  - publishing (`snapshots.ts`, `publish.ts`, server routes): disclosure control + fair comparison applied
 *    to a `ComputeRun`, stored as a snapshot, served as JSON, CSV and FHIR Measure / MeasureReport.
 *
 * Nothing patient-level crosses this file: only counts keyed by organisation code and stratum.
 */

export const INDICATOR_AREAS = [
  'patient-safety',
  'efficiency',
  'quality',
  'public-health',
  'social-care-commissioning',
  'hospital-food-standards',
] as const;
export type IndicatorArea = (typeof INDICATOR_AREAS)[number];

export const ORGANISATION_LEVELS = ['gp-practice', 'hospital-trust', 'local-authority'] as const;
export type OrganisationLevel = (typeof ORGANISATION_LEVELS)[number];

/** The source systems an indicator can draw on (the adapters' names). */
export type IndicatorSource = 'gp' | 'hospital' | 'social-care';

/**
 * How the value is formed from numerator and denominator.
 *  - proportion: numerator ⊆ denominator (people or episodes); value = n/d; exact binomial limits.
 *  - rate: numerator events per `per` of denominator (population or exposure); Poisson limits.
 *  - mean: numerator = sum of a quantity (e.g. bed-days), denominator = number of episodes; value = n/d;
 *    compared with Poisson limits on the sum (documented approximation).
 */
export type MeasureType = { type: 'proportion' } | { type: 'rate'; per: number } | { type: 'mean'; unit: string };

/** Which direction is better, so that "above expected" can be explained; never used to rank. */
export type Direction = 'higher-is-better' | 'lower-is-better' | 'no-judgement';

/** Everything about an indicator that publishing needs; the computation adds its `spec` (indicators/spec.ts). */
export interface IndicatorMeta {
  id: string;
  title: string;
  area: IndicatorArea;
  level: OrganisationLevel;
  measure: MeasureType;
  direction: Direction;
  /** Sources the indicator needs; two or more = computed by linking keyed pseudonyms. */
  sources: IndicatorSource[];
  /** Plain-English definitions shown to the public. */
  numeratorText: string;
  denominatorText: string;
  methodology: string;
  limitations: string[];
  /** Publish a directly age-sex standardised value as well (strata must be computed). */
  standardise: boolean;
  /** Reporting window in months, ending at the period end. */
  windowMonths: number;
}

/** Age bands used for stratification and standardisation (ONS/ESP 2013 style, 5-year to 90+ collapsed to 10-year here). */
export const AGE_BANDS = ['0-9', '10-19', '20-29', '30-39', '40-49', '50-59', '60-69', '70-79', '80-89', '90+'] as const;
export type AgeBand = (typeof AGE_BANDS)[number];
export type Sex = 'male' | 'female';

export interface StratumCount {
  ageBand: AgeBand;
  sex: Sex;
  numerator: number;
  denominator: number;
}

/** Unrounded counts for one organisation (never published as such). */
export interface OrganisationCount {
  /** ODS code (practice / trust) or ONS code (local authority). */
  code: string;
  numerator: number;
  denominator: number;
  /** Present when the indicator is stratified; strata sum to the organisation's counts. */
  strata?: StratumCount[];
}

export interface IndicatorComputation {
  indicatorId: string;
  period: ReportingPeriod;
  organisations: OrganisationCount[];
  /** Sources this indicator needed that did not answer: the computation is then incomplete. */
  missingSources: IndicatorSource[];
}

/** Inclusive dates, YYYY-MM-DD. */
export interface ReportingPeriod {
  start: string;
  end: string;
}

export interface SourceStatus {
  source: IndicatorSource;
  status: 'ok' | 'unavailable';
  /** The source's own data version (e.g. extract timestamp or hash) when it answered. */
  version?: string;
  /** Why it was unavailable: a message without patient data. */
  reason?: string;
}

/** One refresh: all requested indicators for one period. */
export interface ComputeRun {
  period: ReportingPeriod;
  startedAt: string;
  finishedAt: string;
  sources: SourceStatus[];
  /** False when any source needed by any indicator was unavailable. */
  complete: boolean;
  /** Persons excluded because they opted out of secondary use (a count; never who). */
  optOutsApplied: number;
  results: IndicatorComputation[];
}

// ---- Disclosure control (indicators/disclosure.ts implements) ----

export interface DisclosurePolicy {
  /** Counts 1..threshold are suppressed (default 7). Zero is publishable. */
  threshold: number;
  /** Publishable counts are rounded to the nearest multiple of this (default 5). */
  rounding: number;
}

export type PublishedCount =
  | { value: number; suppressed: false }
  | { value: null; suppressed: true; reason: 'small-count' | 'secondary' };

// ---- Fair comparison (indicators/funnel.ts implements) ----

export type Classification = 'within-expected' | 'above-alert' | 'above-alarm' | 'below-alert' | 'below-alarm';

export interface ControlLimits {
  /** 95 % limits ("alert") and 99.8 % limits ("alarm") around the target at this denominator. */
  lower95: number;
  upper95: number;
  lower998: number;
  upper998: number;
}
