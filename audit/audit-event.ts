import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from 'fhir/r4.js';
import { ODS_SYSTEM } from '../fhir/nhs-number.js';
import { ACT_REASON_SYSTEM, type PurposeOfUse } from '../fhir/purpose-of-use.js';
import { ROLE_SYSTEM } from '../identity/principal.js';
import type { AuditInput } from './types.js';

/** The FHIR R4 AuditEvent (IHE BALP) recorded for one audited event, and the checks an AuditInput must pass. */

export const AUDIT_SERVICE_ID = 'https://integrated-record.example.nhs.uk/fhir';
export const USER_ID_SYSTEM = 'https://integrated-record.example.nhs.uk/Id/user';
const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const BALP_AUTHZ_SUBTYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType';
const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
export const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const SOURCE_TYPE = 'http://terminology.hl7.org/CodeSystem/security-source-type';

const PURPOSE_DISPLAY: Record<PurposeOfUse, string> = {
  TREAT: 'treatment',
  ETREAT: 'emergency treatment',
  BTG: 'break the glass',
  HOPERAT: 'healthcare operations',
  HRESCH: 'healthcare research',
};

type Interaction = 'read' | 'search-type' | 'operation' | 'create' | 'update' | 'delete';
const INTERACTION_ACTION: Record<Interaction, NonNullable<AuditEvent['action']>> = {
  read: 'R',
  'search-type': 'E',
  operation: 'E',
  create: 'C',
  update: 'U',
  delete: 'D',
};

/** A random (integrated) patient id; anything else is not recorded as the patient. */
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ten digits, optionally grouped 3-3-4: anything that could be an NHS number. */
const NHS_NUMBER_LIKE = /(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)/g;
const UUID_OR_NHS_NUMBER_LIKE = new RegExp(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|${NHS_NUMBER_LIKE.source}`, 'gi');
export const DEFAULT_PERMIT_DESC = 'access permitted';
export const DEFAULT_DENY_DESC = 'access refused';

/** Removes anything NHS-number-like from free text bound for the audit trail. */
function redact(text: string): string {
  // A UUID (integrated id, snapshot id, request id) is kept whole: its digit runs can look like an NHS number.
  return text.replace(UUID_OR_NHS_NUMBER_LIKE, (m) => (UUID.test(m) ? m : '[redacted]'));
}

function interactionOf(input: AuditInput): Interaction {
  const method = input.operation.trim().split(/\s+/)[0]?.toUpperCase() ?? '';
  if (input.operation.includes('$')) return 'operation';
  if (input.action === 'patient-read') return 'read';
  if (input.action === 'patient-query') return 'search-type';
  if (input.action === 'consent-read') return input.operation.includes('{id}') ? 'read' : 'search-type';
  if (method === 'POST') return /_search\b/.test(input.operation) ? 'search-type' : 'create';
  if (method === 'PUT' || method === 'PATCH') return 'update';
  if (method === 'DELETE') return 'delete';
  if (method === 'GET') return 'read';
  return 'operation';
}


/**
 * A FHIR R4 AuditEvent for one audited event, following IHE BALP:
 *  - RESTful interactions (patient-read, patient-query, consent-change, emergency-review): type
 *    audit-event-type `rest`, subtype the restful-interaction (read, search-type, operation, create,
 *    update, delete) as BALP Read/Query/Create/Update/Delete (PatientRead/PatientQuery with a patient).
 *  - consent-decision: BALP AuthZconsent, type DCM 110113 Security Alert, subtype AuthZ-Consent.
 *  - emergency-access: type DCM 110113 Security Alert, subtype DCM 110127 Emergency Override Started.
 *  - outcome '0' (permit) or '4' (deny) with outcomeDesc; purposeOfEvent v3-ActReason.
 *  - agent[0] the requesting user (requestor, IRCP; user id, role, purposeOfUse, token id as policy),
 *    agent[1] the user's organisation (ODS code) when known; source.observer the service.
 *  - entity: the patient (`Patient/<uuid>`, type 1 Person, role 1 Patient), the request (query or
 *    operation, with resource types, sources and reason as details) and the X-Request-Id (BALP XrequestId).
 * Nothing identifying the patient other than the random integrated id is written: no NHS number (also
 * redacted from free text), name or birth date.
 */
export function buildAuditEvent(input: AuditInput, id: string, recorded: Date): AuditEvent {
  const { principal } = input;
  const interaction = interactionOf(input);
  const patientId = input.patientId && UUID.test(input.patientId) ? input.patientId.toLowerCase() : null;
  const operation = redact(input.operation);
  const purpose: Coding = { system: ACT_REASON_SYSTEM, code: input.purpose, display: PURPOSE_DISPLAY[input.purpose] };

  let type: Coding;
  let subtype: Coding[];
  let action: NonNullable<AuditEvent['action']>;
  if (input.action === 'consent-decision') {
    type = { system: DCM, code: '110113', display: 'Security Alert' };
    subtype = [{ system: BALP_AUTHZ_SUBTYPE, code: 'AuthZ-Consent', display: 'Authorization Decision using Roles and Consent' }];
    action = 'E';
  } else if (input.action === 'emergency-access') {
    type = { system: DCM, code: '110113', display: 'Security Alert' };
    subtype = [{ system: DCM, code: '110127', display: 'Emergency Override Started' }];
    action = 'E';
  } else {
    type = { system: AUDIT_EVENT_TYPE, code: 'rest', display: 'Restful Operation' };
    subtype = [{ system: RESTFUL_INTERACTION, code: interaction, display: interaction }];
    action = INTERACTION_ACTION[interaction];
  }

  const user: AuditEventAgent = {
    type: { coding: [{ system: PARTICIPATION, code: 'IRCP', display: 'information recipient' }] },
    role: [{ coding: [{ system: ROLE_SYSTEM, code: principal.role }] }],
    who: { identifier: { system: USER_ID_SYSTEM, value: principal.sub } },
    requestor: true,
    ...(principal.jti ? { policy: [principal.jti] } : {}),
    purposeOfUse: [{ coding: [purpose] }],
  };
  const agent: AuditEventAgent[] = [user];
  if (principal.organisation) {
    agent.push({
      type: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-RoleClass', code: 'PROV', display: 'healthcare provider' }] },
      who: { type: 'Organization', identifier: { system: ODS_SYSTEM, value: principal.organisation } },
      requestor: false,
    });
  }

  const details: NonNullable<AuditEventEntity['detail']> = [
    { type: 'action', valueString: input.action },
  ];
  if (input.resourceTypes?.length) details.push({ type: 'resourceTypes', valueString: input.resourceTypes.join(',') });
  if (input.sources?.length) details.push({ type: 'sources', valueString: input.sources.join(',') });
  if (input.reason) details.push({ type: 'reason', valueString: redact(input.reason) });
  if (input.patientId && !patientId) details.push({ type: 'requestedPatientId', valueString: redact(input.patientId).slice(0, 64) });

  const entity: AuditEventEntity[] = [];
  if (patientId) {
    entity.push({
      what: { reference: `Patient/${patientId}` },
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
    });
  }
  const request: AuditEventEntity =
    interaction === 'search-type'
      ? {
          type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
          role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
          description: operation,
          query: Buffer.from(operation, 'utf8').toString('base64'),
          detail: details,
        }
      : {
          type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
          role: { system: OBJECT_ROLE, code: interaction === 'operation' ? '3' : '4', display: interaction === 'operation' ? 'Report' : 'Domain Resource' },
          name: operation,
          description: operation,
          detail: details,
        };
  entity.push(request);
  entity.push({
    what: { identifier: { value: input.requestId } },
    type: { system: BALP_ENTITY_TYPE, code: 'XrequestId', display: 'X-Request-Id' },
  });

  return {
    resourceType: 'AuditEvent',
    id,
    type,
    subtype,
    action,
    recorded: recorded.toISOString(),
    outcome: input.decision === 'permit' ? '0' : '4',
    outcomeDesc: redact(input.outcomeDescription ?? (input.decision === 'permit' ? DEFAULT_PERMIT_DESC : DEFAULT_DENY_DESC)),
    purposeOfEvent: [{ coding: [purpose] }],
    agent,
    source: {
      site: 'integrated-record',
      observer: { display: 'Integrated patient record service', identifier: { system: 'urn:ietf:rfc:3986', value: AUDIT_SERVICE_ID } },
      type: [{ system: SOURCE_TYPE, code: '4', display: 'Application Server' }],
    },
    entity,
  };
}


/** Throws a TypeError when an event lacks what every audit record needs. */
export function checkInput(input: AuditInput): void {
  if (input.decision !== 'permit' && input.decision !== 'deny') throw new TypeError(`audit: bad decision ${String(input.decision)}`);
  if (!input.principal?.sub || !input.principal.role) throw new TypeError('audit: principal sub and role are required');
  if (!(input.purpose in PURPOSE_DISPLAY)) throw new TypeError(`audit: bad purpose ${String(input.purpose)}`);
  if (!input.requestId) throw new TypeError('audit: requestId is required');
  if (!input.operation) throw new TypeError('audit: operation is required');
}
