import { randomUUID } from 'node:crypto';
import { badRequest, notFound, OperationOutcomeError, outcome } from '../fhir/outcomes.js';
import type { Principal } from '../identity/principal.js';
import type { Db, Queryable } from '../store/db.js';
import type { EmergencyGrant } from './types.js';

/** Coded reasons for emergency (break-glass) access. */
export const EMERGENCY_REASONS = {
  unconscious: 'Patient unconscious',
  'lacks-capacity': 'Patient lacks capacity to consent',
  'life-threatening': 'Life-threatening emergency',
  'safeguarding-emergency': 'Immediate safeguarding risk',
} as const;
export type EmergencyReason = keyof typeof EMERGENCY_REASONS;

export interface GrantRecord extends EmergencyGrant {
  role: string;
  organisation: string | null;
  reasonCode: EmergencyReason;
  createdAt: Date;
  reviewStatus: 'open' | 'reviewed';
  reviewOutcome?: 'appropriate' | 'inappropriate';
  reviewedBy?: string;
  reviewNote?: string;
}

interface Row {
  id: string;
  user_sub: string;
  user_role: string;
  organisation: string | null;
  patient_id: string;
  reason_code: EmergencyReason;
  reason_text: string;
  created_at: Date | string;
  expires_at: Date | string;
  review_status: 'open' | 'reviewed';
  review_outcome: 'appropriate' | 'inappropriate' | null;
  reviewed_by: string | null;
  review_note: string | null;
}

/** Emergency-access grants and the privacy officers' review queue. */
export class EmergencyAccess {
  constructor(
    private readonly db: Db,
    private readonly grantMinutes: number,
  ) {}

  /** Records a grant. `q`: the caller's transaction (AuditLog.change: the grant commits with its audit event). */
  async grant(principal: Principal, patientId: string, reasonCode: string, note: string, now = new Date(), q: Queryable = this.db): Promise<GrantRecord> {
    if (!(reasonCode in EMERGENCY_REASONS)) {
      throw badRequest('invalid-reason', `reason must be one of: ${Object.keys(EMERGENCY_REASONS).join(', ')}.`, ['reason']);
    }
    if (note.trim().length < 5 || note.length > 1000) {
      throw badRequest('invalid-note', 'note must explain the emergency in 5 to 1000 characters.', ['note']);
    }
    const id = randomUUID();
    const expires = new Date(now.getTime() + this.grantMinutes * 60_000);
    const r = await q.query<Row>(
      `INSERT INTO emergency_grant (id, user_sub, user_role, organisation, patient_id, reason_code, reason_text, created_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING *`,
      [id, principal.sub, principal.role, principal.organisation ?? null, patientId, reasonCode, note.trim(), now.toISOString(), expires.toISOString()],
    );
    return toRecord(r.rows[0]!);
  }

  /** The user's unexpired grant for this patient, if any (read fresh on every request). */
  async active(sub: string, patientId: string, now = new Date()): Promise<GrantRecord | undefined> {
    const r = await this.db.query<Row>(
      `SELECT * FROM emergency_grant WHERE user_sub = $1 AND patient_id = $2 AND expires_at > $3 ORDER BY expires_at DESC LIMIT 1`,
      [sub, patientId, now.toISOString()],
    );
    return r.rows[0] ? toRecord(r.rows[0]) : undefined;
  }

  async openAlerts(limit = 100): Promise<GrantRecord[]> {
    const r = await this.db.query<Row>(`SELECT * FROM emergency_grant WHERE review_status = 'open' ORDER BY created_at LIMIT $1`, [limit]);
    return r.rows.map(toRecord);
  }

  /** Records a privacy officer's review. `q` as for grant. */
  async review(id: string, reviewer: string, outcomeCode: string, note: string, q: Queryable = this.db): Promise<GrantRecord> {
    if (outcomeCode !== 'appropriate' && outcomeCode !== 'inappropriate') {
      throw badRequest('invalid-outcome', "outcome must be 'appropriate' or 'inappropriate'.", ['outcome']);
    }
    const r = await q.query<Row>(
      `UPDATE emergency_grant SET review_status = 'reviewed', review_outcome = $2, reviewed_by = $3, reviewed_at = now(), review_note = $4
        WHERE id = $1 AND review_status = 'open' RETURNING *`,
      [UUID.test(id) ? id : '00000000-0000-0000-0000-000000000000', outcomeCode, reviewer, note],
    );
    if (r.rows[0]) return toRecord(r.rows[0]);
    const exists = UUID.test(id) && (await q.query('SELECT 1 FROM emergency_grant WHERE id = $1', [id])).rows.length > 0;
    if (!exists) throw notFound('There is no such emergency-access alert.');
    throw new OperationOutcomeError(409, outcome(409, [{ code: 'conflict', errorCode: 'already-reviewed', diagnostics: 'This alert has already been reviewed.' }]));
  }
}

function toRecord(r: Row): GrantRecord {
  return {
    id: r.id,
    sub: r.user_sub,
    role: r.user_role,
    organisation: r.organisation,
    patientId: r.patient_id,
    reasonCode: r.reason_code,
    reason: `${EMERGENCY_REASONS[r.reason_code] ?? r.reason_code}: ${r.reason_text}`,
    createdAt: new Date(r.created_at),
    expiresAt: new Date(r.expires_at),
    reviewStatus: r.review_status,
    ...(r.review_outcome ? { reviewOutcome: r.review_outcome } : {}),
    ...(r.reviewed_by ? { reviewedBy: r.reviewed_by } : {}),
    ...(r.review_note ? { reviewNote: r.review_note } : {}),
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
