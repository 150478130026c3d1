import { createHash, randomUUID } from 'node:crypto';
import type { AuditEvent } from 'fhir/r4.js';
import { buildAuditEvent, UUID } from './audit-event.js';
import { canonicalJson } from './canonical-json.js';
import type { AuditInput } from './types.js';

/**
 * The hash chain: each stored row's `hash = sha256(prev_hash + canonicalJson(row))`; seq 1 chains from
 * GENESIS_HASH. The row shape as hashed, its database columns, and the building of the next links.
 */

export const GENESIS_HASH = '0'.repeat(64);

/** What is stored for one event, as hashed. */
export interface AuditRow {
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

/** The hash of a row chained after prevHash. */
export function rowHash(prevHash: string, row: AuditRow): string {
  return createHash('sha256').update(prevHash).update(canonicalJson(row)).digest('hex');
}

export interface StoredRow extends Omit<AuditRow, 'seq' | 'recorded'> {
  seq: number | string;
  recorded: Date | string;
  prev_hash: string;
  hash: string;
}

/** A row as read from the database, in the shape that was hashed. */
export function toAuditRow(r: StoredRow): AuditRow {
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

export const ROW_COLUMNS = 'seq, id, recorded, patient_id, user_sub, user_role, organisation, action, decision, purpose, request_id, resource, prev_hash, hash';

/** Builds the next links of the chain after (seq, prevHash): the events and one multi-row INSERT. */
export function chainRows(inputs: AuditInput[], seq: number, prevHash: string, recorded: Date) {
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
export const ROW_TYPES = ['bigint', 'uuid', 'timestamptz', 'uuid', 'text', 'text', 'text', 'text', 'text', 'text', 'text', 'jsonb', 'text', 'text'];

/** The hashed content of one event at seq. */
export function rowFor(seq: number, id: string, recorded: Date, input: AuditInput, resource: AuditEvent): AuditRow {
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

