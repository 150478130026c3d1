import type { Patient, Resource } from 'fhir/r4.js';
import type { PatientQuery } from '../adapters/types.js';

/** A warning to surface in a response: which source, what kind of problem, a message without patient data. */
export interface Warning {
  source: string;
  kind: string;
  message: string;
}

/** What the FHIR operations need from the federated repository (implemented by adapters/federation). */
export interface RecordRepository {
  findPatients(query: PatientQuery, signal?: AbortSignal): Promise<{ patients: { id: string; patient: Patient }[]; warnings: Warning[] }>;
  readPatient(id: string, signal?: AbortSignal): Promise<{ patient: Patient; warnings: Warning[] } | undefined>;
  everything(id: string, signal?: AbortSignal): Promise<{ resources: Resource[]; warnings: Warning[] } | undefined>;
}
