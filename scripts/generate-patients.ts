import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Bundle, Coding, DiagnosticReport, Encounter, Immunization, Observation, Organization, Patient, Practitioner, Procedure, Reference, Resource } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM, testNhsNumber } from '../fhir/nhs-number.js';
import * as C from './sandbox/generator-codes.js';
import { addDays, chance, deterministicUuid, fnv1a, intBetween, mulberry32, pick, type Rng } from './sandbox/hash.js';
import { SOCIAL_CARE_HINT_URL } from './sandbox/patients.js';
import { FEMALE_NAMES, GP_PRACTICES, HOSPITAL_TRUST, MALE_NAMES, ODS_SYSTEM, STREETS, SURNAMES, UK_PLACES } from './sandbox/uk.js';

/**
 * Deterministic generator of UK-flavoured synthetic patients as Synthea-shaped FHIR R4 transaction Bundles
 * (one patient per Bundle, urn:uuid fullUrls and references, Organization/Practitioner inline), so the
 * sandbox loader reads them exactly like Synthea output. Patient i depends only on (seed, i).
 * Every block of 250 patients (from index 10) contains a twin pair: same family name, birthDate (80+) and
 * address, given names with the same initial; the first twin's social-care record has no NHS number and
 * only the initial as forename, the second twin is not known to social care (SOCIAL_CARE_HINT_URL).
 *
 *   npx tsx scripts/generate-patients.ts --count 500 --seed 1 --out <dir>
 */

export interface GenerateOptions {
  count: number;
  seed: number;
}

interface Twin {
  family: string;
  given: string;
  gender: 'male' | 'female';
  birthDate: string;
  placeIndex: number;
  practiceIndex: number;
  line1: string;
  order: 1 | 2;
}

const TWIN_NAMES = { male: ['John', 'James'], female: ['Margaret', 'Mary'] } as const;
const two = (n: number): string => String(n).padStart(2, '0');
const dateTime = (date: string, rng: Rng): string => `${date}T${two(intBetween(rng, 8, 17))}:${two(intBetween(rng, 0, 59))}:00+00:00`;
/** One hour after an ISO date-time made by dateTime (never crosses midnight). */
const hourLater = (t: string): string => `${t.slice(0, 11)}${two(Number(t.slice(11, 13)) + 1)}${t.slice(13)}`;
const randomDate = (rng: Rng, from: string, to: string): string => {
  const days = Math.round((Date.parse(to) - Date.parse(from)) / 86_400_000);
  return addDays(from, intBetween(rng, 0, Math.max(0, days)));
};
const cc = (coding: Coding): { coding: Coding[]; text: string } => ({ coding: [coding], text: coding.display ?? coding.code ?? '' });

function organization(odsCode: string, name: string): Organization {
  return { resourceType: 'Organization', id: deterministicUuid(`gen-org:${odsCode}`), identifier: [{ system: ODS_SYSTEM, value: odsCode }], active: true, name };
}
function practitioner(kind: 'gp' | 'hospital', k: number): Practitioner {
  const rng = mulberry32(fnv1a(`gen-practitioner:${kind}:${k}`));
  const female = chance(rng, 0.5);
  return {
    resourceType: 'Practitioner',
    id: deterministicUuid(`gen-practitioner:${kind}:${k}`),
    active: true,
    name: [{ family: pick(rng, SURNAMES), given: [pick(rng, female ? FEMALE_NAMES : MALE_NAMES)], prefix: ['Dr'] }],
    gender: female ? 'female' : 'male',
  };
}

class BundleBuilder {
  readonly entries: NonNullable<Bundle['entry']> = [];
  private n = 0;
  constructor(private readonly prefix: string) {}
  add<T extends Resource>(resource: T): T {
    if (!resource.id) resource.id = deterministicUuid(`${this.prefix}:${this.n++}`);
    if (!this.entries.some((e) => e.resource?.id === resource.id)) {
      this.entries.push({ fullUrl: `urn:uuid:${resource.id}`, resource, request: { method: 'POST', url: resource.resourceType } });
    }
    return resource;
  }
  bundle(): Bundle {
    return { resourceType: 'Bundle', type: 'transaction', entry: this.entries };
  }
}
const ref = (r: Resource): Reference => ({ reference: `urn:uuid:${r.id}` });

function generatePatient(seed: number, i: number, twin?: Twin): Bundle {
  const rng = mulberry32(fnv1a(`gen:${seed}:${i}`));
  const b = new BundleBuilder(`gen:${seed}:${i}`);

  const gender = twin?.gender ?? (chance(rng, 0.5) ? 'female' : 'male');
  const ageBand = rng();
  const bandAge = ageBand < 0.45 ? intBetween(rng, 65, 96) : ageBand < 0.85 ? intBetween(rng, 18, 64) : intBetween(rng, 0, 17);
  const birthDate = twin?.birthDate ?? randomDate(rng, `${2020 - bandAge}-01-01`, `${2020 - bandAge}-12-28`);
  const age = 2020 - Number(birthDate.slice(0, 4));
  const elder = age >= 65;
  const place = UK_PLACES[twin?.placeIndex ?? intBetween(rng, 0, UK_PLACES.length - 1)];
  const practice = twin ? GP_PRACTICES[twin.practiceIndex] : pick(rng, GP_PRACTICES);
  const practiceOrg = b.add(organization(practice.odsCode, practice.name));
  const hospitalOrg = b.add(organization(HOSPITAL_TRUST.odsCode, HOSPITAL_TRUST.name));
  const gp = b.add(practitioner('gp', intBetween(rng, 0, 9)));
  const consultant = b.add(practitioner('hospital', intBetween(rng, 0, 9)));

  const patient = b.add<Patient>({
    resourceType: 'Patient',
    identifier: [{ system: NHS_NUMBER_SYSTEM, value: testNhsNumber(fnv1a(`gen-nhs:${seed}:${i}`)) }],
    name: [{ use: 'official', family: twin?.family ?? pick(rng, SURNAMES), given: [twin?.given ?? pick(rng, gender === 'female' ? FEMALE_NAMES : MALE_NAMES)] }],
    gender,
    birthDate,
    address: [{ use: 'home', line: [twin?.line1 ?? `${intBetween(rng, 1, 140)} ${pick(rng, STREETS)}`], city: place.town, postalCode: place.postcode, country: 'GB' }],
    generalPractitioner: [{ ...ref(practiceOrg), identifier: { system: ODS_SYSTEM, value: practice.odsCode } }],
    ...(twin ? { multipleBirthInteger: twin.order } : {}),
    ...(twin ? { extension: [{ url: SOCIAL_CARE_HINT_URL, valueCode: twin.order === 1 ? 'no-nhs-number-initial' : 'exclude' }] } : {}),
  });
  const subject = ref(patient);
  const start = [`${Number(birthDate.slice(0, 4)) + 1}-01-01`, '2012-01-01'].sort().at(-1)!;

  const encounter = (cls: 'AMB' | 'EMER' | 'IMP', date: string): Encounter => {
    const hospital = cls !== 'AMB';
    const startTime = dateTime(date, rng);
    const endDate = cls === 'IMP' ? addDays(date, intBetween(rng, 2, 12)) : date;
    return b.add<Encounter>({
      resourceType: 'Encounter',
      status: 'finished',
      class: { system: C.ACT_CODE, code: cls },
      type: [cc(pick(rng, C.ENCOUNTER_TYPES[cls]))],
      subject,
      participant: [{ individual: ref(hospital ? consultant : gp) }],
      period: { start: startTime, end: cls === 'IMP' ? `${endDate}T11:00:00+00:00` : hourLater(startTime) },
      serviceProvider: ref(hospital ? hospitalOrg : practiceOrg),
    });
  };
  const dateOf = (e: Encounter): string => e.period!.start!;
  const amb = Array.from({ length: intBetween(rng, 3, 8) }, () => encounter('AMB', randomDate(rng, start, '2020-12-20'))).sort((x, y) => dateOf(x).localeCompare(dateOf(y)));
  const emer = Array.from({ length: chance(rng, elder ? 0.55 : 0.3) ? intBetween(rng, 1, 2) : 0 }, () => encounter('EMER', randomDate(rng, start, '2020-12-20')));
  const imp = chance(rng, elder ? 0.25 : 0.05) ? [encounter('IMP', randomDate(rng, start, '2020-12-01'))] : [];

  const condition = (code: Coding, e: Encounter): void => {
    b.add({
      resourceType: 'Condition',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-clinical', code: 'active' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/condition-ver-status', code: 'confirmed' }] },
      code: cc(code),
      subject,
      encounter: ref(e),
      onsetDateTime: dateOf(e),
      recordedDate: dateOf(e),
    });
  };
  const medication = (code: Coding, e: Encounter, status: 'active' | 'stopped'): void => {
    b.add({ resourceType: 'MedicationRequest', status, intent: 'order', medicationCodeableConcept: cc(code), subject, encounter: ref(e), authoredOn: dateOf(e), requester: e.participant![0].individual });
  };
  const observation = (code: Coding, e: Encounter, value: Pick<Observation, 'valueQuantity' | 'valueCodeableConcept'>, category = 'vital-signs'): Observation =>
    b.add<Observation>({
      resourceType: 'Observation',
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }],
      code: cc(code),
      subject,
      encounter: ref(e),
      effectiveDateTime: dateOf(e),
      issued: dateOf(e),
      ...value,
    });

  const chronic = C.CHRONIC.filter((c) => age >= 18 && chance(rng, c.p[elder ? 1 : 0]));
  if (age >= 75 && chance(rng, C.DEMENTIA.p[1])) chronic.push(C.DEMENTIA);
  for (const c of chronic) {
    const e = pick(rng, amb);
    condition(c.condition, e);
    medication(c.medication, e, 'active');
  }
  if (chance(rng, 0.4)) medication(C.ACUTE_MEDICATION, pick(rng, amb), 'stopped');

  for (const a of C.ALLERGIES) {
    if (!chance(rng, a.p)) continue;
    const recorded = dateTime(randomDate(rng, start, '2020-12-20'), rng);
    b.add({
      resourceType: 'AllergyIntolerance',
      clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] },
      verificationStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification', code: 'confirmed' }] },
      type: 'allergy',
      category: [a.category],
      criticality: chance(rng, 0.3) ? 'high' : 'low',
      code: cc(a.code),
      patient: subject,
      ...(chance(rng, 0.5) ? { onsetDateTime: recorded } : {}),
      recordedDate: recorded,
    });
  }

  const smoking = pick(rng, C.SMOKING_VALUES);
  observation(C.SMOKING, amb[0], { valueCodeableConcept: cc(smoking) }, 'survey');
  for (const e of amb) {
    if (age >= 18) observation(C.BMI, e, { valueQuantity: { value: Math.round((19 + rng() * 18) * 10) / 10, unit: 'kg/m2', system: 'http://unitsofmeasure.org', code: 'kg/m2' } });
    if (chronic.some((c) => c.condition.code === '44054006')) {
      const hba1c = observation(C.HBA1C, e, { valueQuantity: { value: Math.round((5.8 + rng() * 3.5) * 10) / 10, unit: '%', system: 'http://unitsofmeasure.org', code: '%' } }, 'laboratory');
      b.add<DiagnosticReport>({ resourceType: 'DiagnosticReport', status: 'final', code: cc(C.HBA1C), subject, encounter: ref(e), effectiveDateTime: dateOf(e), issued: dateOf(e), result: [{ ...ref(hba1c), display: C.HBA1C.display }] });
    }
    if (chance(rng, elder ? 0.5 : 0.15)) {
      b.add<Immunization>({ resourceType: 'Immunization', status: 'completed', vaccineCode: cc(C.FLU), patient: subject, encounter: ref(e), occurrenceDateTime: dateOf(e), primarySource: true });
    }
  }
  for (const e of [...emer, ...imp]) {
    observation(C.HEART_RATE, e, { valueQuantity: { value: intBetween(rng, 55, 120), unit: '/min', system: 'http://unitsofmeasure.org', code: '/min' } });
    const hb = observation(C.HAEMOGLOBIN, e, { valueQuantity: { value: Math.round((10 + rng() * 7) * 10) / 10, unit: 'g/dL', system: 'http://unitsofmeasure.org', code: 'g/dL' } }, 'laboratory');
    b.add<DiagnosticReport>({ resourceType: 'DiagnosticReport', status: 'final', code: cc(C.FBC), subject, encounter: ref(e), effectiveDateTime: dateOf(e), issued: dateOf(e), result: [{ ...ref(hb), display: C.HAEMOGLOBIN.display }] });
  }
  for (const e of emer) {
    condition(pick(rng, C.EMERGENCY_CONDITIONS), e);
    medication(C.EMERGENCY_MEDICATION, e, 'stopped');
  }
  for (const e of imp) {
    b.add<Procedure>({ resourceType: 'Procedure', status: 'completed', code: cc(C.INPATIENT_PROCEDURE), subject, encounter: ref(e), performedPeriod: e.period });
  }
  return b.bundle();
}

/** Twins for the pair starting at index i (deterministic from seed and i). */
function twinsAt(seed: number, i: number): [Twin, Twin] {
  const rng = mulberry32(fnv1a(`gen-twins:${seed}:${i}`));
  const gender = chance(rng, 0.5) ? 'male' : 'female';
  const base = {
    family: pick(rng, SURNAMES),
    gender,
    birthDate: randomDate(rng, '1932-01-01', '1940-12-28'),
    placeIndex: intBetween(rng, 0, UK_PLACES.length - 1),
    practiceIndex: intBetween(rng, 0, GP_PRACTICES.length - 1),
    line1: `${intBetween(rng, 1, 140)} ${pick(rng, STREETS)}`,
  } as const;
  return [
    { ...base, given: TWIN_NAMES[gender][0], order: 1 },
    { ...base, given: TWIN_NAMES[gender][1], order: 2 },
  ];
}

export function generatePatients({ count, seed }: GenerateOptions): Bundle[] {
  const bundles: Bundle[] = [];
  for (let i = 0; i < count; i++) {
    const pairStart = i % 250 === 10 ? i : i % 250 === 11 ? i - 1 : -1;
    const inPair = pairStart >= 0 && pairStart + 1 < count;
    bundles.push(generatePatient(seed, i, inPair ? twinsAt(seed, pairStart)[i - pairStart] : undefined));
  }
  return bundles;
}

function main(): void {
  const { values } = parseArgs({ options: { count: { type: 'string', default: '50' }, seed: { type: 'string', default: '1' }, out: { type: 'string' } } });
  const count = Number(values.count);
  const seed = Number(values.seed);
  if (!Number.isInteger(count) || count < 0 || !Number.isInteger(seed) || !values.out) {
    console.error('usage: npx tsx scripts/generate-patients.ts --count 500 --seed 1 --out <dir>');
    process.exit(2);
  }
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const bundles = generatePatients({ count, seed });
  bundles.forEach((bundle, i) => {
    const id = bundle.entry!.find((e) => e.resource?.resourceType === 'Patient')!.resource!.id;
    writeFileSync(join(out, `patient-${String(i).padStart(6, '0')}_${id}.json`), JSON.stringify(bundle, null, 1));
  });
  console.log(JSON.stringify({ generated: bundles.length, seed, out }));
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) main();
