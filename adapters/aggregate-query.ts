/**
 * The aggregate query language the sources answer counts for: who is counted (Population), which facts
 * about a person count (Criterion), the count shapes (IndicatorSpec) and the reporting period. It is the
 * contract between the indicator service (indicators/, which composes these specs and validates them in
 * indicators/spec.ts) and the sources' aggregate API (adapters/aggregate-api.ts, aggregate-client.ts), so it
 * sits below both.
 *
 * Dates: every criterion is judged at the reporting period end `E` and over a window of
 * `windowMonths` ending at E (the indicator's, or the criterion's own `withinMonths`).
 */

/** The source systems an indicator can draw on (the adapters' names). */
export type IndicatorSource = 'gp' | 'hospital' | 'social-care';

export type Sex = 'male' | 'female';

/** Inclusive dates, YYYY-MM-DD. */
export interface ReportingPeriod {
  start: string;
  end: string;
}

/** A fact about a person, judged at period end or within the window. `source` set = held by that source (cross-source). */
export type Criterion =
  /** A coded condition active at period end (onset ≤ E, no abatement before E) or with onset in the window. */
  | { kind: 'condition'; source?: IndicatorSource; codes: string[]; timing: 'active-at-end' | 'onset-in-window'; withinMonths?: number }
  /**
   * An observation with one of the codes in the window; with `value` / `valueCodes` the person's LATEST such
   * observation in the window must satisfy the comparison (numeric) or carry one of the value codes (coded).
   * Several readings on the latest day: the largest value decides, or any of them carrying a value code.
   */
  | {
      kind: 'observation';
      source?: IndicatorSource;
      codes: string[];
      value?: { op: '>=' | '>' | '<=' | '<' | '='; value: number };
      valueCodes?: string[];
      withinMonths?: number;
    }
  | { kind: 'immunization'; source?: IndicatorSource; codes: string[]; withinMonths?: number }
  | { kind: 'procedure'; source?: IndicatorSource; codes: string[]; withinMonths?: number }
  /** At least `atLeast` distinct medicines active at period end (started ≤ E, not ended by E). */
  | { kind: 'medication-count'; source?: IndicatorSource; atLeast: number }
  /** An encounter of one of the classes (EMER, IMP, AMB …) starting in the window. */
  | { kind: 'encounter'; source?: IndicatorSource; classes: string[]; withinMonths?: number }
  /** A social-care package active at period end (optionally of these service types). */
  | { kind: 'care-package'; source?: IndicatorSource; serviceTypes?: string[] }
  /** A social-care review in the window. */
  | { kind: 'care-review'; source?: IndicatorSource; withinMonths?: number }
  | { kind: 'not'; criterion: Criterion }
  | { kind: 'any'; criteria: Criterion[] };

/** The people an indicator is about: alive and registered at one source at period end. */
export interface Population {
  source: IndicatorSource;
  /** Age in whole years at period end, inclusive bounds. */
  age?: { min?: number; max?: number };
  sex?: Sex;
  /** Further conditions every member meets (e.g. has diabetes): all held by `source`. */
  criteria?: Criterion[];
  /** Only people whose NHS number the source holds (implied for cross-source indicators: they are linked by it). */
  linkableOnly?: boolean;
}

export type IndicatorSpec =
  /** numerator = members of the population meeting ALL criteria; criteria may name another source. */
  | { shape: 'person-proportion'; population: Population; numerator: Criterion[] }
  /** numerator = members of the population; denominator = an organisation-level return item (e.g. 'population:18+'). */
  | { shape: 'person-rate'; population: Population; denominatorItem: string }
  /** Hospital stays of `classes` discharged in the window (denominator), followed by an admission within `withinDays`. */
  | { shape: 'episode-readmission'; source: IndicatorSource; classes: string[]; followedBy: { classes: string[]; withinDays: number } }
  /** Sum of length-of-stay days (numerator) over stays of `classes` discharged in the window (denominator). */
  | { shape: 'episode-length-of-stay'; source: IndicatorSource; classes: string[] }
  /** Items met (value sum) over items returned, from the latest organisation return in the window with this item prefix. */
  | { shape: 'org-return'; source: IndicatorSource; itemPrefix: string }
  /** The value of one return item over the value of another, from the latest return in the window that has both. */
  | { shape: 'org-return-ratio'; source: IndicatorSource; numeratorItem: string; denominatorItem: string };

