import type { Principal } from '../identity/principal.js';
import type { PurposeOfUse } from '../fhir/purpose-of-use.js';

/** The audit trail's vocabulary: what is audited (AuditInput), how it is searched and verified, and a patient's access-log line. */
export type AuditAction =
  | 'patient-read'
  | 'patient-query'
  | 'consent-change'
  /** Reading a patient's consents (by id, history or search). */
  | 'consent-read'
  | 'emergency-access'
  | 'emergency-review'
  | 'consent-decision'
  /** An analyst's request to recompute and store indicator snapshots (aggregate data; no patient). */
  | 'indicator-refresh';

export type AuditDecision = 'permit' | 'deny';

export interface AuditInput {
  action: AuditAction;
  decision: AuditDecision;
  principal: Principal;
  /** The integrated patient id (a random UUID). Anything that is not a UUID is not recorded as the patient. */
  patientId?: string | null;
  purpose: PurposeOfUse;
  /** X-Request-Id of the HTTP request, to correlate with service logs. */
  requestId: string;
  /** Route template, e.g. 'GET /fhir/Patient/{id}/$everything' (no identifiers: NHS-number-like digits are redacted). */
  operation: string;
  /** FHIR resource types returned or asked for (e.g. `_type`). */
  resourceTypes?: string[];
  /** Source systems involved (gp, hospital, social-care). */
  sources?: string[];
  /** Free-text reason, e.g. the reason given for emergency access. */
  reason?: string;
  /** What happened, e.g. why access was refused (AuditEvent.outcomeDesc). */
  outcomeDescription?: string;
}

/** One line of a patient's access log, in plain words ("who looked at my record, when, why"). */
export interface AccessLogEntry {
  /** ISO 8601 time of the event. */
  when: string;
  /** e.g. "a clinician at organisation A81001 (user id dr-1)", or "you". */
  who: string;
  userId: string;
  role: string;
  organisation: string | null;
  /** e.g. "viewed your full record", "searched for you". */
  what: string;
  /** e.g. "your care", "an emergency: unconscious on arrival". */
  why: string;
  /** "access was allowed" or "access was refused". */
  decision: 'access was allowed' | 'access was refused';
  /** For a refusal, why it was refused (when recorded). */
  refusalReason?: string;
  /** The audit action (patient-read, consent-decision, emergency-review …). */
  action: string;
  /** The request it belongs to: a read and its consent decision share one. */
  requestId: string;
  /** What came of it, when recorded (e.g. "emergency access reviewed: appropriate"; "3 item(s) withheld …"). */
  outcome?: string;
}

export interface AuditSearch {
  patientId?: string;
  userSub?: string;
  organisation?: string;
  /** Inclusive lower bound of `recorded`. */
  from?: Date;
  /** Exclusive upper bound of `recorded`. */
  to?: Date;
  decision?: AuditDecision;
  action?: AuditAction;
  /** Page size, default 100, at most 1000. */
  count?: number;
  offset?: number;
}

export type AuditVerification = { ok: true; count: number } | { ok: false; firstBrokenSeq: number; reason: string };

/** The newest link of the chain; keep a copy outside the database to detect truncation or a rewritten chain. */
export interface AuditAnchor {
  seq: number;
  hash: string;
}
