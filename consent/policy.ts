import type { Consent, ConsentProvision, Period, Resource } from 'fhir/r4.js';
import type { Role } from '../identity/principal.js';
import { SOURCE_TAG_SYSTEM } from '../adapters/merge.js';
import { categoryMask, labelCategoryBit } from './sensitivity.js';
import {
  ACT_REASON_SYSTEM,
  CONSENT_SCOPE_SYSTEM,
  ODS_SYSTEM,
  PARTICIPATION_SYSTEM,
  ROLE_SYSTEM,
  SOURCE_SYSTEM,
  type AccessContext,
  type Decision,
  type PurposeOfUse,
} from './types.js';

/**
 * Consent policy: pure functions over FHIR R4 Consent resources and an AccessContext (no I/O, no
 * clock: `now` comes from the caller). Modelled on HAPI FHIR's IConsentService: `decideRequest` is the
 * per-request decision ("startOperation"), `canSee` the per-resource one (never changes data).
 * https://hl7.org/fhir/R4/consent.html
 *
 * Rules come from `deny` provisions of active `patient-privacy` consents (see types.ts); everything
 * not denied is shared (implied consent for direct care), and deny overrides permit — except that a
 * valid emergency grant overrides a deny not marked "even in an emergency" (purpose ETREAT/BTG).
 *
 * Decisions taken here:
 *  - Multi-source facts: a resource recorded by several sources (merge.ts tags it with each) is
 *    withheld by a source rule only if EVERY recording source is denied. A fact an allowed source
 *    also recorded is what that source would show anyway; hiding it would hide clinically relevant
 *    information without protecting anything. A resource with no source tag counts as having no
 *    allowed source (fails closed).
 *  - Recorder organisation: `recorderOrganisation(resource)` is the ODS code in a `meta.tag` with
 *    system ODS_SYSTEM (the source adapters stamp it when the source says which organisation
 *    recorded an entry). A sensitive-category rule never hides an entry from the organisation that
 *    recorded it (it already holds it). The exception does not extend to source rules.
 *  - Emergency override: a valid emergency grant (same user, same patient, unexpired, clinician or
 *    ambulance crew) overrides deny rules without ETREAT/BTG, whether or not the user also has a
 *    legitimate relationship; when a relationship alone would be refused, the basis is `emergency`.
 *  - Purpose: a rule without purpose applies to every request; one listing TREAT/ETREAT/BTG applies
 *    to direct care; one listing HRESCH/HOPERAT applies to that secondary use (and opts out of it).
 *  - Conditions this module does not understand (only possible for consents that bypassed
 *    validateConsent) are ignored, which widens the deny: it fails closed.
 */

const DIRECT_CARE: ReadonlySet<PurposeOfUse> = new Set<PurposeOfUse>(['TREAT', 'ETREAT', 'BTG']);
const SECONDARY: ReadonlySet<PurposeOfUse> = new Set<PurposeOfUse>(['HRESCH', 'HOPERAT']);
const CLINICAL_ROLES: ReadonlySet<Role> = new Set<Role>(['clinician', 'ambulance-crew']);

/** One deny rule, flattened from a provision tree. */
export interface CompiledRule {
  consentId: string | undefined;
  /** Custodian sources denied (CST actors); null = any source. */
  sources: ReadonlySet<string> | null;
  /** Category bits denied (securityLabel); 0 = any data. */
  categories: number;
  /** Recipients (IRCP actors); both null = everyone. */
  roles: ReadonlySet<string> | null;
  orgs: ReadonlySet<string> | null;
  /** Purposes listed on the provision; empty = all. */
  purposes: ReadonlySet<PurposeOfUse>;
  evenInEmergency: boolean;
}

/** The consents of one patient, compiled once per request. */
export interface CompiledConsents {
  readonly now: Date;
  readonly rules: readonly CompiledRule[];
  readonly optedOutOfSecondaryUse: boolean;
  /** Per-AccessContext memo (decision + the data rules that apply to that caller). */
  readonly memo: WeakMap<AccessContext, Resolved>;
}

interface Resolved {
  decision: Decision;
  self: boolean;
  /** Data rules (source and/or category) that apply to this caller and purpose. */
  dataRules: { sources: ReadonlySet<string> | null; categories: number }[];
}

// ---------------------------------------------------------------------------------------------------
// Dates (FHIR date/dateTime with partial precision; date-only values are taken in UTC)
// ---------------------------------------------------------------------------------------------------

export const FHIR_DATETIME =
  /^([0-9]([0-9]([0-9][1-9]|[1-9]0)|[1-9]00)|[1-9]000)(-(0[1-9]|1[0-2])(-(0[1-9]|[1-2][0-9]|3[0-1])(T([01][0-9]|2[0-3]):[0-5][0-9]:([0-5][0-9]|60)(\.[0-9]+)?(Z|(\+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)))?)?)?$/;

/** [first instant, first instant after] covered by a FHIR date/dateTime, or undefined if invalid. */
export function dateBounds(value: unknown): [number, number] | undefined {
  if (typeof value !== 'string' || !FHIR_DATETIME.test(value)) return undefined;
  if (value.length > 10) {
    const t = Date.parse(value);
    return Number.isNaN(t) ? undefined : [t, t + 1];
  }
  const [y, m, d] = value.split('-').map(Number) as [number, number | undefined, number | undefined];
  if (m === undefined) return [Date.UTC(y, 0, 1), Date.UTC(y + 1, 0, 1)];
  if (d === undefined) return [Date.UTC(y, m - 1, 1), Date.UTC(y, m, 1)];
  const start = Date.UTC(y, m - 1, d);
  if (new Date(start).getUTCDate() !== d) return undefined; // 2015-02-30
  return [start, start + 86_400_000];
}

/** Whether `now` lies within a Period (open ends unbounded; an unparseable bound never matches). */
export function inPeriod(period: Period | undefined, nowMs: number): boolean {
  if (!period) return true;
  if (period.start !== undefined) {
    const b = dateBounds(period.start);
    if (!b || nowMs < b[0]) return false;
  }
  if (period.end !== undefined) {
    const b = dateBounds(period.end);
    if (!b || nowMs >= b[1]) return false;
  }
  return true;
}

// ---------------------------------------------------------------------------------------------------
// Compilation
// ---------------------------------------------------------------------------------------------------

const hasCode = (cc: { coding?: { system?: string; code?: string }[] } | undefined, system: string, code: string) =>
  !!cc?.coding?.some((c) => c.system === system && c.code === code);

function scopeOf(c: Consent): 'patient-privacy' | 'research' | undefined {
  if (hasCode(c.scope, CONSENT_SCOPE_SYSTEM, 'patient-privacy')) return 'patient-privacy';
  if (hasCode(c.scope, CONSENT_SCOPE_SYSTEM, 'research')) return 'research';
  return undefined;
}

/** Active and, if the root provision has a period, within it. */
function inForce(c: Consent, nowMs: number): boolean {
  return c.status === 'active' && inPeriod(c.provision?.period, nowMs);
}

function compileRule(consentId: string | undefined, p: ConsentProvision): CompiledRule {
  let sources: Set<string> | null = null;
  let roles: Set<string> | null = null;
  let orgs: Set<string> | null = null;
  for (const a of p.actor ?? []) {
    const id = a.reference?.identifier;
    if (!id?.value) continue;
    if (hasCode(a.role, PARTICIPATION_SYSTEM, 'CST') && id.system === SOURCE_SYSTEM) (sources ??= new Set()).add(id.value);
    else if (hasCode(a.role, PARTICIPATION_SYSTEM, 'IRCP') && id.system === ROLE_SYSTEM) (roles ??= new Set()).add(id.value);
    else if (hasCode(a.role, PARTICIPATION_SYSTEM, 'IRCP') && id.system === ODS_SYSTEM) (orgs ??= new Set()).add(id.value.toUpperCase());
  }
  let categories = 0;
  for (const l of p.securityLabel ?? []) categories |= labelCategoryBit(l.system, l.code);
  const purposes = new Set<PurposeOfUse>();
  for (const pu of p.purpose ?? []) if (pu.system === ACT_REASON_SYSTEM && pu.code) purposes.add(pu.code as PurposeOfUse);
  return { consentId, sources, categories, roles, orgs, purposes, evenInEmergency: purposes.has('ETREAT') || purposes.has('BTG') };
}

/** Every deny provision of a provision tree, each inheriting the periods above it. */
function collectDenies(p: ConsentProvision, nowMs: number, out: ConsentProvision[]): void {
  if (!inPeriod(p.period, nowMs)) return;
  if (p.type === 'deny') out.push(p);
  for (const child of p.provision ?? []) collectDenies(child, nowMs, out);
}

/**
 * Compiles one patient's consents for decisions at `now`: keeps active, in-period consents and
 * flattens their deny provisions into rules, so `canSee` costs a few comparisons per resource.
 */
export function compileConsents(consents: readonly Consent[], now: Date): CompiledConsents {
  const nowMs = now.getTime();
  const rules: CompiledRule[] = [];
  let optedOut = false;
  for (const c of consents) {
    if (!c.provision || !inForce(c, nowMs)) continue;
    const scope = scopeOf(c);
    const denies: ConsentProvision[] = [];
    collectDenies(c.provision, nowMs, denies);
    if (scope === 'research' && denies.length > 0) optedOut = true;
    for (const d of denies) {
      const rule = compileRule(c.id, d);
      if ([...rule.purposes].some((x) => SECONDARY.has(x))) optedOut = true;
      if (scope === 'patient-privacy') rules.push(rule);
    }
  }
  return { now, rules, optedOutOfSecondaryUse: optedOut, memo: new WeakMap() };
}

// ---------------------------------------------------------------------------------------------------
// Decisions
// ---------------------------------------------------------------------------------------------------

/** A valid emergency grant: clinical role, same user, same patient, unexpired at `now`. */
export function hasValidEmergencyGrant(ctx: AccessContext): boolean {
  const g = ctx.emergency;
  return (
    !!g &&
    CLINICAL_ROLES.has(ctx.principal.role) &&
    g.sub === ctx.principal.sub &&
    g.patientId === ctx.patientId &&
    g.expiresAt.getTime() > ctx.now.getTime()
  );
}

function appliesTo(rule: CompiledRule, ctx: AccessContext, emergency: boolean): boolean {
  if (rule.roles || rule.orgs) {
    const org = ctx.principal.organisation?.toUpperCase();
    if (!rule.roles?.has(ctx.principal.role) && !(org && rule.orgs?.has(org))) return false;
  }
  if (rule.purposes.size > 0) {
    const direct = DIRECT_CARE.has(ctx.purpose) && [...rule.purposes].some((p) => DIRECT_CARE.has(p));
    if (!direct && !rule.purposes.has(ctx.purpose)) return false;
  }
  return !(emergency && !rule.evenInEmergency);
}

const deny = (code: string, reason: string): Decision => ({ permit: false, code, reason });

function resolve(ctx: AccessContext, compiled: CompiledConsents): Resolved {
  const hit = compiled.memo.get(ctx);
  if (hit) return hit;
  const r = resolveUncached(ctx, compiled);
  compiled.memo.set(ctx, r);
  return r;
}

function resolveUncached(ctx: AccessContext, compiled: CompiledConsents): Resolved {
  const { role } = ctx.principal;
  const refuse = (decision: Decision): Resolved => ({ decision, self: false, dataRules: [] });
  if (role === 'patient') {
    if (ctx.principal.nhsNumber && ctx.patientNhsNumber && ctx.principal.nhsNumber === ctx.patientNhsNumber) {
      return { decision: { permit: true, basis: 'self' }, self: true, dataRules: [] };
    }
    return refuse(deny('not-own-record', 'A patient may only read their own record.'));
  }
  if (!CLINICAL_ROLES.has(role)) return refuse(deny('role-not-permitted', 'This role may not read patient-level records.'));
  const emergency = hasValidEmergencyGrant(ctx);
  if (!ctx.legitimateRelationship && !emergency) {
    return refuse(deny('no-relationship', 'No legitimate relationship with this patient and no emergency access in force.'));
  }
  // Deny overrides permit: a whole-record deny to this recipient refuses the request, unless an
  // emergency grant overrides it (then the basis is the emergency, whatever the relationship).
  const wholeRecord = (em: boolean) =>
    compiled.rules.some((r) => r.sources === null && r.categories === 0 && appliesTo(r, ctx, em));
  let basis: 'relationship' | 'emergency' = ctx.legitimateRelationship ? 'relationship' : 'emergency';
  if (wholeRecord(false)) {
    if (!emergency || wholeRecord(true)) {
      return refuse(deny('consent-denied', "The patient's recorded consent does not allow this access."));
    }
    basis = 'emergency';
  }
  const dataRules = compiled.rules
    .filter((r) => (r.sources !== null || r.categories !== 0) && appliesTo(r, ctx, emergency))
    .map((r) => ({ sources: r.sources, categories: r.categories }));
  return { decision: { permit: true, basis }, self: false, dataRules };
}

const asCompiled = (ctx: AccessContext, consents: readonly Consent[] | CompiledConsents): CompiledConsents =>
  Array.isArray(consents) ? compileConsents(consents as readonly Consent[], ctx.now) : (consents as CompiledConsents);

/**
 * The per-request decision: who may open this patient's record at all, and on what basis.
 * Accepts raw consents or the result of `compileConsents` (reuse it for `canSee`).
 */
export function decideRequest(ctx: AccessContext, consents: readonly Consent[] | CompiledConsents): Decision {
  return resolve(ctx, asCompiled(ctx, consents)).decision;
}

/** ODS code of the organisation that recorded a resource: `meta.tag` with system ODS_SYSTEM. */
export function recorderOrganisation(resource: Resource): string | undefined {
  const tags = resource.meta?.tag;
  if (tags) for (const t of tags) if (t.system === ODS_SYSTEM && t.code) return t.code.toUpperCase();
  return undefined;
}

/**
 * The per-resource decision, after `decideRequest` permitted (returns false for every resource when
 * it did not). Never changes the resource. Pass `compileConsents(...)` once per request for speed.
 */
export function canSee(ctx: AccessContext, consents: readonly Consent[] | CompiledConsents, resource: Resource): boolean {
  const r = resolve(ctx, asCompiled(ctx, consents));
  if (!r.decision.permit) return false;
  if (r.self || r.dataRules.length === 0 || resource.resourceType === 'Patient') return true;

  let cats = -1; // computed lazily, at most once
  let ownEntry: boolean | undefined;
  const tags = resource.meta?.tag;
  // Each recording source is "blocked" when some rule matching the resource denies it; the resource
  // is withheld only when all its recording sources are blocked (see the module comment).
  let anySource = false;
  if (tags) {
    for (const t of tags) {
      if (t.system !== SOURCE_TAG_SYSTEM || !t.code) continue;
      anySource = true;
      if (!sourceBlocked(t.code)) return true;
    }
  }
  return anySource ? false : !sourceBlocked(undefined);

  function recordedByNamed(named: ReadonlySet<string>): boolean {
    const recorder = recorderOrganisation(resource);
    return !!recorder && named.has(recorder);
  }

  function sourceBlocked(source: string | undefined): boolean {
    for (const rule of r.dataRules) {
      // An untagged resource (source undefined) matches every source rule: fails closed.
      // A rule names a kind of source (every GP system, …) or one organisation (its ODS code: the entries it recorded).
      if (rule.sources !== null && source !== undefined && !rule.sources.has(source) && !recordedByNamed(rule.sources)) continue;
      if (rule.categories !== 0) {
        if (cats < 0) cats = categoryMask(resource);
        if ((cats & rule.categories) === 0) continue;
        ownEntry ??= !!ctx.principal.organisation && recorderOrganisation(resource) === ctx.principal.organisation.toUpperCase();
        if (ownEntry) continue;
      }
      return true;
    }
    return false;
  }
}

/**
 * Whether a data restriction applies to what this caller asked for: a category deny (PSY, SEX, SDV) applies to
 * every resource type (any entry may carry a sensitive code or label); a source deny applies when that source
 * can send one of the asked-for `types` (all types when undefined). Deciding the "some data may be withheld"
 * notice from this — and never from whether a withheld resource matched a search — keeps every answer to a
 * restricted patient's search the same whatever the withheld data holds.
 */
export function dataRestricted(
  ctx: AccessContext,
  consents: readonly Consent[] | CompiledConsents,
  types?: Iterable<string>,
  typesOfSource: (source: string) => ReadonlySet<string> | undefined = () => undefined,
): boolean {
  const r = resolve(ctx, asCompiled(ctx, consents));
  if (!r.decision.permit || r.self) return false;
  const asked = types ? [...types] : undefined;
  return r.dataRules.some((rule) => {
    if (rule.categories !== 0 || rule.sources === null || !asked) return true;
    for (const source of rule.sources) {
      const sends = typesOfSource(source);
      if (!sends || asked.some((t) => sends.has(t))) return true;
    }
    return false;
  });
}

/**
 * Sources whose data this caller may not see at all (a source rule without a category that applies to
 * the caller). The Patient resource honours these: what only a denied source holds (its local record
 * number, its source tag) is not shown.
 */
export function deniedSources(ctx: AccessContext, consents: readonly Consent[] | CompiledConsents): ReadonlySet<string> {
  const r = resolve(ctx, asCompiled(ctx, consents));
  const out = new Set<string>();
  if (!r.decision.permit || r.self) return out;
  for (const rule of r.dataRules) if (rule.categories === 0 && rule.sources) for (const s of rule.sources) out.add(s);
  return out;
}

/** Whether the patient has opted out of secondary use (research or planning) at `now`. */
export function isOptedOutOfSecondaryUse(consents: readonly Consent[] | CompiledConsents, now: Date): boolean {
  return (Array.isArray(consents) ? compileConsents(consents as readonly Consent[], now) : (consents as CompiledConsents))
    .optedOutOfSecondaryUse;
}
