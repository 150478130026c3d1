import { CODE_SYSTEMS } from '../../indicators/spec.js';

/**
 * Codes written by the bulk population generator (scripts/population/generate.ts). They are the codes the
 * indicator catalogue (indicators/catalogue.ts) counts, from Synthea's SNOMED CT / LOINC / CVX / RxNorm
 * content, so that every indicator has data at scale.
 */
export const POPULATION_CODES = {
  snomed: 'http://snomed.info/sct',
  loinc: 'http://loinc.org',
  cvx: 'http://hl7.org/fhir/sid/cvx',
  rxnorm: 'http://www.nlm.nih.gov/research/umls/rxnorm',
  diabetes: '44054006',
  /** Dementia (disorder), Alzheimer's disease (disorder). */
  dementia: ['52448006', '26929004'] as const,
  /** Essential hypertension (disorder). */
  hypertension: '59621000',
  /** Blood pressure panel (LOINC); value = systolic. */
  bloodPressure: '85354-9',
  bmi: '39156-5',
  hba1c: '4548-4',
  flu: '140',
  /** Medication review done (the catalogue's review codes; 314529007 is "review DUE", which is not a review). */
  medicationReview: '314530002',
  /** Tobacco smoking status (LOINC); the status is the observation's value_code (SNOMED). */
  smokingStatus: '72166-2',
  smoking: { current: '449868002', ex: '8517006', never: '266919005' },
  encounter: {
    /** class EMER */
    emergencyAttendance: '50849002',
    /** class IMP */
    emergencyAdmission: '183452005',
    electiveAdmission: '305408004',
  },
  careSystem: CODE_SYSTEMS.socialCareService,
  careReviewSystem: CODE_SYSTEMS.socialCareReview,
  longTermPackages: ['home-care', 'residential-care', 'day-centre', 'meals-on-wheels', 'equipment'] as readonly string[],
  shortTermPackage: 'reablement',
  foodSurvey: { responses: 'food-survey:responses', positive: 'food-survey:positive' },
  careReview: 'package-review',
};

/** Repeat medicines (RxNorm, from Synthea): a person's n medicines are n distinct codes of this list. */
export const MEDICINES: readonly string[] = [
  '197361', '860975', '316049', '309362', '243670', '197319', '904419', '312617', '312938', '997223',
  '259255', '312961', '833036', '705129', '895994', '745679', '313782', '849574', '310965', '198014',
  '665078', '311372', '997488', '1014676', '310325', '2001499', '105586', '308971', '1153378', '563026',
];

/** Hospital food standards reported by each trust (item `food:<standard>`): the sandbox extract's list. */
export { FOOD_STANDARDS } from '../sandbox/extract/build.js';
