import type { DiagnosticReport, Encounter, Resource } from 'fhir/r4.js';
import { keyOf } from './references.js';

/*
 * SPLIT RULE — how one Synthea patient bundle is divided between the sandbox GP and hospital systems
 * (the social-care system is built separately, see social-care-data.ts):
 *
 * 1. Claim and ExplanationOfBenefit are dropped (billing, not clinical record).
 * 2. An Encounter whose class is EMER (emergency) or IMP (inpatient) goes to the HOSPITAL; every other
 *    Encounter (AMB, WELLNESS, …) goes to the GP.
 * 3. Any resource with an `encounter` reference (or a `context` reference to an Encounter) goes to the
 *    source holding that Encounter.
 * 4. Resources with no encounter (Patient, AllergyIntolerance, Goal, …) go to the GP.
 * 5. Observations listed in a DiagnosticReport's `result` follow the report, whatever their own encounter.
 * 6. Organization and Practitioner resources go to every source whose resources reference them.
 * 7. Both sources hold a Patient: the GP keeps the Synthea id and gains the NHS number identifier; the
 *    hospital gets its own id ("H" + 6 digits), an MRN (https://sandbox-hospital.example.nhs.uk/Id/mrn)
 *    and the NHS number identifier. The hospital holds a Patient only if at least one resource goes to
 *    it. Every reference to the patient in a source points at that source's own Patient id.
 * 8. At admission the hospital re-records, with its own ids and different wording but the same code
 *    system + code, status and onset/authored date, each of the patient's AllergyIntolerances and active
 *    MedicationRequests held by the GP (only for patients with at least one hospital Encounter).
 *    These are the duplicates the facade must merge.
 */

export type ClinicalSource = 'gp' | 'hospital';

export const DROPPED_TYPES: ReadonlySet<string> = new Set(['Claim', 'ExplanationOfBenefit']);
export const SHARED_TYPES: ReadonlySet<string> = new Set(['Organization', 'Practitioner']);
export const HOSPITAL_ENCOUNTER_CLASSES: ReadonlySet<string> = new Set(['EMER', 'IMP']);

export interface PatientSplit {
  /** Clinical resources per source (no Patient, no Organization/Practitioner). */
  gp: Resource[];
  hospital: Resource[];
  /** Organization/Practitioner resources of the bundle, by `Type/id`. */
  shared: Map<string, Resource>;
  /** Hospital encounters, oldest first. */
  hospitalEncounters: Encounter[];
  dropped: number;
}

/** The id of the Encounter a resource belongs to, if any (`encounter`, or `context` pointing at an Encounter). */
export function encounterIdOf(resource: Resource): string | undefined {
  const r = resource as { encounter?: { reference?: string }; context?: unknown };
  let ref = r.encounter?.reference;
  if (!ref && r.context && typeof r.context === 'object') {
    const ctx = r.context as { reference?: string; encounter?: { reference?: string }[] };
    ref = ctx.reference ?? ctx.encounter?.[0]?.reference;
  }
  return ref?.startsWith('Encounter/') ? ref.slice('Encounter/'.length) : undefined;
}

/** Splits one patient's relinked resources (Patient excluded from the result) between GP and hospital. */
export function splitPatient(resources: Resource[]): PatientSplit {
  const encounterSource = new Map<string, ClinicalSource>();
  for (const r of resources) {
    if (r.resourceType === 'Encounter') {
      const cls = (r as Encounter).class?.code ?? '';
      encounterSource.set(r.id!, HOSPITAL_ENCOUNTER_CLASSES.has(cls) ? 'hospital' : 'gp');
    }
  }

  const sourceOf = new Map<string, ClinicalSource>();
  const shared = new Map<string, Resource>();
  let dropped = 0;
  for (const r of resources) {
    if (DROPPED_TYPES.has(r.resourceType)) dropped++;
    else if (SHARED_TYPES.has(r.resourceType)) shared.set(keyOf(r), r);
    else if (r.resourceType === 'Encounter') sourceOf.set(keyOf(r), encounterSource.get(r.id!)!);
    else if (r.resourceType !== 'Patient') {
      const enc = encounterIdOf(r);
      sourceOf.set(keyOf(r), (enc && encounterSource.get(enc)) || 'gp');
    }
  }
  // Report results follow their report.
  for (const r of resources) {
    if (r.resourceType !== 'DiagnosticReport') continue;
    const reportSource = sourceOf.get(keyOf(r))!;
    for (const result of (r as DiagnosticReport).result ?? []) {
      if (result.reference && sourceOf.has(result.reference)) sourceOf.set(result.reference, reportSource);
    }
  }

  const split: PatientSplit = { gp: [], hospital: [], shared, hospitalEncounters: [], dropped };
  for (const r of resources) {
    const source = sourceOf.get(keyOf(r));
    if (!source) continue;
    split[source].push(r);
    if (source === 'hospital' && r.resourceType === 'Encounter') split.hospitalEncounters.push(r as Encounter);
  }
  split.hospitalEncounters.sort((a, b) => (a.period?.start ?? '').localeCompare(b.period?.start ?? ''));
  return split;
}
