import { forbidden } from '../fhir/outcomes.js';
import type { Principal } from './principal.js';

/**
 * Coarse role rules that hold before any consent decision (the consent issue adds the per-patient
 * guard): staff who give direct care may read records; a patient only their own; analysts and
 * privacy officers never read patient-level data.
 */
const RECORD_READERS = new Set(['ambulance-crew', 'clinician', 'patient']);

export function assertMayReadRecords(p: Principal): void {
  if (!RECORD_READERS.has(p.role)) {
    throw forbidden('role-not-permitted', `The role '${p.role}' may not read patient-level records.`);
  }
}

/** A patient may only look up or read the record that carries their own NHS number. */
export function assertOwnRecord(p: Principal, nhsNumber: string | null | undefined): void {
  if (p.role === 'patient' && (!nhsNumber || nhsNumber !== p.nhsNumber)) {
    throw forbidden('not-own-record', 'A patient may only access their own record.');
  }
}
