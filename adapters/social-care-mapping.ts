import type {
  CarePlan,
  CareTeam,
  CareTeamParticipant,
  Flag,
  Patient,
  Procedure,
  RelatedPerson,
  Resource,
} from 'fhir/r4.js';
import { LA_SYSTEM, NHS_NUMBER_SYSTEM } from '../fhir/nhs-number.js';
import type { Assessment, CarePackage, CaseResponse, Contact, PersonSummary } from './social-care-api.js';

/**
 * Maps the council's case-management JSON (its own ids and field names) to FHIR R4.
 * The mapping table is in the README ("Social care mapping").
 */
const BASE = 'https://sandbox-socialcare.example.gov.uk';
export const PERSON_ID_SYSTEM = `${BASE}/Id/person`;
const SERVICE_TYPE_SYSTEM = `${BASE}/CodeSystem/service-type`;
const ASSESSMENT_TYPE_SYSTEM = `${BASE}/CodeSystem/assessment-type`;
const PERSON_FLAG_SYSTEM = `${BASE}/CodeSystem/person-flag`;
const CONTACT_ROLE_SYSTEM = `${BASE}/CodeSystem/contact-role`;
const ROLE_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-RoleCode';
const FLAG_CATEGORY_SYSTEM = 'http://terminology.hl7.org/CodeSystem/flag-category';

const RELATIONSHIP: Record<string, { code: string; display: string }> = {
  daughter: { code: 'DAUC', display: 'daughter' },
  son: { code: 'SONC', display: 'son' },
  spouse: { code: 'SPS', display: 'spouse' },
  neighbour: { code: 'NBOR', display: 'neighbor' },
  friend: { code: 'FRND', display: 'unrelated friend' },
  sibling: { code: 'SIB', display: 'sibling' },
  grandchild: { code: 'GRNDCHILD', display: 'grandchild' },
};
const FLAG_CATEGORY: Record<string, string> = { 'falls-risk': 'safety', 'lives-alone': 'safety', 'key-safe': 'contact', dementia: 'clinical' };
const GENDER: Record<string, Patient['gender']> = { F: 'female', M: 'male', U: 'unknown' };

/** FHIR ids allow [A-Za-z0-9-.] up to 64 characters. */
function fid(...parts: string[]): string {
  return parts.join('-').replace(/[^A-Za-z0-9\-.]/g, '-').slice(0, 64);
}
const humanise = (code: string) => code.replace(/-/g, ' ').replace(/^./, (c) => c.toUpperCase());

export function mapPerson(p: PersonSummary): Patient {
  return {
    resourceType: 'Patient',
    id: fid(p.personId),
    identifier: [
      { system: PERSON_ID_SYSTEM, value: p.personId },
      ...(p.nhsNumber ? [{ system: NHS_NUMBER_SYSTEM, value: p.nhsNumber }] : []),
    ],
    name: [{ use: 'official', family: p.surname, given: [p.forename] }],
    gender: GENDER[p.gender] ?? 'unknown',
    birthDate: p.dateOfBirth,
    address: [{ use: 'home', line: [p.address.line1], city: p.address.town, postalCode: p.address.postcode, country: 'GB' }],
    managingOrganization: { identifier: { system: LA_SYSTEM, value: p.localAuthority.code }, display: p.localAuthority.name },
  };
}

function mapCarePackage(personRef: string, c: CarePackage): CarePlan {
  const active = c.status === 'active';
  return {
    resourceType: 'CarePlan',
    id: fid('pkg', c.packageId),
    identifier: [{ system: `${BASE}/Id/care-package`, value: c.packageId }],
    status: active ? 'active' : 'completed',
    intent: 'plan',
    category: [{ coding: [{ system: SERVICE_TYPE_SYSTEM, code: c.serviceType, display: humanise(c.serviceType) }], text: 'Social care package' }],
    title: humanise(c.serviceType),
    description: c.description,
    subject: { reference: personRef },
    period: { start: c.startDate, ...(c.endDate ? { end: c.endDate } : {}) },
    author: { display: c.provider.name, identifier: { system: `${BASE}/Id/provider`, value: c.provider.code } },
    activity: [{ detail: { status: active ? 'in-progress' : 'completed', description: c.description } }],
    ...(c.reviewedOn ? { note: [{ time: c.reviewedOn, text: `Care package last reviewed on ${c.reviewedOn}.` }] } : {}),
  };
}

function mapAssessment(personRef: string, a: Assessment): Procedure {
  return {
    resourceType: 'Procedure',
    id: fid('asmt', a.assessmentId),
    identifier: [{ system: `${BASE}/Id/assessment`, value: a.assessmentId }],
    status: 'completed',
    category: { text: 'Social care assessment' },
    code: { coding: [{ system: ASSESSMENT_TYPE_SYSTEM, code: a.assessmentType, display: humanise(a.assessmentType) }], text: `${humanise(a.assessmentType)} assessment` },
    subject: { reference: personRef },
    performedDateTime: a.completedOn,
    performer: [{ actor: { display: a.assessor } }],
    outcome: { text: a.outcome },
  };
}

function mapContact(personRef: string, c: Contact): RelatedPerson {
  const rel = RELATIONSHIP[c.relationship];
  return {
    resourceType: 'RelatedPerson',
    id: fid('contact', c.contactId),
    identifier: [{ system: `${BASE}/Id/contact`, value: c.contactId }],
    active: true,
    patient: { reference: personRef },
    relationship: [
      { coding: rel ? [{ system: ROLE_CODE_SYSTEM, code: rel.code, display: rel.display }] : [], text: c.relationship },
      ...(c.isCarer ? [{ coding: [{ system: CONTACT_ROLE_SYSTEM, code: 'carer', display: 'Carer' }], text: 'Carer' }] : []),
      ...(c.livesWithPerson ? [{ coding: [{ system: CONTACT_ROLE_SYSTEM, code: 'lives-with', display: 'Lives with the person' }], text: 'Lives with the person' }] : []),
    ],
    name: [{ family: c.surname, given: [c.forename] }],
    telecom: [{ system: 'phone', value: c.phone }],
  };
}

function mapCareTeam(personId: string, personRef: string, kase: CaseResponse, contacts: RelatedPerson[]): CareTeam | undefined {
  const participant: CareTeamParticipant[] = [];
  if (kase.keyWorker) {
    participant.push({
      role: [{ coding: [{ system: CONTACT_ROLE_SYSTEM, code: 'key-worker', display: 'Key worker' }], text: 'Key worker' }],
      member: { display: `${kase.keyWorker.name} (${kase.keyWorker.team}, ${kase.keyWorker.phone})` },
    });
  }
  kase.contacts.forEach((c, i) => {
    if (!c.isCarer) return;
    participant.push({
      role: [{ coding: [{ system: CONTACT_ROLE_SYSTEM, code: 'carer', display: 'Carer' }], text: 'Carer' }],
      member: { reference: `RelatedPerson/${contacts[i]!.id}` },
    });
  });
  if (participant.length === 0) return undefined;
  return {
    resourceType: 'CareTeam',
    id: fid('team', personId),
    status: 'active',
    name: 'Social care team and carers',
    subject: { reference: personRef },
    participant,
    ...(kase.keyWorker ? { managingOrganization: [{ display: kase.keyWorker.team }] } : {}),
  };
}

function mapFlag(personId: string, personRef: string, flag: string): Flag {
  const category = FLAG_CATEGORY[flag];
  return {
    resourceType: 'Flag',
    id: fid('flag', personId, flag),
    status: 'active',
    ...(category ? { category: [{ coding: [{ system: FLAG_CATEGORY_SYSTEM, code: category }] }] } : {}),
    code: { coding: [{ system: PERSON_FLAG_SYSTEM, code: flag, display: humanise(flag) }], text: humanise(flag) },
    subject: { reference: personRef },
  };
}

/** The whole case as FHIR: Patient, CarePlan per package, Procedure per assessment, RelatedPerson, CareTeam, Flag. */
export function mapCase(kase: CaseResponse): Resource[] {
  const patient = mapPerson(kase.person);
  const ref = `Patient/${patient.id}`;
  const contacts = kase.contacts.map((c) => mapContact(ref, c));
  const team = mapCareTeam(patient.id!, ref, kase, contacts);
  return [
    patient,
    ...kase.carePackages.map((c) => mapCarePackage(ref, c)),
    ...kase.assessments.map((a) => mapAssessment(ref, a)),
    ...contacts,
    ...(team ? [team] : []),
    ...kase.person.flags.map((f) => mapFlag(patient.id!, ref, f)),
  ];
}

/** Every resource type the mapping above produces (the social-care source can send nothing else). */
export const SOCIAL_CARE_RESOURCE_TYPES: ReadonlySet<string> = new Set(['Patient', 'CarePlan', 'CareTeam', 'Flag', 'Procedure', 'RelatedPerson']);
