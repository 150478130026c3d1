/**
 * The public site's one door to the service: the indicator catalogue, the snapshot store (published,
 * disclosure-controlled figures only), the feedback store and its rate limiter, and the analysts' refresh
 * (indicators/refresh.ts, the same operation as POST /indicators/$refresh). Snapshots are immutable, so
 * figures and rendered page bodies are cached in memory under their snapshot id: a new snapshot has a new
 * id, and nothing needs invalidating.
 */
import type { FeedbackStore } from '../../indicators/feedback.js';
import type { RefreshDeps } from '../../indicators/refresh.js';
import type { SnapshotStore } from '../../indicators/snapshots.js';
import type { IndicatorDefinition } from '../../indicators/spec.js';
import type { PublishedIndicator, PublishedOrganisation, SnapshotMeta } from '../../indicators/types.js';
import type { RateLimiter } from '../../store/rate-limits.js';

export interface PublicDeps {
  defs: readonly IndicatorDefinition[];
  snapshots: SnapshotStore;
  feedback: FeedbackStore;
  feedbackLimiter: RateLimiter;
  feedbackPerMinute: number;
  /** Computer, snapshots, audit, disclosure policy and cell key: what a refresh needs. */
  refresh: RefreshDeps;
}

/**
 * A small LRU map (insertion order refreshed on read), bounded by entry count and, with `sizeOf`, by the
 * total size of its values (e.g. bytes of cached pages), so a site with thousands of organisations cannot
 * grow the process without limit.
 */
export class Lru<T> {
  private readonly map = new Map<string, T>();
  private total = 0;
  constructor(
    private max: number,
    private readonly limit?: { maxSize: number; sizeOf(value: T): number },
  ) {}
  get(key: string): T | undefined {
    const v = this.map.get(key);
    if (v !== undefined) {
      this.map.delete(key);
      this.map.set(key, v);
    }
    return v;
  }
  set(key: string, value: T): T {
    this.delete(key);
    this.map.set(key, value);
    this.total += this.limit?.sizeOf(value) ?? 0;
    while (this.map.size > this.max || (this.limit && this.total > this.limit.maxSize && this.map.size > 1)) this.delete(this.map.keys().next().value!);
    return value;
  }
  delete(key: string): void {
    const v = this.map.get(key);
    if (v === undefined) return;
    this.map.delete(key);
    this.total -= this.limit?.sizeOf(v) ?? 0;
  }
  /** Raises the entry bound to at least `n` (never lowers it). */
  ensureCapacity(n: number): void {
    this.max = Math.max(this.max, n);
  }

  /** The total size of the values held (0 without `sizeOf`). */
  get size(): number {
    return this.total;
  }
  /** The cached value, or `make()` cached (concurrent callers share one promise). */
  async through(key: string, make: () => Promise<T>): Promise<T> {
    const hit = this.get(key);
    if (hit !== undefined) return hit;
    return make().then((v) => this.set(key, v));
  }
}

export interface CachedFigures {
  meta: SnapshotMeta;
  figures: PublishedIndicator;
  byCode: Map<string, PublishedOrganisation>;
}

/** Published index + figures, read through the caches. */
export class PublicData {
  readonly byId: Map<string, IndicatorDefinition>;
  private readonly figuresCache = new Lru<Promise<CachedFigures | null>>(48);
  /** Rendered page bodies, keyed by snapshot id(s), indicator or organisation, and filters. */
  readonly bodies = new Lru<string>(2000, { maxSize: 32 * 1024 * 1024, sizeOf: (s) => s.length });

  constructor(readonly deps: PublicDeps) {
    this.byId = new Map(deps.defs.map((d) => [d.id, d]));
  }

  /** Which snapshot is published for each indicator and period (one light query; oldest period first). */
  index(): Promise<ReadonlyArray<{ indicatorId: string; meta: SnapshotMeta }>> {
    return this.deps.snapshots.publishedIndex().then((index) => {
      // An organisation's page reads every published figure set (its trends): hold them all, or each page would
      // evict what the next one needs and read the figures from the database again.
      this.figuresCache.ensureCapacity(index.length + 16);
      this.onIndex?.(index);
      return index;
    });
  }

  /** Told of the published index at every page view (the organisation pages pre-render when it changes). */
  onIndex?: (index: ReadonlyArray<{ indicatorId: string; meta: SnapshotMeta }>) => void;

  /** One indicator's figures in one snapshot (immutable: cached by snapshot id). */
  figures(snapshotId: string, indicatorId: string): Promise<CachedFigures | null> {
    const key = `${snapshotId}|${indicatorId}`;
    const hit = this.figuresCache.get(key);
    if (hit) return hit;
    const p = this.deps.snapshots.figures(snapshotId, indicatorId).then((pub) =>
      pub ? { meta: pub.meta, figures: pub.figures, byCode: new Map(pub.figures.organisations.map((o) => [o.code, o])) } : null,
    );
    this.figuresCache.set(key, p);
    p.catch(() => this.figuresCache.delete(key));
    return p;
  }
}
