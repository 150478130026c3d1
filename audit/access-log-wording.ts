import type { AuditEvent } from 'fhir/r4.js';
import { DEFAULT_DENY_DESC, DEFAULT_PERMIT_DESC, ENTITY_TYPE } from './audit-event.js';
import type { AuditRow } from './hash-chain.js';
import type { AccessLogEntry } from './types.js';

/** The access log's plain wording: who looked at a patient's record, what they did and why. */

const ROLE_WORDS: Record<string, string> = {
  clinician: 'a clinician',
  'ambulance-crew': 'an ambulance crew member',
  analyst: 'an analyst',
  'privacy-officer': 'a privacy officer',
};

const TYPE_WORDS: Record<string, string> = {
  AllergyIntolerance: 'allergies',
  CarePlan: 'care plans',
  Condition: 'conditions',
  DocumentReference: 'documents',
  Encounter: 'appointments and visits',
  Immunization: 'vaccinations',
  MedicationRequest: 'medicines',
  MedicationStatement: 'medicines',
  Observation: 'test results and measurements',
  Procedure: 'procedures',
  ServiceRequest: 'referrals',
};

/** A stored audit row as one line of the patient's access log, in plain words. */
export function toAccessLogEntry(row: AuditRow): AccessLogEntry {
  const resource = row.resource as AuditEvent;
  const request = resource.entity?.find((e) => e.type?.system === ENTITY_TYPE && e.type.code === '2');
  const detail = (name: string) => request?.detail?.find((d) => d.type === name)?.valueString;
  const operation = request?.description ?? '';
  const reason = detail('reason');
  const resourceTypes = detail('resourceTypes');

  const who =
    row.user_role === 'patient'
      ? 'you'
      : `${ROLE_WORDS[row.user_role] ?? `someone with the role ${row.user_role}`}` +
        `${row.organisation ? ` at organisation ${row.organisation}` : ''} (user id ${row.user_sub})`;

  let what: string;
  switch (row.action) {
    case 'patient-read':
      if (operation.includes('$everything')) {
        // Only a `_type` filter narrows $everything; otherwise resourceTypes lists what was returned.
        what =
          resourceTypes && operation.includes('_type')
            ? `viewed part of your record (${resourceTypes.split(',').map((t) => TYPE_WORDS[t] ?? t).join(', ')})`
            : 'viewed your full record';
      } else if (operation.includes('$summary')) {
        what = 'viewed your patient summary (alerts, problems, allergies, medicines, carers and care plans)';
      } else {
        what = 'viewed your personal details';
      }
      break;
    case 'patient-query':
      what = 'searched for you';
      break;
    case 'consent-change':
      what = 'changed your choices about sharing your record';
      break;
    case 'consent-read':
      what = 'read your choices about sharing your record';
      break;
    case 'emergency-access':
      what = 'started emergency access to your record';
      break;
    case 'emergency-review':
      what = 'reviewed an emergency access to your record';
      break;
    case 'consent-decision':
      what = 'checked whether your sharing choices allow access to your record';
      break;
    default:
      what = `used your record (${row.action})`;
  }

  let why: string;
  switch (row.purpose) {
    case 'TREAT':
      why = 'your care';
      break;
    case 'ETREAT':
    case 'BTG':
      why = reason ? `an emergency: ${reason}` : 'an emergency';
      break;
    case 'HOPERAT':
      why = 'running and improving health services';
      break;
    case 'HRESCH':
      why = 'research';
      break;
    default:
      why = row.purpose;
  }
  const emergency = row.purpose === 'ETREAT' || row.purpose === 'BTG';

  const refused = row.decision === 'deny';
  // Why it was refused: an explicit outcome description, else the recorded reason (callers use either).
  const outcome = resource.outcomeDesc && resource.outcomeDesc !== DEFAULT_DENY_DESC && resource.outcomeDesc !== DEFAULT_PERMIT_DESC ? resource.outcomeDesc : undefined;
  const refusal = outcome ?? (!emergency ? reason : undefined) ?? resource.outcomeDesc;
  return {
    when: row.recorded,
    who,
    userId: row.user_sub,
    role: row.user_role,
    organisation: row.organisation,
    what,
    why,
    decision: refused ? 'access was refused' : 'access was allowed',
    ...(refused && refusal ? { refusalReason: refusal } : {}),
    action: row.action,
    requestId: row.request_id,
    ...(outcome ? { outcome } : {}),
  };
}

