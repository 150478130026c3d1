import type { AllergyIntolerance, CodeableConcept, Encounter, MedicationRequest, Resource } from 'fhir/r4.js';
import { deterministicUuid, fnv1a } from './hash.js';

/**
 * Realistic duplicates: at admission the hospital re-records the patient's allergies and active
 * medications (held by the GP) under its own ids, with different wording but the SAME code system + code,
 * the same clinicalStatus/status and the same onsetDateTime/recordedDate (allergy) or authoredOn
 * (medication). `encounter` points at the admission; the recorder/requester is the admitting clinician.
 */

function reword(concept: CodeableConcept | undefined, style: number): CodeableConcept | undefined {
  if (!concept) return concept;
  const change = (s: string): string => (style === 0 ? `Hx: ${s}` : s.toUpperCase());
  const text = concept.text ?? concept.coding?.[0]?.display;
  return {
    ...concept,
    coding: concept.coding?.map((c) => (c.display ? { ...c, display: change(c.display) } : { ...c })),
    ...(text ? { text: change(text) } : {}),
  };
}

export function reRecordAtAdmission(gpResources: Resource[], hospitalPatientId: string, admission: Encounter): Resource[] {
  const patientRef = { reference: `Patient/${hospitalPatientId}` };
  const encounterRef = { reference: `Encounter/${admission.id}` };
  const clinician = admission.participant?.find((p) => p.individual?.reference)?.individual;
  const copies: Resource[] = [];
  for (const resource of gpResources) {
    const r = resource as AllergyIntolerance | MedicationRequest;
    const style = fnv1a(r.id!) % 2;
    const id = deterministicUuid(`hospital-admission:${r.resourceType}/${r.id}`);
    if (r.resourceType === 'AllergyIntolerance') {
      const copy: AllergyIntolerance = {
        ...structuredClone(r),
        id,
        code: reword(r.code, style),
        patient: patientRef,
        encounter: encounterRef,
      };
      if (clinician) copy.recorder = { ...clinician };
      copies.push(copy);
    } else if (r.resourceType === 'MedicationRequest' && r.status === 'active') {
      const copy: MedicationRequest = {
        ...structuredClone(r),
        id,
        medicationCodeableConcept: reword(r.medicationCodeableConcept, style),
        subject: patientRef,
        encounter: encounterRef,
      };
      if (clinician) copy.requester = { ...clinician };
      copies.push(copy);
    }
  }
  return copies;
}
