import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from './db.js';
import { readCache, type ReadCache } from './embedded-cache.js';

export interface PatientLink {
  source: string;
  sourcePatientId: string;
  matchMethod: 'nhs-number' | 'demographics';
  matchScore?: number;
}

export interface IndexedPatient {
  id: string;
  nhsNumber: string | null;
  /** ODS code of the registered GP practice, as last seen in the GP record. */
  registeredPractice: string | null;
  links: PatientLink[];
}

/** Links each source's local patient to one integrated patient id. */
export class PatientIndex {
  /** `get` is on every record request; on embedded PGlite it is cached and invalidated by link/unlink. */
  private readonly cache: ReadCache<IndexedPatient | undefined>;

  constructor(private readonly db: Db) {
    this.cache = readCache(db, 'patient-index');
  }

  /**
   * Records that these source patients are one person and returns the integrated id.
   * With an NHS number the person is keyed by it; otherwise by any existing link. Transactional and
   * safe under concurrent calls (the unique NHS number decides the winner).
   */
  async link(nhsNumber: string | null, links: PatientLink[], registeredPractice?: string): Promise<string> {
    const touched = new Set<string>();
    try {
      return await this.db.tx(async (q) => this.linkIn(q, nhsNumber, links, registeredPractice, touched));
    } finally {
      // After the commit (or rollback): the patient and any patient a link was moved away from.
      for (const id of touched) this.cache.invalidate(id);
    }
  }

  private async linkIn(q: Queryable, nhsNumber: string | null, links: PatientLink[], registeredPractice: string | undefined, touched: Set<string>): Promise<string> {
    const id = (await this.findExisting(q, nhsNumber, links)) ?? (await this.insertPatient(q, nhsNumber));
    touched.add(id);
    if (registeredPractice) {
      await q.query('UPDATE patient SET registered_practice = $2 WHERE id = $1 AND registered_practice IS DISTINCT FROM $2', [id, registeredPractice]);
    }
    for (const l of links) {
      const r = await q.query<{ previous: string | null }>(
        `WITH old AS (SELECT patient_id FROM patient_link WHERE source = $1 AND source_patient_id = $2)
         INSERT INTO patient_link (source, source_patient_id, patient_id, match_method, match_score)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (source, source_patient_id)
         DO UPDATE SET patient_id = EXCLUDED.patient_id, match_method = EXCLUDED.match_method,
                       match_score = EXCLUDED.match_score, linked_at = now()
         RETURNING (SELECT patient_id FROM old)::text AS previous`,
        [l.source, l.sourcePatientId, id, l.matchMethod, l.matchScore ?? null],
      );
      const previous = r.rows[0]?.previous;
      if (previous) touched.add(previous);
    }
    return id;
  }

  /** Removes a link that matching no longer supports (e.g. it became ambiguous). */
  async unlink(source: string, sourcePatientId: string): Promise<void> {
    const r = await this.db.query<{ patient_id: string }>('DELETE FROM patient_link WHERE source = $1 AND source_patient_id = $2 RETURNING patient_id::text', [source, sourcePatientId]);
    for (const row of r.rows) this.cache.invalidate(row.patient_id);
  }

  /** One query: the patient and its links (the hot path of every record read). */
  async get(id: string): Promise<IndexedPatient | undefined> {
    if (!UUID.test(id)) return undefined;
    return this.cache.read(id.toLowerCase(), () => this.load(id));
  }

  private async load(id: string): Promise<IndexedPatient | undefined> {
    const r = await this.db.query<{ nhs_number: string | null; registered_practice: string | null; source: string | null; source_patient_id: string; match_method: string; match_score: number | null }>(
      `SELECT p.nhs_number, p.registered_practice, l.source, l.source_patient_id, l.match_method, l.match_score
         FROM patient p LEFT JOIN patient_link l ON l.patient_id = p.id
        WHERE p.id = $1
        ORDER BY l.source, l.source_patient_id`,
      [id],
    );
    if (r.rows.length === 0) return undefined;
    return {
      id,
      nhsNumber: r.rows[0]!.nhs_number,
      registeredPractice: r.rows[0]!.registered_practice,
      links: r.rows
        .filter((l) => l.source !== null)
        .map((l) => ({
          source: l.source!,
          sourcePatientId: l.source_patient_id,
          matchMethod: l.match_method as PatientLink['matchMethod'],
          ...(l.match_score === null ? {} : { matchScore: l.match_score }),
        })),
    };
  }

  async idForNhsNumber(nhsNumber: string): Promise<string | undefined> {
    const r = await this.db.query<{ id: string }>('SELECT id FROM patient WHERE nhs_number = $1', [nhsNumber]);
    return r.rows[0]?.id;
  }

  /** NHS numbers of these integrated patients, by id (patients without one are absent). */
  async nhsNumbersOf(ids: readonly string[]): Promise<Map<string, string>> {
    const valid = ids.filter((id) => UUID.test(id));
    if (valid.length === 0) return new Map();
    const r = await this.db.query<{ id: string; nhs_number: string }>(
      'SELECT id, nhs_number FROM patient WHERE id = ANY($1::uuid[]) AND nhs_number IS NOT NULL',
      [valid],
    );
    return new Map(r.rows.map((x) => [x.id, x.nhs_number]));
  }

  private async findExisting(q: Queryable, nhsNumber: string | null, links: PatientLink[]): Promise<string | undefined> {
    if (nhsNumber) {
      const r = await q.query<{ id: string }>('SELECT id FROM patient WHERE nhs_number = $1', [nhsNumber]);
      return r.rows[0]?.id;
    }
    for (const l of links) {
      const r = await q.query<{ patient_id: string }>(
        'SELECT patient_id FROM patient_link WHERE source = $1 AND source_patient_id = $2',
        [l.source, l.sourcePatientId],
      );
      if (r.rows[0]) return r.rows[0].patient_id;
    }
    return undefined;
  }

  private async insertPatient(q: Queryable, nhsNumber: string | null): Promise<string> {
    const id = randomUUID();
    if (!nhsNumber) {
      await q.query('INSERT INTO patient (id) VALUES ($1)', [id]);
      return id;
    }
    const r = await q.query<{ id: string }>(
      `INSERT INTO patient (id, nhs_number) VALUES ($1, $2)
       ON CONFLICT (nhs_number) DO UPDATE SET nhs_number = EXCLUDED.nhs_number
       RETURNING id`,
      [id, nhsNumber],
    );
    return r.rows[0]!.id;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
