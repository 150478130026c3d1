import type { Patient } from 'fhir/r4.js';
import { patientWithoutSources } from '../adapters/merge.js';
import { NHS_NUMBER_SYSTEM } from '../fhir/nhs-number.js';

/**
 * What of a merged Patient a caller is shown. Two rules:
 *  - Staff who found a patient but may not open the record (no care relationship, no emergency grant, or a
 *    consent refusing them) see only what confirms identity before asking for emergency access: the
 *    integrated id, the NHS number, name(s) and date of birth — no address, telecom, local record numbers
 *    or source tags (they reveal where the patient is treated).
 *  - A consent that denies a source ("do not share hospital data") removes from the Patient what only that
 *    source holds: its identifiers (e.g. the hospital MRN), its source tag, and — when it was the primary
 *    copy — its demographics (the Patient is built again from the allowed sources).
 */

/** The identity minimum of a Patient: integrated id, NHS number, name, date of birth. */
export function identityOnly(patient: Patient): Patient {
  const nhs = patient.identifier?.filter((i) => i.system === NHS_NUMBER_SYSTEM && i.value).map((i) => ({ system: i.system, value: i.value }));
  return {
    resourceType: 'Patient',
    ...(patient.id ? { id: patient.id } : {}),
    ...(nhs && nhs.length > 0 ? { identifier: nhs } : {}),
    ...(patient.name ? { name: patient.name } : {}),
    ...(patient.birthDate ? { birthDate: patient.birthDate } : {}),
  };
}

/**
 * The Patient without what only the `denied` sources hold. When no allowed source holds the patient (or
 * the Patient's sources are not known), the identity minimum only.
 */
export function patientForSources(patient: Patient, denied: ReadonlySet<string>): Patient {
  if (denied.size === 0) return patient;
  return patientWithoutSources(patient, denied) ?? identityOnly(patient);
}
