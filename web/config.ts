/**
 * Settings of the web pages: how staff and patients sign in (the embedded demo OpenID provider, or an
 * external one), session lifetimes and cookie security. Read once from the environment and validated
 * at start-up; a bad value fails fast naming the setting.
 */
import { isRole, type ClaimNames } from '../identity/claims.js';
import type { Role } from '../identity/principal.js';

/** Claim names and role values of the configured identity service (identity/claims.ts). */
export type ClaimMapping = ClaimNames;

export type SignIn =
  | { mode: 'off' }
  | { mode: 'demo' }
  | { mode: 'oidc'; issuer: string; clientId: string; clientSecret: string; scope: string };

export interface WebConfig {
  signIn: SignIn;
  claims: ClaimMapping;
  /** Idle limit of staff sessions (minutes; the issue's 15 by default). */
  staffIdleMinutes: number;
  /** Idle limit of patient sessions (minutes). */
  patientIdleMinutes: number;
  /** Absolute session lifetime (hours). */
  maxSessionHours: number;
  /** Secure cookies: on unless the public base URL is plain http on a loopback host. */
  secureCookies: boolean;
}

export class WebConfigError extends Error {
  constructor(readonly setting: string, problem: string) {
    super(`Invalid configuration: ${setting} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) throw new WebConfigError(name, `must be an integer from ${min} to ${max}`);
  return Number(raw);
}

function claimName(env: Env, name: string, dflt: string): string {
  const v = env[name]?.trim() || dflt;
  if (!/^[A-Za-z0-9_:./-]{1,100}$/.test(v)) throw new WebConfigError(name, 'must be a claim name');
  return v;
}

function roleValues(env: Env): Record<string, Role> | undefined {
  const raw = env.OIDC_ROLE_VALUES?.trim();
  if (!raw) return undefined;
  const out: Record<string, Role> = {};
  for (const pair of raw.split(',')) {
    const [external, ours] = pair.split('=').map((s) => s.trim());
    if (!external || !ours || !isRole(ours)) throw new WebConfigError('OIDC_ROLE_VALUES', 'must be a list of external=role pairs (roles: ambulance-crew, clinician, patient, analyst, privacy-officer)');
    out[external] = ours;
  }
  return out;
}

/**
 * Reads the web settings. `WEB_SIGN_IN=demo` (the default outside production) signs in through the
 * embedded demo OpenID provider and is refused when NODE_ENV=production; `WEB_SIGN_IN=oidc` (the default
 * in production when OIDC_ISSUER is set) needs OIDC_ISSUER (https), OIDC_CLIENT_ID and OIDC_CLIENT_SECRET;
 * `WEB_SIGN_IN=off` (the default in production otherwise) serves no pages.
 */
export function loadWebConfig(env: Env, ctx: { publicBaseUrl: string; production: boolean }): WebConfig {
  // Production without an identity provider configured serves the API only (never the demo provider).
  const mode = env.WEB_SIGN_IN?.trim() || (ctx.production ? (env.OIDC_ISSUER?.trim() ? 'oidc' : 'off') : 'demo');
  if (mode !== 'demo' && mode !== 'oidc' && mode !== 'off') throw new WebConfigError('WEB_SIGN_IN', "must be 'demo', 'oidc' or 'off'");
  if (mode === 'demo' && ctx.production) throw new WebConfigError('WEB_SIGN_IN', 'cannot be demo when NODE_ENV=production (the demo identity provider signs anyone in)');
  let signIn: SignIn = { mode: mode === 'off' ? 'off' : 'demo' };
  if (mode === 'oidc') {
    const issuer = env.OIDC_ISSUER?.trim();
    if (!issuer) throw new WebConfigError('OIDC_ISSUER', 'is required when WEB_SIGN_IN=oidc');
    let u: URL;
    try {
      u = new URL(issuer);
    } catch {
      throw new WebConfigError('OIDC_ISSUER', 'must be a URL');
    }
    if (u.protocol !== 'https:' && !(u.protocol === 'http:' && LOOPBACK.has(u.hostname))) {
      throw new WebConfigError('OIDC_ISSUER', 'must use https (plain http only on a loopback host)');
    }
    const clientId = env.OIDC_CLIENT_ID?.trim();
    if (!clientId) throw new WebConfigError('OIDC_CLIENT_ID', 'is required when WEB_SIGN_IN=oidc');
    const clientSecret = env.OIDC_CLIENT_SECRET?.trim();
    if (!clientSecret || clientSecret.length < 16) throw new WebConfigError('OIDC_CLIENT_SECRET', 'is required when WEB_SIGN_IN=oidc (at least 16 characters)');
    signIn = { mode: 'oidc', issuer, clientId, clientSecret, scope: env.OIDC_SCOPE?.trim() || 'openid profile' };
  }
  const base = new URL(ctx.publicBaseUrl);
  const values = roleValues(env);
  return {
    signIn,
    claims: {
      role: claimName(env, 'OIDC_CLAIM_ROLE', 'role'),
      organisation: claimName(env, 'OIDC_CLAIM_ORGANISATION', 'org'),
      nhsNumber: claimName(env, 'OIDC_CLAIM_NHS_NUMBER', 'nhs_number'),
      ...(values ? { roleValues: values } : {}),
    },
    staffIdleMinutes: int(env, 'WEB_STAFF_IDLE_MINUTES', 15, 1, 120),
    patientIdleMinutes: int(env, 'WEB_PATIENT_IDLE_MINUTES', 30, 1, 240),
    maxSessionHours: int(env, 'WEB_SESSION_MAX_HOURS', 12, 1, 24),
    secureCookies: !(base.protocol === 'http:' && LOOPBACK.has(base.hostname)),
  };
}
