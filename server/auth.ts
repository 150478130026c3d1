/**
 * Bearer-token authentication: verifies a JWT from the Authorization header against pinned
 * asymmetric algorithms, a fixed issuer and audience, and a JWKS (local or remote), then maps its
 * claims to a Principal. Every rejection is a 401 OperationOutcome with a stable error code; messages
 * say what was wrong but never echo the token or any claim value.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  decodeProtectedHeader,
  errors,
  jwtVerify,
  type JSONWebKeySet,
  type JWSHeaderParameters,
  type FlattenedJWSInput,
  type JWTPayload,
  type CryptoKey,
} from 'jose';
import { forbidden, serviceUnavailable, unauthorized, type OperationOutcomeError } from '../fhir/outcomes.js';
import { isValidNhsNumber } from '../fhir/nhs-number.js';
import { ClaimsRefused, principalFromClaims, TOKEN_CLAIM_NAMES } from '../identity/claims.js';
import type { Principal, Role } from '../identity/principal.js';

export interface AuthConfig {
  issuer: string;
  audience: string;
  /** Accepted JWS algorithms; asymmetric only (HS*, none → config error). Default when absent/empty:
   * ES256, ES384, RS256, RS384, PS256. */
  algorithms?: string[];
  /** Local public keys. Exactly one of `jwks` / `jwksUrl` must be set. */
  jwks?: JSONWebKeySet;
  /** Remote JWKS (https, or http on a loopback host), fetched and cached by jose. */
  jwksUrl?: string;
  /** Allowed clock skew for exp/nbf/iat, seconds. Default 60. */
  clockToleranceSec?: number;
  /** Longest lifetime a token may have (exp − iat, or exp − now without iat), seconds. Default 3600. */
  maxLifetimeSec?: number;
}

/** Default longest token lifetime: one hour (`npm run token` mints one-hour tokens by default). */
export const DEFAULT_MAX_TOKEN_LIFETIME_SEC = 3600;
/** Default clock skew allowed between the token issuer and this service. */
export const DEFAULT_CLOCK_TOLERANCE_SEC = 60;

export const DEFAULT_ALGORITHMS: readonly string[] = ['ES256', 'ES384', 'RS256', 'RS384', 'PS256'];

/** The only algorithms a config may name: asymmetric signatures (never HS*, never none). */
const ASYMMETRIC_ALGORITHMS: ReadonlySet<string> = new Set([
  'ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA', 'Ed25519',
]);

const MAX_TOKEN_LENGTH = 16_384;

export type TokenVerifier = (authorizationHeader: string | undefined) => Promise<Principal>;

type KeyResolver = (header: JWSHeaderParameters, token: FlattenedJWSInput) => Promise<CryptoKey>;

/** Raised from inside the key resolver when the remote key set itself cannot be obtained. */
class KeySetUnavailable extends Error {}

/** Validates the config (throws a plain Error on misconfiguration, at startup) and returns a verifier. */
export function createTokenVerifier(cfg: AuthConfig): TokenVerifier {
  const algorithms = validateConfig(cfg);
  const clockTolerance = cfg.clockToleranceSec ?? DEFAULT_CLOCK_TOLERANCE_SEC;
  const maxLifetime = cfg.maxLifetimeSec ?? DEFAULT_MAX_TOKEN_LIFETIME_SEC;
  const keys = keyResolver(cfg);

  // Verified tokens are remembered until they expire (at most 60 s): a mobile client sends the same
  // token on every request, and signature verification was a visible share of the CPU per request.
  // The key is the exact token string; expiry is re-checked on every hit.
  const verified = new Map<string, { principal: Principal; until: number }>();
  const MAX_CACHED = 10_000;

  return async (authorizationHeader) => {
    const token = extractBearer(authorizationHeader);
    const hit = verified.get(token);
    if (hit && hit.until > Date.now()) return hit.principal;
    if (hit) verified.delete(token);
    checkHeader(token, algorithms);
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, keys, {
        algorithms,
        issuer: cfg.issuer,
        audience: cfg.audience,
        clockTolerance,
        requiredClaims: ['exp'],
      }));
    } catch (e) {
      throw mapVerifyError(e);
    }
    checkLifetime(payload, maxLifetime, clockTolerance);
    const principal = toPrincipal(payload);
    if (verified.size >= MAX_CACHED) verified.clear();
    verified.set(token, { principal, until: Math.min((payload.exp ?? 0) * 1000, Date.now() + 60_000) });
    return principal;
  };
}

/** Throws forbidden('role-not-permitted') unless the principal's role is one of `allowed`. */
export function requireRole(principal: Principal, allowed: readonly Role[]): void {
  if (!allowed.includes(principal.role)) {
    throw forbidden(
      'role-not-permitted',
      `The caller's role is not permitted to perform this operation (allowed: ${allowed.join(', ') || 'none'}).`,
    );
  }
}

function validateConfig(cfg: AuthConfig): string[] {
  if (!cfg.issuer) throw new Error('AuthConfig.issuer is required');
  if (!cfg.audience) throw new Error('AuthConfig.audience is required');
  const algorithms = cfg.algorithms?.length ? [...cfg.algorithms] : [...DEFAULT_ALGORITHMS];
  const bad = algorithms.filter((a) => !ASYMMETRIC_ALGORITHMS.has(a));
  if (bad.length) {
    throw new Error(`AuthConfig.algorithms may only contain asymmetric JWS algorithms; rejected: ${bad.join(', ')}`);
  }
  if ((cfg.jwks === undefined) === (cfg.jwksUrl === undefined)) {
    throw new Error('AuthConfig needs exactly one of jwks or jwksUrl');
  }
  const life = cfg.maxLifetimeSec;
  if (life !== undefined && !(Number.isInteger(life) && life >= 60 && life <= 86_400)) {
    throw new Error('AuthConfig.maxLifetimeSec must be a whole number of seconds from 60 to 86400');
  }
  const tol = cfg.clockToleranceSec;
  if (tol !== undefined && !(Number.isFinite(tol) && tol >= 0 && tol <= 300)) {
    throw new Error('AuthConfig.clockToleranceSec must be between 0 and 300');
  }
  return algorithms;
}

function keyResolver(cfg: AuthConfig): KeyResolver {
  if (cfg.jwks) {
    const local = createLocalJWKSet(cfg.jwks);
    return (header, token) => local(header, token);
  }
  let url: URL;
  try {
    url = new URL(cfg.jwksUrl as string);
  } catch {
    throw new Error('AuthConfig.jwksUrl is not a valid URL');
  }
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new Error('AuthConfig.jwksUrl must use https (plain http is allowed only for loopback hosts)');
  }
  const remote = createRemoteJWKSet(url); // jose caches keys (cacheMaxAge) and rate-limits refetches (cooldown)
  return async (header, token) => {
    try {
      return await remote(header, token);
    } catch (e) {
      // Token-related outcomes pass through; anything else is the key set being unreachable/invalid.
      if (
        e instanceof errors.JWKSNoMatchingKey ||
        e instanceof errors.JWKSMultipleMatchingKeys ||
        e instanceof errors.JOSENotSupported ||
        e instanceof errors.JOSEAlgNotAllowed
      ) {
        throw e;
      }
      throw new KeySetUnavailable('JWKS unavailable', { cause: e });
    }
  };
}

/** `Bearer <token>`, scheme case-insensitive; exactly one token, no extra parts. */
function extractBearer(header: string | undefined): string {
  if (header === undefined || header.trim() === '') {
    throw unauthorized('token-missing', 'The request has no Authorization header; a Bearer token is required.');
  }
  const match = /^\s*(\S+)(?:\s+(.*))?$/s.exec(header);
  const scheme = match?.[1] ?? '';
  if (scheme.toLowerCase() !== 'bearer') {
    throw unauthorized('token-missing', 'The Authorization header does not use the Bearer scheme.');
  }
  const rest = (match?.[2] ?? '').trim();
  if (rest === '') throw unauthorized('token-missing', 'The Authorization header has the Bearer scheme but no token.');
  if (/\s/.test(rest) || rest.length > MAX_TOKEN_LENGTH) {
    throw unauthorized('token-malformed', 'The Bearer token is not a single compact JWT.');
  }
  return rest;
}

/** Cheap structural and algorithm checks before any key lookup (rejects alg none / HS* outright). */
function checkHeader(token: string, algorithms: readonly string[]): void {
  if (!/^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(token)) {
    throw unauthorized('token-malformed', 'The Bearer token is not a compact JWS (three base64url parts).');
  }
  let alg: unknown;
  try {
    alg = decodeProtectedHeader(token).alg;
  } catch {
    throw unauthorized('token-malformed', 'The token header could not be decoded.');
  }
  if (typeof alg !== 'string' || !algorithms.includes(alg)) {
    throw unauthorized('token-algorithm', 'The token is signed with an algorithm that is not accepted.');
  }
  if (token.endsWith('.')) {
    throw unauthorized('token-malformed', 'The token has no signature.');
  }
}

function mapVerifyError(e: unknown): unknown {
  if (e instanceof KeySetUnavailable) {
    return serviceUnavailable('auth-keys-unavailable', 'The token signing keys could not be retrieved; try again later.');
  }
  if (e instanceof errors.JWTExpired) return unauthorized('token-expired', 'The token has expired (exp).');
  if (e instanceof errors.JWTClaimValidationFailed) {
    switch (e.claim) {
      case 'nbf':
        return unauthorized('token-not-yet-valid', 'The token is not yet valid (nbf).');
      case 'iss':
        return e.reason === 'missing'
          ? unauthorized('token-issuer', 'The token has no iss claim.')
          : unauthorized('token-issuer', 'The token was not issued by the expected issuer (iss).');
      case 'aud':
        return e.reason === 'missing'
          ? unauthorized('token-audience', 'The token has no aud claim.')
          : unauthorized('token-audience', 'The token is not intended for this service (aud).');
      default:
        return unauthorized('token-claims', `The token's ${safeName(e.claim)} claim is missing or invalid.`);
    }
  }
  if (e instanceof errors.JWSSignatureVerificationFailed) {
    return unauthorized('token-signature', 'The token signature does not verify.');
  }
  if (e instanceof errors.JWKSNoMatchingKey || e instanceof errors.JWKSMultipleMatchingKeys) {
    return unauthorized('token-signature', 'No single trusted key matches the token (kid/alg).');
  }
  if (e instanceof errors.JOSEAlgNotAllowed) {
    return unauthorized('token-algorithm', 'The token is signed with an algorithm that is not accepted.');
  }
  if (e instanceof errors.JOSEError) {
    return unauthorized('token-malformed', 'The token is not a well-formed signed JWT.');
  }
  return e; // programming/config error: surface as 500 via normalizeError
}

/**
 * A token may live at most `maxLifetime` seconds (exp − iat; without iat, exp − now), and may not have
 * been issued in the future beyond the clock skew: a ten-year token, or one dated ahead, is refused.
 */
function checkLifetime(payload: JWTPayload, maxLifetime: number, skew: number): void {
  const now = Math.floor(Date.now() / 1000);
  const { iat, exp } = payload;
  if (iat !== undefined && (typeof iat !== 'number' || !Number.isFinite(iat))) throw unauthorized('token-claims', "The token's iat claim is not a number.");
  if (iat !== undefined && iat > now + skew) throw unauthorized('token-issued-in-future', 'The token is dated in the future (iat) beyond the allowed clock skew.');
  const lifetime = (exp ?? 0) - (iat ?? now);
  if (lifetime > maxLifetime + (iat === undefined ? skew : 0)) {
    throw unauthorized('token-lifetime', `The token is valid for longer than this service accepts (at most ${maxLifetime} seconds).`);
  }
}

/** Claim names from jose are fixed registered names, but keep the message safe regardless. */
function safeName(claim: string | undefined): string {
  return claim && /^[a-z_]{1,16}$/.test(claim) ? claim : 'a required';
}

function claimError(message: string): OperationOutcomeError {
  return unauthorized('token-claims', message);
}

function optionalString(payload: JWTPayload, name: string): string | undefined {
  const v = payload[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string' || v === '' || v.length > 4096) throw claimError(`The token's ${name} claim must be a non-empty string.`);
  return v;
}

/** The same mapping the pages use (identity/claims.ts), plus the token's scope and id. */
function toPrincipal(payload: JWTPayload): Principal {
  let principal: Principal;
  try {
    principal = principalFromClaims(payload as Record<string, unknown>, TOKEN_CLAIM_NAMES, isValidNhsNumber);
  } catch (e) {
    if (e instanceof ClaimsRefused) throw claimError(e.message);
    throw e;
  }
  const scope = optionalString(payload, 'scope');
  const jti = optionalString(payload, 'jti');
  return { ...principal, ...(scope ? { scope } : {}), ...(jti ? { jti } : {}) };
}
