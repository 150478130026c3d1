import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { importJWK, importPKCS8, SignJWT, type JWK } from 'jose';
import type { SourceAuth } from './fhir-source.js';

export interface SmartBackendOptions {
  tokenUrl: string;
  clientId: string;
  /** The client's private key: a PKCS#8 PEM or a private JWK (JSON). */
  privateKey: string;
  keyId: string;
  algorithm: 'ES384' | 'RS384';
  scope: string;
  /** A token is renewed this long before it expires (default 30 s). */
  renewBeforeMs?: number;
  /** Deadline of one token request (default 5 s). */
  deadlineMs?: number;
  now?: () => number;
}

/** Why a token could not be had (no secrets in the message). */
export class SourceAuthError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SourceAuthError';
  }
}

/**
 * SMART Backend Services (https://hl7.org/fhir/smart-app-launch/backend-services.html) for calls to a
 * source: a client-credentials grant authenticated by a `private_key_jwt` client assertion signed with
 * ES384 or RS384. The access token is cached until shortly before it expires; `invalidate` (after a
 * 401) forgets it, so the next request gets a new one. Concurrent requests share one token request.
 */
export function createSmartBackendAuth(opts: SmartBackendOptions): SourceAuth {
  const now = opts.now ?? Date.now;
  const renewBefore = opts.renewBeforeMs ?? 30_000;
  let key: Promise<CryptoKey | Uint8Array> | undefined;
  let cached: { token: string; expiresAt: number } | undefined;
  let inFlight: Promise<string> | undefined;

  const signingKey = () =>
    (key ??= opts.privateKey.trim().startsWith('{')
      ? importJWK(JSON.parse(opts.privateKey) as JWK, opts.algorithm)
      : importPKCS8(opts.privateKey, opts.algorithm));

  async function requestToken(signal?: AbortSignal): Promise<string> {
    const issuedAt = Math.floor(now() / 1000);
    const assertion = await new SignJWT({})
      .setProtectedHeader({ alg: opts.algorithm, kid: opts.keyId, typ: 'JWT' })
      .setIssuer(opts.clientId)
      .setSubject(opts.clientId)
      .setAudience(opts.tokenUrl)
      .setJti(randomUUID())
      .setIssuedAt(issuedAt)
      .setExpirationTime(issuedAt + 300)
      .sign(await signingKey());
    const body = new URLSearchParams({
      grant_type: 'client_credentials',
      scope: opts.scope,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
    });
    const deadline = AbortSignal.timeout(opts.deadlineMs ?? 5000);
    const res = await fetch(opts.tokenUrl, {
      method: 'POST',
      body,
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      signal: signal ? AbortSignal.any([signal, deadline]) : deadline,
      redirect: 'manual',
    }).catch(() => {
      throw new SourceAuthError('token request failed (authorisation server unreachable or too slow)');
    });
    const json = (await res.json().catch(() => undefined)) as { access_token?: unknown; expires_in?: unknown; token_type?: unknown; error?: unknown } | undefined;
    if (!res.ok || typeof json?.access_token !== 'string') {
      const code = typeof json?.error === 'string' ? json.error.slice(0, 60) : `HTTP ${res.status}`;
      throw new SourceAuthError(`token request refused (${code})`);
    }
    const lifetime = typeof json.expires_in === 'number' && json.expires_in > 0 ? json.expires_in * 1000 : 300_000;
    cached = { token: json.access_token, expiresAt: now() + lifetime };
    return json.access_token;
  }

  return {
    async headers(signal?: AbortSignal) {
      if (cached && now() < cached.expiresAt - renewBefore) return { authorization: `Bearer ${cached.token}` };
      inFlight ??= requestToken(signal).finally(() => (inFlight = undefined));
      return { authorization: `Bearer ${await inFlight}` };
    },
    invalidate() {
      cached = undefined;
    },
  };
}

/** Reads a key file named in the source registry. */
export function readKeyFile(path: string): string {
  return readFileSync(path, 'utf8');
}
