import { sourcesOfSpec, validateSpec, type Criterion, type IndicatorDefinition } from './spec.js';
import { INDICATOR_AREAS, ORGANISATION_LEVELS, type IndicatorSource, type OrganisationLevel } from './types.js';

/**
 * The indicator catalogue (issue #5): one declarative definition per indicator. Codes are SNOMED CT,
 * LOINC and CVX codes that occur in the sandbox data (Synthea bundles and scripts/sandbox/generator-codes.ts);
 * each list also names the commonly used equivalents so that real data would match.
 * Validated when this module loads (validateCatalogue throws on the first malformed entry).
 */

const CODES = {
  diabetes: ['44054006', '73211009', '46635009'],
  hba1c: ['4548-4', '17856-6'],
  hypertension: ['59621000', '38341003'],
  bloodPressure: ['55284-4', '85354-9', '8480-6'],
  bmi: ['39156-5'],
  smokingStatus: ['72166-2'],
  currentSmoker: ['449868002', '77176002', '65568007', '428041000124106'],
  fluVaccine: ['140', '141', '135', '150', '153', '155', '158', '161', '185', '186', '197', '205', '88', '111'],
  dementia: ['52448006', '26929004', '230265002'],
  medicationReview: ['430193006', '428191000124101', '314530002', '1239511000000100'],
} as const;

/** The source whose organisations an indicator of each level is reported by. */
const LEVEL_SOURCE: Record<OrganisationLevel, IndicatorSource> = { 'gp-practice': 'gp', 'hospital-trust': 'hospital', 'local-authority': 'social-care' };

const list = (codes: readonly string[]): string[] => [...codes];
const inHospital = (classes: string[]): Criterion => ({ kind: 'encounter', source: 'hospital', classes });

const CROSS_SOURCE_NOTE =
  'People are linked between the two systems by a keyed pseudonym of their NHS number, made afresh for every refresh; people whose NHS number one system does not hold cannot be linked and are left out.';
const OPT_OUT_NOTE = 'People who opted out of the secondary use of their records are left out of every count.';

export const CATALOGUE: readonly IndicatorDefinition[] = validateCatalogue([
  // ---- Patient safety ----
  {
    id: 'emergency-readmission-30d',
    title: 'Emergency readmission within 30 days of discharge',
    area: 'patient-safety',
    level: 'hospital-trust',
    measure: { type: 'proportion' },
    direction: 'lower-is-better',
    sources: ['hospital'],
    numeratorText: 'Inpatient stays followed by an emergency attendance or admission at the trust within 30 days of discharge.',
    denominatorText: 'Inpatient stays at the trust that ended (discharge) in the 12 months to the period end.',
    methodology:
      'Each inpatient stay discharged in the window is counted once. It counts in the numerator when the same person has an emergency encounter starting on or after the discharge day and no more than 30 days later. Age and sex are taken at the period end. ' + OPT_OUT_NOTE,
    limitations: [
      'Readmissions to other trusts are not seen.',
      'Planned returns and emergency attendances that did not lead to admission are not told apart.',
      'Stays discharged in the last 30 days of the window have less follow-up if later data is not yet in.',
    ],
    standardise: true,
    windowMonths: 12,
    spec: { shape: 'episode-readmission', source: 'hospital', classes: ['IMP'], followedBy: { classes: ['EMER', 'IMP'], withinDays: 30 } },
  },
  {
    id: 'polypharmacy-75-no-review',
    title: 'People aged 75 and over on 10 or more medicines without a medication review in 12 months',
    area: 'patient-safety',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'lower-is-better',
    sources: ['gp'],
    numeratorText: 'Of those, people with no medication review or reconciliation recorded in the 12 months to the period end.',
    denominatorText: 'Registered people aged 75 or over at the period end with 10 or more different medicines active at the period end.',
    methodology:
      'Medicines are counted by distinct code among prescriptions active at the period end. A review is any medication review, reconciliation or documentation of current medications coded in the window. ' + OPT_OUT_NOTE,
    limitations: ['Reviews done by a community pharmacist and not coded in the GP record are missed.', 'Prescriptions without an end date are assumed to be still active.'],
    standardise: false,
    windowMonths: 12,
    spec: {
      shape: 'person-proportion',
      population: { source: 'gp', age: { min: 75 }, criteria: [{ kind: 'medication-count', atLeast: 10 }] },
      numerator: [{ kind: 'not', criterion: { kind: 'procedure', codes: list(CODES.medicationReview) } }],
    },
  },
  {
    id: 'dementia-emergency-admission',
    title: 'People with dementia recorded by their GP who had an emergency hospital attendance',
    area: 'patient-safety',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'lower-is-better',
    sources: ['gp', 'hospital'],
    numeratorText: 'Of those, people with an emergency attendance or admission at hospital in the 12 months to the period end.',
    denominatorText: 'Registered people with dementia (including Alzheimer\'s disease) active in their GP record at the period end.',
    methodology:
      'The GP system lists the people with dementia per practice; the hospital system lists the people with an emergency encounter in the window; the two lists are matched by keyed pseudonym and only the counts are kept. ' + CROSS_SOURCE_NOTE + ' ' + OPT_OUT_NOTE,
    limitations: ['Only the hospital trust connected to this service is seen.', 'People whose NHS number the GP record lacks are left out.'],
    standardise: true,
    windowMonths: 12,
    spec: {
      shape: 'person-proportion',
      population: { source: 'gp', criteria: [{ kind: 'condition', codes: list(CODES.dementia), timing: 'active-at-end' }], linkableOnly: true },
      numerator: [inHospital(['EMER'])],
    },
  },
  // ---- Efficiency ----
  {
    id: 'mean-length-of-stay',
    title: 'Mean length of inpatient stay',
    area: 'efficiency',
    level: 'hospital-trust',
    measure: { type: 'mean', unit: 'days' },
    direction: 'no-judgement',
    sources: ['hospital'],
    numeratorText: 'Total days in hospital (discharge date minus admission date) of those stays.',
    denominatorText: 'Inpatient stays at the trust discharged in the 12 months to the period end.',
    methodology: 'Length of stay is counted in whole days; a stay that starts and ends on the same day counts 0 days. ' + OPT_OUT_NOTE,
    limitations: ['Longer stays reflect case-mix (e.g. hip replacement) as much as efficiency.', 'Funnel limits for a mean use a Poisson approximation on the total days.'],
    standardise: false,
    windowMonths: 12,
    spec: { shape: 'episode-length-of-stay', source: 'hospital', classes: ['IMP'] },
  },
  {
    id: 'emergency-attendance-registered',
    title: 'Registered patients who attended hospital as an emergency',
    area: 'efficiency',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'no-judgement',
    sources: ['gp', 'hospital'],
    numeratorText: 'Of those, people with an emergency encounter at hospital in the 12 months to the period end.',
    denominatorText: 'People registered at the practice at the period end whose NHS number is recorded.',
    methodology: 'A GP practice view of emergency hospital use. ' + CROSS_SOURCE_NOTE + ' ' + OPT_OUT_NOTE,
    limitations: ['Reflects deprivation and age of the practice population; see the age-sex standardised value.', 'Only the connected hospital trust is seen.'],
    standardise: true,
    windowMonths: 12,
    spec: { shape: 'person-proportion', population: { source: 'gp', linkableOnly: true }, numerator: [inHospital(['EMER'])] },
  },
  // ---- Quality ----
  {
    id: 'diabetes-hba1c-recorded',
    title: 'People with diabetes who had HbA1c measured in the last 12 months',
    area: 'quality',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'higher-is-better',
    sources: ['gp'],
    numeratorText: 'Of those, people with an HbA1c result recorded in the 12 months to the period end.',
    denominatorText: 'Registered people with diabetes active in their GP record at the period end.',
    methodology: 'HbA1c is recognised by its LOINC codes; a result from any setting that reached the GP record counts. ' + OPT_OUT_NOTE,
    limitations: ['Tests done in hospital and not copied to the GP record are missed.'],
    standardise: true,
    windowMonths: 12,
    spec: {
      shape: 'person-proportion',
      population: { source: 'gp', criteria: [{ kind: 'condition', codes: list(CODES.diabetes), timing: 'active-at-end' }] },
      numerator: [{ kind: 'observation', codes: list(CODES.hba1c) }],
    },
  },
  {
    id: 'hypertension-bp-recorded',
    title: 'People with high blood pressure who had their blood pressure checked in the last 12 months',
    area: 'quality',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'higher-is-better',
    sources: ['gp'],
    numeratorText: 'Of those, people with a blood pressure reading recorded in the 12 months to the period end.',
    denominatorText: 'Registered people with hypertension active in their GP record at the period end.',
    methodology: 'A blood pressure panel or systolic reading in the window counts. ' + OPT_OUT_NOTE,
    limitations: ['Home readings not entered in the record are missed.'],
    standardise: true,
    windowMonths: 12,
    spec: {
      shape: 'person-proportion',
      population: { source: 'gp', criteria: [{ kind: 'condition', codes: list(CODES.hypertension), timing: 'active-at-end' }] },
      numerator: [{ kind: 'observation', codes: list(CODES.bloodPressure) }],
    },
  },
  // ---- Public health ----
  {
    id: 'current-smokers',
    title: 'Adults recorded as current smokers',
    area: 'public-health',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'lower-is-better',
    sources: ['gp'],
    numeratorText: 'Of those, people whose latest smoking status in the window is a current smoker.',
    denominatorText: 'Registered adults (18 and over) with a smoking status recorded in the 24 months to the period end.',
    methodology: 'The latest smoking status in the window decides. ' + OPT_OUT_NOTE,
    limitations: ['People whose smoking status was not asked about are not in the denominator.'],
    standardise: true,
    windowMonths: 24,
    spec: {
      shape: 'person-proportion',
      population: { source: 'gp', age: { min: 18 }, criteria: [{ kind: 'observation', codes: list(CODES.smokingStatus) }] },
      numerator: [{ kind: 'observation', codes: list(CODES.smokingStatus), valueCodes: list(CODES.currentSmoker) }],
    },
  },
  {
    id: 'obesity-bmi-30',
    title: 'Adults with obesity (BMI 30 or more)',
    area: 'public-health',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'lower-is-better',
    sources: ['gp'],
    numeratorText: 'Of those, people whose latest BMI in the window is 30 or more.',
    denominatorText: 'Registered adults (18 and over) with a BMI recorded in the 24 months to the period end.',
    methodology: 'The latest BMI reading in the window decides. ' + OPT_OUT_NOTE,
    limitations: ['People not weighed in the window are not in the denominator.'],
    standardise: true,
    windowMonths: 24,
    spec: {
      shape: 'person-proportion',
      population: { source: 'gp', age: { min: 18 }, criteria: [{ kind: 'observation', codes: list(CODES.bmi) }] },
      numerator: [{ kind: 'observation', codes: list(CODES.bmi), value: { op: '>=', value: 30 } }],
    },
  },
  {
    id: 'flu-vaccination-65',
    title: 'Flu vaccination in people aged 65 and over',
    area: 'public-health',
    level: 'gp-practice',
    measure: { type: 'proportion' },
    direction: 'higher-is-better',
    sources: ['gp'],
    numeratorText: 'Of those, people with a seasonal influenza vaccination recorded in the 12 months to the period end.',
    denominatorText: 'Registered people aged 65 or over at the period end.',
    methodology: 'Any seasonal influenza vaccine (CVX) recorded in the window counts. ' + OPT_OUT_NOTE,
    limitations: ['Vaccinations given in pharmacies and not reported to the practice are missed.'],
    standardise: true,
    windowMonths: 12,
    spec: { shape: 'person-proportion', population: { source: 'gp', age: { min: 65 } }, numerator: [{ kind: 'immunization', codes: list(CODES.fluVaccine) }] },
  },
  // ---- Social care commissioning ----
  {
    id: 'long-term-support-per-100k',
    title: 'Adults receiving long-term social care support per 100,000 adults',
    area: 'social-care-commissioning',
    level: 'local-authority',
    measure: { type: 'rate', per: 100_000 },
    direction: 'no-judgement',
    sources: ['social-care'],
    numeratorText: 'Adults (18 and over) with a care package active at the period end.',
    denominatorText: "The local authority's adult population estimate (its latest return in the 12 months to the period end).",
    methodology: 'A person with several packages counts once. The population estimate is an organisation-level figure published by the council. ' + OPT_OUT_NOTE,
    limitations: [
      'Self-funded care is not in the council record.',
      'The population estimate is not broken down by age and sex here, so no standardised value is given.',
      'A council without a population return in the window is not shown.',
      'An opt-out can only be applied to council records that carry the NHS number.',
    ],
    standardise: false,
    windowMonths: 12,
    spec: { shape: 'person-rate', population: { source: 'social-care', age: { min: 18 }, criteria: [{ kind: 'care-package' }] }, denominatorItem: 'population:18+' },
  },
  {
    id: 'care-packages-reviewed',
    title: 'People with a care package who had a review in the last 12 months',
    area: 'social-care-commissioning',
    level: 'local-authority',
    measure: { type: 'proportion' },
    direction: 'higher-is-better',
    sources: ['social-care'],
    numeratorText: 'Of those, people with a package review or review assessment in the 12 months to the period end.',
    denominatorText: 'Adults (18 and over) with a care package active at the period end.',
    methodology: 'Reviews of any of the person\'s packages count. ' + OPT_OUT_NOTE,
    limitations: ['People whose package started in the last few months are not yet due a review.', 'An opt-out can only be applied to council records that carry the NHS number.'],
    standardise: false,
    windowMonths: 12,
    spec: {
      shape: 'person-proportion',
      population: { source: 'social-care', age: { min: 18 }, criteria: [{ kind: 'care-package' }] },
      numerator: [{ kind: 'care-review' }],
    },
  },
  {
    id: 'care-package-emergency-attendance',
    title: 'People with a social care package who attended hospital as an emergency',
    area: 'social-care-commissioning',
    level: 'local-authority',
    measure: { type: 'proportion' },
    direction: 'lower-is-better',
    sources: ['social-care', 'hospital'],
    numeratorText: 'Of those, people with an emergency attendance or admission at hospital in the 12 months to the period end.',
    denominatorText: 'Adults with a care package active at the period end whose NHS number the council holds.',
    methodology: 'The council lists the people with an active package; the hospital lists the people with an emergency encounter in the window. ' + CROSS_SOURCE_NOTE + ' ' + OPT_OUT_NOTE,
    limitations: ['About a third of council records carry no NHS number and cannot be linked.', 'Only the connected hospital trust is seen.'],
    standardise: false,
    windowMonths: 12,
    spec: {
      shape: 'person-proportion',
      population: { source: 'social-care', age: { min: 18 }, criteria: [{ kind: 'care-package' }], linkableOnly: true },
      numerator: [inHospital(['EMER'])],
    },
  },
  // ---- Hospital food standards ----
  {
    id: 'food-standards-compliance',
    title: 'Hospital food standards met',
    area: 'hospital-food-standards',
    level: 'hospital-trust',
    measure: { type: 'proportion' },
    direction: 'higher-is-better',
    sources: ['hospital'],
    numeratorText: 'Food standards the trust reported as met.',
    denominatorText: "Food standards in the trust's latest return in the 12 months to the period end.",
    methodology: 'From the organisation-level food standards return each trust publishes (no patient data). Each standard counts once.',
    limitations: ['Self-reported by the trust; not an inspection.'],
    standardise: false,
    windowMonths: 12,
    spec: { shape: 'org-return', source: 'hospital', itemPrefix: 'food:' },
  },
  {
    id: 'food-survey-positive',
    title: 'Inpatients rating hospital food as good',
    area: 'hospital-food-standards',
    level: 'hospital-trust',
    measure: { type: 'proportion' },
    direction: 'higher-is-better',
    sources: ['hospital'],
    numeratorText: 'Survey responses rating the food good or very good.',
    denominatorText: "Inpatient food survey responses in the trust's latest return in the 12 months to the period end.",
    methodology: 'From the organisation-level patient food survey return each trust publishes (items food-survey:positive / food-survey:responses).',
    limitations: ['Survey responders may not represent all inpatients.'],
    standardise: false,
    windowMonths: 12,
    spec: { shape: 'org-return-ratio', source: 'hospital', numeratorItem: 'food-survey:positive', denominatorItem: 'food-survey:responses' },
  },
]);

/** Throws an Error listing every problem (unique ids, known areas and levels, well-formed specs, consistent sources). */
export function validateCatalogue(defs: IndicatorDefinition[]): IndicatorDefinition[] {
  const errors: string[] = [];
  const ids = new Set<string>();
  defs.forEach((d, i) => {
    const at = `catalogue[${i}] (${d.id})`;
    if (!/^[a-z0-9]+(-[a-z0-9]+)*$/.test(d.id ?? '')) errors.push(`${at}: id must be lower-case words joined by hyphens`);
    if (ids.has(d.id)) errors.push(`${at}: id is not unique`);
    ids.add(d.id);
    if (!INDICATOR_AREAS.includes(d.area)) errors.push(`${at}: area must be one of ${INDICATOR_AREAS.join(', ')}`);
    if (!ORGANISATION_LEVELS.includes(d.level)) errors.push(`${at}: level must be one of ${ORGANISATION_LEVELS.join(', ')}`);
    for (const k of ['title', 'numeratorText', 'denominatorText', 'methodology'] as const) if (!d[k]?.trim()) errors.push(`${at}: ${k} is required`);
    if (!Array.isArray(d.limitations) || d.limitations.length === 0) errors.push(`${at}: limitations must list at least one`);
    if (!Number.isInteger(d.windowMonths) || d.windowMonths < 1 || d.windowMonths > 120) errors.push(`${at}: windowMonths must be 1 to 120`);
    if (d.measure?.type === 'rate' && !(d.measure.per > 0)) errors.push(`${at}: measure.per must be positive`);
    const specErrors = validateSpec(d.spec, `${at}.spec`);
    errors.push(...specErrors);
    if (specErrors.length === 0) {
      const needed = sourcesOfSpec(d.spec);
      if ([...needed].sort().join() !== [...d.sources].sort().join()) errors.push(`${at}: sources must be ${needed.join(', ')} (what the spec uses)`);
      if (needed[0] !== LEVEL_SOURCE[d.level]) errors.push(`${at}: a ${d.level} indicator must be organised by the ${LEVEL_SOURCE[d.level]} source`);
      if (d.measure.type === 'rate' && d.spec.shape !== 'person-rate') errors.push(`${at}: a rate needs the person-rate shape`);
      if (d.measure.type === 'mean' && d.spec.shape !== 'episode-length-of-stay') errors.push(`${at}: a mean needs the episode-length-of-stay shape`);
    }
  });
  if (errors.length) throw new Error(`Invalid indicator catalogue: ${errors.join('; ')}`);
  return defs;
}

const BY_ID = new Map(CATALOGUE.map((d) => [d.id, d]));
export const indicatorById = (id: string): IndicatorDefinition | undefined => BY_ID.get(id);
