import type { CodeableConcept, Coding, Condition, Consent, Extension, Flag, Observation, Procedure, Resource } from 'fhir/r4.js';
import { conceptText, day } from '../fhir/narrative.js';

/**
 * Alerts for the patient summary (IPS Alerts section, LOINC 104605-1): things an ambulance crew must
 * know at the door. Each alert is a `Flag`: the source's own Flag when one says it (the council's
 * social-care flags), otherwise one derived here from coded problems and findings, pointing at its
 * evidence with the R4 `flag-detail` extension. The code list is in the README ("Patient summary").
 *
 * Codes are exact SNOMED CT matches (no subsumption); DNACPR and ReSPECT are also recognised by the
 * words in a code's text or display, because local systems often record them as free text.
 */
export type AlertKind = 'dnacpr' | 'respect' | 'safeguarding' | 'dementia' | 'lives-alone' | 'falls-risk' | 'key-safe';

export const ALERT_SYSTEM = 'https://integrated-record.example.nhs.uk/CodeSystem/summary-alert';
export const FLAG_DETAIL_URL = 'http://hl7.org/fhir/StructureDefinition/flag-detail';
const SNOMED = 'http://snomed.info/sct';
const FLAG_CATEGORY = 'http://terminology.hl7.org/CodeSystem/flag-category';

export interface AlertDefinition {
  kind: AlertKind;
  display: string;
  category: 'clinical' | 'safety' | 'contact' | 'advance-directive';
  /** SNOMED CT concept ids that evidence this alert. */
  snomed: readonly string[];
  /** Words in a code's text/display that evidence it (free-text recording). */
  words?: RegExp;
  /** The code a source Flag uses for it (social care: lives-alone, falls-risk, dementia, key-safe). */
  flagCodes: readonly string[];
  /** Also an advance directive (IPS section 42348-3). */
  advanceDirective?: boolean;
}

/** In the order the crew reads them: resuscitation first. */
export const ALERT_DEFINITIONS: readonly AlertDefinition[] = [
  {
    kind: 'dnacpr',
    display: 'Do not attempt CPR (DNACPR) decision recorded',
    category: 'advance-directive',
    // 304253006 Not for resuscitation (finding); 450476008 Not for attempted cardiopulmonary resuscitation (finding)
    snomed: ['304253006', '450476008'],
    words: /\b(DNACPR|DNAR|DNR)\b|do not attempt (cardiopulmonary )?resuscitation|not for (attempted )?(cardiopulmonary )?resuscitation/i,
    flagCodes: ['dnacpr'],
    advanceDirective: true,
  },
  {
    kind: 'respect',
    display: 'ReSPECT form (emergency care and treatment plan) recorded',
    category: 'advance-directive',
    snomed: [],
    // Case-sensitive: the form's own spelling, not the English word "respect".
    words: /\bReSPECT\b|Recommended Summary Plan for Emergency Care and Treatment/,
    flagCodes: ['respect'],
    advanceDirective: true,
  },
  {
    kind: 'safeguarding',
    display: 'Safeguarding concern recorded',
    category: 'safety',
    // Recognised by the classifier passed in (consent/sensitivity.ts safeguarding codes and SDV labels).
    snomed: [],
    flagCodes: ['safeguarding'],
  },
  {
    kind: 'dementia',
    display: 'Dementia',
    category: 'clinical',
    // 52448006 Dementia; 26929004 Alzheimer's disease; 230265002 Familial Alzheimer's disease of early onset; 429998004 Vascular dementia
    snomed: ['52448006', '26929004', '230265002', '429998004'],
    flagCodes: ['dementia'],
  },
  {
    kind: 'lives-alone',
    display: 'Lives alone',
    category: 'safety',
    // 105529008 Lives alone (finding)
    snomed: ['105529008'],
    flagCodes: ['lives-alone'],
  },
  {
    kind: 'falls-risk',
    display: 'Falls risk',
    category: 'safety',
    // 129839007 At risk for falls; 161898004 Falls (history); 217082002 Accidental fall; 1912002 Fall
    snomed: ['129839007', '161898004', '217082002', '1912002'],
    flagCodes: ['falls-risk'],
  },
  {
    kind: 'key-safe',
    display: 'Key safe at the property',
    category: 'contact',
    snomed: [],
    flagCodes: ['key-safe'],
  },
];

const BY_KIND = new Map(ALERT_DEFINITIONS.map((d) => [d.kind, d]));
const WORD_DEFINITIONS = ALERT_DEFINITIONS.filter((d) => d.words);
const BY_SNOMED = new Map(ALERT_DEFINITIONS.flatMap((d) => d.snomed.map((c) => [c, d] as const)));
const BY_FLAG_CODE = new Map(ALERT_DEFINITIONS.flatMap((d) => d.flagCodes.map((c) => [c, d] as const)));

/** The main code of the resource types that can evidence an alert. */
function mainCode(r: Resource): CodeableConcept | undefined {
  switch (r.resourceType) {
    case 'Condition':
    case 'Observation':
    case 'Procedure':
    case 'Flag':
      return (r as Condition | Observation | Procedure | Flag).code;
    default:
      return undefined;
  }
}

/** Whether the record still counts: not refuted, not entered in error, not resolved (problems). */
function current(r: Resource): boolean {
  if (r.resourceType === 'Condition') {
    const c = r as Condition;
    const verification = c.verificationStatus?.coding?.map((x) => x.code) ?? [];
    if (verification.includes('entered-in-error') || verification.includes('refuted')) return false;
    const clinical = c.clinicalStatus?.coding?.map((x) => x.code) ?? [];
    // Falls are events: a past fall is itself the evidence of risk, whatever its status.
    const isFall = (c.code?.coding ?? []).some((x) => x.system === SNOMED && BY_SNOMED.get(x.code ?? '')?.kind === 'falls-risk');
    return isFall || clinical.length === 0 || clinical.some((s) => s === 'active' || s === 'recurrence' || s === 'relapse');
  }
  if (r.resourceType === 'Observation') return !['entered-in-error', 'cancelled'].includes((r as Observation).status);
  if (r.resourceType === 'Procedure') return !['entered-in-error', 'not-done'].includes((r as Procedure).status);
  if (r.resourceType === 'Flag') return (r as Flag).status === 'active';
  if (r.resourceType === 'Consent') return (r as Consent).status === 'active';
  return false;
}

/** Which alerts a resource evidences (several are possible; none for most). */
export function alertKindsOf(r: Resource, isSafeguarding?: (r: Resource) => boolean): readonly AlertKind[] {
  // Most resources evidence nothing: they are answered without allocating (this runs on every
  // Observation a source sends for a summary). The list is made only once a first kind is found.
  let kinds: AlertKind[] | undefined;
  const code = mainCode(r);
  for (const c of code?.coding ?? NO_CODINGS) {
    if (!c || typeof c.code !== 'string') continue;
    if (c.system === SNOMED && BY_SNOMED.has(c.code)) kinds = withKind(kinds, BY_SNOMED.get(c.code)!.kind);
    if (r.resourceType === 'Flag' && BY_FLAG_CODE.has(c.code)) kinds = withKind(kinds, BY_FLAG_CODE.get(c.code)!.kind);
  }
  // The words of the code's text and displays, each on its own (no phrase spans two of them).
  if (code) {
    for (const d of WORD_DEFINITIONS) {
      if (kinds?.includes(d.kind)) continue;
      if ((typeof code.text === 'string' && d.words!.test(code.text)) || code.coding?.some((c) => typeof c?.display === 'string' && d.words!.test(c.display))) kinds = withKind(kinds, d.kind);
    }
  }
  if (isSafeguarding && code && isSafeguarding(r)) kinds = withKind(kinds, 'safeguarding');
  return kinds ?? NO_KINDS;
}

function withKind(kinds: AlertKind[] | undefined, kind: AlertKind): AlertKind[] {
  if (!kinds) return [kind];
  if (!kinds.includes(kind)) kinds.push(kind);
  return kinds;
}
const NO_CODINGS: readonly Coding[] = Object.freeze([]);
const NO_KINDS: readonly AlertKind[] = Object.freeze([]);

/** An advance directive: a Consent with scope `adr`, or a record of a DNACPR / ReSPECT decision. */
export function isAdvanceDirective(r: Resource): boolean {
  if (r.resourceType === 'Consent') {
    const c = r as Consent;
    return c.status === 'active' && !!c.scope?.coding?.some((x) => x.code === 'adr');
  }
  return r.resourceType !== 'Flag' && current(r) && alertKindsOf(r).some((k) => BY_KIND.get(k)!.advanceDirective);
}

export interface Alert {
  kind: AlertKind | 'other';
  /** The Flag shown: the source's own, or one derived here. */
  flag: Flag;
  derived: boolean;
  /** Records that evidence it (the derived Flag's flag-detail targets). */
  evidence: Resource[];
}

const dateOf = (r: Resource): string | undefined => {
  const x = r as Partial<Pick<Condition, 'onsetDateTime' | 'recordedDate'> & Pick<Observation, 'effectiveDateTime' | 'effectivePeriod' | 'issued'> & Pick<Procedure, 'performedDateTime' | 'performedPeriod'>>;
  return day(x.onsetDateTime ?? x.recordedDate ?? x.effectiveDateTime ?? x.effectivePeriod?.start ?? x.performedDateTime ?? x.performedPeriod?.start ?? x.issued);
};

/**
 * Alerts from the visible record (consent already applied): every active source Flag, plus one derived
 * Flag per alert kind that evidence supports and no source Flag already states.
 */
export function deriveAlerts(resources: Resource[], patientReference: string, opts: { isSafeguarding?: (r: Resource) => boolean; sourceTagSystem: string }): Alert[] {
  const flagged = new Map<AlertKind, Flag[]>();
  const other: Flag[] = [];
  const evidence = new Map<AlertKind, Resource[]>();
  for (const r of resources) {
    if (!current(r)) continue;
    const kinds = alertKindsOf(r, opts.isSafeguarding);
    if (r.resourceType === 'Flag') {
      if (kinds.length === 0) other.push(r as Flag);
      for (const k of kinds) pushTo(flagged, k, r as Flag);
      continue;
    }
    for (const k of kinds) pushTo(evidence, k, r);
  }
  const alerts: Alert[] = [];
  for (const d of ALERT_DEFINITIONS) {
    const own = flagged.get(d.kind) ?? [];
    const ev = evidence.get(d.kind) ?? [];
    if (own.length > 0) {
      for (const f of own) alerts.push({ kind: d.kind, flag: f, derived: false, evidence: ev });
    } else if (ev.length > 0) {
      alerts.push({ kind: d.kind, flag: derivedFlag(d, ev, patientReference, opts.sourceTagSystem), derived: true, evidence: ev });
    }
  }
  for (const f of other) alerts.push({ kind: 'other', flag: f, derived: false, evidence: [] });
  return alerts;
}

function derivedFlag(d: AlertDefinition, evidence: Resource[], patientReference: string, tagSystem: string): Flag {
  const starts = evidence.map(dateOf).filter((x): x is string => !!x).sort();
  const tags = new Map<string, { system: string; code: string; display?: string }>();
  for (const e of evidence) for (const t of e.meta?.tag ?? []) if (t?.system === tagSystem && t.code) tags.set(t.code, { system: tagSystem, code: t.code, ...(t.display ? { display: t.display } : {}) });
  const detail: Extension[] = evidence.filter((e) => e.id).map((e) => ({ url: FLAG_DETAIL_URL, valueReference: { reference: `${e.resourceType}/${e.id}`, display: conceptText(mainCode(e), e.resourceType) } }));
  const source = evidence.find((e) => e.meta?.source)?.meta?.source;
  const meta = { ...(source ? { source } : {}), ...(tags.size ? { tag: [...tags.values()] } : {}) };
  return {
    resourceType: 'Flag',
    id: `alert-${d.kind}`,
    ...(Object.keys(meta).length ? { meta } : {}),
    ...(detail.length ? { extension: detail } : {}),
    status: 'active',
    category: [{ coding: [{ system: FLAG_CATEGORY, code: d.category === 'advance-directive' ? 'clinical' : d.category }] }],
    code: { coding: [{ system: ALERT_SYSTEM, code: d.kind, display: d.display }], text: d.display },
    subject: { reference: patientReference },
    ...(starts[0] ? { period: { start: starts[0] } } : {}),
  };
}

/** Appends to the list under a key (creating it). */
export function pushTo<K, V>(map: Map<K, V[]>, key: K, value: V): void {
  const list = map.get(key);
  if (list) list.push(value);
  else map.set(key, [value]);
}

export const alertDefinition = (kind: AlertKind) => BY_KIND.get(kind)!;
export { dateOf as evidenceDate, mainCode };
