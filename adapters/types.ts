import type { Patient, Resource } from 'fhir/r4.js';
import type { TypeSearch } from '../fhir/type-search.js';

/** The three source systems the facade federates. */
export type SourceId = 'gp' | 'hospital' | 'social-care';
export const SOURCE_IDS: readonly SourceId[] = ['gp', 'hospital', 'social-care'];

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

/** Everything a source holds about one of its patients, as FHIR R4 resources with source-local ids. */
export interface SourceRecord {
  source: SourceId;
  sourcePatientId: string;
  resources: Resource[];
}

export interface SourceHealth {
  source: SourceId;
  ok: boolean;
  detail?: string;
}

/** One small interface every source adapter implements. Aggregate count queries come in a later issue. */
export interface SourceAdapter {
  readonly id: SourceId;
  /** Human-readable name used in OperationOutcome diagnostics (never patient data). */
  readonly displayName: string;
  /** Base URL used as `meta.source` for resources from this source. */
  readonly sourceUri: string;
  /**
   * The resource types this source can ever send (undefined: any). A fixed property of the source, so a
   * consent restriction on it can be said to apply to a search without looking at what the search found.
   */
  readonly resourceTypes?: ReadonlySet<string>;
  findPatients(query: PatientQuery, signal?: AbortSignal): Promise<SourcePatient[]>;
  readPatient(sourcePatientId: string, signal?: AbortSignal): Promise<SourcePatient>;
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
}
