import { testNhsNumber } from '../../fhir/nhs-number.js';
import { CODE_SYSTEMS } from '../../indicators/spec.js';
import type { SandboxSource } from '../../scripts/sandbox/start.js';
import type { ExtractRows, FactRow } from '../../scripts/sandbox/extract/store.js';

/**
 * A small hand-built population for the indicators, period ending 2025-03-31 (12-month window
 * 2024-04-01..2025-03-31, 24-month window from 2023-04-01), where every answer is worked out by hand
 * below (EXPECTED). `firstNhs` is the NHS number of GP person 1 (use one the sandbox's FHIR data holds,
 * so a consent can be recorded for that patient through the API).
 *
 * GP (practices A81001, A81002)
 *  1 A81001 F b.1940 (84): diabetes; HbA1c 2024-06; flu 2024-10; 10 meds; med review 2024-09; dementia → hospital EMER 2024-11
 *  2 A81001 M b.1945 (80): diabetes; HbA1c 2023-01 (too old); 10 meds, no review; dementia, no hospital visit
 *  3 A81001 M b.1990 (35): asthma; smoking status current (latest 2024-01) after never (2023-06); BMI 32 (2024-02) → hospital stays (H2)
 *  4 A81001 F b.1985 (39): smoking status never (latest 2024-05) after smoker (2023-05); BMI 28 (2024-03) after 35 (2023-06)
 *  5 A81002 F b.1950 (75): hypertension + BP panel 2024-07; 9 meds; diabetes that ended in 2015
 *  6 A81002 M b.2010 (15): smoking status current (a child: not in adult denominators)
 *  7 A81001 M b.1930, died 2024-12: diabetes, flu (dead at period end: in nothing)
 *  8 A81002 F b.1955 (69): no NHS number; flu 2024-04-01 (first day of the window)
 * Hospital (trusts RR8 and RX1)
 *  H1 = GP1: EMER 2024-11-01
 *  H2 = GP3: IMP 2024-05-01..05-06 (5 d) then EMER 2024-05-20 (readmitted); IMP 2024-08-01..08-03 (2 d), EMER 2024-10-15 (73 d later)
 *  H3 (not at GP), RX1: IMP 2024-06-10..06-20 (10 d), IMP 2024-07-01..07-01 (0 d, a readmission of the first), IMP discharged 2024-03-01 (before the window)
 *  H4 = S1: EMER 2024-09-01
 *  Food returns: RR8 2024-03-31 (8 items, 6 met: before the window), 2025-03-31 (8 items, 7 met; survey 300/400); RX1 2024-09-30 (4 items, 2 met)
 * Social care (Leeds E08000035, Bradford E08000032, York E06000014 with no clients)
 *  S1 Leeds F b.1938, NHS = H4: home care since 2023-01, reviewed 2024-06 → hospital EMER
 *  S2 Leeds M b.1950, no NHS number: day centre since 2022, never reviewed
 *  S3 Bradford F b.1960: package ended 2024-01-01 (not active)
 *  S4 Bradford M b.2008 (16): package active (a child: not counted)
 *  S5 Bradford F b.1945: package since 2024-12-01, last review 2023-01 (too old), no hospital visit
 *  Population 18+: Leeds 500,000 (2024-06-30; 480,000 in 2023), Bradford 400,000, York 100,000
 */

export const FIXTURE_PERIOD = { start: '2024-04-01', end: '2025-03-31' } as const;

export interface FixtureNhs {
  gp: (string | null)[];
  h3: string;
  s1: string;
  s3: string;
  s5: string;
}

export function fixtureNhsNumbers(firstNhs: string): FixtureNhs {
  const n = (i: number) => testNhsNumber(880_000 + i * 7);
  return { gp: [firstNhs, n(2), n(3), n(4), n(5), n(6), n(7), null], h3: n(10), s1: n(11), s3: n(12), s5: n(13) };
}

const { snomed, loinc, cvx, rxnorm, socialCareService, socialCareReview } = CODE_SYSTEMS;

export function indicatorFixture(firstNhs: string): Record<SandboxSource, ExtractRows> {
  const nhs = fixtureNhsNumbers(firstNhs);
  const facts: FactRow[] = [];
  const f = (personId: number, kind: FactRow['kind'], system: string, code: string, startDate: string, extra: Partial<FactRow> = {}) =>
    facts.push({ personId, kind, system, code, startDate, ...extra });
  const meds = (personId: number, count: number) => {
    for (let i = 0; i < count; i++) f(personId, 'medication', rxnorm, `MED${i}`, '2020-01-01');
    f(personId, 'medication', rxnorm, 'STOPPED', '2020-01-01', { endDate: '2021-01-01' }); // ended: never counted
  };
  // GP 1
  f(1, 'condition', snomed, '44054006', '2010-01-01');
  f(1, 'observation', loinc, '4548-4', '2024-06-01', { value: 48 });
  f(1, 'immunization', cvx, '140', '2024-10-01');
  meds(1, 10);
  f(1, 'procedure', snomed, '430193006', '2024-09-01');
  f(1, 'condition', snomed, '26929004', '2020-01-01');
  // GP 2
  f(2, 'condition', snomed, '44054006', '2012-01-01');
  f(2, 'observation', loinc, '4548-4', '2023-01-01', { value: 52 });
  meds(2, 10);
  f(2, 'condition', snomed, '52448006', '2021-01-01');
  // GP 3
  f(3, 'condition', snomed, '195967001', '2000-01-01');
  f(3, 'observation', loinc, '72166-2', '2023-06-01', { valueCode: '266919005' });
  f(3, 'observation', loinc, '72166-2', '2024-01-01', { valueCode: '449868002' });
  f(3, 'observation', loinc, '39156-5', '2024-02-01', { value: 32 });
  // GP 4
  f(4, 'observation', loinc, '72166-2', '2023-05-01', { valueCode: '77176002' });
  f(4, 'observation', loinc, '72166-2', '2024-05-01', { valueCode: '266919005' });
  f(4, 'observation', loinc, '39156-5', '2023-06-01', { value: 35 });
  f(4, 'observation', loinc, '39156-5', '2024-03-01', { value: 28 });
  // GP 5
  f(5, 'condition', snomed, '59621000', '2015-01-01');
  f(5, 'observation', loinc, '55284-4', '2024-07-01');
  meds(5, 9);
  f(5, 'condition', snomed, '44054006', '2005-01-01', { endDate: '2015-01-01' });
  // GP 6
  f(6, 'observation', loinc, '72166-2', '2024-06-01', { valueCode: '449868002' });
  // GP 7 (died)
  f(7, 'condition', snomed, '44054006', '2000-01-01');
  f(7, 'immunization', cvx, '140', '2024-10-01');
  // GP 8
  f(8, 'immunization', cvx, '140', '2024-04-01');
  const gpPersons = [
    ['A81001', 'female', '1940-05-01'], ['A81001', 'male', '1945-01-01'], ['A81001', 'male', '1990-03-01'], ['A81001', 'female', '1985-07-15'],
    ['A81002', 'female', '1950-02-01'], ['A81002', 'male', '2010-01-01'], ['A81001', 'male', '1930-01-01'], ['A81002', 'female', '1955-06-01'],
  ] as const;
  const gp: ExtractRows = {
    persons: gpPersons.map(([orgCode, sex, birthDate], i) => ({ personId: i + 1, nhsNumber: nhs.gp[i]!, sex, birthDate, orgCode, deceasedDate: i === 6 ? '2024-12-01' : null })),
    facts: [...facts],
    orgReturns: [],
    version: 'fixture-gp-1',
  };

  facts.length = 0;
  const enc = (personId: number, cls: string, start: string, end: string | null, org: string) => f(personId, 'encounter', snomed, cls === 'EMER' ? '50849002' : '32485007', start, { endDate: end, class: cls, orgCode: org });
  enc(1, 'EMER', '2024-11-01', '2024-11-01', 'RR8');
  enc(2, 'IMP', '2024-05-01', '2024-05-06', 'RR8');
  enc(2, 'EMER', '2024-05-20', '2024-05-20', 'RR8');
  enc(2, 'IMP', '2024-08-01', '2024-08-03', 'RR8');
  enc(2, 'EMER', '2024-10-15', '2024-10-15', 'RR8');
  enc(3, 'IMP', '2024-06-10', '2024-06-20', 'RX1');
  enc(3, 'IMP', '2024-07-01', '2024-07-01', 'RX1');
  enc(3, 'IMP', '2024-02-20', '2024-03-01', 'RX1');
  enc(4, 'EMER', '2024-09-01', '2024-09-01', 'RR8');
  const foodItems = (org: string, periodEnd: string, items: number, met: number) =>
    Array.from({ length: items }, (_, i) => ({ orgCode: org, periodEnd, item: `food:standard-${i + 1}`, value: i < met ? 1 : 0 }));
  const hospital: ExtractRows = {
    persons: [
      { personId: 1, nhsNumber: nhs.gp[0]!, sex: 'female', birthDate: '1940-05-01', orgCode: 'RR8' },
      { personId: 2, nhsNumber: nhs.gp[2]!, sex: 'male', birthDate: '1990-03-01', orgCode: 'RR8' },
      { personId: 3, nhsNumber: nhs.h3, sex: 'female', birthDate: '1970-01-01', orgCode: 'RX1' },
      { personId: 4, nhsNumber: nhs.s1, sex: 'female', birthDate: '1938-02-02', orgCode: 'RR8' },
    ],
    facts: [...facts],
    orgReturns: [
      ...foodItems('RR8', '2024-03-31', 8, 6),
      ...foodItems('RR8', '2025-03-31', 8, 7),
      ...foodItems('RX1', '2024-09-30', 4, 2),
      { orgCode: 'RR8', periodEnd: '2025-03-31', item: 'food-survey:responses', value: 400 },
      { orgCode: 'RR8', periodEnd: '2025-03-31', item: 'food-survey:positive', value: 300 },
    ],
    version: 'fixture-hospital-1',
  };

  facts.length = 0;
  const pkg = (personId: number, code: string, start: string, end: string | null) => f(personId, 'care-package', socialCareService, code, start, { endDate: end });
  pkg(1, 'home-care', '2023-01-01', null);
  f(1, 'care-review', socialCareReview, 'package-review', '2024-06-01');
  pkg(2, 'day-centre', '2022-01-01', null);
  pkg(3, 'home-care', '2022-01-01', '2024-01-01');
  pkg(4, 'equipment', '2024-01-01', null);
  pkg(5, 'meals-on-wheels', '2024-12-01', null);
  f(5, 'care-review', socialCareReview, 'review-assessment', '2023-01-01');
  const socialCare: ExtractRows = {
    persons: [
      { personId: 1, nhsNumber: nhs.s1, sex: 'female', birthDate: '1938-02-02', orgCode: 'E08000035' },
      { personId: 2, nhsNumber: null, sex: 'male', birthDate: '1950-03-03', orgCode: 'E08000035' },
      { personId: 3, nhsNumber: nhs.s3, sex: 'female', birthDate: '1960-04-04', orgCode: 'E08000032' },
      { personId: 4, nhsNumber: null, sex: 'male', birthDate: '2008-05-05', orgCode: 'E08000032' },
      { personId: 5, nhsNumber: nhs.s5, sex: 'female', birthDate: '1945-06-06', orgCode: 'E08000032' },
    ],
    facts: [...facts],
    orgReturns: [
      { orgCode: 'E08000035', periodEnd: '2023-06-30', item: 'population:18+', value: 480_000 },
      { orgCode: 'E08000035', periodEnd: '2024-06-30', item: 'population:18+', value: 500_000 },
      { orgCode: 'E08000032', periodEnd: '2024-06-30', item: 'population:18+', value: 400_000 },
      { orgCode: 'E06000014', periodEnd: '2024-06-30', item: 'population:18+', value: 100_000 },
    ],
    version: 'fixture-social-care-1',
  };
  return { gp, hospital, socialCare };
}

/** Hand-worked answers: indicator → organisation → [numerator, denominator]. */
export const EXPECTED: Record<string, Record<string, [number, number]>> = {
  'emergency-readmission-30d': { RR8: [1, 2], RX1: [1, 2] },
  'polypharmacy-75-no-review': { A81001: [1, 2] },
  'dementia-emergency-admission': { A81001: [1, 2] },
  'mean-length-of-stay': { RR8: [7, 2], RX1: [10, 2] },
  'emergency-attendance-registered': { A81001: [2, 4], A81002: [0, 2] },
  'diabetes-hba1c-recorded': { A81001: [1, 2] },
  'hypertension-bp-recorded': { A81002: [1, 1] },
  'current-smokers': { A81001: [1, 2] },
  'obesity-bmi-30': { A81001: [1, 2] },
  'flu-vaccination-65': { A81001: [1, 2], A81002: [1, 2] },
  'long-term-support-per-100k': { E08000035: [2, 500_000], E08000032: [1, 400_000], E06000014: [0, 100_000] },
  'care-packages-reviewed': { E08000035: [1, 2], E08000032: [0, 1] },
  'care-package-emergency-attendance': { E08000035: [1, 1], E08000032: [0, 1] },
  'food-standards-compliance': { RR8: [7, 8], RX1: [2, 4] },
  'food-survey-positive': { RR8: [300, 400] },
};

/** The same answers after GP person 1 (firstNhs) opts out of secondary use. */
export const EXPECTED_AFTER_OPT_OUT: Record<string, Record<string, [number, number]>> = {
  ...EXPECTED,
  'polypharmacy-75-no-review': { A81001: [1, 1] },
  'dementia-emergency-admission': { A81001: [0, 1] },
  'emergency-attendance-registered': { A81001: [1, 3], A81002: [0, 2] },
  'diabetes-hba1c-recorded': { A81001: [0, 1] },
  'flu-vaccination-65': { A81001: [0, 1], A81002: [1, 2] },
};
