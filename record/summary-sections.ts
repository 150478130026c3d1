import type {
  AllergyIntolerance,
  CarePlan,
  CareTeam,
  Condition,
  Immunization,
  Medication,
  MedicationRequest,
  MedicationStatement,
  Observation,
  Procedure,
  RelatedPerson,
  Resource,
} from 'fhir/r4.js';
import { conceptText, day, esc, join, quantityText, sourcesText } from '../fhir/narrative.js';
import { alertDefinition, deriveAlerts, evidenceDate, isAdvanceDirective, mainCode, pushTo } from './summary-flags.js';

/**
 * What goes into each section of the patient summary, and its narrative. IPS section codes
 * (https://hl7.org/fhir/uv/ips/, checked against the IPS examples in ../shared/data/hl7-ips-examples)
 * plus the C-CDA care-team code for carers and key contacts. Selection rules are in the README.
 */
export interface SectionDef {
  key: string;
  title: string;
  code: string;
  display: string;
  /** IPS requires the section: present even when empty (with emptyReason). */
  required?: boolean;
}

export const LOINC = 'http://loinc.org';
export const SECTIONS = {
  alerts: { key: 'alerts', title: 'Alerts', code: '104605-1', display: 'Alert' },
  problems: { key: 'problems', title: 'Active problems', code: '11450-4', display: 'Problem list - Reported', required: true },
  allergies: { key: 'allergies', title: 'Allergies and intolerances', code: '48765-2', display: 'Allergies and adverse reactions Document', required: true },
  medications: { key: 'medications', title: 'Medication summary', code: '10160-0', display: 'History of Medication use Narrative', required: true },
  advanceDirectives: { key: 'advanceDirectives', title: 'Advance directives', code: '42348-3', display: 'Advance directives' },
  careTeam: { key: 'careTeam', title: 'Key contacts, carers and care team', code: '85847-2', display: 'Patient Care team information' },
  planOfCare: { key: 'planOfCare', title: 'Plan of care and care package', code: '18776-5', display: 'Plan of care note' },
  immunizations: { key: 'immunizations', title: 'Immunizations', code: '11369-6', display: 'History of Immunization Narrative' },
  results: { key: 'results', title: 'Results', code: '30954-2', display: 'Relevant diagnostic tests/laboratory data Narrative' },
  procedures: { key: 'procedures', title: 'Procedures', code: '47519-4', display: 'History of Procedures Document' },
} as const satisfies Record<string, SectionDef>;

/** Results: at most this many, and only those within RESULTS_MONTHS of the latest result. */
export const RESULTS_MAX = 10;
export const RESULTS_MONTHS = 6;
/** Procedures: the most recent ones only (older ones are counted in the narrative). */
export const PROCEDURES_MAX = 5;

export interface SectionContent {
  def: SectionDef;
  /** Resources the section references, in narrative order. */
  entries: Resource[];
  /** Escaped XHTML list items, one per entry (or per group). */
  items: string[];
  /** Escaped XHTML paragraphs after the list (caps, omissions). */
  notes: string[];
}

export interface SectionContext {
  byType: Map<string, Resource[]>;
  byRef: Map<string, Resource>;
  patientReference: string;
  sourceTagSystem: string;
  sourceNames: Readonly<Record<string, string>>;
  isSafeguarding?: (r: Resource) => boolean;
}

const of = <T extends Resource>(ctx: SectionContext, type: string) => (ctx.byType.get(type) ?? []) as T[];
const codesOf = (cc: { coding?: { code?: string }[] } | undefined) => (cc?.coding ?? []).map((c) => c?.code).filter((c): c is string => typeof c === 'string');
const src = (ctx: SectionContext, r: Resource) => sourcesText(r, ctx.sourceTagSystem, ctx.sourceNames);
/** Newest first; undated last; ties by id so the order is stable. Each date is worked out once per sort. */
const byDateDesc = <T extends Resource>(date: (r: T) => string | undefined) => {
  const dates = new Map<T, string>();
  const dateOf = (r: T) => {
    let d = dates.get(r);
    if (d === undefined) dates.set(r, (d = date(r) ?? ''));
    return d;
  };
  return (a: T, b: T) => {
    const da = dateOf(a);
    const db = dateOf(b);
    return da < db ? 1 : da > db ? -1 : (a.id ?? '') < (b.id ?? '') ? -1 : 1;
  };
};
const since = (d: string | undefined) => (d ? `since ${esc(d)}` : undefined);

function isSocialCareAssessment(r: Procedure): boolean {
  return /social care assessment/i.test(r.category?.text ?? '') || (r.code?.coding ?? []).some((c) => /\/CodeSystem\/assessment-type$/.test(c?.system ?? ''));
}

export function problems(ctx: SectionContext): SectionContent {
  const list = of<Condition>(ctx, 'Condition')
    .filter((c) => {
      const v = codesOf(c.verificationStatus);
      if (v.includes('entered-in-error') || v.includes('refuted')) return false;
      const s = codesOf(c.clinicalStatus);
      return s.length === 0 ? !c.abatementDateTime && !c.abatementPeriod && !c.abatementString : s.some((x) => x === 'active' || x === 'recurrence' || x === 'relapse');
    })
    .sort(byDateDesc((c) => day(c.onsetDateTime ?? c.onsetPeriod?.start ?? c.recordedDate)));
  return {
    def: SECTIONS.problems,
    entries: list,
    items: list.map((c) => join([`<b>${esc(conceptText(c.code, 'Unnamed problem'))}</b>`, since(day(c.onsetDateTime ?? c.onsetPeriod?.start ?? c.recordedDate)), c.severity ? esc(conceptText(c.severity, '')) : undefined, src(ctx, c)])),
    notes: [],
  };
}

export function allergies(ctx: SectionContext): SectionContent {
  const list = of<AllergyIntolerance>(ctx, 'AllergyIntolerance').filter((a) => {
    const v = codesOf(a.verificationStatus);
    const s = codesOf(a.clinicalStatus);
    return !v.includes('entered-in-error') && !v.includes('refuted') && !s.includes('inactive') && !s.includes('resolved');
  });
  const item = (a: AllergyIntolerance) => {
    const reactions = (a.reaction ?? [])
      .map((r) => join([(r.manifestation ?? []).map((m) => esc(conceptText(m, ''))).filter(Boolean).join(', '), r.severity ? `${esc(r.severity)}` : undefined], ' '))
      .filter(Boolean);
    return join([
      `<b>${esc(conceptText(a.code, 'Unnamed allergy or intolerance'))}</b>`,
      a.category?.length ? esc(a.category.join(', ')) : undefined,
      a.criticality ? `criticality ${esc(a.criticality)}` : undefined,
      reactions.length ? `reaction: ${reactions.join('; ')}` : undefined,
      since(day(a.onsetDateTime ?? a.recordedDate)),
      src(ctx, a),
    ]);
  };
  return { def: SECTIONS.allergies, entries: list, items: list.map(item), notes: [] };
}

export function medications(ctx: SectionContext): SectionContent {
  const requests = of<MedicationRequest>(ctx, 'MedicationRequest').filter((m) => m.status === 'active' || m.status === 'on-hold');
  const statements = of<MedicationStatement>(ctx, 'MedicationStatement').filter((m) => m.status === 'active' || m.status === 'intended');
  const name = (m: MedicationRequest | MedicationStatement) => {
    if (m.medicationCodeableConcept) return conceptText(m.medicationCodeableConcept, 'Unnamed medication');
    const med = m.medicationReference?.reference ? (ctx.byRef.get(m.medicationReference.reference) as Medication | undefined) : undefined;
    return med ? conceptText(med.code, m.medicationReference?.display ?? 'Unnamed medication') : (m.medicationReference?.display ?? 'Unnamed medication');
  };
  const dose = (d: MedicationRequest['dosageInstruction']) => {
    const first = d?.[0];
    if (!first) return undefined;
    if (first.text) return esc(first.text);
    const q = quantityText(first.doseAndRate?.[0]?.doseQuantity);
    const rep = first.timing?.repeat;
    const freq = rep?.frequency && rep.period ? `${rep.frequency} per ${rep.period} ${rep.periodUnit ?? ''}`.trim() : undefined;
    return join([q ? esc(q) : undefined, freq ? esc(freq) : undefined, first.asNeededBoolean ? 'as needed' : undefined], ', ') || undefined;
  };
  const list: (MedicationRequest | MedicationStatement)[] = [
    ...requests.sort(byDateDesc((m) => day(m.authoredOn))),
    ...statements.sort(byDateDesc((m) => day(m.effectiveDateTime ?? m.effectivePeriod?.start ?? m.dateAsserted))),
  ];
  const items = list.map((m) =>
    m.resourceType === 'MedicationRequest'
      ? join([`<b>${esc(name(m))}</b>`, dose(m.dosageInstruction), m.status === 'on-hold' ? 'on hold' : undefined, since(day(m.authoredOn)), src(ctx, m)])
      : join([`<b>${esc(name(m))}</b>`, dose(m.dosage), since(day(m.effectiveDateTime ?? m.effectivePeriod?.start)), src(ctx, m)]),
  );
  return { def: SECTIONS.medications, entries: list, items, notes: [] };
}

export function alerts(ctx: SectionContext, resources: Resource[]): SectionContent {
  const found = deriveAlerts(resources, ctx.patientReference, { isSafeguarding: ctx.isSafeguarding, sourceTagSystem: ctx.sourceTagSystem });
  const items = found.map((a) => {
    const label = a.kind === 'other' ? conceptText(a.flag.code, 'Unnamed alert') : alertDefinition(a.kind).display;
    const ev = a.evidence
      .slice(0, 3)
      .map((e) => join([esc(conceptText(mainCode(e), e.resourceType)), evidenceDate(e) ? esc(evidenceDate(e)!) : undefined, src(ctx, e)], ' '));
    const flagText = a.derived ? undefined : join([a.kind === 'other' ? undefined : esc(conceptText(a.flag.code, '')), src(ctx, a.flag)], ' ');
    return join([`<b>${esc(label)}</b>`, flagText, ev.length ? `recorded: ${ev.join('; ')}` : undefined], ' — ');
  });
  // Evidence travels with a derived Flag (its flag-detail targets must resolve inside the document).
  const entries: Resource[] = found.map((a) => a.flag);
  return { def: SECTIONS.alerts, entries, items, notes: [] };
}

export function advanceDirectives(ctx: SectionContext, resources: Resource[]): SectionContent {
  const list = resources.filter(isAdvanceDirective).sort(byDateDesc((r) => evidenceDate(r) ?? day((r as { dateTime?: string }).dateTime)));
  const items = list.map((r) =>
    join([`<b>${esc(r.resourceType === 'Consent' ? 'Advance decision or directive' : conceptText(mainCode(r), 'Advance directive'))}</b>`, evidenceDate(r) ? `recorded ${esc(evidenceDate(r)!)}` : undefined, src(ctx, r)]),
  );
  return { def: SECTIONS.advanceDirectives, entries: list, items, notes: [] };
}

export function careTeam(ctx: SectionContext): SectionContent {
  const people = of<RelatedPerson>(ctx, 'RelatedPerson').filter((r) => r.active !== false);
  const teams = of<CareTeam>(ctx, 'CareTeam').filter((t) => t.status === undefined || t.status === 'active');
  const personItem = (r: RelatedPerson) => {
    const n = r.name?.[0];
    const nm = n?.text ?? [...(n?.given ?? []), n?.family].filter(Boolean).join(' ');
    const roles = (r.relationship ?? []).map((x) => conceptText(x, '')).filter(Boolean);
    const isCarer = (r.relationship ?? []).some((x) => codesOf(x).includes('carer'));
    const phone = (r.telecom ?? []).find((t) => t.system === 'phone' && t.value)?.value;
    return join([`<b>${esc(nm || 'Unnamed contact')}</b>`, roles.length ? esc(roles.join(', ')) : undefined, isCarer ? '<b>carer</b>' : undefined, phone ? `tel ${esc(phone)}` : undefined, src(ctx, r)]);
  };
  // One line per participant, however many CareTeams list them (Synthea has one CareTeam per CarePlan):
  // their roles and teams merged. The patient is never their own contact.
  const members = new Map<string, { roles: Set<string>; name: string; teams: Set<string>; sources: CareTeam[] }>();
  for (const t of teams) {
    for (const pt of t.participant ?? []) {
      const ref = pt.member?.reference ?? '';
      // Members who are RelatedPersons are listed above with their details.
      if (ref.startsWith('RelatedPerson/') || ref === ctx.patientReference || ref.startsWith('Patient/')) continue;
      const key = ref || `display:${pt.member?.display ?? ''}`;
      const m = members.get(key) ?? { roles: new Set<string>(), name: pt.member?.display ?? '', teams: new Set<string>(), sources: [] };
      const role = conceptText(pt.role?.[0], '');
      if (role) m.roles.add(role);
      if (t.name) m.teams.add(t.name);
      m.sources.push(t);
      members.set(key, m);
    }
  }
  const teamItems = [...members.values()].map((m) => {
    const sources = [...new Set(m.sources.map((t) => src(ctx, t)).filter(Boolean))].join(' ');
    const teamNames = [...m.teams].slice(0, 3).join('; ') + (m.teams.size > 3 ? ` and ${m.teams.size - 3} more` : '');
    return join([`<b>${esc([...m.roles].join(', ') || 'Care team member')}</b>`, esc(m.name), teamNames ? esc(teamNames) : undefined, sources || undefined]);
  });
  // Carers first: the crew's first call.
  const sorted = [...people].sort((a, b) => Number((b.relationship ?? []).some((x) => codesOf(x).includes('carer'))) - Number((a.relationship ?? []).some((x) => codesOf(x).includes('carer'))));
  return { def: SECTIONS.careTeam, entries: [...sorted, ...teams], items: [...sorted.map(personItem), ...teamItems], notes: [] };
}

export function planOfCare(ctx: SectionContext): SectionContent {
  const plans = of<CarePlan>(ctx, 'CarePlan')
    .filter((c) => c.status === 'active' || c.status === 'on-hold')
    .sort(byDateDesc((c) => day(c.period?.start ?? c.created)));
  const planItem = (c: CarePlan) => {
    const activities = (c.activity ?? [])
      .map((a) => a.detail?.description ?? (a.detail?.code ? conceptText(a.detail.code, '') : ''))
      .filter((x) => x && x !== c.description)
      .slice(0, 4);
    return join([
      `<b>${esc(c.title ?? conceptText(c.category?.[0], 'Care plan'))}</b>`,
      c.description ? esc(c.description) : undefined,
      activities.length ? esc(activities.join('; ')) : undefined,
      c.author?.display ? esc(c.author.display) : undefined,
      since(day(c.period?.start ?? c.created)),
      src(ctx, c),
    ]);
  };
  // The latest social-care assessment of each type (the council's view of needs).
  const latest = new Map<string, Procedure>();
  for (const a of of<Procedure>(ctx, 'Procedure').filter(isSocialCareAssessment).sort(byDateDesc((x) => day(x.performedDateTime ?? x.performedPeriod?.start)))) {
    const k = codesOf(a.code)[0] ?? conceptText(a.code, '');
    if (!latest.has(k)) latest.set(k, a);
  }
  const assessments = [...latest.values()];
  const assessmentItem = (a: Procedure) =>
    join([`<b>${esc(conceptText(a.code, 'Assessment'))}</b>`, day(a.performedDateTime ?? a.performedPeriod?.start) ? esc(day(a.performedDateTime ?? a.performedPeriod?.start)!) : undefined, a.outcome ? esc(conceptText(a.outcome, '')) : undefined, src(ctx, a)]);
  return { def: SECTIONS.planOfCare, entries: [...plans, ...assessments], items: [...plans.map(planItem), ...assessments.map(assessmentItem)], notes: [] };
}

export function immunizations(ctx: SectionContext): SectionContent {
  const given = of<Immunization>(ctx, 'Immunization').filter((i) => i.status !== 'entered-in-error' && i.status !== 'not-done');
  // The latest dose of each vaccine, with the number of doses recorded.
  const groups = new Map<string, Immunization[]>();
  for (const i of given.sort(byDateDesc((x) => day(x.occurrenceDateTime ?? x.recorded)))) {
    const k = (i.vaccineCode?.coding ?? []).map((c) => `${c?.system}|${c?.code}`)[0] ?? conceptText(i.vaccineCode, i.id ?? '');
    pushTo(groups, k, i);
  }
  const latest = [...groups.values()].map((g) => ({ last: g[0]!, count: g.length }));
  const items = latest.map(({ last, count }) =>
    join([`<b>${esc(conceptText(last.vaccineCode, 'Unnamed vaccine'))}</b>`, day(last.occurrenceDateTime) ? `last ${esc(day(last.occurrenceDateTime)!)}` : 'date not recorded', count > 1 ? `${count} doses recorded` : undefined, src(ctx, last)]),
  );
  const notes = given.length > latest.length ? [`<p>Latest dose of each vaccine shown (${given.length} doses recorded in all).</p>`] : [];
  return { def: SECTIONS.immunizations, entries: latest.map((l) => l.last), items, notes };
}

const obsDate = (o: Observation) => day(o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant ?? o.issued);

function valueText(o: Observation): string | undefined {
  const v = quantityText(o.valueQuantity) ?? (o.valueCodeableConcept ? conceptText(o.valueCodeableConcept, '') : undefined) ?? o.valueString ?? (typeof o.valueBoolean === 'boolean' ? String(o.valueBoolean) : undefined);
  if (v) return v;
  const parts = (o.component ?? []).map((c) => join([conceptText(c.code, ''), quantityText(c.valueQuantity) ?? (c.valueCodeableConcept ? conceptText(c.valueCodeableConcept, '') : c.valueString)], ' ')).filter(Boolean);
  return parts.length ? parts.join('; ') : undefined;
}

/** Six months before a YYYY[-MM[-DD]] day, as YYYY-MM-DD. */
function monthsBefore(d: string, months: number): string {
  const [y, m = 1, dd = 1] = d.split('-').map(Number);
  const t = new Date(Date.UTC(y!, m - 1 - months, dd));
  return t.toISOString().slice(0, 10);
}

/** A laboratory result (category `laboratory`), whatever its status: what the Results section selects from. */
export const isLaboratory = (o: Observation): boolean => (o.category ?? []).some((c) => codesOf(c).includes('laboratory'));

export function results(ctx: SectionContext): SectionContent {
  const labs = of<Observation>(ctx, 'Observation')
    .filter((o) => o.status !== 'entered-in-error' && o.status !== 'cancelled' && isLaboratory(o))
    .sort(byDateDesc(obsDate));
  const latest = labs.map(obsDate).find(Boolean);
  const from = latest ? monthsBefore(latest, RESULTS_MONTHS) : undefined;
  const inWindow = from ? labs.filter((o) => (obsDate(o) ?? '') >= from) : labs;
  const shown = inWindow.slice(0, RESULTS_MAX);
  const items = shown.map((o) => {
    const interp = o.interpretation?.[0] ? conceptText(o.interpretation[0], '') : undefined;
    return join([`<b>${esc(conceptText(o.code, 'Unnamed test'))}</b>`, esc(valueText(o) ?? 'no value recorded'), interp ? esc(interp) : undefined, obsDate(o) ? esc(obsDate(o)!) : 'date not recorded', src(ctx, o)]);
  });
  const notes: string[] = [];
  if (shown.length < labs.length) {
    notes.push(
      `<p>Capped: showing the ${shown.length} most recent of ${labs.length} laboratory results (at most ${RESULTS_MAX}, and only results from the ${RESULTS_MONTHS} months up to the latest result${latest ? ` on ${esc(latest)}` : ''}). ${labs.length - shown.length} older result(s) are not shown.</p>`,
    );
  }
  return { def: SECTIONS.results, entries: shown, items, notes };
}

export function procedures(ctx: SectionContext): SectionContent {
  const all = of<Procedure>(ctx, 'Procedure')
    .filter((p) => !isSocialCareAssessment(p) && p.status !== 'entered-in-error' && p.status !== 'not-done')
    .sort(byDateDesc((p) => day(p.performedDateTime ?? p.performedPeriod?.start)));
  const shown = all.slice(0, PROCEDURES_MAX);
  const items = shown.map((p) => join([`<b>${esc(conceptText(p.code, 'Unnamed procedure'))}</b>`, day(p.performedDateTime ?? p.performedPeriod?.start) ? esc(day(p.performedDateTime ?? p.performedPeriod?.start)!) : 'date not recorded', src(ctx, p)]));
  const notes = shown.length < all.length ? [`<p>Capped: the ${shown.length} most recent of ${all.length} procedures are shown; ${all.length - shown.length} older procedure(s) are not shown.</p>`] : [];
  return { def: SECTIONS.procedures, entries: shown, items, notes };
}
