/**
 * A patient's sharing choices in plain words, and as the FHIR Consent the consent engine enforces
 * (consent/types.ts describes the vocabulary). Pure: form fields → a Wish → a deny provision, and back.
 * The pages keep one `patient-privacy` Consent per patient; each wish is one deny provision under its
 * base permit; opting out of research and planning is a deny provision with purposes HRESCH and HOPERAT.
 */
import type { Consent, ConsentProvision } from 'fhir/r4.js';
import { CATEGORIES, CATEGORY_LABELS, type Category } from '../../consent/sensitivity.js';
import {
  ACT_CODE_SYSTEM, ACT_REASON_SYSTEM, CONSENT_POLICY_URI, CONSENT_SCOPE_SYSTEM, ODS_SYSTEM, PARTICIPATION_SYSTEM, ROLE_SYSTEM, SOURCE_SYSTEM,
} from '../../consent/types.js';

export const SOURCE_WORDS: Record<string, string> = { gp: 'your GP practice', hospital: 'the hospital', 'social-care': 'the council (social care)' };
export const CATEGORY_WORDS: Record<Category, string> = { 'mental-health': 'mental health', 'sexual-health': 'sexual health', safeguarding: 'safeguarding' };
export const ROLE_WORDS: Record<string, string> = { clinician: 'doctors, nurses and other clinicians', 'ambulance-crew': 'ambulance crews' };

/** One wish as the form edits it. */
export interface Wish {
  what: 'all' | 'source' | 'category' | 'organisation-data';
  sources: string[];
  /** ODS code of the one organisation whose entries are not shared (what = organisation-data). */
  sourceOrganisation: string;
  categories: string[];
  who: 'everyone' | 'role' | 'organisation';
  roles: string[];
  organisation: string;
  from: string;
  to: string;
  emergency: boolean;
}

export interface FieldError { href: string; text: string; field: string }

const list = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined || v === '' ? [] : [v]).filter((x): x is string => typeof x === 'string');
const str = (v: unknown) => (typeof v === 'string' ? v.trim() : '');
const isDate = (v: string) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v));

/** A wish from the posted form, and what is wrong with it (each error names its field). */
export function wishFromForm(body: Record<string, unknown>, organisations: Record<string, string>): { wish: Wish; errors: FieldError[] } {
  const wish: Wish = {
    what: (['all', 'source', 'category', 'organisation-data'].includes(str(body.what)) ? str(body.what) : '') as Wish['what'],
    sources: list(body.sources).filter((s) => s in SOURCE_WORDS),
    sourceOrganisation: str(body.sourceOrganisation) in organisations ? str(body.sourceOrganisation) : '',
    categories: list(body.categories).filter((c) => (CATEGORIES as readonly string[]).includes(c)),
    who: (['everyone', 'role', 'organisation'].includes(str(body.who)) ? str(body.who) : '') as Wish['who'],
    roles: list(body.roles).filter((r) => r in ROLE_WORDS),
    organisation: str(body.organisation) in organisations ? str(body.organisation) : '',
    from: str(body.from),
    to: str(body.to),
    emergency: body.emergency === 'yes',
  };
  const errors: FieldError[] = [];
  const err = (field: string, text: string) => errors.push({ href: `#${field}`, text, field });
  if (!wish.what) err('what', 'Choose which information this choice is about');
  else if (wish.what === 'source' && wish.sources.length === 0) err('sources', 'Choose at least one place your information comes from');
  else if (wish.what === 'category' && wish.categories.length === 0) err('categories', 'Choose at least one kind of sensitive information');
  else if (wish.what === 'organisation-data' && !wish.sourceOrganisation) err('sourceOrganisation', 'Choose the organisation whose information should not be shared');
  if (!wish.who) err('who', 'Choose who this choice is about');
  else if (wish.who === 'role' && wish.roles.length === 0) err('roles', 'Choose at least one kind of staff');
  else if (wish.who === 'organisation' && !wish.organisation) err('organisation', 'Choose an organisation');
  if (wish.from && !isDate(wish.from)) err('from', 'Enter the start date as YYYY-MM-DD, for example 2026-12-31');
  if (wish.to && !isDate(wish.to)) err('to', 'Enter the end date as YYYY-MM-DD, for example 2027-06-30');
  if (wish.from && wish.to && isDate(wish.from) && isDate(wish.to) && wish.to < wish.from) err('to', 'The end date must be the same as or after the start date');
  if (wish.what === 'all' && wish.who === 'everyone') err('who', 'Not sharing anything with anyone would hide your whole record from your own care team: choose who this is about');
  return { wish, errors };
}

const actor = (role: 'CST' | 'IRCP', system: string, value: string) => ({
  role: { coding: [{ system: PARTICIPATION_SYSTEM, code: role }] },
  reference: { identifier: { system, value } },
});

/** A wish as a deny provision. */
export function provisionOf(w: Wish): ConsentProvision {
  const actors = [
    ...(w.what === 'source' ? w.sources.map((s) => actor('CST', SOURCE_SYSTEM, s)) : []),
    // One organisation's entries: a custodian named by its ODS code (consent/policy.ts: the entries it recorded).
    ...(w.what === 'organisation-data' ? [actor('CST', SOURCE_SYSTEM, w.sourceOrganisation)] : []),
    ...(w.who === 'role' ? w.roles.map((r) => actor('IRCP', ROLE_SYSTEM, r)) : []),
    ...(w.who === 'organisation' ? [actor('IRCP', ODS_SYSTEM, w.organisation)] : []),
  ];
  return {
    type: 'deny',
    ...(w.from || w.to ? { period: { ...(w.from ? { start: w.from } : {}), ...(w.to ? { end: w.to } : {}) } } : {}),
    ...(actors.length ? { actor: actors } : {}),
    ...(w.what === 'category' ? { securityLabel: w.categories.map((c) => ({ system: ACT_CODE_SYSTEM, code: CATEGORY_LABELS[c as Category] })) } : {}),
    ...(w.emergency ? { purpose: [{ system: ACT_REASON_SYSTEM, code: 'ETREAT' }] } : {}),
  };
}

const SECONDARY = ['HRESCH', 'HOPERAT'];
/** Whether a provision is the research-and-planning opt-out. */
export const isOptOut = (p: ConsentProvision) => !!p.purpose?.length && p.purpose.every((x) => SECONDARY.includes(x.code ?? ''));
export const OPT_OUT: ConsentProvision = { type: 'deny', purpose: SECONDARY.map((code) => ({ system: ACT_REASON_SYSTEM, code })) };

/** The page's Consent with these deny provisions (active; an empty list is still a valid, active consent). */
export function consentOf(patientId: string, denies: ConsentProvision[], status: Consent['status'] = 'active'): Consent {
  return {
    resourceType: 'Consent',
    status,
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0', display: 'Patient Consent' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: new Date().toISOString(),
    policy: [{ uri: CONSENT_POLICY_URI }],
    provision: { type: 'permit', ...(denies.length ? { provision: denies } : {}) },
  };
}

/** The deny provisions of a consent (the wishes and the opt-out). */
export const deniesOf = (c: Consent | undefined): ConsentProvision[] => c?.provision?.provision?.filter((p) => p.type === 'deny') ?? [];

/** One sentence saying what a provision means, for the list of choices and the history. */
export function describe(p: ConsentProvision, organisations: Record<string, string>): string {
  if (isOptOut(p)) return 'Do not use my information for research or for planning health services.';
  const id = (a: NonNullable<ConsentProvision['actor']>[number]) => a.reference.identifier?.value ?? '';
  const role = (a: NonNullable<ConsentProvision['actor']>[number]) => a.role.coding?.[0]?.code;
  const sources = (p.actor ?? []).filter((a) => role(a) === 'CST').map((a) => SOURCE_WORDS[id(a)] ?? organisations[id(a)] ?? `organisation ${id(a)}`);
  const staff = (p.actor ?? []).filter((a) => role(a) === 'IRCP' && a.reference.identifier?.system === ROLE_SYSTEM).map((a) => ROLE_WORDS[id(a)] ?? id(a));
  const orgs = (p.actor ?? []).filter((a) => role(a) === 'IRCP' && a.reference.identifier?.system === ODS_SYSTEM).map((a) => organisations[id(a)] ?? `organisation ${id(a)}`);
  const cats = (p.securityLabel ?? []).map((l) => CATEGORIES.find((c) => CATEGORY_LABELS[c] === l.code)).filter(Boolean).map((c) => CATEGORY_WORDS[c!]);
  const what = cats.length ? `my ${cats.join(', ')} information` : sources.length ? `information from ${sources.join(' or ')}` : 'any of my information';
  const who = [...staff, ...orgs];
  const whom = who.length ? `with ${who.join(' or ')}` : 'with anyone';
  const when = p.period ? ` ${p.period.start ? `from ${p.period.start}` : ''}${p.period.start && p.period.end ? ' ' : ''}${p.period.end ? `until ${p.period.end}` : ''}` : '';
  const emergency = p.purpose?.some((x) => x.code === 'ETREAT' || x.code === 'BTG') ? ', even in an emergency' : '';
  return `Do not share ${what} ${whom}${when}${emergency}.`;
}

/** What each part of the form means and does not do (one sentence each, shown beside the fields). */
export const EXPLAIN = {
  source: 'Staff will not see what that place recorded about you; it does not stop that place seeing its own records.',
  category: 'Items about this are hidden from the staff you choose; the organisation that recorded an item still sees it, because it already holds it.',
  role: 'Every member of that kind of staff is affected; it does not change what other staff see.',
  organisation: 'Staff at that organisation will not see it; it does not delete anything from their own systems.',
  organisationData: 'Staff will not see what that one organisation recorded about you (other organisations of the same kind are not affected, and a fact another place also recorded is still shown); it does not stop that organisation seeing its own records in its own systems.',
  period: 'The choice applies only between these dates; outside them your information is shared as usual.',
  emergency: 'Without this, staff who use emergency access (for example if you are unconscious) can still see it; with it, they cannot, even if that could affect your treatment.',
  optOut: 'Your information will not be used for research or for planning services; it does not change what the staff caring for you can see.',
  withdraw: 'All your choices stop applying at once; your information is then shared for your care as usual. Your history of choices is kept.',
};
