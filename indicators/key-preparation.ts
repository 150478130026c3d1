import type { Logger } from 'pino';
import type { AggregateClient } from '../adapters/aggregate-client.js';
import { epochKey, epochsToPrepare } from './pseudonyms.js';

/**
 * Preparing the pseudonym keys at the sources ahead of the refreshes that use them (issue 18): every aggregate
 * source keys its people under the current month's key, and under the next month's once the turn is near
 * (pseudonyms.ts epochsToPrepare), so no refresh waits for the keying. Called at start-up and then hourly
 * (server/main.ts); a source that already holds a key answers at once. Failures are logged and never fatal: a
 * session whose key was not prepared keys the people itself, only more slowly.
 */

export interface KeyPreparation {
  /** The source's display name. */
  source: string;
  epoch: string;
  status: 'keyed' | 'held' | 'failed';
  /** People keyed under the key (when the source answered). */
  people?: number;
  ms: number;
}

export async function prepareEpochKeys(clients: readonly AggregateClient[], secret: Uint8Array, at: Date, logger?: Logger): Promise<KeyPreparation[]> {
  const jobs = epochsToPrepare(at).flatMap((epoch) => clients.map((client) => ({ epoch, client })));
  const results = await Promise.all(
    jobs.map(async ({ epoch, client }): Promise<KeyPreparation> => {
      const t = performance.now();
      try {
        const r = await client.prepareKey(epochKey(secret, epoch));
        return { source: client.name, epoch, status: r.keyed ? 'keyed' : 'held', people: r.people, ms: Math.round(performance.now() - t) };
      } catch (e) {
        return { source: client.name, epoch, status: 'failed', ms: Math.round(performance.now() - t) };
      }
    }),
  );
  const keyed = results.filter((r) => r.status === 'keyed');
  const failed = results.filter((r) => r.status === 'failed');
  if (keyed.length || failed.length) {
    logger?.info(
      { keyed: keyed.map((r) => `${r.source} ${r.epoch} (${r.people} people, ${r.ms} ms)`), failed: failed.map((r) => `${r.source} ${r.epoch}`) },
      'indicators: pseudonym keys prepared at the sources',
    );
  }
  return results;
}
