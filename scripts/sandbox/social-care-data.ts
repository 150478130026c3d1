import type { Condition, Patient, Resource } from 'fhir/r4.js';
import { chance, fnv1a, intBetween, mulberry32, pick, addDays, type Rng } from './hash.js';
import type { UkFlavour } from './patients.js';
import type { Assessment, CarePackage, Contact, Gender, KeyWorker, Relationship, SocialCareCase } from '../../adapters/social-care-api.js';
import { FEMALE_NAMES, MALE_NAMES, SURNAMES, ukPhone } from './uk.js';

/**
 * Who the council's social-care system knows about, and what it holds (deterministic by hash of the
 * Patient id; the reference date is 2021-01-01):
 * - alive people aged >= 65, people with a GP Condition coded as dementia/Alzheimer's or a disability,
 *   and about 1 in 6 of everyone else;
 * - about 1 in 3 of them have no NHS number recorded (nhsNumber: null) and can only be matched on
 *   surname + dateOfBirth + postcode (identical to the GP record); a third of those have only the forename's
 *   initial.
 * The generator can force the outcome with the Patient extension SOCIAL_CARE_HINT_URL (valueCode
 * 'include' | 'exclude' | 'no-nhs-number' | 'no-nhs-number-initial'); the loader strips it.
 */

export const REFERENCE_DATE = '2021-01-01';

export const DEMENTIA_CODES: ReadonlySet<string> = new Set(['26929004', '230265002', '52448006', '429998004']);
/** Disability-ish SNOMED codes: learning disability, cerebral palsy, paraplegia, blindness, stroke sequelae. */
export const DISABILITY_CODES: ReadonlySet<string> = new Set(['110359009', '128188000', '60389000', '193699007', '195951007']);

const conditionCodes = (resources: Resource[]): Set<string> => {
  const codes = new Set<string>();
  for (const r of resources) {
    if (r.resourceType !== 'Condition') continue;
    for (const c of (r as Condition).code?.coding ?? []) if (c.code && c.system === 'http://snomed.info/sct') codes.add(c.code);
  }
  return codes;
};

export function ageOn(birthDate: string, on = REFERENCE_DATE): number {
  const [by, bm, bd] = birthDate.split('-').map(Number);
  const [y, m, d] = on.split('-').map(Number);
  return y - by - (m < bm || (m === bm && d < bd) ? 1 : 0);
}

const isDeceased = (p: Patient): boolean =>
  p.deceasedBoolean === true || (!!p.deceasedDateTime && p.deceasedDateTime.slice(0, 10) < REFERENCE_DATE);

export interface SocialCareChoice {
  included: boolean;
  hasNhsNumber: boolean;
  initialOnly: boolean;
  hasDementia: boolean;
}

export function chooseSocialCare(patient: Patient, gpResources: Resource[], hint?: string): SocialCareChoice {
  const id = patient.id!;
  const codes = conditionCodes(gpResources);
  const hasDementia = [...codes].some((c) => DEMENTIA_CODES.has(c));
  const disabled = [...codes].some((c) => DISABILITY_CODES.has(c));
  const elder = !!patient.birthDate && ageOn(patient.birthDate) >= 65 && !isDeceased(patient);
  const byRule = elder || hasDementia || disabled || fnv1a(`social-care:${id}`) % 6 === 0;
  const included = hint === 'exclude' ? false : hint ? true : byRule;
  const forcedNoNhs = hint === 'no-nhs-number' || hint === 'no-nhs-number-initial';
  const noNhs = forcedNoNhs || fnv1a(`sc-nhs:${id}`) % 3 === 0;
  const initialOnly = hint === 'no-nhs-number-initial' || (!forcedNoNhs && noNhs && fnv1a(`sc-forename:${id}`) % 3 === 0);
  return { included, hasNhsNumber: !noNhs, initialOnly, hasDementia };
}

const PROVIDERS = [
  { name: 'Caring Hands Homecare Ltd', code: 'PRV0142' },
  { name: 'Aire Valley Care Services', code: 'PRV0217' },
  { name: 'Meadowbank Day Centre', code: 'PRV0305' },
  { name: 'Oakwood Residential Home', code: 'PRV0411' },
  { name: 'Community Meals Service', code: 'PRV0520' },
  { name: 'Community Equipment Service', code: 'PRV0633' },
];
const ASSESSORS = ['A. Begum', 'R. Sutcliffe', 'K. Mensah', 'L. Fairbairn', 'D. Kowalski', 'S. Okafor'];

function carePackage(rng: Rng, id: string): CarePackage {
  const serviceType = pick(rng, ['home-care', 'home-care', 'day-centre', 'meals-on-wheels', 'equipment', 'residential-care'] as const);
  const startDate = addDays('2016-01-01', intBetween(rng, 0, 1730));
  const ended = chance(rng, 0.25);
  const endDate = ended ? [addDays(startDate, intBetween(rng, 60, 400)), '2020-12-31'].sort()[0] : null;
  const reviewed = addDays(startDate, 180);
  const reviewedOn = reviewed < (endDate ?? REFERENCE_DATE) ? reviewed : null;
  let description: string;
  let visitsPerDay: number | null = null;
  let provider = PROVIDERS[0];
  switch (serviceType) {
    case 'home-care':
      visitsPerDay = intBetween(rng, 1, 4);
      description = `Home care: ${visitsPerDay} visit${visitsPerDay > 1 ? 's' : ''} daily`;
      provider = pick(rng, PROVIDERS.slice(0, 2));
      break;
    case 'day-centre':
      description = `Day centre: ${intBetween(rng, 1, 3)} days a week`;
      provider = PROVIDERS[2];
      break;
    case 'residential-care':
      description = 'Residential care: long-term placement';
      provider = PROVIDERS[3];
      break;
    case 'meals-on-wheels':
      visitsPerDay = 1;
      description = 'Meals on wheels: hot lunch daily';
      provider = PROVIDERS[4];
      break;
    case 'equipment':
      description = `Equipment: ${pick(rng, ['hoist', 'grab rails', 'stairlift', 'pressure-relief mattress', 'perching stool'])}`;
      provider = PROVIDERS[5];
      break;
  }
  return { packageId: id, serviceType, description, visitsPerDay, startDate, endDate, status: ended ? 'ended' : 'active', provider, reviewedOn };
}

const ASSESSMENT_OUTCOMES: Record<Assessment['assessmentType'], readonly string[]> = {
  'care-act-needs': ['Eligible needs identified: package of care agreed', 'Eligible needs identified: residential placement', 'No eligible needs: signposted to community support'],
  carers: ["Carer's needs identified: respite offered", 'Carer coping: information and advice given'],
  review: ['Package continued unchanged', 'Package increased', 'Package reduced'],
  'occupational-therapy': ['Equipment recommended', 'Minor adaptations recommended', 'No equipment needed'],
};

function contact(rng: Rng, id: string, surname: string, relationship: Relationship, isCarer: boolean): Contact {
  const female = relationship === 'daughter' || (relationship !== 'son' && chance(rng, 0.5));
  const keepsSurname = relationship === 'son' || relationship === 'spouse' || (relationship === 'daughter' && chance(rng, 0.4));
  return {
    contactId: id,
    forename: pick(rng, female ? FEMALE_NAMES : MALE_NAMES),
    surname: keepsSurname ? surname : pick(rng, SURNAMES),
    relationship,
    isCarer,
    phone: ukPhone(intBetween(rng, 0, 999)),
    livesWithPerson: relationship === 'spouse' || (isCarer && chance(rng, 0.2)),
  };
}

const genderOf = (g: Patient['gender']): Gender => (g === 'female' ? 'F' : g === 'male' ? 'M' : 'U');

/** Builds the council's case for a person. `personNumber` makes the council's own id ("SC" + 6 digits). */
export function buildSocialCareCase(patient: Patient, flavour: UkFlavour, choice: SocialCareChoice, personNumber: number): SocialCareCase {
  const rng = mulberry32(fnv1a(`sc-case:${patient.id}`));
  const personId = `SC${String(personNumber).padStart(6, '0')}`;
  const name = patient.name?.find((n) => n.use === 'official') ?? patient.name?.[0];
  const given = name?.given?.[0] ?? '';
  const surname = name?.family ?? '';

  const packages = Array.from({ length: intBetween(rng, 1, 3) }, (_, i) => carePackage(rng, `${personId}-CP${i + 1}`));
  const firstStart = packages.map((p) => p.startDate).sort()[0];
  const assessments: Assessment[] = [
    { assessmentId: `${personId}-AS1`, assessmentType: 'care-act-needs', completedOn: addDays(firstStart, -intBetween(rng, 7, 30)), outcome: ASSESSMENT_OUTCOMES['care-act-needs'][0], assessor: pick(rng, ASSESSORS) },
  ];
  for (const type of ['review', 'occupational-therapy', 'carers'] as const) {
    if (chance(rng, 0.45)) {
      assessments.push({
        assessmentId: `${personId}-AS${assessments.length + 1}`,
        assessmentType: type,
        completedOn: [addDays(firstStart, intBetween(rng, 30, 900)), '2020-12-31'].sort()[0],
        outcome: pick(rng, ASSESSMENT_OUTCOMES[type]),
        assessor: pick(rng, ASSESSORS),
      });
    }
  }

  const contacts: Contact[] = [];
  if (chance(rng, 0.7)) contacts.push(contact(rng, `${personId}-C1`, surname, pick(rng, ['daughter', 'daughter', 'son', 'spouse'] as const), true));
  if (chance(rng, 0.5)) contacts.push(contact(rng, `${personId}-C${contacts.length + 1}`, surname, pick(rng, ['neighbour', 'friend', 'son', 'grandchild', 'sibling'] as const), chance(rng, 0.2)));

  const keyWorker: KeyWorker | null = chance(rng, 0.85)
    ? { name: `${pick(rng, FEMALE_NAMES.concat(MALE_NAMES))} ${pick(rng, SURNAMES)}`, team: choice.hasDementia ? 'Memory Support Team' : `${flavour.place.localAuthority.name} Adult Social Care — Older People`, phone: ukPhone(intBetween(rng, 0, 999)) }
    : null;

  const flags: string[] = [];
  if (!contacts.some((c) => c.livesWithPerson)) flags.push('lives-alone');
  if (chance(rng, 0.4)) flags.push('falls-risk');
  if (choice.hasDementia) flags.push('dementia');
  if (chance(rng, 0.35)) flags.push('key-safe');

  return {
    person: {
      personId,
      nhsNumber: choice.hasNhsNumber ? flavour.nhsNumber : null,
      forename: choice.initialOnly ? given.charAt(0) : given,
      surname,
      dateOfBirth: patient.birthDate ?? '',
      gender: genderOf(patient.gender),
      address: { line1: flavour.line1, town: flavour.place.town, postcode: flavour.place.postcode },
      localAuthority: flavour.place.localAuthority,
      flags,
    },
    carePackages: packages,
    assessments,
    contacts,
    keyWorker,
  };
}
