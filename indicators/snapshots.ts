import { randomUUID } from 'node:crypto';
import type { Db, Queryable } from '../store/db.js';
import type { PublishedIndicator, ReportingPeriod, SnapshotMeta } from './types.js';

/**
 * Indicator snapshots (store/migrations/004_indicators.sql): one row per refresh plus one row of
 * published figures per indicator. Append-only: nothing here updates or deletes. What is PUBLISHED for
 * an indicator and a reporting period is its latest complete snapshot; when no complete one exists,
 * the latest incomplete one, which every reader sees marked incomplete.
 *
 * Only post-disclosure figures (`PublishedIndicator`, from indicators/publish.ts) are ever stored.
 */

export interface PublishedSnapshot {
  meta: SnapshotMeta;
  figures: PublishedIndicator;
}

interface SnapshotRow {
  id: string;
  period_start: string;
  period_end: string;
  computed_at: Date | string;
  requested_by: string;
  complete: boolean;
  source_statuses: unknown;
  unavailable_sources: string[];
  opt_outs_applied: unknown;
  disclosure_policy: unknown;
  indicator_ids: string[];
}

const META_COLUMNS = `s.id::text AS id, s.period_start::text AS period_start, s.period_end::text AS period_end, s.computed_at,
  s.requested_by, s.complete, s.source_statuses, s.unavailable_sources, s.opt_outs_applied, s.disclosure_policy, s.indicator_ids`;

const json = <T>(v: unknown): T => (typeof v === 'string' ? JSON.parse(v) : v) as T;

function metaOf(r: SnapshotRow): SnapshotMeta {
  return {
    id: r.id,
    period: { start: r.period_start, end: r.period_end },
    computedAt: new Date(r.computed_at).toISOString(),
    requestedBy: r.requested_by,
    complete: r.complete,
    sources: json(r.source_statuses),
    unavailableSources: r.unavailable_sources as SnapshotMeta['unavailableSources'],
    optOutsApplied: json(r.opt_outs_applied),
    disclosurePolicy: json(r.disclosure_policy),
    indicatorIds: r.indicator_ids,
  };
}

/** Orders candidate snapshots of one period so that the published one comes first. */
const PUBLISHED_FIRST = 's.complete DESC, s.computed_at DESC, s.stored_at DESC, s.id';

export class SnapshotStore {
  constructor(private readonly db: Db) {}

  /** Bumped by every save: an index read that began before it is never reused after it. */
  private generation = 0;
  private indexCache?: { at: number; generation: number; value: Promise<ReadonlyArray<{ indicatorId: string; meta: SnapshotMeta }>> };
  /** How long another instance's new snapshot may take to appear on this instance's public pages. */
  static readonly INDEX_TTL_MS = 2000;

  /**
   * Stores a new snapshot and its figures atomically; returns its metadata (with the new id). `within`: the
   * caller's transaction (AuditLog.change, so the snapshot commits with its audit event).
   */
  async save(meta: Omit<SnapshotMeta, 'id'>, indicators: PublishedIndicator[], id: string = randomUUID(), within?: Queryable): Promise<SnapshotMeta> {
    this.generation += 1;
    const write = async (q: Queryable) => {
      await q.query(
        `INSERT INTO indicator_snapshot (id, period_start, period_end, computed_at, requested_by, complete, source_statuses,
           unavailable_sources, opt_outs_applied, disclosure_policy, indicator_ids)
         VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10::jsonb, $11)`,
        [
          id, meta.period.start, meta.period.end, meta.computedAt, meta.requestedBy, meta.complete, JSON.stringify(meta.sources),
          meta.unavailableSources, JSON.stringify(meta.optOutsApplied), JSON.stringify(meta.disclosurePolicy), meta.indicatorIds,
        ],
      );
      if (indicators.length === 0) return;
      const values: string[] = [];
      const params: unknown[] = [];
      for (const ind of indicators) {
        const n = params.length;
        values.push(`($${n + 1}, $${n + 2}, $${n + 3}, $${n + 4}::jsonb)`);
        params.push(id, ind.indicatorId, ind.complete, JSON.stringify(ind));
      }
      await q.query(`INSERT INTO indicator_snapshot_figures (snapshot_id, indicator_id, complete, figures) VALUES ${values.join(', ')}`, params);
    };
    try {
      if (within) await write(within);
      else await this.db.tx(write);
    } finally {
      this.generation += 1;
    }
    return { id, ...meta };
  }

  async get(id: string): Promise<SnapshotMeta | null> {
    const r = await this.db.query<SnapshotRow>(`SELECT ${META_COLUMNS} FROM indicator_snapshot s WHERE s.id::text = $1`, [id]);
    return r.rows[0] ? metaOf(r.rows[0]) : null;
  }

  /** The snapshot whose id (without hyphens) starts with `hexPrefix` (MeasureReport ids carry 12 hex digits). */
  async findByPrefix(hexPrefix: string): Promise<SnapshotMeta | null> {
    if (!/^[0-9a-f]{8,32}$/.test(hexPrefix)) return null;
    const r = await this.db.query<SnapshotRow>(
      `SELECT ${META_COLUMNS} FROM indicator_snapshot s WHERE replace(s.id::text, '-', '') LIKE $1 ORDER BY s.stored_at, s.id LIMIT 1`,
      [`${hexPrefix}%`],
    );
    return r.rows[0] ? metaOf(r.rows[0]) : null;
  }

  /** One indicator's figures in one given snapshot (old snapshots stay readable). */
  async figures(snapshotId: string, indicatorId: string): Promise<PublishedSnapshot | null> {
    const r = await this.db.query<SnapshotRow & { figures: unknown }>(
      `SELECT ${META_COLUMNS}, f.figures FROM indicator_snapshot s JOIN indicator_snapshot_figures f ON f.snapshot_id = s.id
        WHERE s.id::text = $1 AND f.indicator_id = $2`,
      [snapshotId, indicatorId],
    );
    const row = r.rows[0];
    return row ? { meta: metaOf(row), figures: json(row.figures) } : null;
  }

  /**
   * The published snapshot of an indicator for a period (exact start and end), or for the most recent
   * period when none is given: the latest complete snapshot, else the latest incomplete one.
   */
  async published(indicatorId: string, period?: ReportingPeriod): Promise<PublishedSnapshot | null> {
    const params: unknown[] = [indicatorId];
    let where = 'f.indicator_id = $1';
    if (period) {
      params.push(period.start, period.end);
      where += ' AND s.period_start = $2::date AND s.period_end = $3::date';
    }
    const r = await this.db.query<SnapshotRow & { figures: unknown }>(
      `SELECT ${META_COLUMNS}, f.figures FROM indicator_snapshot s JOIN indicator_snapshot_figures f ON f.snapshot_id = s.id
        WHERE ${where} ORDER BY s.period_end DESC, s.period_start DESC, ${PUBLISHED_FIRST} LIMIT 1`,
      params,
    );
    const row = r.rows[0];
    return row ? { meta: metaOf(row), figures: json(row.figures) } : null;
  }

  /** The published snapshot of an indicator for every period it has been computed for, oldest period first. */
  async history(indicatorId: string): Promise<PublishedSnapshot[]> {
    const r = await this.db.query<SnapshotRow & { figures: unknown }>(
      `SELECT * FROM (
         SELECT DISTINCT ON (s.period_start, s.period_end) ${META_COLUMNS}, f.figures
           FROM indicator_snapshot s JOIN indicator_snapshot_figures f ON f.snapshot_id = s.id
          WHERE f.indicator_id = $1
          ORDER BY s.period_start, s.period_end, ${PUBLISHED_FIRST}) AS p
        ORDER BY p.period_end, p.period_start`,
      [indicatorId],
    );
    return r.rows.map((row) => ({ meta: metaOf(row), figures: json(row.figures) }));
  }

  /** Metadata of the published snapshot of every period the indicator has been computed for, oldest period first. */
  async publishedPeriods(indicatorId: string): Promise<SnapshotMeta[]> {
    const r = await this.db.query<SnapshotRow>(
      `SELECT * FROM (
         SELECT DISTINCT ON (s.period_start, s.period_end) ${META_COLUMNS}
           FROM indicator_snapshot s JOIN indicator_snapshot_figures f ON f.snapshot_id = s.id
          WHERE f.indicator_id = $1
          ORDER BY s.period_start, s.period_end, ${PUBLISHED_FIRST}) AS p
        ORDER BY p.period_end, p.period_start`,
      [indicatorId],
    );
    return r.rows.map(metaOf);
  }

  /** The published snapshot of every period any indicator has been computed for, most recent period first. */
  async periodsWithData(): Promise<SnapshotMeta[]> {
    const r = await this.db.query<SnapshotRow>(
      `SELECT * FROM (
         SELECT DISTINCT ON (s.period_start, s.period_end) ${META_COLUMNS}
           FROM indicator_snapshot s
          ORDER BY s.period_start, s.period_end, ${PUBLISHED_FIRST}) AS p
        ORDER BY p.period_end DESC, p.period_start DESC`,
    );
    return r.rows.map(metaOf);
  }

  /** Metadata of the latest published snapshot (most recent period) of each indicator that has one. */
  async latestPerIndicator(): Promise<Map<string, SnapshotMeta>> {
    const r = await this.db.query<SnapshotRow & { indicator_id: string }>(
      `SELECT DISTINCT ON (f.indicator_id) f.indicator_id, ${META_COLUMNS}
         FROM indicator_snapshot s JOIN indicator_snapshot_figures f ON f.snapshot_id = s.id
        ORDER BY f.indicator_id, s.period_end DESC, s.period_start DESC, ${PUBLISHED_FIRST}`,
    );
    return new Map(r.rows.map((row) => [row.indicator_id, metaOf(row)]));
  }

  /** Every snapshot of one period that holds the indicator (newest first), to show what was superseded. */
  async snapshotsOf(indicatorId: string, period: ReportingPeriod): Promise<SnapshotMeta[]> {
    const r = await this.db.query<SnapshotRow>(
      `SELECT ${META_COLUMNS} FROM indicator_snapshot s JOIN indicator_snapshot_figures f ON f.snapshot_id = s.id
        WHERE f.indicator_id = $1 AND s.period_start = $2::date AND s.period_end = $3::date
        ORDER BY s.computed_at DESC, s.stored_at DESC, s.id`,
      [indicatorId, period.start, period.end],
    );
    return r.rows.map(metaOf);
  }

  /**
   * The published snapshot (metadata only, no figures) of every indicator and period: one light query, so a page
   * can find which immutable snapshot to show and take its figures from a cache keyed by snapshot id.
   * Oldest period first.
   */
  publishedIndex(): Promise<ReadonlyArray<{ indicatorId: string; meta: SnapshotMeta }>> {
    // Read by every public page view: cached for INDEX_TTL_MS, dropped at once by this instance's own saves.
    const now = Date.now();
    const c = this.indexCache;
    if (c && c.generation === this.generation && now - c.at < SnapshotStore.INDEX_TTL_MS) return c.value;
    const value = this.readPublishedIndex();
    this.indexCache = { at: now, generation: this.generation, value };
    value.catch(() => {
      if (this.indexCache?.value === value) this.indexCache = undefined;
    });
    return value;
  }

  private async readPublishedIndex(): Promise<ReadonlyArray<{ indicatorId: string; meta: SnapshotMeta }>> {
    const r = await this.db.query<SnapshotRow & { indicator_id: string }>(
      `SELECT * FROM (
         SELECT DISTINCT ON (f.indicator_id, s.period_start, s.period_end) f.indicator_id, ${META_COLUMNS}
           FROM indicator_snapshot s JOIN indicator_snapshot_figures f ON f.snapshot_id = s.id
          ORDER BY f.indicator_id, s.period_start, s.period_end, ${PUBLISHED_FIRST}) AS p
        ORDER BY p.period_end, p.period_start, p.indicator_id`,
    );
    return r.rows.map((row) => ({ indicatorId: row.indicator_id, meta: metaOf(row) }));
  }

  /** Every snapshot, newest first (metadata only), for the analysts' list. */
  async list(count = 100): Promise<SnapshotMeta[]> {
    const r = await this.db.query<SnapshotRow>(`SELECT ${META_COLUMNS} FROM indicator_snapshot s ORDER BY s.computed_at DESC, s.stored_at DESC, s.id LIMIT $1`, [count]);
    return r.rows.map(metaOf);
  }
}
