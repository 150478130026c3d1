import { resolve } from 'node:path';
import { aggregateRootOf } from '../adapters/aggregate-client.js';
import { aggregateSourcesOf, loadRegistryFile, RegistryError, simpleRegistry, type AggregateSourceConfig, type RegistrySource } from '../adapters/source-registry.js';
import { loadWebConfig, WebConfigError, type WebConfig } from '../web/config.js';

/** Service configuration, read from the environment once at start-up and validated; fails fast naming the setting. */
export interface Config {
  host: string;
  port: number;
  /** Base URL clients use to reach this service (fullUrl and paging links are built on it). */
  publicBaseUrl: string;
  databaseUrl?: string;
  /** Connections this instance may open to PostgreSQL (DATABASE_POOL_SIZE; docs/operations-scale-out.md sizes it). */
  databasePoolSize: number;
  /**
   * Which proxies' X-Forwarded-For to believe for the client address (TRUST_PROXY): a hop count, or a
   * comma-separated list of addresses, subnets or Express names (loopback, uniquelocal). Unset: none, and
   * behind a load balancer every client would then share the load balancer's feedback allowance.
   */
  trustProxy?: number | string[];
  dataDir: string;
  sources: { gp: string; hospital: string; socialCare: string };
  sourceDeadlineMs: number;
  /**
   * Every source system (adapters/source-registry.ts): from the file named by SOURCES_FILE (JSON or
   * YAML), else the simple form (GP_FHIR_URL, HOSPITAL_FHIR_URL, SOCIAL_CARE_URL with HOSPITAL_ORG_CODE
   * and SOCIAL_CARE_ORG_CODE).
   */
  sourceRegistry: RegistrySource[];
  /** Paging of source Bundles: `_count` asked, pages and entries read per source per request at most. */
  sourcePaging: { pageSize: number; maxPages: number; maxEntries: number };
  /** Cap on one response body from a source (bytes). */
  sourceMaxBodyBytes: number;
  /** How long an audit event written while the sources are queried may wait to share a commit (ms). */
  auditDeferMs: number;
  sourceRetries: number;
  circuitFailureThreshold: number;
  circuitOpenMs: number;
  auth:
    | { mode: 'demo' }
    | { mode: 'jwks'; issuer: string; audience: string; jwksUrl?: string; jwksFile?: string; algorithms?: string[] };
  /** Token policy: longest accepted lifetime (exp − iat) and the clock skew allowed for exp/nbf/iat, seconds. */
  tokens: { maxLifetimeSec: number; clockSkewSec: number };
  /** HTTP server timeouts (server/http-server.ts says why these values). */
  http: { headersTimeoutMs: number; requestTimeoutMs: number; keepAliveTimeoutMs: number };
  logLevel: string;
  maxBodyBytes: number;
  validateResponses: boolean;
  /** INDICATORS_AT_STARTUP (default false; `npm start` sets true): compute the indicators once at start-up for the periods the sources' data covers, when none is stored. */
  indicatorsAtStartup: boolean;
  everythingPageSize: number;
  shutdownGraceMs: number;
  emergencyGrantMinutes: number;
  /** Organisation codes of the providers behind the hospital and social-care sources (legitimate relationship). */
  providerOrganisations: { hospital: string; socialCare: string };
  /** Disclosure control of published indicators: counts 1..threshold suppressed, others rounded to `rounding`. */
  disclosure: { threshold: number; rounding: number };
  /** Indicator feedback submissions allowed per client IP address per minute. */
  feedbackRatePerMinute: number;
  /** Indicator computation: aggregate query deadline per call (ms), the sources' aggregate API roots, the pseudonym secret. */
  aggregateDeadlineMs: number;
  /**
   * Every aggregate source: with SOURCES_FILE, each registry entry with an `aggregateUrl` (named by its
   * display name); otherwise the three-variable form's three (GP_AGGREGATE_URL, HOSPITAL_AGGREGATE_URL,
   * SOCIAL_CARE_AGGREGATE_URL, defaulting from the FHIR URLs; named gp, hospital, social-care).
   */
  aggregateSources: AggregateSourceConfig[];
  /** INDICATOR_PSEUDONYM_SECRET (≥ 32 characters); required when NODE_ENV=production, else a demo secret in dataDir. */
  indicatorPseudonymSecret?: string;
  production: boolean;
  /** What the deployment's SMART authorisation server offers (published in /.well-known/smart-configuration). */
  smart: { authorizationEndpoint?: string; tokenEndpoint?: string; grantTypes?: string[]; capabilities: string[] };
  /** The web pages: sign-in (demo provider or external OpenID Connect), sessions (web/config.ts). */
  web: WebConfig;
}

export class ConfigError extends Error {
  constructor(readonly setting: string, problem: string) {
    super(`Invalid configuration: ${setting} ${problem}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

function str(env: Env, name: string, dflt?: string): string {
  const v = env[name]?.trim();
  if (v) return v;
  if (dflt !== undefined) return dflt;
  throw new ConfigError(name, 'is required but not set');
}

function int(env: Env, name: string, dflt: number, min: number, max: number): number {
  const raw = env[name]?.trim();
  if (!raw) return dflt;
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    throw new ConfigError(name, `must be an integer from ${min} to ${max}`);
  }
  return Number(raw);
}

function url(env: Env, name: string, dflt?: string): string {
  const v = str(env, name, dflt);
  try {
    const u = new URL(v);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
  } catch {
    throw new ConfigError(name, 'must be an http(s) URL');
  }
  return v.replace(/\/+$/, '');
}

function bool(env: Env, name: string, dflt: boolean): boolean {
  const v = env[name]?.trim().toLowerCase();
  if (!v) return dflt;
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new ConfigError(name, 'must be true or false');
}

function odsCode(env: Env, name: string, dflt: string): string {
  const v = str(env, name, dflt);
  if (!/^[A-Z0-9]{3,10}$/.test(v)) throw new ConfigError(name, 'must be an organisation code of 3 to 10 capital letters or digits');
  return v;
}

/** SOURCES_FILE read and validated; the simple form's URL variables then default to the first source of each kind. */
function registryFrom(env: Env): { registry?: RegistrySource[]; env: Env } {
  const file = env.SOURCES_FILE?.trim();
  if (!file) return { env };
  let registry: RegistrySource[];
  try {
    registry = loadRegistryFile(file);
  } catch (e) {
    if (e instanceof RegistryError) throw new ConfigError('SOURCES_FILE', e.message.replace(/^Invalid source registry:/, 'is invalid:'));
    throw e;
  }
  const first = (category: string) => registry.find((s) => s.category === category);
  const withDefaults: Env = { ...env };
  const fill = (name: string, category: string) => {
    const s = first(category);
    if (!withDefaults[name]?.trim() && s) withDefaults[name] = s.baseUrl;
    if (!withDefaults[name]?.trim()) withDefaults[name] = 'http://127.0.0.1:9/unused'; // no source of that kind
  };
  fill('GP_FHIR_URL', 'gp');
  fill('HOSPITAL_FHIR_URL', 'hospital');
  fill('SOCIAL_CARE_URL', 'social-care');
  return { registry, env: withDefaults };
}

export function loadConfig(given: Env = process.env): Config {
  const { registry, env } = registryFrom(given);
  const host = str(env, 'HOST', '127.0.0.1');
  const port = int(env, 'PORT', 8080, 0, 65535);
  const authMode = str(env, 'AUTH_MODE', 'demo');
  if (authMode !== 'demo' && authMode !== 'jwks') throw new ConfigError('AUTH_MODE', "must be 'demo' or 'jwks'");
  let auth: Config['auth'] = { mode: 'demo' };
  if (authMode === 'jwks') {
    const jwksUrl = env.AUTH_JWKS_URL?.trim() ? url(env, 'AUTH_JWKS_URL') : undefined;
    const jwksFile = env.AUTH_JWKS_FILE?.trim() || undefined;
    if (!jwksUrl === !jwksFile) throw new ConfigError('AUTH_JWKS_URL', 'or AUTH_JWKS_FILE (exactly one) is required when AUTH_MODE=jwks');
    const algorithms = env.AUTH_ALGORITHMS?.split(',').map((a) => a.trim()).filter(Boolean);
    auth = {
      mode: 'jwks',
      issuer: str(env, 'AUTH_ISSUER'),
      audience: str(env, 'AUTH_AUDIENCE'),
      ...(jwksUrl ? { jwksUrl } : {}),
      ...(jwksFile ? { jwksFile } : {}),
      ...(algorithms?.length ? { algorithms } : {}),
    };
  }
  const databaseUrl = env.DATABASE_URL?.trim() || undefined;
  if (databaseUrl && !/^postgres(ql)?:\/\//.test(databaseUrl)) throw new ConfigError('DATABASE_URL', 'must be a postgres:// URL');
  const publicBaseUrl = url(env, 'PUBLIC_BASE_URL', `http://${host}:${port}`);
  const secret = indicatorSecret(env);
  let web: WebConfig;
  try {
    web = loadWebConfig(env, { publicBaseUrl, production: secret.production });
  } catch (e) {
    if (e instanceof WebConfigError) throw new ConfigError(e.setting, e.message.replace(`Invalid configuration: ${e.setting} `, ''));
    throw e;
  }
  return {
    host,
    port,
    publicBaseUrl,
    ...(databaseUrl ? { databaseUrl } : {}),
    databasePoolSize: int(env, 'DATABASE_POOL_SIZE', 10, 1, 1000),
    ...trustProxy(env),
    dataDir: resolve(str(env, 'DATA_DIR', '.data')),
    sources: {
      gp: url(env, 'GP_FHIR_URL'),
      hospital: url(env, 'HOSPITAL_FHIR_URL'),
      socialCare: url(env, 'SOCIAL_CARE_URL'),
    },
    sourceDeadlineMs: int(env, 'SOURCE_DEADLINE_MS', 3000, 50, 60_000),
    sourceRegistry:
      registry ??
      simpleRegistry(
        { gp: url(env, 'GP_FHIR_URL'), hospital: url(env, 'HOSPITAL_FHIR_URL'), socialCare: url(env, 'SOCIAL_CARE_URL') },
        { hospital: odsCode(env, 'HOSPITAL_ORG_CODE', 'RR8'), socialCare: odsCode(env, 'SOCIAL_CARE_ORG_CODE', 'E08000035') },
      ),
    sourceRetries: int(env, 'SOURCE_RETRIES', 1, 0, 3),
    sourcePaging: {
      pageSize: int(env, 'SOURCE_PAGE_SIZE', 1000, 1, 10_000),
      maxPages: int(env, 'SOURCE_MAX_PAGES', 100, 1, 10_000),
      maxEntries: int(env, 'SOURCE_MAX_ENTRIES', 50_000, 1, 1_000_000),
    },
    sourceMaxBodyBytes: int(env, 'SOURCE_MAX_BODY_BYTES', 50 * 1_048_576, 1024, 1024 * 1_048_576),
    auditDeferMs: int(env, 'AUDIT_DEFER_MS', 30, 0, 1000),
    circuitFailureThreshold: int(env, 'CIRCUIT_FAILURE_THRESHOLD', 5, 1, 100),
    circuitOpenMs: int(env, 'CIRCUIT_OPEN_MS', 10_000, 100, 600_000),
    auth,
    tokens: {
      maxLifetimeSec: int(env, 'AUTH_MAX_TOKEN_LIFETIME_SEC', 3600, 60, 86_400),
      clockSkewSec: int(env, 'AUTH_CLOCK_SKEW_SEC', 60, 0, 300),
    },
    http: httpTimeouts(env),
    logLevel: str(env, 'LOG_LEVEL', 'info'),
    maxBodyBytes: int(env, 'MAX_BODY_BYTES', 1_048_576, 1024, 50 * 1_048_576),
    validateResponses: bool(env, 'VALIDATE_RESPONSES', false),
    indicatorsAtStartup: bool(env, 'INDICATORS_AT_STARTUP', false),
    everythingPageSize: int(env, 'EVERYTHING_PAGE_SIZE', 500, 1, 1000),
    shutdownGraceMs: int(env, 'SHUTDOWN_GRACE_MS', 10_000, 0, 120_000),
    emergencyGrantMinutes: int(env, 'EMERGENCY_GRANT_MINUTES', 60, 1, 24 * 60),
    providerOrganisations: { hospital: odsCode(env, 'HOSPITAL_ORG_CODE', 'RR8'), socialCare: odsCode(env, 'SOCIAL_CARE_ORG_CODE', 'E08000035') },
    disclosure: { threshold: int(env, 'DISCLOSURE_THRESHOLD', 7, 1, 100), rounding: int(env, 'DISCLOSURE_ROUNDING', 5, 1, 100) },
    feedbackRatePerMinute: int(env, 'FEEDBACK_RATE_PER_MINUTE', 10, 1, 10_000),
    aggregateDeadlineMs: int(env, 'AGGREGATE_DEADLINE_MS', 30_000, 100, 600_000),
    aggregateSources: registry
      ? aggregateSourcesOf(registry)
      : [
          { id: 'gp', kind: 'gp', name: 'gp', baseUrl: url(env, 'GP_AGGREGATE_URL', aggregateRootOf(url(env, 'GP_FHIR_URL'))) },
          { id: 'hospital', kind: 'hospital', name: 'hospital', baseUrl: url(env, 'HOSPITAL_AGGREGATE_URL', aggregateRootOf(url(env, 'HOSPITAL_FHIR_URL'))) },
          { id: 'social-care', kind: 'social-care', name: 'social-care', baseUrl: url(env, 'SOCIAL_CARE_AGGREGATE_URL', url(env, 'SOCIAL_CARE_URL')) },
        ],
    ...secret,
    smart: smartSettings(env),
    web,
  };
}

/**
 * HTTP_HEADERS_TIMEOUT_MS (default 10 s): the whole request head must arrive within it;
 * HTTP_REQUEST_TIMEOUT_MS (default 30 s): the whole request, body included (bodies are ≤ MAX_BODY_BYTES);
 * HTTP_KEEP_ALIVE_TIMEOUT_MS (default 65 s): how long an idle keep-alive connection is kept; a load balancer
 * or client pool in front must close idle connections sooner (docs/operations-hardening.md).
 */
function httpTimeouts(env: Env): Config['http'] {
  const headersTimeoutMs = int(env, 'HTTP_HEADERS_TIMEOUT_MS', 10_000, 1000, 120_000);
  const requestTimeoutMs = int(env, 'HTTP_REQUEST_TIMEOUT_MS', 30_000, 1000, 600_000);
  if (headersTimeoutMs > requestTimeoutMs) throw new ConfigError('HTTP_HEADERS_TIMEOUT_MS', 'must not exceed HTTP_REQUEST_TIMEOUT_MS');
  return { headersTimeoutMs, requestTimeoutMs, keepAliveTimeoutMs: int(env, 'HTTP_KEEP_ALIVE_TIMEOUT_MS', 65_000, 1000, 600_000) };
}

/** TRUST_PROXY: a hop count, or addresses/subnets/names; never "true" (any client could then name its own address). */
function trustProxy(env: Env): { trustProxy?: number | string[] } {
  const raw = env.TRUST_PROXY?.trim();
  if (!raw) return {};
  if (/^\d+$/.test(raw)) return { trustProxy: int(env, 'TRUST_PROXY', 0, 0, 10) };
  const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const ok = (s: string) => ['loopback', 'linklocal', 'uniquelocal'].includes(s) || /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(s);
  if (items.length === 0 || !items.every(ok)) {
    throw new ConfigError('TRUST_PROXY', 'must be a hop count (0-10) or a comma-separated list of addresses, subnets, loopback, linklocal or uniquelocal');
  }
  return { trustProxy: items };
}

/** INDICATOR_PSEUDONYM_SECRET: at least 32 characters; required when NODE_ENV=production. */
function indicatorSecret(env: Env): { indicatorPseudonymSecret?: string; production: boolean } {
  const production = env.NODE_ENV?.trim() === 'production';
  const secret = env.INDICATOR_PSEUDONYM_SECRET?.trim();
  if (secret && secret.length < 32) throw new ConfigError('INDICATOR_PSEUDONYM_SECRET', 'must be at least 32 characters');
  if (!secret && production) throw new ConfigError('INDICATOR_PSEUDONYM_SECRET', 'is required when NODE_ENV=production');
  return { production, ...(secret ? { indicatorPseudonymSecret: secret } : {}) };
}

const SMART_CAPABILITIES = [
  'launch-ehr', 'launch-standalone', 'authorize-post', 'client-public', 'client-confidential-symmetric',
  'client-confidential-asymmetric', 'sso-openid-connect', 'context-ehr-patient', 'context-ehr-encounter',
  'context-standalone-patient', 'context-standalone-encounter', 'permission-offline', 'permission-online',
];
const SMART_GRANT_TYPES = ['authorization_code', 'client_credentials'];

/** SMART_* settings: the authorisation server's endpoints and what it supports (nothing is assumed). */
function smartSettings(env: Env): Config['smart'] {
  const list = (name: string, allowed: string[]) => {
    const raw = env[name]?.trim();
    if (!raw) return undefined;
    const items = raw.split(',').map((s) => s.trim()).filter(Boolean);
    const bad = items.filter((i) => !allowed.includes(i));
    if (bad.length) throw new ConfigError(name, `may only list: ${allowed.join(', ')}`);
    return items;
  };
  const authorizationEndpoint = env.SMART_AUTHORIZATION_ENDPOINT?.trim() ? url(env, 'SMART_AUTHORIZATION_ENDPOINT') : undefined;
  const tokenEndpoint = env.SMART_TOKEN_ENDPOINT?.trim() ? url(env, 'SMART_TOKEN_ENDPOINT') : undefined;
  const grantTypes = list('SMART_GRANT_TYPES', SMART_GRANT_TYPES);
  return {
    ...(authorizationEndpoint ? { authorizationEndpoint } : {}),
    ...(tokenEndpoint ? { tokenEndpoint } : {}),
    ...(grantTypes ? { grantTypes } : {}),
    capabilities: list('SMART_CAPABILITIES', SMART_CAPABILITIES) ?? [],
  };
}
