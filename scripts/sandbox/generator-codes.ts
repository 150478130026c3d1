import type { Coding } from 'fhir/r4.js';

/** Coded content used by the synthetic-population generator (scripts/generate-patients.ts). */

export const SNOMED = 'http://snomed.info/sct';
export const LOINC = 'http://loinc.org';
export const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
export const CVX = 'http://hl7.org/fhir/sid/cvx';
export const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

const sct = (code: string, display: string): Coding => ({ system: SNOMED, code, display });
const rx = (code: string, display: string): Coding => ({ system: RXNORM, code, display });

export const ENCOUNTER_TYPES = {
  AMB: [sct('185349003', 'Encounter for check up (procedure)'), sct('185345009', 'Encounter for symptom')],
  EMER: [sct('50849002', 'Emergency room admission (procedure)')],
  IMP: [sct('32485007', 'Hospital admission (procedure)')],
} as const;

export interface ChronicCondition {
  condition: Coding;
  medication: Coding;
  /** probability for adults under 65 / 65 and over */
  p: [number, number];
}

export const CHRONIC: readonly ChronicCondition[] = [
  { condition: sct('59621000', 'Essential hypertension (disorder)'), medication: rx('197361', 'Amlodipine 5 MG Oral Tablet'), p: [0.25, 0.55] },
  { condition: sct('44054006', 'Diabetes mellitus type 2 (disorder)'), medication: rx('860975', '24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet'), p: [0.1, 0.25] },
  { condition: sct('195967001', 'Asthma (disorder)'), medication: rx('745679', '200 ACTUAT Albuterol 0.09 MG/ACTUAT Metered Dose Inhaler'), p: [0.12, 0.08] },
  // A sensitive (mental-health) condition, so consent restrictions by category have something to act on.
  { condition: sct('35489007', 'Depressive disorder (disorder)'), medication: rx('312938', 'Sertraline 100 MG Oral Tablet'), p: [0.12, 0.1] },
];
export const DEMENTIA: ChronicCondition = {
  condition: sct('52448006', 'Dementia (disorder)'),
  medication: rx('997223', 'Donepezil hydrochloride 10 MG Oral Tablet'),
  p: [0, 0.3],
};
export const ACUTE_MEDICATION = rx('308182', 'Amoxicillin 250 MG Oral Capsule');
export const EMERGENCY_CONDITIONS: readonly Coding[] = [
  sct('217082002', 'Accidental fall (event)'),
  sct('263102004', 'Fracture subluxation of wrist (disorder)'),
  sct('233604007', 'Pneumonia (disorder)'),
];
export const EMERGENCY_MEDICATION = rx('313782', 'Acetaminophen 325 MG Oral Tablet');
export const INPATIENT_PROCEDURE = sct('52734007', 'Total replacement of hip (procedure)');

export const ALLERGIES = [
  { code: sct('91936005', 'Allergy to penicillin (finding)'), category: 'medication' as const, p: 0.25 },
  { code: sct('91935009', 'Allergy to peanuts (finding)'), category: 'food' as const, p: 0.1 },
];

export const BMI = { system: LOINC, code: '39156-5', display: 'Body mass index (BMI) [Ratio]' };
export const HBA1C = { system: LOINC, code: '4548-4', display: 'Hemoglobin A1c/Hemoglobin.total in Blood' };
export const SMOKING = { system: LOINC, code: '72166-2', display: 'Tobacco smoking status NHIS' };
export const SMOKING_VALUES: readonly Coding[] = [
  sct('266919005', 'Never smoker'),
  sct('8517006', 'Ex-smoker'),
  sct('77176002', 'Smoker'),
];
export const HEART_RATE = { system: LOINC, code: '8867-4', display: 'Heart rate' };
export const HAEMOGLOBIN = { system: LOINC, code: '718-7', display: 'Hemoglobin [Mass/volume] in Blood' };
export const FBC = { system: LOINC, code: '58410-2', display: 'CBC panel - Blood by Automated count' };
export const FLU = { system: CVX, code: '140', display: 'Influenza, seasonal, injectable, preservative free' };
