/**
 * The database cannot be reached (PostgreSQL down, restarting, refusing connections, the network to it
 * broken; the embedded database closed). Raised by the Db layer (store/db.ts) in place of the driver's
 * error, so the HTTP layer answers 503 `database-unavailable` with Retry-After instead of a 500: the
 * condition is transient and the service recovers by itself once the database is back.
 */
export class DatabaseUnavailableError extends Error {
  constructor(cause: unknown) {
    super('database unavailable', { cause });
    this.name = 'DatabaseUnavailableError';
  }
}

/** Node socket errors that mean "no connection to the database". */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN']);

/**
 * PostgreSQL SQLSTATEs meaning the server cannot serve us right now: class 08 (connection exception),
 * 57P01–57P03 (admin/crash shutdown, cannot connect now), 53300 (too many connections).
 */
function isUnavailableSqlState(code: string): boolean {
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300';
}

/** Messages of node-postgres and PGlite for a lost, refused or closed connection. */
const MESSAGES = [
  /^Connection terminated/i,
  /timeout exceeded when trying to connect/i,
  /Client has encountered a connection error/i,
  /Client was closed and is not queryable/i,
  /Cannot use a pool after calling end on the pool/i,
  /PGlite is closed/i,
];

/** True when `e` (or its cause) says the database cannot be reached, as opposed to a bad query. */
export function isConnectionError(e: unknown, depth = 0): boolean {
  if (!e || typeof e !== 'object' || depth > 3) return false;
  if (e instanceof DatabaseUnavailableError) return true;
  const { code, message, cause, errors } = e as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || (/^[0-9A-Z]{5}$/.test(code) && isUnavailableSqlState(code)))) return true;
  if (typeof message === 'string' && MESSAGES.some((m) => m.test(message))) return true;
  // AggregateError (e.g. connecting to both ::1 and 127.0.0.1 failed).
  if (Array.isArray(errors) && errors.some((x) => isConnectionError(x, depth + 1))) return true;
  return isConnectionError(cause, depth + 1);
}

/** Rethrows a connection error as DatabaseUnavailableError; any other error unchanged. */
export function translateDbError(e: unknown): never {
  if (!(e instanceof DatabaseUnavailableError) && isConnectionError(e)) throw new DatabaseUnavailableError(e);
  throw e;
}
