import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { packageFile } from '../store/package-files.js';
import express, { type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import * as OpenApiValidator from 'express-openapi-validator';
import { pinoHttp } from 'pino-http';
import type { Logger } from 'pino';
import swaggerUi from 'swagger-ui-express';
import { parse as parseYaml } from 'yaml';
import { badRequest, normalizeError, notAcceptable, notFound } from '../fhir/outcomes.js';
import { PARAM_NAME } from '../fhir/parameters.js';
import type { TokenVerifier } from './auth.js';
import type { Web } from '../web/app.js';
import { wantsHtml } from '../web/page-errors.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { EmergencyAccess } from '../consent/emergency.js';
import type { ConsentGuard } from '../consent/guard.js';
import type { ConsentStore } from '../consent/store.js';
import { consentRoutes } from './consent-routes.js';
import { FHIR_JSON, fhirRoutes } from './fhir-routes.js';
import { oversightRoutes } from './oversight-routes.js';
import { searchRoutes } from './search-routes.js';
import { indicatorRoutes, isPublicIndicatorRequest, type IndicatorRouteDeps } from './indicator-routes.js';
import type { Principal } from '../identity/principal.js';
import { compression } from './compression.js';
import { routePatternMatcher } from './route-patterns.js';
import { cacheValidatorRoutePatterns } from './route-pattern-cache.js';
import { enforceScopes, scopedRepository } from './scope-guard.js';
import { SMART_CONFIGURATION_PATHS, smartRoutes, type SmartConfiguration } from './smart-routes.js';

export const OPENAPI_PATH = packageFile('openapi.yaml');

export interface ReadinessCheck {
  name: string;
  ok: boolean;
  detail?: string;
}

export interface AppDeps {
  guard: ConsentGuard;
  consents: ConsentStore;
  emergency: EmergencyAccess;
  audit: AuditLog;
  verifyToken: TokenVerifier;
  logger: Logger;
  readiness: () => Promise<ReadinessCheck[]>;
  publicBaseUrl: string;
  maxBodyBytes: number;
  validateResponses: boolean;
  everythingPageSize: number;
  /** The federated source systems (registry display names), listed in the CapabilityStatement. */
  sourceNames?: string[];
  /** Express `trust proxy` (config TRUST_PROXY): whose X-Forwarded-For gives the client address. Unset: none. */
  trustProxy?: number | string[];
  /** The SMART discovery document (server/smart-routes.ts smartConfiguration). */
  smart: SmartConfiguration;
  /** Transparency indicators: computer, snapshot and feedback stores, disclosure policy (server/indicator-routes.ts). */
  indicators: Omit<IndicatorRouteDeps, 'audit' | 'baseUrl'>;
  /** The web pages (web/app.ts createWeb); absent = API only. */
  web?: Web;
}

const SOFTWARE = { name: 'integrated-patient-record', version: '0.1.0' };
const ACCEPTABLE = ['application/fhir+json', 'application/json'];
/** Routes that need no token. Everything else is authenticated (deny by default). */
const PUBLIC_PATHS = new Set(['/healthz', '/readyz', '/openapi.yaml', '/fhir/metadata', ...SMART_CONFIGURATION_PATHS]);
/** Public documents that hold no patient or audit data: the only responses a cache may keep. */
const CACHEABLE_PATHS = new Set(['/openapi.yaml', '/fhir/metadata', ...SMART_CONFIGURATION_PATHS]);
/** C0 control characters and DEL: never part of a legitimate query parameter name or value here. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

/**
 * `Cache-Control: no-store` on every response (patient data, audit data, errors that could tell whether a
 * record exists), except GETs of public documents and published (disclosure-controlled) indicators.
 */
export function mayBeCached(method: string, path: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  return CACHEABLE_PATHS.has(path) || path === '/docs' || path.startsWith('/docs/') || isPublicIndicatorRequest(method, path);
}

/** Builds the HTTP application from its dependencies; listening is the caller's job (server/main.ts). */
export function createApp(deps: AppDeps): express.Express {
  const specText = readFileSync(OPENAPI_PATH, 'utf8');
  const spec = parseYaml(specText);
  const app = express();
  app.disable('x-powered-by');
  // No automatic body-hash ETags: hashing every large Bundle costs CPU on the hot path, and the
  // resources that support conditional updates (Consent) set their version ETag themselves.
  app.set('etag', false);
  app.set('query parser', 'simple');
  const routeOf = routePatternMatcher(Object.keys(spec.paths ?? {}));
  if (deps.trustProxy !== undefined) app.set('trust proxy', deps.trustProxy);

  app.use((req, res, next) => {
    const given = req.header('x-request-id');
    const id = given && /^[A-Za-z0-9._-]{1,64}$/.test(given) ? given : randomUUID();
    res.locals.requestId = id;
    res.setHeader('X-Request-Id', id);
    if (!mayBeCached(req.method, req.path)) res.setHeader('Cache-Control', 'no-store');
    next();
  });
  app.use(
    pinoHttp({
      logger: deps.logger,
      genReqId: (_req, res) => (res as Response).locals.requestId as string,
      // The documented route, never the raw path or query: both may carry NHS numbers, names and birth dates.
      serializers: {
        req: (req: { id: string; method: string; url: string }) => ({ id: req.id, method: req.method, route: routeOf(pathOf(req.url)) }),
        res: (res: { statusCode: number }) => ({ statusCode: res.statusCode }),
      },
      customLogLevel: (_req, res, err) => (err || res.statusCode >= 500 ? 'error' : res.statusCode >= 400 ? 'warn' : 'info'),
    }),
  );
  app.use('/docs', helmet({ contentSecurityPolicy: false }));
  app.use(helmet());
  // gzip/br when the client asks (Accept-Encoding): a summary is ~5× smaller on a weak mobile signal.
  // The whole body in one step, synchronously when small (server/compression.ts says why).
  app.use(compression());
  // The pages (their own CSP, sessions, CSRF and error pages) before the API's parsers and validator.
  // Mounted through a named function: HTML pages are not API routes (openapi.yaml describes the API).
  const web = deps.web?.router;
  if (web) app.use(function webPages(req: Request, res: Response, next: NextFunction) {
    web(req, res, next);
  });

  app.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  app.get('/readyz', async (_req, res) => {
    // Sources are shared by every instance: one source down takes no instance out of rotation (the service
    // still answers, saying what is missing); the database down, or no source reachable at all, does.
    const checks = await deps.readiness();
    const [database, ...sources] = checks;
    const serving = database!.ok && (sources.length === 0 || sources.some((c) => c.ok));
    const status = !serving ? 'unavailable' : checks.every((c) => c.ok) ? 'ready' : 'degraded';
    res.status(serving ? 200 : 503).json({ status, checks });
  });
  app.get('/openapi.yaml', (_req, res) => {
    res.type('application/yaml').send(specText);
  });
  app.use('/docs', swaggerUi.serve);
  app.get('/docs', swaggerUi.setup(spec, { swaggerOptions: { url: '/openapi.yaml' } }));

  // Content negotiation, body limits, OpenAPI validation (415 for undeclared media types), then authentication.
  app.use('/fhir', (req, _res, next) => {
    if (!req.accepts(ACCEPTABLE)) throw notAcceptable('This server answers only application/fhir+json or application/json.');
    next();
  });
  app.use(express.json({ type: ['application/json', 'application/fhir+json'], limit: deps.maxBodyBytes }));
  app.use(express.urlencoded({ extended: false, limit: deps.maxBodyBytes, parameterLimit: 50 }));
  app.use((req, _res, next) => {
    // PostgreSQL cannot store NUL in text or jsonb: refuse it in any body string up front (400, not 500).
    const nulAt = nulPath(req.body);
    if (nulAt !== undefined) {
      throw badRequest('invalid-character', 'The request body contains a NUL character, which no field may hold.', PARAM_NAME.test(nulAt) ? [nulAt] : undefined);
    }
    for (const [name, value] of Object.entries(req.query as Record<string, unknown>)) {
      const values = Array.isArray(value) ? value : [value];
      if (CONTROL_CHARS.test(name) || values.some((v) => typeof v === 'string' && CONTROL_CHARS.test(v))) {
        const named = PARAM_NAME.test(name);
        throw badRequest('invalid-parameter', `${named ? `'${name}'` : 'A query parameter'} contains a control character (e.g. a line break or NUL).`, named ? [name] : undefined);
      }
    }
    next();
  });
  cacheValidatorRoutePatterns();
  app.use(
    OpenApiValidator.middleware({
      apiSpec: spec,
      validateRequests: { allowUnknownQueryParameters: false },
      validateResponses: deps.validateResponses ? { removeAdditional: false } : false,
      validateSecurity: false,
      ignorePaths: /^\/(docs|openapi\.yaml)/,
    }),
  );
  app.use(async (req: Request, res: Response, next: NextFunction) => {
    if (PUBLIC_PATHS.has(req.path) || isPublicIndicatorRequest(req.method, req.path)) return next();
    // Node keeps only the first of repeated Authorization headers: refuse the request rather than guess.
    if (req.rawHeaders.filter((h, i) => i % 2 === 0 && h.toLowerCase() === 'authorization').length > 1) {
      throw badRequest('repeated-header', 'The request has more than one Authorization header; send exactly one.');
    }
    res.locals.principal = await deps.verifyToken(req.header('authorization'));
    next();
  });
  // SMART scopes, keyed by OpenAPI route (server/scope-rules.ts scopeRuleFor): deny by default for /fhir routes.
  app.use(enforceScopes({ audit: deps.audit }));
  app.use(smartRoutes(deps.smart));
  const repoFor = (res: Response, operation: string) =>
    scopedRepository(deps.guard.forRequest(res.locals.principal as Principal, res.locals.requestId as string, operation), res.locals.principal as Principal);
  app.use('/fhir', fhirRoutes({ repoFor, baseUrl: deps.publicBaseUrl, everythingPageSize: deps.everythingPageSize, software: SOFTWARE, sourceNames: deps.sourceNames ?? [] }));
  app.use('/fhir', searchRoutes({ repoFor, baseUrl: deps.publicBaseUrl }));
  app.use(consentRoutes({ consents: deps.consents, emergency: deps.emergency, audit: deps.audit, repoFor, baseUrl: deps.publicBaseUrl }));
  app.use(oversightRoutes({ emergency: deps.emergency, audit: deps.audit, repoFor, baseUrl: deps.publicBaseUrl }));
  app.use(indicatorRoutes({ ...deps.indicators, audit: deps.audit, baseUrl: deps.publicBaseUrl }));

  app.use((req: Request) => {
    throw notFound(`There is no ${req.method} route at this path.`, 'no-such-route');
  });
  // The one terminal error handler: an OperationOutcome, never a stack trace.
  app.use((e: unknown, req: Request, res: Response, _next: NextFunction) => {
    // A browser asking for a page gets an error page; the API keeps its OperationOutcome.
    if (deps.web && !req.path.startsWith('/fhir') && wantsHtml(req)) return deps.web.renderError(e, req, res);
    const err = normalizeError(e);
    if (err.status >= 500) req.log?.error({ err: { type: (e as Error)?.name, message: (e as Error)?.message, stack: (e as Error)?.stack } }, 'request failed');
    for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
    res.status(err.status).type(FHIR_JSON).json(err.outcome);
  });
  return app;
}

/** The dotted path of the first string (or key) holding NUL in a parsed body, '' at the top; undefined if none. */
function nulPath(v: unknown, path = '', depth = 0): string | undefined {
  if (typeof v === 'string') return v.includes('\u0000') ? path : undefined;
  if (!v || typeof v !== 'object' || depth > 32) return undefined;
  for (const [k, x] of Object.entries(v)) {
    const at = k.includes('\u0000') ? path : nulPath(x, path ? `${path}.${k}` : k, depth + 1);
    if (at !== undefined) return at;
  }
  return undefined;
}

/** The path of a URL without its query string. */
function pathOf(url: string | undefined): string {
  if (!url) return '';
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(0, q) : url;
}
