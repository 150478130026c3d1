import type { Patient, Resource } from 'fhir/r4.js';
import type { TypeSearch } from '../fhir/type-search.js';

/**
 * A kind of source system: GP systems (serving GP practices), hospital systems (trusts), social care
 * (councils). Consent rules, display names and the order of precedence in a merge go by kind.
 */
export type SourceKind = 'gp' | 'hospital' | 'social-care';
export const SOURCE_KINDS: readonly SourceKind[] = ['gp', 'hospital', 'social-care'];
/** @deprecated the kinds; a source's own id is any registry id (`SourceId`). */
export const SOURCE_IDS = SOURCE_KINDS;
/** A source's id in the source registry (e.g. `gp`, `gp-emis-north`, `trust-leeds`). */
export type SourceId = string;

/** What the facade asks a source when looking for a person. */
export type PatientQuery =
  | { kind: 'nhs-number'; nhsNumber: string }
  | { kind: 'demographics'; family: string; birthDate: string; given?: string; postcode?: string };

/** A source's own patient record, as FHIR, with the id the source uses for it. */
export interface SourcePatient {
  source: SourceId;
  sourcePatientId: string;
  patient: Patient;
}

/** A way a source's answer fell short that the reader must be told about (the valid part is still used). */
export interface SourceIssue {
  kind: 'timeout' | 'error' | 'circuit-open' | 'invalid-response' | 'truncated';
  /** Names the source; no patient data. */
  message: string;
}

/** The people a source found, and any way its answer fell short. */
export interface SourcePatients {
  patients: SourcePatient[];
  issues?: SourceIssue[];
}

/** Everything a source holds about one of its patients, as FHIR R4 resources with source-local ids. */
export interface SourceRecord {
  source: SourceId;
  sourcePatientId: string;
  resources: Resource[];
  /** What was wrong with the answer (malformed entries, truncation, …): reported, the valid part kept. */
  issues?: SourceIssue[];
}

export interface SourceHealth {
  source: SourceId;
  ok: boolean;
  detail?: string;
}

/** One small interface every source adapter implements. Aggregate count queries come in a later issue. */
export interface SourceAdapter {
  readonly id: SourceId;
  /** What kind of source this is (consent rules and precedence go by kind). */
  readonly kind: SourceKind;
  /**
   * ODS codes of the organisations behind the source whose staff have a care relationship with every
   * patient the source holds (a trust, a council). A GP system lists none: its practices' relationship
   * is the patient's registered practice.
   */
  readonly organisations: readonly string[];
  /** Human-readable name used in OperationOutcome diagnostics (never patient data). */
  readonly displayName: string;
  /** Base URL used as `meta.source` for resources from this source. */
  readonly sourceUri: string;
  /**
   * The resource types this source can ever send (undefined: any). A fixed property of the source, so a
   * consent restriction on it can be said to apply to a search without looking at what the search found.
   */
  readonly resourceTypes?: ReadonlySet<string>;
  findPatients(query: PatientQuery, signal?: AbortSignal): Promise<SourcePatients>;
  readPatient(sourcePatientId: string, signal?: AbortSignal): Promise<SourcePatient>;
  /** A few of the source's patients (one page of an unfiltered Patient search): demo sign-in only. */
  listPatients?(count: number, signal?: AbortSignal): Promise<SourcePatients>;
  /**
   * The patient's record. `types`: only these resource types are wanted; a source that can narrow its
   * answer does (FHIR `$everything?_type=`), and the caller drops any other type a source sends anyway.
   */
  fetchRecord(sourcePatientId: string, signal?: AbortSignal, types?: readonly string[]): Promise<SourceRecord>;
  /**
   * The patient's resources of `query.type` with the filters and `_include`s this source supports applied
   * at the source (the rest are applied by the facade), plus what they reference that the source returns.
   */
  searchRecord(sourcePatientId: string, query: TypeSearch, signal?: AbortSignal): Promise<SourceRecord>;
  health(): Promise<SourceHealth>;
  /**
   * The ODS code of an Organization this source refers to (e.g. `Organization/123` in a Patient's
   * generalPractitioner), read from the source and cached; undefined when it has none.
   */
  organisationCode?(reference: string, signal?: AbortSignal): Promise<string | undefined>;
}
