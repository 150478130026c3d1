import type { AuditEvent } from 'fhir/r4.js';
import type { Queryable } from '../store/db.js';
import { toAccessLogEntry } from './access-log-wording.js';
import { UUID } from './audit-event.js';
import { ROW_COLUMNS, toAuditRow, type StoredRow } from './hash-chain.js';
import type { AccessLogEntry, AuditSearch } from './types.js';

/** Events matching every given filter, newest first. */
export async function searchAuditEvents(db: Queryable, filter: AuditSearch = {}): Promise<AuditEvent[]> {
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
  const r = await db.query<{ resource: AuditEvent | string }>(
    `SELECT resource FROM audit_event
      ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY recorded DESC, seq DESC
      LIMIT $${params.length - 1} OFFSET $${params.length}`,
    params,
  );
  return r.rows.map((row) => (typeof row.resource === 'string' ? JSON.parse(row.resource) : row.resource));
}

/** The patient's access log in plain words, newest first (at most `limit` entries). */
export async function accessLogOf(db: Queryable, patientId: string, limit = 1000): Promise<AccessLogEntry[]> {
  if (!UUID.test(patientId)) return [];
  const r = await db.query<StoredRow>(
    `SELECT ${ROW_COLUMNS} FROM audit_event WHERE patient_id = $1 ORDER BY recorded DESC, seq DESC LIMIT $2`,
    [patientId.toLowerCase(), limit],
  );
  return r.rows.map((stored) => toAccessLogEntry(toAuditRow(stored)));
}
