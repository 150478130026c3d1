import { randomUUID } from 'node:crypto';
import type { Consent } from 'fhir/r4.js';
import { OperationOutcomeError, notFound, outcome } from '../fhir/outcomes.js';
import type { Db, Queryable } from '../store/db.js';
import { readCache, type ReadCache } from '../store/embedded-cache.js';

export interface StoredConsent {
  resource: Consent;
  version: number;
  patientId: string;
}

interface Row {
  id: string;
  version: number;
  patient_id: string;
  resource: Consent;
  recorded_at: Date | string;
}

const preconditionFailed = (diagnostics: string) =>
  new OperationOutcomeError(412, outcome(412, [{ code: 'conflict', errorCode: 'version-conflict', diagnostics }]));

/**
 * Versioned Consent resources. Every create or update inserts a new version row; the current version
 * is the highest. Updates name the version they replace (If-Match); the (id, version) primary key makes
 * two concurrent updates of the same version collide, so exactly one wins and the other gets 412.
 */
export class ConsentStore {
  /** The current consents per patient, read on every record request: cached on embedded PGlite only (see store/embedded-cache.ts). */
  private readonly current: ReadCache<StoredConsent[]>;

  constructor(private readonly db: Db) {
    this.current = readCache(db, 'consents-by-patient');
  }

  /**
   * Stores a new consent. `q`: the caller's transaction (AuditLog.change, so the change commits with its
   * audit event); the caller then calls `invalidate(patientId)` once it has committed or rolled back.
   */
  async create(consent: Consent, patientId: string, by: string, q?: Queryable): Promise<StoredConsent> {
    return this.insert(randomUUID(), 1, consent, patientId, by, q);
  }

  /** Stores the next version (If-Match semantics: 412 when `expectedVersion` is not current). `q` as for create. */
  async update(id: string, expectedVersion: number, consent: Consent, patientId: string, by: string, q?: Queryable): Promise<StoredConsent> {
    const current = await this.read(id, undefined, q);
    if (!current) throw notFound('This consent does not exist.');
    if (current.patientId !== patientId) {
      throw new OperationOutcomeError(422, outcome(422, [{ code: 'processing', errorCode: 'patient-changed', diagnostics: 'A Consent cannot be moved to another patient.', expression: ['Consent.patient'] }]));
    }
    if (current.version !== expectedVersion) {
      throw preconditionFailed(`This consent is at version ${current.version}, not ${expectedVersion}: read it again and re-apply your change.`);
    }
    return this.insert(id, expectedVersion + 1, consent, patientId, by, q);
  }

  /** Drops the cached current consents of a patient (after a change made in the caller's transaction has ended). */
  invalidate(patientId: string): void {
    this.current.invalidate(patientId.toLowerCase());
  }

  async read(id: string, version?: number, q: Queryable = this.db): Promise<StoredConsent | undefined> {
    if (!UUID.test(id)) return undefined;
    const r = version === undefined
      ? await q.query<Row>('SELECT * FROM consent_version WHERE id = $1 ORDER BY version DESC LIMIT 1', [id])
      : await q.query<Row>('SELECT * FROM consent_version WHERE id = $1 AND version = $2', [id, version]);
    return r.rows[0] ? toStored(r.rows[0]) : undefined;
  }

  async history(id: string): Promise<StoredConsent[]> {
    if (!UUID.test(id)) return [];
    const r = await this.db.query<Row>('SELECT * FROM consent_version WHERE id = $1 ORDER BY version DESC', [id]);
    return r.rows.map(toStored);
  }

  /**
   * The current version of every consent of a patient. Never stale: on PostgreSQL it is read on every
   * request; on embedded PGlite the write below invalidates it before the write returns.
   */
  async forPatient(patientId: string): Promise<StoredConsent[]> {
    if (!UUID.test(patientId)) return [];
    return this.current.read(patientId.toLowerCase(), async () => {
      const r = await this.db.query<Row>(
        `SELECT DISTINCT ON (id) * FROM consent_version WHERE patient_id = $1 ORDER BY id, version DESC`,
        [patientId],
      );
      return r.rows.map(toStored);
    });
  }

  /**
   * The current version of every consent that has ever expressed a secondary-use wish (scope `research`, or a
   * provision naming purpose HRESCH / HOPERAT), for listing the patients who opted out
   * (indicators/opt-outs.ts decides with isOptedOutOfSecondaryUse). Read fresh on every refresh.
   */
  async currentSecondaryUseConsents(): Promise<StoredConsent[]> {
    const r = await this.db.query<Row>(
      `SELECT DISTINCT ON (id) * FROM consent_version
        WHERE id IN (SELECT id FROM consent_version
                      WHERE scope = 'research' OR resource::text LIKE '%"HRESCH"%' OR resource::text LIKE '%"HOPERAT"%')
        ORDER BY id, version DESC`,
    );
    return r.rows.map(toStored);
  }

  private async insert(id: string, version: number, consent: Consent, patientId: string, by: string, q: Queryable = this.db): Promise<StoredConsent> {
    const recordedAt = new Date();
    const resource: Consent = { ...consent, id, meta: { ...consent.meta, versionId: String(version), lastUpdated: recordedAt.toISOString() } };
    const r = await q
      .query<Row>(
        `INSERT INTO consent_version (id, version, patient_id, status, scope, resource, recorded_at, recorded_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT (id, version) DO NOTHING
         RETURNING *`,
        [id, version, patientId, consent.status, consent.scope?.coding?.[0]?.code ?? '', JSON.stringify(resource), recordedAt.toISOString(), by],
      )
      .finally(() => this.current.invalidate(patientId.toLowerCase()));
    if (!r.rows[0]) throw preconditionFailed('This consent was changed by someone else at the same time: read it again and re-apply your change.');
    return toStored(r.rows[0]);
  }
}

function toStored(row: Row): StoredConsent {
  const resource = typeof row.resource === 'string' ? (JSON.parse(row.resource) as Consent) : row.resource;
  return { resource, version: row.version, patientId: row.patient_id };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
