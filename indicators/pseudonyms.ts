import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { keyedPseudonym } from '../adapters/aggregate-api.js';

/**
 * Keyed pseudonyms for linking people between sources and excluding those who opted out (issues #5, #18).
 * The service holds a long-lived secret (config INDICATOR_PSEUDONYM_SECRET; required in production; in demo
 * mode generated once into `<dataDir>/indicator-pseudonym-secret`, like the demo signing keys). The key a
 * refresh sends to the sources is the key of its EPOCH, the calendar month (UTC) in which the refresh starts:
 * HMAC-SHA256(secret, "indicator-epoch:YYYY-MM"). A pseudonym is the first 16 bytes of HMAC-SHA256(epoch key,
 * NHS number), base64url. Pseudonyms are never stored by the service, logged or returned.
 *
 * Why a month, not one key per refresh (docs/indicators.md, "Pseudonym keys"): a source keys each person it
 * holds once per key, which at a million people was most of a refresh. With a monthly key each source keys its
 * people once a month, ahead of time (POST /aggregate/v1/keys, prepared by the service at start-up and before
 * the month turns: key-preparation.ts), and a refresh only looks them up. What is given up: pseudonyms seen in
 * two refreshes of the same month can be joined to each other. Only the service and the sources see them,
 * and both hold the key anyway; from one month to the next they still cannot be joined.
 */

export { keyedPseudonym };

const SECRET_FILE = 'indicator-pseudonym-secret';

/** The secret as bytes: from config when set (≥ 32 characters), else the demo secret file (created on first use). */
export async function loadPseudonymSecret(opts: { secret?: string; dataDir: string; production: boolean }): Promise<Uint8Array> {
  if (opts.secret) return Buffer.from(opts.secret, 'utf8');
  if (opts.production) throw new Error('Invalid configuration: INDICATOR_PSEUDONYM_SECRET is required in production');
  const file = path.join(opts.dataDir, SECRET_FILE);
  const existing = await readFile(file, 'utf8').catch(() => undefined);
  if (existing?.trim()) return Buffer.from(existing.trim(), 'base64url');
  await mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const created = randomBytes(32).toString('base64url');
  try {
    await writeFile(file, created + '\n', { mode: 0o600, flag: 'wx' });
    return Buffer.from(created, 'base64url');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    // Another process created it at the same moment: wait for its content.
    for (let i = 0; i < 50; i++) {
      const text = (await readFile(file, 'utf8')).trim();
      if (text) return Buffer.from(text, 'base64url');
      await new Promise((r) => setTimeout(r, 10));
    }
    throw new Error(`${file} is empty: delete it and start again`);
  }
}

/** The pseudonym epoch of a moment: its calendar month in UTC, `YYYY-MM`. */
export function pseudonymEpoch(at: Date): string {
  return at.toISOString().slice(0, 7);
}

/** The key of an epoch: HMAC-SHA256(secret, "indicator-epoch:YYYY-MM"), 32 bytes. */
export function epochKey(secret: Uint8Array, epoch: string): Buffer {
  if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(epoch)) throw new RangeError('epoch must be YYYY-MM');
  return createHmac('sha256', secret).update(`indicator-epoch:${epoch}`, 'utf8').digest();
}

/**
 * The epochs whose keys the sources should hold at `at`: the current month's, and the next month's once the
 * turn is less than `leadMs` away (default two days), so the first refresh of a month finds its key prepared.
 */
export function epochsToPrepare(at: Date, leadMs = 2 * 86_400_000): string[] {
  const next = new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth() + 1, 1));
  const current = pseudonymEpoch(at);
  return next.getTime() - at.getTime() <= leadMs ? [current, pseudonymEpoch(next)] : [current];
}
