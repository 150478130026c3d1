import type { Address, Organization, Patient } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM, isValidNhsNumber, testNhsNumber } from '../../fhir/nhs-number.js';
import { fnv1a } from './hash.js';
import { GP_PRACTICES, HOSPITAL_TRUST, ODS_SYSTEM, STREETS, UK_PLACES, ukPhone, type GpPractice, type UkPlace } from './uk.js';

/** UK-flavouring of a Synthea Patient, and the hospital's own copy of that person. */

export const MRN_SYSTEM = 'https://sandbox-hospital.example.nhs.uk/Id/mrn';
/** Generator-only hint (stripped by the loader): see social-care-data.ts. */
export const SOCIAL_CARE_HINT_URL = 'https://sandbox.example.nhs.uk/fhir/StructureDefinition/social-care-record';

export interface UkFlavour {
  nhsNumber: string;
  place: UkPlace;
  line1: string;
  practice: GpPractice;
  /** Value of the generator's social-care hint extension, if any. */
  socialCareHint?: string;
}

export const practiceId = (odsCode: string): string => `ods-${odsCode}`;

export function organizationFor(odsCode: string, name: string): Organization {
  return {
    resourceType: 'Organization',
    id: practiceId(odsCode),
    identifier: [{ system: ODS_SYSTEM, value: odsCode }],
    active: true,
    name,
  };
}


const isUkAddress = (a: Address | undefined): a is Address =>
  !!a && (a.country === 'GB' || a.country === 'UK') && !!a.postalCode && !!a.line?.[0];

function chooseNhsNumber(p: Patient, seed: number, used: Set<string>): string {
  const given = p.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value;
  if (given && isValidNhsNumber(given) && !used.has(given)) return given;
  let s = seed;
  let n = testNhsNumber(s);
  while (used.has(n)) n = testNhsNumber(++s);
  return n;
}

/**
 * Returns the GP's Patient: same id, name, gender, birthDate, deceased; NHS number identifier; UK address
 * (kept if the input already has one, else chosen by hash); UK phone; registered GP practice (ODS code).
 * US identifiers and extensions are dropped. `usedNhs` is updated so NHS numbers stay unique.
 */
export function ukFlavourPatient(input: Patient, usedNhs: Set<string>): { patient: Patient; flavour: UkFlavour } {
  const h = fnv1a(input.id!);
  const nhsNumber = chooseNhsNumber(input, h, usedNhs);
  usedNhs.add(nhsNumber);

  const existing = input.address?.[0];
  let place: UkPlace;
  let line1: string;
  if (isUkAddress(existing)) {
    place = UK_PLACES.find((p) => p.postcode === existing.postalCode) ?? {
      postcode: existing.postalCode!,
      town: existing.city ?? '',
      localAuthority: { code: 'E08000035', name: 'Leeds' },
    };
    line1 = existing.line![0];
  } else {
    place = UK_PLACES[h % UK_PLACES.length];
    line1 = `${1 + (h % 97)} ${STREETS[(h >>> 8) % STREETS.length]}`;
  }

  const givenOds = input.generalPractitioner?.find((g) => g.identifier?.system === ODS_SYSTEM)?.identifier?.value;
  const practice = GP_PRACTICES.find((p) => p.odsCode === givenOds) ?? GP_PRACTICES[(h >>> 4) % GP_PRACTICES.length];
  const socialCareHint = input.extension?.find((e) => e.url === SOCIAL_CARE_HINT_URL)?.valueCode;

  const patient: Patient = {
    resourceType: 'Patient',
    id: input.id,
    ...(input.meta ? { meta: input.meta } : {}),
    identifier: [{ system: NHS_NUMBER_SYSTEM, value: nhsNumber }],
    name: input.name,
    telecom: [{ system: 'phone', value: ukPhone(h), use: 'home' }],
    gender: input.gender,
    birthDate: input.birthDate,
    ...(input.deceasedDateTime ? { deceasedDateTime: input.deceasedDateTime } : {}),
    ...(input.deceasedBoolean !== undefined ? { deceasedBoolean: input.deceasedBoolean } : {}),
    address: [{ use: 'home', line: [line1], city: place.town, postalCode: place.postcode, country: 'GB' }],
    ...(input.maritalStatus ? { maritalStatus: input.maritalStatus } : {}),
    ...(input.communication ? { communication: input.communication } : {}),
    generalPractitioner: [
      {
        reference: `Organization/${practiceId(practice.odsCode)}`,
        identifier: { system: ODS_SYSTEM, value: practice.odsCode },
        display: practice.name,
      },
    ],
  };
  return { patient, flavour: { nhsNumber, place, line1, practice, socialCareHint } };
}

/** The hospital's own Patient for the person: id "H" + 6 digits, MRN and NHS number identifiers. */
export function hospitalPatient(gp: Patient, n: number, nhsNumber: string, trustOrgKey: string): Patient {
  const { generalPractitioner: _gp, identifier: _ids, id: _id, resourceType, ...rest } = gp;
  return {
    resourceType,
    id: `H${String(n).padStart(6, '0')}`,
    identifier: [
      {
        type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v2-0203', code: 'MR' }] },
        system: MRN_SYSTEM,
        value: String(4_000_000 + n),
      },
      { system: NHS_NUMBER_SYSTEM, value: nhsNumber },
    ],
    ...rest,
    managingOrganization: { reference: trustOrgKey, display: HOSPITAL_TRUST.name },
  };
}
