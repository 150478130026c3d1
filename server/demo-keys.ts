/**
 * DEMO MODE ONLY: a local ES256 signing key for the embedded demo issuer, created on first use under
 * `<dataDir>/demo-keys/` (the data folder is git-ignored; the private key file is mode 0600), plus a
 * helper to mint tokens with it. Production deployments verify tokens from a real issuer's JWKS.
 */
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, importJWK, type JSONWebKeySet, type JWK } from 'jose';
import type { Role } from '../identity/principal.js';
import { defaultScopes } from '../identity/scopes.js';

export const DEMO_ISSUER = 'https://demo.integrated-record.local/issuer';
export const DEMO_AUDIENCE = 'https://demo.integrated-record.local/fhir';
export const DEMO_ALG = 'ES256';

const PRIVATE_FILE = 'private-key.jwk.json';
const PUBLIC_FILE = 'public-jwks.json';

export interface DemoKeys {
  publicJwks: JSONWebKeySet;
  privateJwk: JWK;
  kid: string;
}

/** Loads the demo key pair from `<dataDir>/demo-keys/`, generating and storing it on first use. */
export async function ensureDemoKeys(dataDir: string): Promise<DemoKeys> {
  const dir = path.join(dataDir, 'demo-keys');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const privatePath = path.join(dir, PRIVATE_FILE);

  let privateJwk = await readPrivateJwk(privatePath);
  if (!privateJwk) {
    const { privateKey } = await generateKeyPair(DEMO_ALG, { extractable: true });
    const jwk = await exportJWK(privateKey);
    const kid = await calculateJwkThumbprint(publicPart(jwk));
    const created: JWK = { ...jwk, kid, alg: DEMO_ALG, use: 'sig' };
    try {
      // 'wx': never overwrite a key another process created in the meantime.
      await writeFile(privatePath, JSON.stringify(created, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
      privateJwk = created;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      privateJwk = await readPrivateJwk(privatePath);
      if (!privateJwk) throw new Error(`Demo key at ${privatePath} could not be read`);
    }
  }

  const kid = privateJwk.kid as string;
  const publicJwks: JSONWebKeySet = { keys: [{ ...publicPart(privateJwk), kid, alg: DEMO_ALG, use: 'sig' }] };
  // Convenience copy for external verifiers; only (re)written when missing or stale.
  const publicPath = path.join(dir, PUBLIC_FILE);
  const publicText = JSON.stringify(publicJwks, null, 2) + '\n';
  const existing = await readFile(publicPath, 'utf8').catch(() => undefined);
  if (existing !== publicText) await writeFile(publicPath, publicText, { mode: 0o644 });
  return { publicJwks, privateJwk, kid };
}

async function readPrivateJwk(file: string): Promise<JWK | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  const jwk = JSON.parse(text) as JWK;
  if (jwk.kty !== 'EC' || jwk.crv !== 'P-256' || !jwk.d || !jwk.x || !jwk.y || typeof jwk.kid !== 'string') {
    throw new Error(`Demo key at ${file} is not an ES256 private JWK with a kid`);
  }
  if (((await stat(file)).mode & 0o077) !== 0) await chmod(file, 0o600);
  return jwk;
}

/** The public members of an EC JWK (drops the private scalar `d` and everything else). */
function publicPart(jwk: JWK): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, y: jwk.y };
}

/** Claims a minted token carries (beyond the registered ones the minter sets). */
export interface TokenClaims {
  sub: string;
  role: Role | (string & {});
  org?: string;
  nhs_number?: string;
  /** SMART scopes, space-separated. When the key is absent, role-appropriate defaults (scopes.ts
   * defaultScopes) are used; pass `scope: undefined` explicitly to mint a token with no scope claim. */
  scope?: string;
  /** Default: a random UUID. */
  jti?: string;
}

export interface MintOptions {
  /** Default DEMO_ISSUER. */
  issuer?: string;
  /** Default DEMO_AUDIENCE. */
  audience?: string;
  /** Lifetime in seconds; default 3600. */
  ttlSec?: number;
  /** Issue time (iat/nbf); default now. Lets tests mint expired or not-yet-valid tokens. */
  now?: Date;
  /** Seconds after `now` before the token becomes valid (nbf); default 0. */
  notBeforeOffsetSec?: number;
  /** Signing algorithm; default ES256. Must suit the key (e.g. RS256 for an RSA key). */
  alg?: string;
}

/** Signs a JWT with header {alg, kid, typ: JWT} and claims iss, aud, sub, iat, nbf, exp, jti + `claims`. */
export async function mintToken(privateJwk: JWK, kid: string, claims: TokenClaims, opts: MintOptions = {}): Promise<string> {
  const alg = opts.alg ?? DEMO_ALG;
  const ttl = opts.ttlSec ?? 3600;
  if (!Number.isFinite(ttl) || ttl <= 0) throw new Error('ttlSec must be a positive number of seconds');
  const iat = Math.floor((opts.now ?? new Date()).getTime() / 1000);
  const nbf = iat + (opts.notBeforeOffsetSec ?? 0);
  const key = await importJWK(privateJwk, alg);
  const { sub, jti, ...rest } = claims;
  if (!('scope' in claims)) rest.scope = defaultScopes(claims.role);
  return new SignJWT({ ...rest })
    .setProtectedHeader({ alg, kid, typ: 'JWT' })
    .setIssuer(opts.issuer ?? DEMO_ISSUER)
    .setAudience(opts.audience ?? DEMO_AUDIENCE)
    .setSubject(sub)
    .setIssuedAt(iat)
    .setNotBefore(nbf)
    .setExpirationTime(iat + Math.floor(ttl))
    .setJti(jti ?? randomUUID())
    .sign(key);
}
