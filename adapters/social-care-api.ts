/**
 * Wire types of the council social-care case-management API (NOT FHIR), as the adapter consumes it
 * and the sandbox serves it.
 * adapters/social-care-mapping.ts maps them to FHIR.
 *
 *   GET /api/v1/people?nhsNumber=…                                  → PeopleResponse
 *   GET /api/v1/people?surname=&dateOfBirth=YYYY-MM-DD[&postcode=][&forename=] → PeopleResponse
 *   GET /api/v1/people/{personId}                                   → PersonSummary
 *   GET /api/v1/people/{personId}/case                              → CaseResponse
 *   errors                                                          → ErrorResponse
 */

export type Gender = 'F' | 'M' | 'U';

export interface PersonSummary {
  /** "SC" + 6 digits; the council's own id. */
  personId: string;
  /** 10 digits, or null when the council never recorded it (match on demographics only). */
  nhsNumber: string | null;
  /** May be a short form or just an initial ("J") when nhsNumber is null. */
  forename: string;
  surname: string;
  /** YYYY-MM-DD */
  dateOfBirth: string;
  gender: Gender;
  address: { line1: string; town: string; postcode: string };
  /** ONS code, e.g. { code: 'E08000035', name: 'Leeds' }. */
  localAuthority: { code: string; name: string };
  /** e.g. "lives-alone", "falls-risk", "dementia", "key-safe". */
  flags: string[];
}

export type ServiceType = 'home-care' | 'day-centre' | 'residential-care' | 'meals-on-wheels' | 'equipment';

export interface CarePackage {
  packageId: string;
  serviceType: ServiceType;
  /** e.g. "Home care: 4 visits daily" */
  description: string;
  visitsPerDay: number | null;
  /** YYYY-MM-DD */
  startDate: string;
  endDate: string | null;
  status: 'active' | 'ended';
  provider: { name: string; code: string };
  reviewedOn: string | null;
}

export type AssessmentType = 'care-act-needs' | 'carers' | 'review' | 'occupational-therapy';

export interface Assessment {
  assessmentId: string;
  assessmentType: AssessmentType;
  /** YYYY-MM-DD */
  completedOn: string;
  outcome: string;
  assessor: string;
}

export type Relationship = 'daughter' | 'son' | 'spouse' | 'neighbour' | 'friend' | 'sibling' | 'grandchild';

export interface Contact {
  contactId: string;
  forename: string;
  surname: string;
  relationship: Relationship;
  isCarer: boolean;
  phone: string;
  livesWithPerson: boolean;
}

export interface KeyWorker {
  name: string;
  team: string;
  phone: string;
}

export interface PeopleResponse {
  people: PersonSummary[];
}

export interface CaseResponse {
  person: PersonSummary;
  carePackages: CarePackage[];
  assessments: Assessment[];
  contacts: Contact[];
  keyWorker: KeyWorker | null;
}

export interface ErrorResponse {
  error: string;
}

/** What the sandbox holds per person: exactly the case response. */
export type SocialCareCase = CaseResponse;
