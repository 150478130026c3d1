import type { CapabilityStatementRestResource } from 'fhir/r4.js';
/**
 * The one table of what type-level search supports: per resource type, its search parameters (R4 names,
 * http://hl7.org/fhir/R4/searchparameter-registry.html), the `_include`s clinicians follow and the
 * result parameters. The parser (fhir/type-search.ts), the facade-side matcher (fhir/type-filter.ts),
 * the sandbox's search and the CapabilityStatement (fhir/capability.ts) are all derived from it, so what
 * the statement lists is exactly what is accepted.
 */

export type ParamType = 'token' | 'date';

export interface SearchParamDef {
  name: string;
  type: ParamType;
  /** Element paths searched (dotted from the resource root; arrays flattened; choice types spelled out). */
  paths: readonly string[];
  documentation: string;
}

export interface IncludeDef {
  /** The reference search parameter, e.g. `medication` in `MedicationRequest:medication`. */
  name: string;
  paths: readonly string[];
  /** Resource types the reference may point to that are included. */
  targets: readonly string[];
}

export interface TypeSearchDef {
  type: string;
  params: readonly SearchParamDef[];
  includes: readonly IncludeDef[];
  /** The date parameter `_sort=date` means for this type (types without a `date` parameter). */
  principalDate: string;
}

const token = (name: string, paths: string[], documentation: string): SearchParamDef => ({ name, type: 'token', paths, documentation });
const date = (name: string, paths: string[], documentation: string): SearchParamDef => ({ name, type: 'date', paths, documentation });
const include = (name: string, paths: string[], targets: string[]): IncludeDef => ({ name, paths, targets });

const TOKEN_DOC = 'Token: [system]|[code], |[code] (no system), [system]| or [code]; comma = OR, repeated = AND.';
const DATE_DOC = 'Date or dateTime with optional prefix eq, gt, lt, ge, le (default eq); repeat for a range (date=ge2020-01-01&date=lt2021-01-01).';
const code = (paths: string[], what: string) => token('code', paths, `${what}. ${TOKEN_DOC}`);
const status = (path = 'status') => token('status', [path], `Status code. ${TOKEN_DOC}`);
const category = (what = 'Category') => token('category', ['category'], `${what}. ${TOKEN_DOC}`);
const encounter = include('encounter', ['encounter'], ['Encounter']);

export const SEARCH_TYPES: readonly TypeSearchDef[] = [
  {
    type: 'AllergyIntolerance',
    params: [
      token('clinical-status', ['clinicalStatus'], `active | inactive | resolved. ${TOKEN_DOC}`),
      token('verification-status', ['verificationStatus'], `unconfirmed | confirmed | refuted | entered-in-error. ${TOKEN_DOC}`),
      code(['code', 'reaction.substance'], 'Substance (code or reaction substance)'),
      category('food | medication | environment | biologic'),
      token('criticality', ['criticality'], `low | high | unable-to-assess. ${TOKEN_DOC}`),
      date('date', ['recordedDate'], `Date recorded. ${DATE_DOC}`),
    ],
    includes: [],
    principalDate: 'date',
  },
  {
    type: 'Condition',
    params: [
      token('clinical-status', ['clinicalStatus'], `active | recurrence | relapse | inactive | remission | resolved. ${TOKEN_DOC}`),
      token('verification-status', ['verificationStatus'], `Verification status. ${TOKEN_DOC}`),
      code(['code'], 'Condition code (SNOMED CT)'),
      category('problem-list-item | encounter-diagnosis'),
      date('onset-date', ['onsetDateTime', 'onsetPeriod'], `Onset. ${DATE_DOC}`),
      date('recorded-date', ['recordedDate'], `Date recorded. ${DATE_DOC}`),
    ],
    includes: [encounter],
    principalDate: 'onset-date',
  },
  {
    type: 'MedicationRequest',
    params: [
      status(),
      token('intent', ['intent'], `Intent (order, plan, …). ${TOKEN_DOC}`),
      code(['medicationCodeableConcept'], 'Medication code (medication as a CodeableConcept)'),
      category(),
      date('authoredon', ['authoredOn'], `Date written. ${DATE_DOC}`),
    ],
    includes: [include('medication', ['medicationReference'], ['Medication']), include('requester', ['requester'], ['Practitioner', 'Organization']), encounter],
    principalDate: 'authoredon',
  },
  {
    type: 'MedicationStatement',
    params: [
      status(),
      code(['medicationCodeableConcept'], 'Medication code (medication as a CodeableConcept)'),
      category(),
      date('effective', ['effectiveDateTime', 'effectivePeriod'], `When taken. ${DATE_DOC}`),
    ],
    includes: [include('medication', ['medicationReference'], ['Medication'])],
    principalDate: 'effective',
  },
  {
    type: 'Immunization',
    params: [
      status(),
      token('vaccine-code', ['vaccineCode'], `Vaccine code. ${TOKEN_DOC}`),
      date('date', ['occurrenceDateTime'], `Date given. ${DATE_DOC}`),
    ],
    includes: [include('performer', ['performer.actor'], ['Practitioner', 'Organization'])],
    principalDate: 'date',
  },
  {
    type: 'Observation',
    params: [
      status(),
      code(['code'], 'Observation code (LOINC, SNOMED CT)'),
      category('laboratory | vital-signs | social-history | survey | …'),
      date('date', ['effectiveDateTime', 'effectivePeriod', 'effectiveInstant'], `Clinically relevant time. ${DATE_DOC}`),
    ],
    includes: [include('performer', ['performer'], ['Practitioner', 'Organization']), encounter],
    principalDate: 'date',
  },
  {
    type: 'Encounter',
    params: [
      status(),
      token('class', ['class'], `Encounter class (AMB, EMER, IMP, …). ${TOKEN_DOC}`),
      token('type', ['type'], `Encounter type. ${TOKEN_DOC}`),
      date('date', ['period'], `Within the encounter period. ${DATE_DOC}`),
    ],
    includes: [
      include('practitioner', ['participant.individual'], ['Practitioner']),
      include('participant', ['participant.individual'], ['Practitioner', 'PractitionerRole', 'RelatedPerson']),
      include('service-provider', ['serviceProvider'], ['Organization']),
      include('location', ['location.location'], ['Location']),
    ],
    principalDate: 'date',
  },
  {
    type: 'Procedure',
    params: [
      status(),
      code(['code'], 'Procedure code (SNOMED CT)'),
      category(),
      date('date', ['performedDateTime', 'performedPeriod'], `When performed. ${DATE_DOC}`),
    ],
    includes: [include('performer', ['performer.actor'], ['Practitioner', 'Organization']), encounter],
    principalDate: 'date',
  },
  {
    type: 'DiagnosticReport',
    params: [
      status(),
      code(['code'], 'Report code (LOINC)'),
      category(),
      date('date', ['effectiveDateTime', 'effectivePeriod'], `Clinically relevant time. ${DATE_DOC}`),
    ],
    includes: [include('result', ['result'], ['Observation']), include('performer', ['performer'], ['Practitioner', 'Organization']), encounter],
    principalDate: 'date',
  },
  {
    type: 'CarePlan',
    params: [status(), token('intent', ['intent'], `Intent. ${TOKEN_DOC}`), category(), date('date', ['period'], `Within the plan period. ${DATE_DOC}`)],
    includes: [include('care-team', ['careTeam'], ['CareTeam']), encounter],
    principalDate: 'date',
  },
  {
    type: 'CareTeam',
    params: [status(), category(), date('date', ['period'], `Within the team period. ${DATE_DOC}`)],
    includes: [include('participant', ['participant.member'], ['Practitioner', 'RelatedPerson', 'Organization', 'CareTeam'])],
    principalDate: 'date',
  },
  {
    type: 'Flag',
    params: [date('date', ['period'], `Within the flag period. ${DATE_DOC}`)],
    includes: [include('author', ['author'], ['Practitioner', 'Organization'])],
    principalDate: 'date',
  },
  {
    type: 'DocumentReference',
    params: [status(), token('type', ['type'], `Document type. ${TOKEN_DOC}`), category(), date('date', ['date'], `When the reference was created. ${DATE_DOC}`)],
    includes: [include('author', ['author'], ['Practitioner', 'Organization'])],
    principalDate: 'date',
  },
];

export const SEARCH_TYPE_NAMES: readonly string[] = SEARCH_TYPES.map((d) => d.type);
const BY_TYPE = new Map(SEARCH_TYPES.map((d) => [d.type, d]));

export function searchDef(type: string): TypeSearchDef | undefined {
  return BY_TYPE.get(type);
}

export const DEFAULT_COUNT = 50;
export const MAX_COUNT = 1000;

/** Result parameters every search type accepts (besides the required `patient`). */
export const RESULT_PARAMS: readonly { name: string; type: 'number' | 'string' | 'token' | 'reference' | 'special'; documentation: string }[] = [
  { name: 'patient', type: 'reference', documentation: 'Required: Patient/<integrated id> (or the id). NHS numbers are not accepted here: find the patient first.' },
  { name: '_count', type: 'number', documentation: `Page size, 1–${MAX_COUNT} (default ${DEFAULT_COUNT}).` },
  { name: '_offset', type: 'number', documentation: 'Position of the first entry (taken from next/previous links).' },
  { name: '_sort', type: 'string', documentation: "The type's date parameter(s), '-' for descending; 'date' means the type's principal date. Ties and the default order: by id." },
  { name: '_summary', type: 'token', documentation: 'true | text | data | false | count (count only when no consent restriction applies). Subsetted resources are tagged SUBSETTED.' },
  { name: '_elements', type: 'string', documentation: 'Comma-separated top-level elements to return (mandatory elements always kept); tagged SUBSETTED.' },
  { name: '_total', type: 'token', documentation: 'none | estimate | accurate (estimate/accurate refused when a consent restriction applies).' },
];

/** The CapabilityStatement entries for type-level search, derived from the table above (and nothing else). */
export function searchCapabilityResources(): CapabilityStatementRestResource[] {
  return SEARCH_TYPES.map((d) => ({
    type: d.type as CapabilityStatementRestResource['type'],
    interaction: [{ code: 'search-type', documentation: 'GET [base]/' + d.type + '?patient=… or POST [base]/' + d.type + '/_search. Prefer: handling=strict rejects unknown parameters; lenient (default) ignores and reports them.' }],
    searchInclude: d.includes.map((i) => `${d.type}:${i.name}`),
    searchParam: [
      ...RESULT_PARAMS.map((p) => ({ name: p.name, type: p.type, documentation: p.documentation })),
      ...d.params.map((p) => ({ name: p.name, type: p.type, documentation: p.documentation })),
    ],
  }));
}
