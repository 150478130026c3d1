import type { Consent } from 'fhir/r4.js';
import { SOURCE_IDS } from '../adapters/types.js';
import { OperationOutcomeError, badRequest, unprocessable } from '../fhir/outcomes.js';
import { ROLES } from '../identity/principal.js';
import { dateBounds } from './policy.js';
import { CATEGORY_LABELS } from './sensitivity.js';
import {
  ACT_CODE_SYSTEM,
  ACT_REASON_SYSTEM,
  CONSENT_POLICY_URI,
  CONSENT_SCOPE_SYSTEM,
  ODS_SYSTEM,
  PARTICIPATION_SYSTEM,
  ROLE_SYSTEM,
  SOURCE_SYSTEM,
} from './types.js';

/**
 * Validation of a Consent before it is stored (https://hl7.org/fhir/R4/consent.html). Two outcomes:
 *  - 400 `invalid-consent`: malformed — not a Consent, unknown element, missing/invalid status, scope,
 *    category or patient, neither policy nor policyRule (R4 invariant ppc-1), unknown provision.type, a nested provision without type, a bad date;
 *  - 422: valid FHIR this service cannot enforce exactly as written — `consent-contradictory`
 *    (period ends before it starts, deny nested under deny), `consent-not-enforceable` (an actor role
 *    other than CST/IRCP, a source/role/label/purpose code we do not enforce, class/code/data/
 *    dataPeriod conditions, permit exceptions, a root provision with conditions but no type — whose
 *    meaning R4 leaves to policyRule and HL7's own examples use both ways), `consent-patient-mismatch`.
 * A wish this service cannot enforce is refused, never stored and silently ignored. Every issue's
 * `expression` names the offending element (`Consent.provision.provision[0].period`). Structural
 * problems are reported before semantic ones.
 */

const STATUSES = new Set(['draft', 'proposed', 'active', 'rejected', 'inactive', 'entered-in-error']);
/** Elements that do not change what is enforced; kept as sent. */
const CONSENT_KEYS = new Set([
  'resourceType', 'id', 'meta', 'language', 'text', 'contained', 'extension', 'modifierExtension', 'implicitRules',
  'identifier', 'status', 'scope', 'category', 'patient', 'dateTime', 'performer', 'organization',
  'sourceAttachment', 'sourceReference', 'policy', 'policyRule', 'verification', 'provision',
]);
const PROVISION_KEYS = new Set([
  'id', 'extension', 'modifierExtension', 'type', 'period', 'actor', 'action', 'securityLabel', 'purpose',
  'class', 'code', 'dataPeriod', 'data', 'provision',
]);
const UNENFORCED_CONDITIONS = ['class', 'code', 'dataPeriod', 'data'] as const;
const ACTIONS = new Set(['access', 'use', 'disclose']);
const PURPOSES = new Set(['TREAT', 'ETREAT', 'BTG', 'HOPERAT', 'HRESCH']);
const LABELS = new Set(Object.values(CATEGORY_LABELS));
const PATIENT_REF = /^Patient\/([A-Za-z0-9\-.]{1,64})$/;
const ODS_CODE = /^[A-Z0-9]{3,10}$/i;

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string' && v.length > 0;
const isCoding = (v: unknown) =>
  isObj(v) && (v.system === undefined || isStr(v.system)) && (v.code === undefined || isStr(v.code));
const isCC = (v: unknown) =>
  isObj(v) && (v.coding === undefined || (Array.isArray(v.coding) && v.coding.every(isCoding))) && (v.text === undefined || typeof v.text === 'string');
const codings = (cc: unknown): Obj[] => (isObj(cc) && Array.isArray(cc.coding) ? (cc.coding as Obj[]) : []);
const hasCode = (cc: unknown, system: string, code: string) => codings(cc).some((c) => c.system === system && c.code === code);

class Problems {
  malformed?: OperationOutcomeError;
  semantic?: OperationOutcomeError;
  bad(expression: string, message: string): void {
    this.malformed ??= badRequest('invalid-consent', message, [expression]);
  }
  unproc(code: string, expression: string, message: string): void {
    this.semantic ??= unprocessable(code, message, [expression]);
  }
  notEnforceable(expression: string, message: string): void {
    this.unproc('consent-not-enforceable', expression, message);
  }
}

/** Validates a request body as a Consent this service can enforce; throws an OperationOutcomeError. */
export function validateConsent(body: unknown, opts: { patientIdExpected?: string } = {}): Consent {
  const p = new Problems();
  if (!isObj(body)) throw badRequest('invalid-consent', 'The body must be a FHIR Consent resource (a JSON object).', ['Consent']);
  if (body.resourceType !== 'Consent') throw badRequest('invalid-consent', 'resourceType must be "Consent".', ['Consent.resourceType']);

  for (const k of Object.keys(body)) {
    if (!CONSENT_KEYS.has(k) && !(k.startsWith('_') && CONSENT_KEYS.has(k.slice(1)))) p.bad(`Consent.${k}`, `Unknown element "${k}".`);
  }
  if (body.id !== undefined && !(typeof body.id === 'string' && /^[A-Za-z0-9\-.]{1,64}$/.test(body.id))) p.bad('Consent.id', 'id is not a valid FHIR id.');
  if (body.implicitRules !== undefined) p.notEnforceable('Consent.implicitRules', 'implicitRules must be understood to process the resource; none are supported.');
  if (body.modifierExtension !== undefined) p.notEnforceable('Consent.modifierExtension', 'Modifier extensions change the meaning of the consent and are not supported.');

  if (!isStr(body.status) || !STATUSES.has(body.status)) {
    p.bad('Consent.status', `status is required and must be one of ${[...STATUSES].join(', ')}.`);
  }
  if (!isCC(body.scope) || codings(body.scope).length === 0) {
    p.bad('Consent.scope', 'scope is required: a CodeableConcept from http://terminology.hl7.org/CodeSystem/consentscope.');
  } else if (!hasCode(body.scope, CONSENT_SCOPE_SYSTEM, 'patient-privacy') && !hasCode(body.scope, CONSENT_SCOPE_SYSTEM, 'research')) {
    p.notEnforceable('Consent.scope', 'Only the scopes patient-privacy (sharing for direct care) and research (secondary use) are enforced.');
  }
  if (!Array.isArray(body.category) || body.category.length === 0 || !body.category.every(isCC)) {
    p.bad('Consent.category', 'category is required: one or more CodeableConcepts.');
  }
  if (!isObj(body.patient) || !isStr(body.patient.reference)) {
    p.bad('Consent.patient', 'patient is required: a reference Patient/<id> to the integrated patient.');
  } else {
    const m = PATIENT_REF.exec(body.patient.reference);
    if (!m) p.unproc('consent-not-enforceable', 'Consent.patient.reference', 'patient.reference must be a relative reference Patient/<id>.');
    else if (opts.patientIdExpected !== undefined && m[1] !== opts.patientIdExpected) {
      p.unproc('consent-patient-mismatch', 'Consent.patient.reference', 'The consent is for a different patient than the one addressed.');
    }
  }
  const hasPolicy = Array.isArray(body.policy) && body.policy.length > 0;
  if (body.policy !== undefined && !(Array.isArray(body.policy) && body.policy.every((x) => isObj(x) && (isStr(x.uri) || isStr(x.authority))))) {
    p.bad('Consent.policy', 'policy must be a list of { uri } or { authority }.');
  } else if (body.policyRule !== undefined && !isCC(body.policyRule)) {
    p.bad('Consent.policyRule', 'policyRule must be a CodeableConcept.');
  } else if (!hasPolicy && body.policyRule === undefined) {
    p.bad('Consent.policy', `R4 requires policy or policyRule (invariant ppc-1): add policy [{ uri: "${CONSENT_POLICY_URI}" }].`);
  }
  if (body.dateTime !== undefined && !dateBounds(body.dateTime)) p.bad('Consent.dateTime', 'dateTime is not a valid FHIR dateTime.');

  if (body.provision === undefined) {
    p.notEnforceable('Consent.provision', 'The consent has no provision, so there is nothing to enforce: state each wish as a provision.');
  } else {
    provision(p, body.provision, 'Consent.provision', 0, undefined);
  }
  if (p.malformed) throw p.malformed;
  if (p.semantic) throw p.semantic;
  return body as unknown as Consent;
}

function provision(p: Problems, v: unknown, path: string, depth: number, parentType: 'permit' | 'deny' | undefined): void {
  if (!isObj(v)) return p.bad(path, 'A provision must be an object.');
  if (depth > 8) return p.bad(path, 'Provisions are nested too deeply.');
  for (const k of Object.keys(v)) {
    if (!PROVISION_KEYS.has(k) && !(k.startsWith('_') && PROVISION_KEYS.has(k.slice(1)))) p.bad(`${path}.${k}`, `Unknown element "${k}".`);
  }
  if (v.modifierExtension !== undefined) p.notEnforceable(`${path}.modifierExtension`, 'Modifier extensions are not supported.');

  let type: 'permit' | 'deny' | undefined;
  if (v.type === 'permit' || v.type === 'deny') type = v.type;
  else if (v.type !== undefined) p.bad(`${path}.type`, 'provision.type must be permit or deny.');
  else if (depth > 0) p.bad(`${path}.type`, 'A nested provision must state its type (permit or deny).');

  if (v.period !== undefined) period(p, v.period, `${path}.period`);
  if (v.actor !== undefined) actors(p, v.actor, `${path}.actor`);
  codingList(p, v.securityLabel, `${path}.securityLabel`, (c) => c.system === ACT_CODE_SYSTEM && LABELS.has(c.code as string),
    `Only the security labels ${[...LABELS].join(', ')} (${ACT_CODE_SYSTEM}) are enforced.`);
  codingList(p, v.purpose, `${path}.purpose`, (c) => c.system === ACT_REASON_SYSTEM && PURPOSES.has(c.code as string),
    `Only the purposes ${[...PURPOSES].join(', ')} (${ACT_REASON_SYSTEM}) are enforced.`);
  if (v.action !== undefined) {
    if (!Array.isArray(v.action) || !v.action.every(isCC)) p.bad(`${path}.action`, 'action must be a list of CodeableConcepts.');
    else v.action.forEach((a, i) => {
      if (!codings(a).some((c) => c.system === 'http://terminology.hl7.org/CodeSystem/consentaction' && ACTIONS.has(c.code as string))) {
        p.notEnforceable(`${path}.action[${i}]`, 'Only the actions access, use and disclose (reading the record) are enforced.');
      }
    });
  }
  for (const el of UNENFORCED_CONDITIONS) {
    if (v[el] !== undefined) p.notEnforceable(`${path}.${el}`, `Provisions restricted by ${el} are not enforced by this service.`);
  }

  if (type === 'deny' && parentType === 'deny') {
    p.unproc('consent-contradictory', `${path}.type`, 'A deny provision nested under a deny provision contradicts itself: nested rules are exceptions to their parent.');
  } else if (type === 'permit' && depth > 0) {
    p.notEnforceable(`${path}.type`, 'Nested permit provisions (exceptions to a deny, or permits narrower than the base) are not enforced: state what is withheld as a deny provision under a base permit.');
  }
  const children = v.provision;
  if (children !== undefined) {
    if (!Array.isArray(children)) p.bad(`${path}.provision`, 'provision.provision must be a list.');
    else children.forEach((c, i) => provision(p, c, `${path}.provision[${i}]`, depth + 1, type ?? 'permit'));
  }
  const conditions = ['period', 'actor', 'securityLabel', 'purpose', 'action'].filter((k) => v[k] !== undefined);
  if (depth === 0 && type === undefined && conditions.length > 0) {
    p.notEnforceable(`${path}.type`, `The root provision has ${conditions.join(', ')} but no type: R4 leaves its effect to policyRule, which HL7's own examples use both to permit and to withhold. State type permit (base) with nested deny provisions, or type deny.`);
  } else if (type === 'permit' && ['actor', 'securityLabel', 'purpose'].some((k) => v[k] !== undefined)) {
    p.notEnforceable(`${path}.${['actor', 'securityLabel', 'purpose'].find((k) => v[k] !== undefined)}`, 'Conditions on a permit provision would mean "share only this", which is not enforced: everything not denied is shared for direct care.');
  }
}

function period(p: Problems, v: unknown, path: string): void {
  if (!isObj(v)) return p.bad(path, 'period must be an object.');
  const start = v.start === undefined ? undefined : dateBounds(v.start);
  const end = v.end === undefined ? undefined : dateBounds(v.end);
  if (v.start !== undefined && !start) return p.bad(`${path}.start`, 'period.start is not a valid FHIR dateTime.');
  if (v.end !== undefined && !end) return p.bad(`${path}.end`, 'period.end is not a valid FHIR dateTime.');
  if (start && end && end[1] <= start[0]) p.unproc('consent-contradictory', path, 'period.end is before period.start.');
}

function actors(p: Problems, v: unknown, path: string): void {
  if (!Array.isArray(v)) return p.bad(path, 'actor must be a list.');
  v.forEach((a, i) => {
    const at = `${path}[${i}]`;
    if (!isObj(a) || !isCC(a.role) || !isObj(a.reference)) return p.bad(at, 'Each actor needs a role (CodeableConcept) and a reference.');
    const cst = hasCode(a.role, PARTICIPATION_SYSTEM, 'CST');
    const ircp = hasCode(a.role, PARTICIPATION_SYSTEM, 'IRCP');
    if (!cst && !ircp) {
      return p.notEnforceable(`${at}.role`, 'Only actor roles CST (data from a source) and IRCP (to a role or organisation) are enforced; individual people or other roles are not.');
    }
    const id = a.reference.identifier;
    if (!isObj(id) || !isStr(id.system) || !isStr(id.value)) {
      return p.notEnforceable(`${at}.reference`, cst
        ? `A source must be identified by reference.identifier (system ${SOURCE_SYSTEM}, value ${SOURCE_IDS.join('|')} for every source of that kind, or an organisation's ODS code for that organisation's entries).`
        : `A recipient must be identified by reference.identifier with system ${ROLE_SYSTEM} (a role) or ${ODS_SYSTEM} (an ODS code).`);
    }
    if (cst) {
      if (id.system !== SOURCE_SYSTEM) p.notEnforceable(`${at}.reference.identifier.system`, `A source is identified with system ${SOURCE_SYSTEM}.`);
      else if (!(SOURCE_IDS as readonly string[]).includes(id.value) && !/^[A-Z0-9]{3,10}$/.test(id.value)) {
        p.notEnforceable(`${at}.reference.identifier.value`, `Unknown source; expected a kind of source (${SOURCE_IDS.join(', ')}) or an organisation's ODS code.`);
      }
    } else if (id.system === ROLE_SYSTEM) {
      if (!(ROLES as readonly string[]).includes(id.value)) p.notEnforceable(`${at}.reference.identifier.value`, `Unknown role; expected one of ${ROLES.join(', ')}.`);
    } else if (id.system === ODS_SYSTEM) {
      if (!ODS_CODE.test(id.value)) p.notEnforceable(`${at}.reference.identifier.value`, 'Not a valid ODS organisation code.');
    } else {
      p.notEnforceable(`${at}.reference.identifier.system`, `A recipient is identified with system ${ROLE_SYSTEM} or ${ODS_SYSTEM}.`);
    }
  });
}

function codingList(p: Problems, v: unknown, path: string, ok: (c: Obj) => boolean, message: string): void {
  if (v === undefined) return;
  if (!Array.isArray(v) || !v.every(isCoding)) return p.bad(path, `${path.split('.').pop()} must be a list of Codings.`);
  (v as Obj[]).forEach((c, i) => {
    if (!ok(c)) p.notEnforceable(`${path}[${i}]`, message);
  });
}

export type Classification =
  | { accepted: true; consent: Consent }
  | { accepted: false; status: number; code: string; expression: string | undefined; reason: string };

/** validateConsent as a value: accepted, or the status, error code, element and reason it was refused. */
export function classifyConsent(body: unknown, opts: { patientIdExpected?: string } = {}): Classification {
  try {
    return { accepted: true, consent: validateConsent(body, opts) };
  } catch (e) {
    if (!(e instanceof OperationOutcomeError)) throw e;
    const issue = e.outcome.issue[0]!;
    return {
      accepted: false,
      status: e.status,
      code: issue.details?.coding?.[0]?.code ?? 'unknown',
      expression: issue.expression?.[0],
      reason: issue.diagnostics ?? '',
    };
  }
}
