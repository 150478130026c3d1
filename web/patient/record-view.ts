/**
 * The patient's own record as "My record" shows it: results grouped by test (newest first) with range
 * flags and trends, care plans with activities and who provides them, medicines, allergies,
 * immunisations, appointments and visits, social care. Every item says where it came from in plain
 * words. Pure; no HTML (templates escape).
 */
import type { CarePlan, Identifier, Observation, Patient, Resource } from 'fhir/r4.js';
import { SOURCE_TAG_SYSTEM } from '../../adapters/merge.js';
import { NHS_NUMBER_SYSTEM } from '../../fhir/nhs-number.js';
import { trendsOf, type Trend } from '../staff/trend.js';
import { byDateDesc, conceptText, dateOf, statusOf, whatOf } from '../staff/view-model.js';
import { SOURCE_WORDS } from './choices.js';

/** "your GP practice and the hospital". */
export function fromWords(r: Resource): string {
  const codes = [...new Set((r.meta?.tag ?? []).filter((t) => t.system === SOURCE_TAG_SYSTEM && t.code).map((t) => t.code!))];
  const words = codes.map((c) => SOURCE_WORDS[c] ?? c);
  return words.length ? words.join(' and ') : 'a source that was not recorded';
}
const hasSource = (r: Resource, s: string) => !!r.meta?.tag?.some((t) => t.system === SOURCE_TAG_SYSTEM && t.code === s);

export interface ResultRow { when: string; value: string; range: string; outside: string; from: string }
export interface ResultGroup { name: string; unit: string; latest: string; rows: ResultRow[]; trend?: Trend }
export interface Item { what: string; when: string; status: string; detail: string; from: string }

function resultRow(o: Observation): ResultRow {
  const q = o.valueQuantity;
  const rr = o.referenceRange?.[0];
  const unit = q?.unit ?? rr?.low?.unit ?? rr?.high?.unit ?? '';
  const range = rr ? (rr.text ?? `${rr.low?.value ?? ''}${rr.low && rr.high ? ' to ' : rr.low ? ' or more' : ''}${rr.high ? `${rr.low ? '' : 'up to '}${rr.high.value}` : ''}${unit ? ` ${unit}` : ''}`) : '';
  let outside = '';
  const v = q?.value;
  if (typeof v === 'number' && rr && ((rr.low?.value !== undefined && v < rr.low.value) || (rr.high?.value !== undefined && v > rr.high.value))) {
    outside = rr.low?.value !== undefined && v < rr.low.value ? 'Below the range' : 'Above the range';
  } else {
    const code = o.interpretation?.[0]?.coding?.[0]?.code;
    if (code && ['H', 'HH', 'L', 'LL', 'A', 'AA'].includes(code)) outside = code.startsWith('L') ? 'Below the range' : code.startsWith('H') ? 'Above the range' : 'Outside the range';
  }
  const value = typeof v === 'number' ? `${v}${q?.unit ? ` ${q.unit}` : ''}` : (o.valueString ?? conceptText(o.valueCodeableConcept));
  return { when: dateOf(o), value, range, outside, from: fromWords(o) };
}

/** Results grouped by test, newest group first; a test with two or more numeric values gets a trend. */
export function resultGroups(resources: Resource[]): ResultGroup[] {
  const groups = new Map<string, Observation[]>();
  for (const r of resources) {
    if (r.resourceType !== 'Observation') continue;
    const o = r as Observation;
    if (o.valueQuantity === undefined && o.valueString === undefined && o.valueCodeableConcept === undefined) continue;
    const key = o.code?.coding?.[0]?.code ?? conceptText(o.code);
    if (!key) continue;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  return [...groups.values()]
    .map((list) => {
      const sorted = [...list].sort(byDateDesc);
      const trend = trendsOf(sorted, 1)[0];
      return { name: conceptText(sorted[0]!.code, 'Test'), unit: sorted[0]!.valueQuantity?.unit ?? '', latest: dateOf(sorted[0]!), rows: sorted.map(resultRow), ...(trend ? { trend } : {}) };
    })
    .sort((a, b) => (b.latest || '0').localeCompare(a.latest || '0'));
}

const item = (r: Resource, detail = ''): Item => ({ what: whatOf(r), when: dateOf(r), status: statusOf(r), detail, from: fromWords(r) });

/** Activities of a care plan and who provides them, in one line. */
function activitiesOf(c: CarePlan): string {
  const acts = (c.activity ?? []).map((a) => {
    const d = a.detail;
    const what = d ? conceptText(d.code, d.description ?? '') : (a.reference?.display ?? '');
    const who = d?.performer?.map((p) => p.display).filter(Boolean).join(', ');
    return what ? `${what}${who ? ` (by ${who})` : ''}` : '';
  }).filter(Boolean);
  const team = (c.careTeam ?? []).map((t) => t.display).filter(Boolean);
  const author = c.author?.display;
  const by = team.length ? `Provided by ${team.join(', ')}` : author ? `Provided by ${author}` : '';
  return [acts.length ? `Activities: ${acts.join('; ')}` : '', by].filter(Boolean).join('. ');
}

export interface PatientDetails { identifiers: { label: string; value: string }[]; from: string }

const identifierLabel = (i: Identifier) =>
  i.system === NHS_NUMBER_SYSTEM ? 'NHS number'
    : i.type?.coding?.some((c) => c.code === 'MR') ? 'Hospital record number'
      : (i.type?.text ?? i.type?.coding?.find((c) => c.display)?.display ?? 'Record number');

/** The identifiers on the Patient as it is shown (a denied source's numbers are not there) and where it came from. */
export function patientDetails(resources: Resource[]): PatientDetails | undefined {
  const p = resources.find((r): r is Patient => r.resourceType === 'Patient');
  if (!p) return undefined;
  return { identifiers: (p.identifier ?? []).filter((i) => i.value).map((i) => ({ label: identifierLabel(i), value: i.value! })), from: fromWords(p) };
}

const of = (rs: Resource[], ...types: string[]) => rs.filter((r) => types.includes(r.resourceType)).sort(byDateDesc);
const current = (r: Resource) => !['stopped', 'completed', 'entered-in-error', 'cancelled', 'inactive'].includes(statusOf(r));

/** How many appointments and visits My record lists (the most recent); the page says when there are more. */
export const ENCOUNTER_LIMIT = 50;

/** The sections of My record. */
export function myRecordView(resources: Resource[]) {
  const social = resources.filter((r) => hasSource(r, 'social-care'));
  const nonSocial = resources.filter((r) => !social.includes(r));
  const visits = of(nonSocial, 'Encounter', 'Appointment');
  return {
    details: patientDetails(resources),
    results: resultGroups(resources),
    problems: of(nonSocial, 'Condition').map((r) => item(r)),
    carePlans: of(nonSocial, 'CarePlan').map((r) => item(r, activitiesOf(r as CarePlan))),
    medicines: of(resources, 'MedicationRequest', 'MedicationStatement').filter(current).map((r) => item(r, ((r as { dosageInstruction?: { text?: string }[] }).dosageInstruction?.[0]?.text) ?? '')),
    allergies: of(resources, 'AllergyIntolerance').map((r) => item(r, ((r as { reaction?: { manifestation?: { text?: string; coding?: { display?: string }[] }[] }[] }).reaction ?? []).flatMap((x) => x.manifestation ?? []).map((m) => m.text ?? m.coding?.[0]?.display ?? '').filter(Boolean).join(', '))),
    immunisations: of(resources, 'Immunization').map((r) => item(r)),
    encounters: visits.slice(0, ENCOUNTER_LIMIT).map((r) => item(r)),
    /** All appointments and visits, of which `encounters` lists the most recent. */
    encountersTotal: visits.length,
    socialCare: {
      packages: of(social, 'CarePlan').map((r) => item(r, activitiesOf(r as CarePlan))),
      assessments: of(social, 'Procedure', 'Encounter', 'Observation', 'Condition').map((r) => item(r)),
      carers: of(social, 'RelatedPerson', 'CareTeam').map((r) => {
        const x = r as { name?: { text?: string; given?: string[]; family?: string }[]; relationship?: { text?: string; coding?: { display?: string }[] }[] };
        const name = x.name?.[0] ? (x.name[0].text ?? [...(x.name[0].given ?? []), x.name[0].family ?? ''].join(' ').trim()) : whatOf(r);
        return { ...item(r), what: name, detail: x.relationship?.map((c) => c.text ?? c.coding?.[0]?.display ?? '').filter(Boolean).join(', ') ?? '' };
      }),
    },
  };
}
