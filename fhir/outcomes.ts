import type { OperationOutcome, OperationOutcomeIssue } from 'fhir/r4.js';
import { DatabaseUnavailableError } from '../store/unavailable.js';

/**
 * One error type for the whole service (after Medplum's core/outcomes.ts): every failure is an
 * OperationOutcome carried by OperationOutcomeError, mapped to an HTTP status in one place.
 * Each issue has a stable code in `issue.details.coding` (system ERROR_CODE_SYSTEM) so clients and
 * tests can rely on it. Messages never contain patient identifiers.
 */
export const ERROR_CODE_SYSTEM = 'https://integrated-record.example.nhs.uk/CodeSystem/error-code';

export type IssueCode = OperationOutcomeIssue['code'];
export type Severity = OperationOutcomeIssue['severity'];

export interface IssueInput {
  severity?: Severity;
  code: IssueCode;
  errorCode: string;
  diagnostics: string;
  expression?: string[];
}

export function outcome(status: number, issues: IssueInput[]): OperationOutcome {
  void status;
  return {
    resourceType: 'OperationOutcome',
    issue: issues.map((i) => ({
      severity: i.severity ?? 'error',
      code: i.code,
      details: { coding: [{ system: ERROR_CODE_SYSTEM, code: i.errorCode }], text: i.diagnostics },
      diagnostics: i.diagnostics,
      ...(i.expression ? { expression: i.expression } : {}),
    })),
  };
}

export class OperationOutcomeError extends Error {
  readonly status: number;
  readonly outcome: OperationOutcome;
  readonly headers: Record<string, string>;
  constructor(status: number, oo: OperationOutcome, headers: Record<string, string> = {}) {
    super(oo.issue[0]?.diagnostics ?? 'error');
    this.name = 'OperationOutcomeError';
    this.status = status;
    this.outcome = oo;
    this.headers = headers;
  }
}

function err(status: number, code: IssueCode, errorCode: string, diagnostics: string, expression?: string[]) {
  return new OperationOutcomeError(status, outcome(status, [{ code, errorCode, diagnostics, expression }]));
}

export const badRequest = (errorCode: string, diagnostics: string, expression?: string[]) =>
  err(400, 'invalid', errorCode, diagnostics, expression);
export const unprocessable = (errorCode: string, diagnostics: string, expression?: string[]) =>
  err(422, 'processing', errorCode, diagnostics, expression);
export const unauthorized = (errorCode: string, diagnostics: string) => {
  const e = err(401, 'login', errorCode, diagnostics);
  e.headers['WWW-Authenticate'] = `Bearer error="invalid_token", error_description="${diagnostics.replace(/"/g, "'")}"`;
  return e;
};
export const forbidden = (errorCode: string, diagnostics: string) => err(403, 'forbidden', errorCode, diagnostics);
export const notFound = (diagnostics: string, errorCode = 'not-found') => err(404, 'not-found', errorCode, diagnostics);
export const notAcceptable = (diagnostics: string) => err(406, 'not-supported', 'not-acceptable', diagnostics);
export const unsupportedMediaType = (diagnostics: string) =>
  err(415, 'not-supported', 'unsupported-media-type', diagnostics);
export const payloadTooLarge = (diagnostics: string) => err(413, 'too-costly', 'payload-too-large', diagnostics);
export const serviceUnavailable = (errorCode: string, diagnostics: string, issues: IssueInput[] = []) =>
  new OperationOutcomeError(
    503,
    outcome(503, [{ code: 'transient', errorCode, diagnostics }, ...issues]),
  );
/** Seconds a client should wait before retrying while the database is unavailable. */
export const DATABASE_RETRY_AFTER_SECONDS = 5;
export const databaseUnavailable = () =>
  new OperationOutcomeError(
    503,
    outcome(503, [{ code: 'transient', errorCode: 'database-unavailable', diagnostics: 'The database cannot be reached just now; nothing was read or changed. Try again shortly.' }]),
    { 'Retry-After': String(DATABASE_RETRY_AFTER_SECONDS) },
  );
export const internalError = () =>
  err(500, 'exception', 'internal', 'An internal error occurred; it has been logged with the request id.');

/** Anything thrown → an OperationOutcomeError; unknown errors become a generic 500 (no stack, no detail). */
export function normalizeError(e: unknown): OperationOutcomeError {
  if (e instanceof OperationOutcomeError) return e;
  if (e instanceof DatabaseUnavailableError) return databaseUnavailable();
  const anyErr = e as
    | { status?: number; statusCode?: number; type?: string; message?: string; errors?: { path?: string; message?: string }[] }
    | undefined;
  const status = anyErr?.status ?? anyErr?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 500 && Array.isArray(anyErr?.errors) && anyErr.errors.length > 0) {
    // Request validation against openapi.yaml: one issue per failing element, located by expression.
    return new OperationOutcomeError(
      status,
      outcome(status, anyErr.errors.map((x) => ({
        code: STATUS_ISSUE[status] ?? 'invalid',
        errorCode: /^Unknown query parameter/.test(x.message ?? '') ? 'unknown-parameter' : (STATUS_ERROR_CODE[status] ?? 'invalid-request'),
        diagnostics: safeMessage(x.message ? `${locate(x.path)}${x.message}` : anyErr.message),
        ...(x.path && PARAM_NAME.test(expressionOf(x.path)) ? { expression: [expressionOf(x.path)] } : {}),
      }))),
    );
  }
  if (anyErr?.type === 'entity.too.large') return payloadTooLarge('The request body is larger than the limit allowed.');
  if (anyErr?.type === 'entity.parse.failed') return badRequest('malformed-json', 'The request body is not valid JSON.');
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return err(status, STATUS_ISSUE[status] ?? 'invalid', STATUS_ERROR_CODE[status] ?? 'bad-request', safeMessage(anyErr?.message));
  }
  return internalError();
}

/** Names echoed in messages only when they look like parameter or element names (never patient data). */
const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_\-.:[\]]{0,63}$/;

/**
 * Client-error messages from libraries are kept short and free of request values: a quoted name the
 * caller typed (`Unknown query parameter '9994242423'`) is kept only when it looks like a parameter name.
 */
function safeMessage(message: string | undefined): string {
  if (!message) return 'The request is invalid.';
  const cleaned = message
    .replace(/'([^']*)'/g, (_m, name: string) => (PARAM_NAME.test(name) ? `'${name}'` : '(a value from the request)'))
    .replace(/^([^:\s]+): /, (m, name: string) => (PARAM_NAME.test(name) ? m : ''));
  return cleaned.length > 300 ? cleaned.slice(0, 300) + '…' : cleaned;
}

const STATUS_ISSUE: Record<number, IssueCode> = { 401: 'login', 403: 'forbidden', 404: 'not-found', 405: 'not-supported', 406: 'not-supported', 413: 'too-costly', 415: 'not-supported' };
const STATUS_ERROR_CODE: Record<number, string> = {
  400: 'invalid-request',
  404: 'not-found',
  405: 'method-not-allowed',
  406: 'not-acceptable',
  413: 'payload-too-large',
  415: 'unsupported-media-type',
};

/** `.query.identifier` → `identifier`; `.body.resourceType` → `resourceType`. */
function expressionOf(path: string): string {
  return path.replace(/^[./]?(query|body|path|params|headers)[./]?/, '') || path;
}

function locate(path: string | undefined): string {
  return path && PARAM_NAME.test(expressionOf(path)) ? `${expressionOf(path)}: ` : '';
}
