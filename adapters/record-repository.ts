import type { Patient, Resource } from 'fhir/r4.js';
import type { PatientQuery } from './types.js';
import type { Warning } from '../fhir/bundle.js';
import type { TypeSearch } from '../fhir/type-search.js';

export type { Warning } from '../fhir/bundle.js';

/** An integrated patient known to the patient index (resolved once per request). */
export interface PatientRef {
  id: string;
  nhsNumber: string | null;
}

/**
 * Part of a patient's record: resources of `types` only (asked of the sources that can narrow their
 * answer, dropped by the facade from those that cannot), and of those only what `keep` accepts. `keep` is
 * applied to each source's answer as soon as it arrives, before the merge and the consent checks: what a
 * caller will not use is neither merged nor held while the slower sources answer.
 */
export interface RecordFilter {
  types: readonly string[];
  keep?: (r: Resource) => boolean;
}

/** What the FHIR operations need from the federated repository (implemented by adapters/federation). */
export interface RecordRepository {
  findPatients(query: PatientQuery, signal?: AbortSignal): Promise<{ patients: { id: string; patient: Patient }[]; warnings: Warning[] }>;
  resolvePatient(id: string): Promise<PatientRef | undefined>;
  readPatient(ref: PatientRef, signal?: AbortSignal): Promise<{ patient: Patient; warnings: Warning[] }>;
  /**
   * The patient's integrated record, or the part of it `filter` selects.
   * `consentFiltered`: consent applied to this result, so its size must not be reported (a count can reveal what was hidden).
   */
  everything(ref: PatientRef, signal?: AbortSignal, filter?: RecordFilter): Promise<{ resources: Resource[]; warnings: Warning[]; consentFiltered?: boolean }>;
  /**
   * Resources of `query.type` for the patient from every source (filters pushed down where a source
   * supports them), merged exactly as `everything`, plus the resources its `_include`s may reach. The
   * caller still applies every filter: a source may ignore one.
   */
  search(ref: PatientRef, query: TypeSearch, signal?: AbortSignal): Promise<{ resources: Resource[]; warnings: Warning[]; consentFiltered?: boolean }>;
}
