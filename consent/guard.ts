import type { Consent, Patient, Resource } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM } from '../fhir/nhs-number.js';
import type { PatientQuery } from '../adapters/types.js';
import { badRequest, forbidden } from '../fhir/outcomes.js';
import type { PatientRef, RecordFilter, RecordRepository, Warning } from '../adapters/record-repository.js';
import { countRequestedBy, resultTypes, type TypeSearch } from '../fhir/type-search.js';
import type { Principal } from '../identity/principal.js';
import type { IndexedPatient } from '../store/patient-index.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditInput } from '../audit/types.js';
import type { EmergencyAccess } from './emergency.js';
import { identityOnly, patientForSources } from './patient-view.js';
import { canSee, compileConsents, dataRestricted, decideRequest, deniedSources, type CompiledConsents } from './policy.js';
import type { ConsentStore } from './store.js';
import type { AccessContext, Decision, EmergencyGrant, PurposeOfUse } from './types.js';

/** The federated repository as the guard needs it: the plain RecordRepository plus index details. */
export interface GuardedSource extends RecordRepository {
  /** The source systems a record read may touch (for the audit trail). */
  sourceIds(): string[];
  /** Each source's display name by registry id: what warnings shown to people name (never the id). */
  sourceNames(): Readonly<Record<string, string>>;
  /** The resource types a source can ever send (undefined: any). */
  sourceTypes?(source: string): ReadonlySet<string> | undefined;
  /** The integrated id already indexed for an NHS number (no source is asked). */
  patientIdForNhsNumber(nhsNumber: string): Promise<string | undefined>;
  resolvePatient(id: string): Promise<(PatientRef & Partial<Pick<IndexedPatient, 'links' | 'registeredPractice'>>) | undefined>;
}

export interface GuardDeps {
  repo: GuardedSource;
  consents: ConsentStore;
  emergency: EmergencyAccess;
  audit: AuditLog;
  /**
   * Per source id, the ODS codes of the organisations whose staff care for every patient it holds
   * (trusts, councils; from the source registry). A GP system has none: its practices' relationship is
   * the patient's registered practice.
   */
  sourceOrganisations: Record<string, readonly string[]>;
  now?: () => Date;
}

/** The repository a route handler receives: the record operations, each decided and audited, plus the bare decision. */
export interface GuardedRepository extends RecordRepository {
  patientIdForNhsNumber(nhsNumber: string): Promise<string | undefined>;
  /** Each source's display name by registry id (the registry's `displayName`), for warnings shown to people. */
  sourceNames(): Readonly<Record<string, string>>;
  /** Decides (and audits a denial) without fetching anything; throws 403 when denied. */
  authorise(ref: PatientRef, action: AuditInput['action']): Promise<'self' | 'relationship' | 'emergency'>;
  /**
   * The patient's own record as a kind of staff would see it under the patient's current consents
   * (patients only, own record). Audited as the patient's own read; no grant is opened.
   */
  preview(ref: PatientRef, viewer: PreviewViewer, signal?: AbortSignal): Promise<PreviewResult>;
}

/** Who a preview imagines looking: a kind of staff at an organisation, with or without emergency access. */
export interface PreviewViewer {
  role: 'clinician' | 'ambulance-crew';
  /** ODS code; 'registered-practice' = the patient's own GP practice. */
  organisation: string;
  /** Imagine an emergency grant (an ambulance crew has no care relationship). Never opens one. */
  emergency: boolean;
}

export interface PreviewResult {
  /** null when this kind of staff could not open the record at all. */
  resources: Resource[] | null;
  withheld: number;
  warnings: Warning[];
  refusal?: string;
}

/** What the reader is told when consent withheld something: that it happened, never what. */
export const WITHHELD_WARNING: Warning = {
  source: 'consent',
  kind: 'consent-withheld',
  message: "Some data may be withheld by the patient's consent: a restriction the patient recorded applies to what was asked for, so the record shown may not be complete.",
};

/**
 * The consent guard sits between the FHIR operations and the federated repository. Route handlers only
 * ever receive `forRequest(...)`'s repository, so no handler can forget the check. For each request it
 * decides before anything is fetched (role, relationship, emergency grant, consents — never stale: read on
 * every request, or on embedded PGlite from a cache its writers invalidate), writes the AuditEvent (permit
 * or deny; if the write fails nothing is returned: 503), then
 * filters resource by resource and says when something was withheld.
 */
export class ConsentGuard {
  constructor(private readonly deps: GuardDeps) {}

  forRequest(principal: Principal, requestId: string, operation: string): GuardedRepository {
    const { deps } = this;
    const now = () => (deps.now ? deps.now() : new Date());
    const typesOfSource = (source: string) => deps.repo.sourceTypes?.(source);

    const failure = 'The access could not be recorded in the audit trail, so no data is returned. Try again shortly.';
    const audit = (input: Omit<AuditInput, 'principal' | 'requestId' | 'operation'>) =>
      deps.audit.record({ ...input, principal, requestId, operation }, failure);
    /**
     * A permitted read is audited while the sources are queried: its event joins the next shared commit,
     * and the data is returned only once that commit succeeded (an audit failure is a 503; the fetched
     * record is dropped).
     */
    const auditedWhile = async <T>(input: Omit<AuditInput, 'principal' | 'requestId' | 'operation'>, work: () => Promise<T>): Promise<T> => {
      const event = deps.audit.defer({ ...input, principal, requestId, operation }, failure);
      let result: T;
      try {
        result = await work();
      } finally {
        await event.committed();
      }
      return result;
    };

    /**
     * The sources whose part of the Patient this caller may not see: deniedSources, plus each source whose
     * organisations (a trust's, a council's) are all named by a denied organisation (ODS code) rule.
     */
    const denied = (ctx: AccessContext, compiled: CompiledConsents): ReadonlySet<string> => {
      const out = new Set(deniedSources(ctx, compiled));
      const codes = new Set([...out].map((c) => c.toUpperCase()));
      for (const [source, orgs] of Object.entries(deps.sourceOrganisations)) {
        if (orgs.length > 0 && orgs.every((o) => codes.has(o.toUpperCase()))) out.add(source);
      }
      return out;
    };
    /** The facts a decision depends on, for a caller (real, or imagined by a preview). */
    const contextFor = (p: Principal, ref: PatientRef, indexed: Partial<Pick<IndexedPatient, 'links' | 'registeredPractice'>>, at: Date, grant?: EmergencyGrant): AccessContext => ({
      principal: p,
      patientId: ref.id,
      patientNhsNumber: ref.nhsNumber,
      purpose: 'TREAT',
      now: at,
      legitimateRelationship: hasRelationship(p, indexed, deps.sourceOrganisations),
      ...(grant ? { emergency: grant } : {}),
    });
    /** The per-request decision; the purpose of use follows its basis (break the glass: BTG). */
    const judge = (ctx: AccessContext, consents: Consent[]) => {
      const compiled = compileConsents(consents, ctx.now);
      const decision: Decision = decideRequest(ctx, compiled);
      const purpose: PurposeOfUse = decision.permit && decision.basis === 'emergency' ? 'BTG' : 'TREAT';
      ctx.purpose = purpose;
      return { compiled, decision, purpose };
    };
    /**
     * What a permitted caller is shown of a fetched record: each resource as canSee decides, the Patient
     * without what only denied sources hold, and the withheld notice as dataRestricted decides it (the types
     * asked for; all when undefined). The staff reads and the patient's preview both use it.
     */
    const shownTo = (ctx: AccessContext, compiled: CompiledConsents, result: { resources: Resource[]; warnings: Warning[] }, types?: Iterable<string>) => {
      const { shown, withheld } = visible(ctx, compiled, result.resources, denied(ctx, compiled));
      const warnings = dataRestricted(ctx, compiled, types, typesOfSource) ? [...result.warnings, WITHHELD_WARNING] : result.warnings;
      return { shown, withheld, warnings };
    };

    /** Gathers the context and decides, without auditing or throwing. */
    const decide = async (ref: PatientRef) => {
      // The route resolved the patient already (with links); only a bare ref needs the index again.
      const indexed: Partial<Pick<IndexedPatient, 'links' | 'registeredPractice'>> =
        'links' in ref ? (ref as IndexedPatient) : ((await deps.repo.resolvePatient(ref.id)) ?? {});
      const at = now();
      const stored = await deps.consents.forPatient(ref.id);
      const relationship = hasRelationship(principal, indexed, deps.sourceOrganisations);
      // An emergency grant matters only without a relationship or when a consent could deny something;
      // the common case (a relationship, no consent) needs no second query.
      const mayUseGrant = principal.role === 'clinician' || principal.role === 'ambulance-crew';
      const grant = mayUseGrant && (!relationship || stored.some((c) => c.resource.status === 'active'))
        ? await deps.emergency.active(principal.sub, ref.id, at)
        : undefined;
      const consents: Consent[] = stored.map((s) => s.resource);
      const ctx = contextFor(principal, ref, indexed, at, grant);
      const { compiled, decision, purpose } = judge(ctx, consents);
      return { ctx, compiled, consents, purpose, decision };
    };

    /** Decides and audits; throws 403 on deny (after the denial is audited). */
    const authorise = async (ref: PatientRef, action: AuditInput['action']) => {
      const { ctx, compiled, consents, purpose, decision } = await decide(ref);
      if (!decision.permit) {
        await audit({ action, decision: 'deny', patientId: ref.id, purpose, reason: decision.reason });
        throw forbidden(decision.code, decision.reason);
      }
      return { ctx, compiled, consents, purpose, basis: decision.basis };
    };

    /** The same decision and per-resource filter as a staff request, for an imagined viewer (no audit, no grant). */
    const preview = async (ref: PatientRef, viewer: PreviewViewer, signal?: AbortSignal): Promise<PreviewResult> => {
      if (principal.role !== 'patient') throw forbidden('role-not-permitted', 'Only a patient may preview their own record.');
      const { ctx: own } = await authorise(ref, 'patient-read');
      if (own.principal.role !== 'patient') throw forbidden('not-own-record', 'A patient may only access their own record.');
      const indexed: Partial<Pick<IndexedPatient, 'links' | 'registeredPractice'>> =
        'links' in ref ? (ref as IndexedPatient) : ((await deps.repo.resolvePatient(ref.id)) ?? {});
      const org = viewer.organisation === 'registered-practice' ? (indexed.registeredPractice ?? '') : viewer.organisation;
      const imagined: Principal = { sub: 'preview', role: viewer.role, organisation: org };
      const at = now();
      const consents = (await deps.consents.forPatient(ref.id)).map((s) => s.resource);
      // An imagined grant, never stored: the staff path's decision for someone who broke the glass.
      const grant = viewer.emergency ? { id: 'preview', sub: imagined.sub, patientId: ref.id, reason: 'preview', expiresAt: new Date(at.getTime() + 60_000) } : undefined;
      const ctx = contextFor(imagined, ref, indexed, at, grant);
      const { compiled, decision } = judge(ctx, consents);
      if (!decision.permit) return { resources: null, withheld: 0, warnings: [], refusal: decision.reason };
      const result = await auditedWhile(
        { action: 'patient-read', decision: 'permit', patientId: ref.id, purpose: 'TREAT', sources: deps.repo.sourceIds() },
        () => deps.repo.everything(ref, signal),
      );
      const { shown, withheld, warnings } = shownTo(ctx, compiled, result);
      return { resources: shown, withheld, warnings };
    };

    return {
      preview,
      sourceNames: () => deps.repo.sourceNames(),
      authorise: async (ref: PatientRef, action: AuditInput['action']) => {
        const { basis } = await authorise(ref, action);
        return basis;
      },

      async findPatients(query: PatientQuery, signal?: AbortSignal) {
        if (principal.role !== 'clinician' && principal.role !== 'ambulance-crew' && principal.role !== 'patient') {
          await audit({ action: 'patient-query', decision: 'deny', purpose: 'TREAT', reason: 'role may not search for patients' });
          throw forbidden('role-not-permitted', `The role '${principal.role}' may not search for patients.`);
        }
        if (principal.role === 'patient' && !(query.kind === 'nhs-number' && query.nhsNumber === principal.nhsNumber)) {
          await audit({ action: 'patient-query', decision: 'deny', purpose: 'TREAT', reason: 'a patient may only look up their own record' });
          throw forbidden('not-own-record', 'A patient may only access their own record.');
        }
        const result = await deps.repo.findPatients(query, signal);
        // One audit event per person found (IHE BALP PatientQuery); a search that finds nobody is audited too.
        if (result.patients.length === 0) await audit({ action: 'patient-query', decision: 'permit', purpose: 'TREAT', resourceTypes: ['Patient'] });
        // Staff see a found patient as a read would show them; staff who could not open the record (no care
        // relationship, no emergency grant, or a consent refusing them) get the identity minimum only.
        const patients = await Promise.all(
          result.patients.map(async (p) => {
            if (principal.role === 'patient') {
              await audit({ action: 'patient-query', decision: 'permit', patientId: p.id, purpose: 'TREAT', resourceTypes: ['Patient'] });
              return p;
            }
            const { ctx, compiled, purpose, decision } = await decide({ id: p.id, nhsNumber: nhsNumberIn(p.patient) });
            const identity = !decision.permit;
            await audit({
              action: 'patient-query',
              decision: 'permit',
              patientId: p.id,
              purpose,
              resourceTypes: ['Patient'],
              ...(identity ? { outcomeDescription: 'identity only (name, date of birth, NHS number): the record itself may not be opened' } : {}),
            });
            return { id: p.id, patient: identity ? identityOnly(p.patient) : patientForSources(p.patient, denied(ctx, compiled)) };
          }),
        );
        return { patients, warnings: result.warnings };
      },

      resolvePatient: (id: string) => deps.repo.resolvePatient(id),
      patientIdForNhsNumber: (nhsNumber: string) => deps.repo.patientIdForNhsNumber(nhsNumber),

      async readPatient(ref: PatientRef, signal?: AbortSignal) {
        const { ctx, compiled, purpose } = await authorise(ref, 'patient-read');
        const read = await auditedWhile({ action: 'patient-read', decision: 'permit', patientId: ref.id, purpose, resourceTypes: ['Patient'] }, () => deps.repo.readPatient(ref, signal));
        return { ...read, patient: patientForSources(read.patient, denied(ctx, compiled)) };
      },

      /**
       * Type-level search (audited as a BALP PatientQuery): decided before any source is asked, then every
       * resource fetched (matches and what `_include` may reach) is checked, before the caller pages. A
       * count is refused while a consent applies: it could reveal what was withheld.
       */
      async search(ref: PatientRef, query: TypeSearch, signal?: AbortSignal) {
        const { ctx, compiled, consents, purpose } = await authorise(ref, 'patient-query');
        const consentFiltered = consents.some((c) => c.status === 'active');
        const countParam = countRequestedBy(query);
        if (consentFiltered && countParam) {
          throw badRequest('count-not-available', 'A count cannot be given for this record: a consent restriction applies, and a count could reveal what was withheld.', [countParam]);
        }
        const result = await auditedWhile(
          { action: 'patient-query', decision: 'permit', patientId: ref.id, purpose, resourceTypes: [query.type], sources: deps.repo.sourceIds() },
          () => deps.repo.search(ref, query, signal),
        );
        // The notice follows the restriction in force and the types asked for, never what matched: see dataRestricted.
        const { shown, withheld, warnings } = shownTo(ctx, compiled, result, resultTypes(query));
        if (withheld > 0) {
          await audit({ action: 'consent-decision', decision: 'deny', patientId: ref.id, purpose, outcomeDescription: `${withheld} item(s) withheld under the patient's consent` });
        }
        return { resources: shown, warnings, consentFiltered };
      },

      async everything(ref: PatientRef, signal?: AbortSignal, filter?: RecordFilter) {
        const { ctx, compiled, consents, purpose } = await authorise(ref, 'patient-read');
        const result = await auditedWhile(
          { action: 'patient-read', decision: 'permit', patientId: ref.id, purpose, ...(filter ? { resourceTypes: [...filter.types] } : {}), sources: deps.repo.sourceIds() },
          () => deps.repo.everything(ref, signal, filter),
        );
        const { shown, withheld, warnings } = shownTo(ctx, compiled, result, filter?.types);
        if (withheld > 0) {
          await audit({ action: 'consent-decision', decision: 'deny', patientId: ref.id, purpose, outcomeDescription: `${withheld} item(s) withheld under the patient's consent` });
        }
        return { resources: shown, warnings, consentFiltered: consents.some((c) => c.status === 'active') };
      },
    };
  }
}

/** What of `resources` the caller may see (the Patient shown without denied sources' data), and how many were withheld. */
function visible(ctx: AccessContext, compiled: ReturnType<typeof compileConsents>, resources: Resource[], denied: ReadonlySet<string>): { shown: Resource[]; withheld: number } {
  const shown: Resource[] = [];
  let withheld = 0;
  for (const r of resources) {
    if (r.resourceType === 'Patient') shown.push(patientForSources(r as Patient, denied));
    else if (canSee(ctx, compiled, r)) shown.push(r);
    else withheld++;
  }
  return { shown, withheld };
}

const nhsNumberIn = (p: Patient): string | null => p.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM && i.value)?.value ?? null;

/** England's implied-consent model for direct care: a care relationship with the patient. */
function hasRelationship(p: Principal, indexed: Partial<Pick<IndexedPatient, 'links' | 'registeredPractice'>>, orgs: GuardDeps['sourceOrganisations']): boolean {
  if (!p.organisation) return false;
  if (indexed.registeredPractice && p.organisation === indexed.registeredPractice) return true;
  // Staff of a trust or council whose source system holds a record of the patient.
  return (indexed.links ?? []).some((l) => orgs[l.source]?.includes(p.organisation!) ?? false);
}
