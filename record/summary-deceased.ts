import type { Patient } from 'fhir/r4.js';

/**
 * "Recorded as deceased (date)" when the integrated Patient says the patient has died (deceasedBoolean
 * true or a deceasedDateTime); undefined otherwise. A summary must state it first: a crew must never
 * read a deceased patient's record as a living patient's, nor their last medicines as current ones.
 */
export function deceasedStatement(patient: Patient): string | undefined {
  if (typeof patient.deceasedDateTime === 'string' && patient.deceasedDateTime) return `Recorded as deceased (${patient.deceasedDateTime.slice(0, 10)})`;
  if (patient.deceasedBoolean === true) return 'Recorded as deceased';
  return undefined;
}

/** The caveat placed above the medicines of a patient recorded as deceased. */
export const DECEASED_MEDICATION_CAVEAT = 'The patient is recorded as deceased: these are the medicines last recorded, not current medication.';
