import type { Condition, Encounter, Immunization, MedicationRequest, Observation, Patient, Procedure, Resource } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM, ODS_SYSTEM } from '../../../fhir/nhs-number.js';
import { CODE_SYSTEMS } from '../../../indicators/spec.js';
import { fnv1a } from '../hash.js';
import type { SandboxData } from '../loader.js';
import type { SandboxSource } from '../start.js';
import { HOSPITAL_TRUST, UK_PLACES } from '../uk.js';
import type { ExtractRows, FactRow, PersonRow } from './store.js';

/**
 * Builds each sandbox source's analytic extract (schema.sql rows) from the data it serves:
 *  - GP and hospital: one person per Patient, one fact per Condition / Observation / MedicationRequest /
 *    Immunization / Procedure / Encounter (class + period; hospital encounters carry the trust code);
 *  - social care: one person per case, one care-package fact per package, one care-review fact per
 *    package review date and per assessment of type "review";
 *  - organisation returns, deterministic from a hash: hospital food-standards returns per trust and
 *    financial year (eight standards, met = 1 / not met = 0), and local-authority adult population
 *    estimates ('population:18+') per local authority and year.
 * MedicationRequest has no end date in the sandbox data: an active request is ongoing, any other status is
 * taken to have ended 30 days after it was authored (documented approximation).
 */

const day = (s: string | undefined): string | undefined => (s && /^\d{4}-\d{2}-\d{2}/.test(s) ? s.slice(0, 10) : undefined);
const addDays = (d: string, n: number): string => {
  const t = new Date(`${d}T00:00:00Z`);
  t.setUTCDate(t.getUTCDate() + n);
  return t.toISOString().slice(0, 10);
};
const firstCoding = (cc: { coding?: { system?: string; code?: string }[] } | undefined) => cc?.coding?.find((c) => c.system && c.code);

export const FOOD_STANDARDS = [
  'nutrition-screening', 'menu-choice', 'food-24h', 'allergen-information', 'hydration', 'healthier-options', 'sustainable-sourcing', 'staff-training',
] as const;
/** Financial years (ending 31 March) that returns are made for. */
const RETURN_YEARS = Array.from({ length: 21 }, (_, i) => 2010 + i);

function personOf(p: Patient, personId: number, orgCode: string | undefined): PersonRow | undefined {
  if ((p.gender !== 'male' && p.gender !== 'female') || !day(p.birthDate) || !orgCode) return undefined;
  return {
    personId,
    nhsNumber: p.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM)?.value ?? null,
    sex: p.gender,
    birthDate: day(p.birthDate)!,
    orgCode,
    deceasedDate: day(p.deceasedDateTime) ?? null,
  };
}

function factOf(r: Resource, personId: number, trust: string | undefined): FactRow | undefined {
  const base = { personId, orgCode: trust ?? null };
  switch (r.resourceType) {
    case 'Condition': {
      const c = r as Condition;
      const code = firstCoding(c.code);
      const start = day(c.onsetDateTime) ?? day(c.recordedDate);
      return code && start ? { ...base, kind: 'condition', system: code.system!, code: code.code!, startDate: start, endDate: day(c.abatementDateTime) ?? null } : undefined;
    }
    case 'Observation': {
      const o = r as Observation;
      const code = firstCoding(o.code);
      const start = day(o.effectiveDateTime) ?? day(o.effectivePeriod?.start) ?? day(o.issued);
      if (!code || !start) return undefined;
      return { ...base, kind: 'observation', system: code.system!, code: code.code!, startDate: start, value: o.valueQuantity?.value ?? null, valueCode: firstCoding(o.valueCodeableConcept)?.code ?? null };
    }
    case 'MedicationRequest': {
      const m = r as MedicationRequest;
      const code = firstCoding(m.medicationCodeableConcept);
      const start = day(m.authoredOn);
      if (!code || !start) return undefined;
      return { ...base, kind: 'medication', system: code.system!, code: code.code!, startDate: start, endDate: m.status === 'active' ? null : addDays(start, 30) };
    }
    case 'Immunization': {
      const i = r as Immunization;
      const code = firstCoding(i.vaccineCode);
      const start = day(i.occurrenceDateTime);
      return code && start ? { ...base, kind: 'immunization', system: code.system!, code: code.code!, startDate: start } : undefined;
    }
    case 'Procedure': {
      const p = r as Procedure;
      const code = firstCoding(p.code);
      const start = day(p.performedDateTime) ?? day(p.performedPeriod?.start);
      return code && start ? { ...base, kind: 'procedure', system: code.system!, code: code.code!, startDate: start } : undefined;
    }
    case 'Encounter': {
      const e = r as Encounter;
      const code = firstCoding(e.type?.[0]) ?? { system: CODE_SYSTEMS.snomed, code: 'unknown' };
      const start = day(e.period?.start);
      if (!start || !e.class?.code) return undefined;
      return { ...base, kind: 'encounter', system: code.system!, code: code.code!, startDate: start, endDate: day(e.period?.end) ?? null, class: e.class.code };
    }
    default:
      return undefined;
  }
}

const patientRefOf = (r: Resource): string | undefined => {
  const x = r as { subject?: { reference?: string }; patient?: { reference?: string } };
  const ref = x.subject?.reference ?? x.patient?.reference;
  return ref?.startsWith('Patient/') ? ref.slice('Patient/'.length) : undefined;
};

function fhirExtract(resources: Resource[], orgOf: (p: Patient) => string | undefined, trust: string | undefined, firstId: number): Omit<ExtractRows, 'orgReturns'> {
  const persons: PersonRow[] = [];
  const ids = new Map<string, number>();
  for (const r of resources) {
    if (r.resourceType !== 'Patient' || !r.id) continue;
    const person = personOf(r as Patient, firstId + persons.length, orgOf(r as Patient));
    if (!person) continue;
    persons.push(person);
    ids.set(r.id, person.personId);
  }
  const facts: FactRow[] = [];
  for (const r of resources) {
    const ref = patientRefOf(r);
    const personId = ref === undefined ? undefined : ids.get(ref);
    if (personId === undefined) continue;
    const fact = factOf(r, personId, trust);
    if (fact) facts.push(fact);
  }
  return { persons, facts };
}

function socialCareExtract(data: SandboxData): Omit<ExtractRows, 'orgReturns'> {
  const persons: PersonRow[] = [];
  const facts: FactRow[] = [];
  for (const c of data.socialCare) {
    const sex = c.person.gender === 'F' ? 'female' : c.person.gender === 'M' ? 'male' : undefined;
    if (!sex) continue;
    const personId = Number(c.person.personId.replace(/\D/g, ''));
    persons.push({ personId, nhsNumber: c.person.nhsNumber, sex, birthDate: c.person.dateOfBirth, orgCode: c.person.localAuthority.code, deceasedDate: null });
    for (const p of c.carePackages) {
      facts.push({ personId, kind: 'care-package', system: CODE_SYSTEMS.socialCareService, code: p.serviceType, startDate: p.startDate, endDate: p.endDate, orgCode: p.provider.code });
      if (p.reviewedOn) facts.push({ personId, kind: 'care-review', system: CODE_SYSTEMS.socialCareReview, code: 'package-review', startDate: p.reviewedOn });
    }
    for (const a of c.assessments) {
      if (a.assessmentType === 'review') facts.push({ personId, kind: 'care-review', system: CODE_SYSTEMS.socialCareReview, code: 'review-assessment', startDate: a.completedOn });
    }
  }
  return { persons, facts };
}

/** A deterministic number in [0, 1) from a key. */
const unit = (key: string): number => fnv1a(key) / 0x1_0000_0000;

/**
 * Food returns: each trust, each year, each standard (met with probability 0.7–0.95 per trust), and the
 * inpatient food survey (200–700 responses, 55–85 % positive per trust).
 */
export function foodReturns(trusts: readonly string[]): ExtractRows['orgReturns'] {
  return trusts.flatMap((trust) => {
    const p = 0.7 + 0.25 * unit(`food-quality:${trust}`);
    const positive = 0.55 + 0.3 * unit(`food-survey:${trust}`);
    return RETURN_YEARS.flatMap((y) => {
      const responses = 200 + Math.round(500 * unit(`food-survey:${trust}:${y}`));
      return [
        ...FOOD_STANDARDS.map((std) => ({ orgCode: trust, periodEnd: `${y}-03-31`, item: `food:${std}`, value: unit(`food:${trust}:${y}:${std}`) < p ? 1 : 0 })),
        { orgCode: trust, periodEnd: `${y}-03-31`, item: 'food-survey:responses', value: responses },
        { orgCode: trust, periodEnd: `${y}-03-31`, item: 'food-survey:positive', value: Math.round(responses * positive) },
      ];
    });
  });
}

/** Adult population estimates per local authority and year (mid-year, dated 30 June). */
export function populationReturns(localAuthorities: readonly string[]): ExtractRows['orgReturns'] {
  return localAuthorities.flatMap((la) => {
    const base = 150_000 + Math.round(unit(`population:${la}`) * 500_000);
    return RETURN_YEARS.map((y) => ({ orgCode: la, periodEnd: `${y}-06-30`, item: 'population:18+', value: base + (y - 2010) * 1_000 }));
  });
}

/**
 * `orgs` (a sandbox region's share): the trust whose code the hospital extract carries (default the
 * sandbox trust), and the local authorities whose population returns the social-care extract makes
 * (default every sandbox place's and every person's).
 */
export function buildExtracts(data: SandboxData, orgs: { trust?: string; localAuthorities?: readonly string[] } = {}): Record<SandboxSource, ExtractRows> {
  const trust = orgs.trust ?? HOSPITAL_TRUST.odsCode;
  const gp = fhirExtract(data.gp, (p) => p.generalPractitioner?.find((g) => g.identifier?.system === ODS_SYSTEM)?.identifier?.value, undefined, 1);
  const hospital = fhirExtract(data.hospital, () => trust, trust, 1);
  const socialCare = socialCareExtract(data);
  const las = orgs.localAuthorities ? [...orgs.localAuthorities].sort() : [...new Set([...UK_PLACES.map((p) => p.localAuthority.code), ...socialCare.persons.map((p) => p.orgCode)])].sort();
  return {
    gp: { ...gp, orgReturns: [] },
    hospital: { ...hospital, orgReturns: foodReturns([trust]) },
    socialCare: { ...socialCare, orgReturns: populationReturns(las) },
  };
}
