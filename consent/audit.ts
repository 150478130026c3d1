import { serviceUnavailable } from '../fhir/outcomes.js';
import { createHash, randomUUID } from 'node:crypto';
import type { AuditEvent, AuditEventAgent, AuditEventEntity, Coding } from 'fhir/r4.js';
import type { Principal } from '../server/principal.js';
import type { Db, Queryable } from '../store/db.js';
import { ACT_REASON_SYSTEM, ODS_SYSTEM, ROLE_SYSTEM, type PurposeOfUse } from './types.js';

/**
 * Append-only, tamper-evident audit trail.
 *
 * Every audited event is one row of `audit_event` (store/migrations/003_audit.sql) holding a FHIR R4
 * AuditEvent that follows the IHE Basic Audit Log Patterns (BALP), plus a few columns to search on.
 * Rows form a hash chain: `hash = sha256(prev_hash + canonicalJson(content))`, where content is the
 * row's seq, id, recorded time, search columns and resource; seq 1 chains from 64 zeros. Changing,
 * removing, reordering or inserting a row anywhere before the newest one breaks the chain at that
 * row, and `verify()` names the first broken seq. (Removing the newest rows, or rewriting a row and
 * recomputing every later hash, needs an anchor kept outside the database: see `head()` and
 * `verify(anchor)`.)
 *
 * Appends are serialised by a transaction-scoped advisory lock, so any number of service instances
 * writing to one PostgreSQL build one chain with gapless seqs. `append` throws when the row could not
 * be written: callers must then refuse to return data (fail closed).
 */

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

// ---------------------------------------------------------------------------------------------------
// Vocabulary
// ---------------------------------------------------------------------------------------------------

export const AUDIT_SERVICE_ID = 'https://integrated-record.example.nhs.uk/fhir';
export const USER_ID_SYSTEM = 'https://integrated-record.example.nhs.uk/Id/user';
const AUDIT_EVENT_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-event-type';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const RESTFUL_INTERACTION = 'http://hl7.org/fhir/restful-interaction';
const BALP_AUTHZ_SUBTYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/AuthZsubType';
const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ten digits, optionally grouped 3-3-4: anything that could be an NHS number. */
const NHS_NUMBER_LIKE = /(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)/g;
const DEFAULT_PERMIT_DESC = 'access permitted';
const DEFAULT_DENY_DESC = 'access refused';
const GENESIS_HASH = '0'.repeat(64);
/** pg_advisory_xact_lock key serialising appends across service instances (migrations use 7_240_001). */
const AUDIT_APPEND_LOCK = 7_240_003;

/** Removes anything NHS-number-like from free text bound for the audit trail. */
function redact(text: string): string {
  return text.replace(NHS_NUMBER_LIKE, '[redacted]');
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

// ---------------------------------------------------------------------------------------------------
// The FHIR AuditEvent
// ---------------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------------
// Hash chain
// ---------------------------------------------------------------------------------------------------

/** JSON with object keys sorted at every level and undefined members dropped: one text per value. */
export function canonicalJson(value: unknown): string {
  // One pass appending to one string (no per-node arrays of entries, filtered and mapped copies): under
  // load the audit hash was a tenth of everything the service allocated. Same text as before, byte for
  // byte, so existing chains still verify.
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in audit content');
    return JSON.stringify(value) ?? 'null';
  }
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  let out: string;
  if (Array.isArray(value)) {
    out = '[';
    for (let i = 0; i < value.length; i++) {
      if (i > 0) out += ',';
      const v: unknown = value[i];
      out += v === undefined ? 'null' : canonicalJson(v);
    }
    return out + ']';
  }
  const record = value as Record<string, unknown>;
  // Code-unit order, as the default sort compares strings.
  const keys = Object.keys(record).sort();
  out = '{';
  let first = true;
  for (const k of keys) {
    const v = record[k];
    if (v === undefined) continue;
    if (!first) out += ',';
    first = false;
    out += JSON.stringify(k) + ':' + canonicalJson(v);
  }
  return out + '}';
}

/** What is stored for one event, as hashed. */
interface AuditRow {
  seq: number;
  id: string;
  recorded: string;
  patient_id: string | null;
  user_sub: string;
  user_role: string;
  organisation: string | null;
  action: string;
  decision: string;
  purpose: string;
  request_id: string;
  resource: unknown;
}

function rowHash(prevHash: string, row: AuditRow): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(row)).digest('hex');
}

interface StoredRow extends Omit<AuditRow, 'seq' | 'recorded'> {
  seq: number | string;
  recorded: Date | string;
  prev_hash: string;
  hash: string;
}

function toAuditRow(r: StoredRow): AuditRow {
  return {
    seq: Number(r.seq),
    id: r.id,
    recorded: new Date(r.recorded).toISOString(),
    patient_id: r.patient_id,
    user_sub: r.user_sub,
    user_role: r.user_role,
    organisation: r.organisation,
    action: r.action,
    decision: r.decision,
    purpose: r.purpose,
    request_id: r.request_id,
    resource: typeof r.resource === 'string' ? JSON.parse(r.resource) : r.resource,
  };
}

const ROW_COLUMNS = 'seq, id, recorded, patient_id, user_sub, user_role, organisation, action, decision, purpose, request_id, resource, prev_hash, hash';

// ---------------------------------------------------------------------------------------------------
// The log
// ---------------------------------------------------------------------------------------------------

/** Builds the next links of the chain after (seq, prevHash): the events and one multi-row INSERT. */
function chainRows(inputs: AuditInput[], seq: number, prevHash: string, recorded: Date) {
  const events: AuditEvent[] = [];
  const values: string[] = [];
  const params: unknown[] = [];
  for (const input of inputs) {
    seq += 1;
    const id = randomUUID();
    const resource = buildAuditEvent(input, id, recorded);
    const row = rowFor(seq, id, recorded, input, resource);
    const hash = rowHash(prevHash, row);
    const n = params.length;
    values.push(`(${ROW_TYPES.map((type, i) => `$${n + i + 1}::${type}`).join(', ')})`);
    params.push(
      seq, id, recorded.toISOString(), row.patient_id, row.user_sub, row.user_role, row.organisation,
      row.action, row.decision, row.purpose, row.request_id, JSON.stringify(resource), prevHash, hash,
    );
    prevHash = hash;
    events.push(resource);
  }
  // One multi-row INSERT per batch: on embedded PGlite a transaction blocks every other query.
  return { events, seq, hash: prevHash, values: values.join(', '), params };
}

/** Types of ROW_COLUMNS, in order (the VALUES list is typed so it can also feed INSERT … SELECT). */
const ROW_TYPES = ['bigint', 'uuid', 'timestamptz', 'uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'text', 'text'];

/**
 * Embedded PGlite is one connection owned by this one process (its data folder cannot be opened twice), so
 * appends are serialised in memory, shared by every AuditLog over the same Db, and the chain head is kept
 * here: an append is then ONE statement (atomic on its own) instead of a transaction with a lock and a read
 * of the head — about 1 ms less database work on every audited request (README, performance). The INSERT
 * only takes effect if the stored head is still the one we chained from; if anything else changed the table,
 * the head is read again and the batch rebuilt.
 */
const embeddedChains = new WeakMap<Db, { head?: { seq: number; hash: string; recordedMs: number }; tail: Promise<unknown> }>();

function appendEmbedded(db: Db, inputs: AuditInput[]): Promise<AuditEvent[]> {
  let chain = embeddedChains.get(db);
  if (!chain) embeddedChains.set(db, (chain = { tail: Promise.resolve() }));
  const state = chain;
  const run = state.tail.then(async () => {
    for (let attempt = 0; ; attempt += 1) {
      if (!state.head) {
        const r = await db.query<{ seq: number | string; hash: string; recorded: Date | string }>(
          'SELECT seq, hash, recorded FROM audit_event ORDER BY seq DESC LIMIT 1',
        );
        const last = r.rows[0];
        state.head = last ? { seq: Number(last.seq), hash: last.hash, recordedMs: new Date(last.recorded).getTime() } : { seq: 0, hash: GENESIS_HASH, recordedMs: 0 };
      }
      // `recorded` never goes backwards along the chain, whatever the wall clock does.
      const recorded = new Date(Math.max(Date.now(), state.head.recordedMs));
      const batch = chainRows(inputs, state.head.seq, state.head.hash, recorded);
      const headParam = `$${batch.params.length + 1}`;
      let written: number;
      try {
        const r = await db.query(
          `INSERT INTO audit_event (${ROW_COLUMNS})
             SELECT * FROM (VALUES ${batch.values}) AS v (${ROW_COLUMNS})
              WHERE coalesce((SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1), '${GENESIS_HASH}') = ${headParam}
           RETURNING seq`,
          [...batch.params, state.head.hash],
        );
        written = r.rows.length;
      } catch (e) {
        state.head = undefined;
        throw e;
      }
      if (written === inputs.length) {
        state.head = { seq: batch.seq, hash: batch.hash, recordedMs: recorded.getTime() };
        return batch.events;
      }
      state.head = undefined;
      if (attempt >= 2) throw new Error('the audit chain head kept changing during an append');
    }
  });
  state.tail = run.catch(() => undefined);
  return run;
}

/** Waiting events beyond this many are written at once, even if every one of them was deferred. */
const MAX_DEFERRED = 64;

export class AuditLog {
  private queue: { input: AuditInput; resolve: (e: AuditEvent) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;

  /** deferMs: how long a deferred event may wait for others to share its commit (config AUDIT_DEFER_MS). */
  constructor(
    private readonly db: Db,
    private readonly deferMs = 30,
  ) {}

  /**
   * Writes one event and resolves once it is committed. Throws when it could not be written: the caller
   * must fail closed. Group commit: events arriving while a write is in progress are written together
   * in the next transaction (one lock, one commit), each caller still waiting for its own commit.
   */
  append(input: AuditInput): Promise<AuditEvent> {
    const queued = this.enqueue(input);
    this.startFlush();
    return queued.written;
  }

  /**
   * Queues an event without starting a write, for a caller that is about to wait on slow work anyway (the
   * source systems): the event is written with the next commit anyone starts, and `committed()` starts one
   * if nobody has by the time the caller needs it. Under load, the events of every request in flight then
   * share one INSERT instead of one each (README, performance). The caller must await `committed()` before
   * releasing anything: it throws (a 503 OperationOutcome) if the event could not be written.
   */
  defer(input: AuditInput, failure = 'The access could not be recorded in the audit trail, so no data is returned. Try again shortly.'): { committed(): Promise<void> } {
    const queued = this.enqueue(input);
    queued.written.catch(() => undefined); // observed by committed(); never an unhandled rejection meanwhile
    if (this.queue.length >= MAX_DEFERRED) this.startFlush();
    else this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.startFlush();
    }, this.deferMs);
    return {
      committed: async () => {
        if (this.queue.includes(queued.entry)) this.startFlush();
        try {
          await queued.written;
        } catch {
          throw serviceUnavailable('audit-unavailable', failure);
        }
      },
    };
  }

  /**
   * `append` for request handlers: a failed write becomes a 503 OperationOutcome, so the caller's data or
   * action is never released without its audit record (fail closed).
   */
  async record(input: AuditInput, failure = 'The access could not be recorded in the audit trail, so it was not carried out. Try again shortly.'): Promise<void> {
    try {
      await this.append(input);
    } catch {
      throw serviceUnavailable('audit-unavailable', failure);
    }
  }

  private enqueue(input: AuditInput) {
    let entry!: AuditLog['queue'][number];
    const written = new Promise<AuditEvent>((resolve, reject) => {
      entry = { input, resolve, reject };
    });
    try {
      checkInput(input);
    } catch (e) {
      entry.reject(e);
      return { entry, written };
    }
    this.queue.push(entry);
    return { entry, written };
  }

  private startFlush(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 500);
      try {
        const events = await this.appendMany(batch.map((b) => b.input));
        batch.forEach((b, i) => b.resolve(events[i]!));
      } catch (e) {
        batch.forEach((b) => b.reject(e));
      }
    }
    this.flushing = false;
  }

  /** Writes several events atomically (all or none), in order, under one lock. */
  async appendMany(inputs: AuditInput[]): Promise<AuditEvent[]> {
    if (inputs.length === 0) return [];
    for (const input of inputs) checkInput(input);
    if (this.db.engine === 'pglite') return appendEmbedded(this.db, inputs);
    return this.db.tx(async (q) => {
      await q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
      // A separate statement after the lock: under READ COMMITTED it sees every append committed before.
      const head = await q.query<{ seq: number | string | null; hash: string | null; now: Date | string }>(
        `SELECT clock_timestamp() AS now, last.seq, last.hash
           FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1) AS last ON true`,
      );
      const h = head.rows[0]!;
      // The database clock, read under the lock: `recorded` never goes backwards along the chain.
      const batch = chainRows(inputs, h.seq === null ? 0 : Number(h.seq), h.hash ?? GENESIS_HASH, new Date(h.now));
      await q.query(`INSERT INTO audit_event (${ROW_COLUMNS}) VALUES ${batch.values}`, batch.params);
      return batch.events;
    });
  }

  /** The newest link (null when empty). Publishing it elsewhere lets `verify(anchor)` detect truncation. */
  async head(): Promise<AuditAnchor | null> {
    const r = await this.db.query<{ seq: number | string; hash: string }>('SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1');
    return r.rows[0] ? { seq: Number(r.rows[0].seq), hash: r.rows[0].hash } : null;
  }

  /**
   * Recomputes the whole chain from seq 1: seqs must run 1..N without gaps, each prev_hash must be the
   * previous row's hash and each hash must match the row's content. Reports the first broken seq (a
   * missing seq is reported as that seq). With an anchor, the row at anchor.seq must exist with that hash.
   */
  async verify(anchor?: AuditAnchor): Promise<AuditVerification> {
    const batch = 1000;
    let expected = 1;
    let prevHash = GENESIS_HASH;
    let anchorSeen = false;
    for (;;) {
      const r = await this.db.query<StoredRow>(
        `SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq >= $1 ORDER BY seq LIMIT $2`,
        // The first batch has no lower bound, so rows smuggled in below seq 1 are seen too.
        [expected === 1 ? Number.MIN_SAFE_INTEGER : expected, batch],
      );
      for (const stored of r.rows) {
        const row = toAuditRow(stored);
        if (row.seq < expected) {
          return { ok: false, firstBrokenSeq: expected, reason: `unexpected event with seq ${row.seq} before event ${expected}` };
        }
        if (row.seq > expected) {
          return { ok: false, firstBrokenSeq: expected, reason: `event ${expected} is missing (next stored event is ${row.seq})` };
        }
        if (stored.prev_hash !== prevHash) {
          return { ok: false, firstBrokenSeq: row.seq, reason: `prev_hash does not match the hash of event ${row.seq - 1}` };
        }
        if (rowHash(prevHash, row) !== stored.hash) {
          return { ok: false, firstBrokenSeq: row.seq, reason: 'stored hash does not match the event content (modified or replaced)' };
        }
        if (anchor && row.seq === anchor.seq) {
          if (stored.hash !== anchor.hash) return { ok: false, firstBrokenSeq: row.seq, reason: 'hash differs from the anchor kept outside the database' };
          anchorSeen = true;
        }
        prevHash = stored.hash;
        expected += 1;
      }
      if (r.rows.length < batch) break;
    }
    if (anchor && !anchorSeen) {
      return { ok: false, firstBrokenSeq: expected, reason: `chain ends at event ${expected - 1}, before the anchor at event ${anchor.seq} (truncated)` };
    }
    return { ok: true, count: expected - 1 };
  }

  /** Events matching every given filter, newest first. */
  async search(filter: AuditSearch = {}): Promise<AuditEvent[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, value: unknown) => {
      params.push(value);
      where.push(sql.replace('?', `$${params.length}`));
    };
    if (filter.patientId !== undefined) {
      if (!UUID.test(filter.patientId)) return [];
      add('patient_id = ?', filter.patientId.toLowerCase());
    }
    if (filter.userSub !== undefined) add('user_sub = ?', filter.userSub);
    if (filter.organisation !== undefined) add('organisation = ?', filter.organisation);
    if (filter.from !== undefined) add('recorded >= ?', filter.from.toISOString());
    if (filter.to !== undefined) add('recorded < ?', filter.to.toISOString());
    if (filter.decision !== undefined) add('decision = ?', filter.decision);
    if (filter.action !== undefined) add('action = ?', filter.action);
    const count = Math.min(Math.max(Math.trunc(filter.count ?? 100), 0), 1000);
    const offset = Math.max(Math.trunc(filter.offset ?? 0), 0);
    params.push(count, offset);
    const r = await this.db.query<{ resource: AuditEvent | string }>(
      `SELECT resource FROM audit_event
        ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY recorded DESC, seq DESC
        LIMIT $${params.length - 1} OFFSET $${params.length}`,
      params,
    );
    return r.rows.map((row) => (typeof row.resource === 'string' ? JSON.parse(row.resource) : row.resource));
  }

  /** The patient's access log in plain words, newest first (at most `limit` entries). */
  async accessLog(patientId: string, limit = 1000): Promise<AccessLogEntry[]> {
    if (!UUID.test(patientId)) return [];
    const r = await this.db.query<StoredRow>(
      `SELECT ${ROW_COLUMNS} FROM audit_event WHERE patient_id = $1 ORDER BY recorded DESC, seq DESC LIMIT $2`,
      [patientId.toLowerCase(), limit],
    );
    return r.rows.map((stored) => toAccessLogEntry(toAuditRow(stored)));
  }
}

function checkInput(input: AuditInput): void {
  if (input.decision !== 'permit' && input.decision !== 'deny') throw new TypeError(`audit: bad decision ${String(input.decision)}`);
  if (!input.principal?.sub || !input.principal.role) throw new TypeError('audit: principal sub and role are required');
  if (!(input.purpose in PURPOSE_DISPLAY)) throw new TypeError(`audit: bad purpose ${String(input.purpose)}`);
  if (!input.requestId) throw new TypeError('audit: requestId is required');
  if (!input.operation) throw new TypeError('audit: operation is required');
}

function rowFor(seq: number, id: string, recorded: Date, input: AuditInput, resource: AuditEvent): AuditRow {
  const patientId = input.patientId && UUID.test(input.patientId) ? input.patientId.toLowerCase() : null;
  return {
    seq,
    id,
    recorded: recorded.toISOString(),
    patient_id: patientId,
    user_sub: input.principal.sub,
    user_role: input.principal.role,
    organisation: input.principal.organisation ?? null,
    action: input.action,
    decision: input.decision,
    purpose: input.purpose,
    request_id: input.requestId,
    resource,
  };
}

// ---------------------------------------------------------------------------------------------------
// Plain words for patients
// ---------------------------------------------------------------------------------------------------

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

function toAccessLogEntry(row: AuditRow): AccessLogEntry {
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
  const outcome = resource.outcomeDesc && resource.outcomeDesc !== DEFAULT_DENY_DESC ? resource.outcomeDesc : undefined;
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
  };
}
