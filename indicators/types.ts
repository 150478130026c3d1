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

export type { IndicatorSource, ReportingPeriod, Sex } from '../adapters/aggregate-query.js';
import type { IndicatorSource, ReportingPeriod, Sex } from '../adapters/aggregate-query.js';

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
  /**
   * Sources this indicator needed that did not answer (or reported the same organisation as another source
   * of their kind): the computation is then incomplete. Each named by its registry display name (by its kind
   * — gp, hospital, social-care — in the three-variable form, or when no source of a kind is configured).
   */
  missingSources: string[];
  /** Cross-source indicators: people each source holds without an NHS number, who cannot be linked (exact; never published as such). */
  unlinkable?: Partial<Record<IndicatorSource, number>>;
}

export interface SourceStatus {
  /** The aggregate source's name (registry display name; its kind in the three-variable form). */
  source: string;
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

// ---- Publishing (indicators/publish.ts, indicators/snapshots.ts) ----

export interface Interval {
  lower: number;
  upper: number;
}

/**
 * Why an organisation's value (and with it the interval, limits and classification) is not published.
 *  - numerator-suppressed / denominator-suppressed: a count was suppressed by disclosure control;
 *  - no-denominator: the denominator is zero, so there is no value;
 *  - source-unavailable: a source the indicator needs did not answer for this snapshot.
 */
export type WithheldReason = 'numerator-suppressed' | 'denominator-suppressed' | 'no-denominator' | 'source-unavailable';

/** One organisation's published figures (after disclosure control). There is no rank or position. */
export interface PublishedOrganisation {
  code: string;
  numerator: PublishedCount;
  denominator: PublishedCount;
  /** n/d (× `per` for rates) from the PUBLISHED (rounded) counts; null unless both counts are publishable. */
  value: number | null;
  /** 95 % confidence interval of the value; null when the value is null. */
  ci95: Interval | null;
  /** Funnel-plot control limits around the target at this organisation's denominator; null when the value is null. */
  limits: ControlLimits | null;
  classification: Classification | null;
  /**
   * Present only when the definition standardises: the directly age-sex standardised value and its 95 % CI;
   * withheld (null, with the reason) when the crude value is withheld, no strata were computed, or there are
   * fewer than 10 events (too unstable to publish, the OHID convention).
   */
  standardised?: { value: number | null; ci95: Interval | null; withheld: WithheldReason | 'no-strata' | 'fewer-than-10-events' | null };
  /** True when any figure of this row is withheld. */
  suppressed: boolean;
  /** Why the value is withheld (null when it is published). */
  withheld: WithheldReason | null;
}

/** The published figures of one indicator in one snapshot: what is stored and served. */
export interface PublishedIndicator {
  indicatorId: string;
  period: ReportingPeriod;
  measure: MeasureType;
  /** False when a source this indicator needs was unavailable: the figures are then not the full picture. */
  complete: boolean;
  /** Sources missing from these figures, by name (IndicatorComputation.missingSources). */
  missingSources: string[];
  /** All organisations together (area total), disclosure-controlled like the rows. */
  total: { numerator: PublishedCount; denominator: PublishedCount; value: number | null; ci95: Interval | null };
  /** The value organisations are compared with (the published total's value); null when not publishable. */
  target: number | null;
  /** How the limits were formed, in words (e.g. "exact binomial" / "Poisson"). */
  limitsMethod: string;
  /** Over-dispersion estimate (φ, multiplicative; 1 = as chance predicts) and whether the limits were widened by it. */
  overdispersion: { phi: number; pValue: number; applied: boolean } | null;
  /**
   * Whether disclosure control was applied: true for counts of people or their episodes; false only for
   * organisation-level returns (e.g. food standards met), which count no people.
   */
  disclosureControlled: boolean;
  /** Present when standardised: the standard population used, in words. */
  standardPopulation?: string;
  /**
   * Cross-source indicators: how many people each source holds that could not be linked between the systems (no NHS
   * number), disclosure-controlled like any count; they are left out of the figures.
   */
  linkage?: { unlinkable: Array<{ source: IndicatorSource; people: PublishedCount }>; text: string };
  /** Sorted by organisation code. Never ranked. */
  organisations: PublishedOrganisation[];
}

/** Metadata of one stored snapshot (one refresh). */
export interface SnapshotMeta {
  id: string;
  period: ReportingPeriod;
  computedAt: string;
  /** Token subject of the analyst who asked for the refresh (not served publicly). */
  requestedBy: string;
  complete: boolean;
  sources: SourceStatus[];
  /** Every source, by name, that was unavailable for this snapshot (or missing from one of its indicators). */
  unavailableSources: string[];
  /** Persons excluded for opting out of secondary use, disclosure-controlled like any count. */
  optOutsApplied: PublishedCount;
  disclosurePolicy: DisclosurePolicy;
  indicatorIds: string[];
}

export interface StoredSnapshot extends SnapshotMeta {
  indicators: PublishedIndicator[];
}
