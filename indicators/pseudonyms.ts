import { createHmac, randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { keyedPseudonym } from '../adapters/aggregate-api.js';

/**
 * Keyed pseudonyms for linking people between sources (issue #5). The service holds a long-lived secret
 * (config INDICATOR_PSEUDONYM_SECRET; required in production; in demo mode generated once into
 * `<dataDir>/indicator-pseudonym-secret`, like the demo signing keys). Each refresh derives its own key
 * HMAC-SHA256(secret, refreshId), so pseudonyms from two refreshes cannot be joined. A pseudonym is
 * base64url(HMAC-SHA256(refresh key, NHS number)). Pseudonyms are never stored, logged or returned.
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

/** The per-refresh key: HMAC-SHA256(secret, refreshId), 32 bytes. */
export function refreshKey(secret: Uint8Array, refreshId: string): Buffer {
  return createHmac('sha256', secret).update(`indicator-refresh:${refreshId}`, 'utf8').digest();
}
