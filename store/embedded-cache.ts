import type { Db } from './db.js';

/**
 * A write-through read cache for the hot reads of every record request (the patient index entry and the
 * patient's consents), used ONLY on embedded PGlite. An embedded database is one connection owned by this
 * one process (its data folder cannot be opened by another), so every write to it passes through this
 * process's stores, which invalidate the key once the write has committed: the next request reads the new
 * state, exactly as without the cache (a consent change still takes effect on the very next request).
 * On PostgreSQL other instances write too, so there is no cache: every read goes to the database.
 * That is structural, not a flag: only `openDb` for PGlite attaches a cache registry to its Db
 * (`Db.embeddedCaches`, made by `embeddedCaches()` below); a PostgreSQL Db has none, so `readCache` can
 * only hand it a pass-through (test/embedded-cache.test.ts and test/scale-out.test.ts check it).
 *
 * A read that started before an invalidation is not stored (generation check), so a slow read can never
 * put back a value a write has just replaced. Cached values are deep-frozen: a caller that tried to
 * change one would throw rather than silently change what the next request sees.
 */
export interface ReadCache<V> {
  read(key: string, load: () => Promise<V>): Promise<V>;
  /** Drops one key, or everything when no key is given (a write whose keys are not known). */
  invalidate(key?: string): void;
}

const MAX_ENTRIES = 20_000;

class EmbeddedCache<V> implements ReadCache<V> {
  private readonly entries = new Map<string, V>();
  /** Counts invalidations; a read remembers the count it started at. */
  private generation = 0;
  private readonly invalidatedAt = new Map<string, number>();
  private clearedAt = 0;

  async read(key: string, load: () => Promise<V>): Promise<V> {
    const hit = this.entries.get(key);
    if (hit !== undefined) return hit;
    const startedAt = this.generation;
    const value = await load();
    // Store only if no write invalidated this key (or everything) while the read was in flight.
    if ((this.invalidatedAt.get(key) ?? 0) <= startedAt && this.clearedAt <= startedAt) {
      if (this.entries.size >= MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
      this.entries.set(key, deepFreeze(value));
    }
    return value;
  }

  invalidate(key?: string): void {
    this.generation += 1;
    if (key === undefined || this.invalidatedAt.size >= MAX_ENTRIES) {
      // Forgetting per-key generations is safe once every read in flight is refused (clearedAt).
      if (key === undefined) this.entries.clear();
      else this.entries.delete(key);
      this.invalidatedAt.clear();
      this.clearedAt = this.generation;
      return;
    }
    this.entries.delete(key);
    this.invalidatedAt.set(key, this.generation);
  }
}

class PassThrough<V> implements ReadCache<V> {
  read(_key: string, load: () => Promise<V>): Promise<V> {
    return load();
  }
  invalidate(): void {}
}

/** The caches of one embedded database, by name, shared by every store over it. */
export interface EmbeddedCaches {
  named<V>(name: string): ReadCache<V>;
}

/** A new cache registry. Called only by store/db.ts when it opens embedded PGlite. */
export function embeddedCaches(): EmbeddedCaches {
  const byName = new Map<string, ReadCache<unknown>>();
  return {
    named<V>(name: string): ReadCache<V> {
      let cache = byName.get(name);
      if (!cache) byName.set(name, (cache = new EmbeddedCache<unknown>()));
      return cache as ReadCache<V>;
    },
  };
}

/** The named read cache of this database: a real one on embedded PGlite, a pass-through on PostgreSQL. */
export function readCache<V>(db: Db, name: string): ReadCache<V> {
  return db.embeddedCaches?.named<V>(name) ?? new PassThrough<V>();
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
