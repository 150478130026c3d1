import express, { type NextFunction, type Request, type RequestHandler, type Response, type Router } from 'express';
import { mulberry32 } from './hash.js';

/**
 * Fault injection for a sandbox server. Modes (applied to every request except /__admin/*):
 *   none        normal behaviour
 *   error       500 with a body (FHIR: OperationOutcome as application/fhir+json; social care: {"error": …})
 *   hang        never answers; the socket stays open until the client gives up or the server closes
 *   html        200 with a text/html maintenance page
 *   truncated   the normal status and content type, but the JSON body cut in half
 *   wrong-type  200 with valid JSON of the wrong kind (FHIR: a Patient where a Bundle is expected, an
 *               OperationOutcome where anything else is expected; social care: a JSON array wrapping the
 *               object that was expected). Error responses (4xx) are left alone.
 * latencyMs ± jitterMs (uniform, seeded PRNG) delays every non-admin request before the mode applies.
 * Set at start from env (SANDBOX_<GP|HOSPITAL|SOCIAL_CARE>_FAULT / _LATENCY_MS / _JITTER_MS) and at run
 * time with POST /__admin/faults {mode?, latencyMs?, jitterMs?} (merged into the current setting),
 * GET /__admin/faults, DELETE /__admin/faults (reset to none, 0, 0).
 */

export const FAULT_MODES = ['none', 'error', 'hang', 'html', 'truncated', 'wrong-type'] as const;
export type FaultMode = (typeof FAULT_MODES)[number];
export interface FaultConfig {
  mode: FaultMode;
  latencyMs: number;
  jitterMs: number;
}
export type FaultFlavour = 'fhir' | 'json';
export type SourceEnvPrefix = 'GP' | 'HOSPITAL' | 'SOCIAL_CARE';

const NONE: FaultConfig = { mode: 'none', latencyMs: 0, jitterMs: 0 };
const MAX_MS = 120_000;

/** Validates a partial fault setting; returns an error message string when invalid. */
export function parseFaultPatch(body: unknown): Partial<FaultConfig> | string {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) return 'body must be a JSON object';
  const patch: Partial<FaultConfig> = {};
  for (const [key, value] of Object.entries(body)) {
    if (key === 'mode') {
      if (!FAULT_MODES.includes(value as FaultMode)) return `mode must be one of ${FAULT_MODES.join(', ')}`;
      patch.mode = value as FaultMode;
    } else if (key === 'latencyMs' || key === 'jitterMs') {
      if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value > MAX_MS) {
        return `${key} must be a number between 0 and ${MAX_MS}`;
      }
      patch[key] = value;
    } else return `unknown field ${key}`;
  }
  return patch;
}

export class Faults {
  private config: FaultConfig;
  private readonly rng: () => number;

  constructor(initial: Partial<FaultConfig> = {}, seed = 1) {
    this.config = { ...NONE, ...initial };
    this.rng = mulberry32(seed);
  }
  get(): FaultConfig {
    return { ...this.config };
  }
  set(patch: Partial<FaultConfig>): FaultConfig {
    this.config = { ...this.config, ...patch };
    return this.get();
  }
  reset(): FaultConfig {
    this.config = { ...NONE };
    return this.get();
  }
  /** The delay for the next request: latencyMs ± jitterMs, never negative. */
  nextDelayMs(): number {
    const { latencyMs, jitterMs } = this.config;
    return Math.max(0, Math.round(latencyMs + (this.rng() * 2 - 1) * jitterMs));
  }
}

export function faultsFromEnv(prefix: SourceEnvPrefix, env: NodeJS.ProcessEnv = process.env): Partial<FaultConfig> {
  const raw: Record<string, unknown> = {};
  const mode = env[`SANDBOX_${prefix}_FAULT`];
  const latency = env[`SANDBOX_${prefix}_LATENCY_MS`];
  const jitter = env[`SANDBOX_${prefix}_JITTER_MS`];
  if (mode) raw.mode = mode;
  if (latency) raw.latencyMs = Number(latency);
  if (jitter) raw.jitterMs = Number(jitter);
  const patch = parseFaultPatch(raw);
  if (typeof patch === 'string') throw new Error(`SANDBOX_${prefix}_*: ${patch}`);
  return patch;
}

/** Routes for /__admin (mount before faultMiddleware so admin calls are never faulted). */
export function faultAdminRouter(faults: Faults): Router {
  const router = express.Router();
  router.get('/faults', (_req, res) => {
    res.json(faults.get());
  });
  router.post('/faults', express.json({ type: () => true }), (req, res) => {
    const patch = parseFaultPatch(req.body);
    if (typeof patch === 'string') res.status(400).json({ error: patch });
    else res.json(faults.set(patch));
  });
  router.delete('/faults', (_req, res) => {
    res.json(faults.reset());
  });
  router.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    res.status(400).json({ error: 'body must be valid JSON' });
  });
  return router;
}

const HTML_PAGE =
  '<!DOCTYPE html><html><head><title>Service unavailable</title></head><body>' +
  '<h1>Service temporarily unavailable</h1><p>The system is down for scheduled maintenance.</p></body></html>';

function errorBody(flavour: FaultFlavour): unknown {
  const text = 'Simulated fault: internal server error';
  return flavour === 'fhir'
    ? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception', diagnostics: text }] }
    : { error: text };
}

/** Applies latency, then error / hang / html. truncated and wrong-type are applied by sendJson. */
export function faultMiddleware(faults: Faults, flavour: FaultFlavour): RequestHandler {
  return (_req, res, next) => {
    const proceed = (): void => {
      const { mode } = faults.get();
      res.locals.faultMode = mode;
      if (mode === 'error') sendJson(res, 500, errorBody(flavour), flavour === 'fhir' ? 'application/fhir+json' : 'application/json');
      else if (mode === 'html') res.status(200).type('text/html').send(HTML_PAGE);
      else if (mode !== 'hang') next();
      // hang: deliberately never answer.
    };
    const delay = faults.nextDelayMs();
    if (delay <= 0) return proceed();
    const timer = setTimeout(proceed, delay);
    res.on('close', () => clearTimeout(timer));
  };
}

const WRONG_PATIENT = { resourceType: 'Patient', id: 'wrong-type', active: true };
const WRONG_OUTCOME = {
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'information', code: 'informational', diagnostics: 'All OK' }],
};

function wrongTypeFor(body: unknown): unknown {
  if (Array.isArray(body)) return { items: body };
  const resourceType = (body as { resourceType?: unknown } | null)?.resourceType;
  if (resourceType === 'Bundle') return WRONG_PATIENT;
  if (typeof resourceType === 'string') return WRONG_OUTCOME;
  return [body];
}

/** Sends a JSON body, honouring the truncated and wrong-type faults of this request. */
export function sendJson(res: Response, status: number, body: unknown, contentType: string): void {
  const mode = res.locals.faultMode as FaultMode | undefined;
  const payload = mode === 'wrong-type' && status < 400 ? wrongTypeFor(body) : body;
  let text = JSON.stringify(payload);
  if (mode === 'truncated') text = text.slice(0, Math.floor(text.length / 2));
  res.status(status).type(contentType).send(text);
}
