import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { outcome } from '../fhir/outcomes.js';

/**
 * The HTTP listener around the Express app: timeouts that fit the API, OperationOutcome bodies for the
 * errors Node answers itself (431, 408, 400), a clear message for a busy port, and draining on shutdown.
 *
 * Timeouts (docs/operations-hardening.md):
 * - headersTimeout: the request head must arrive within it (API clients send it in one packet);
 * - requestTimeout: the whole request, body included, must arrive within it (bodies ≤ MAX_BODY_BYTES),
 *   so a body trickled in a few bytes at a time holds a socket for at most this long, then gets 408;
 * - keepAliveTimeout: an idle keep-alive connection is closed after it. It is longer than the idle timeout
 *   of the load balancer or client pool in front (which must close first), so a client never reuses a
 *   connection at the very moment the server closes it (ECONNRESET);
 * - the timeouts are checked every second (Node's default is every 30 s).
 * None of these limits how long the service may take to answer: only how long the client may take to ask.
 */
export interface HttpTimeouts {
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  keepAliveTimeoutMs: number;
}

const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** Creates (does not start) the server for `app` with the given timeouts and error answers. */
export function createHttpServer(app: RequestListener, t: HttpTimeouts): Server {
  const server = createServer(
    { headersTimeout: t.headersTimeoutMs, requestTimeout: t.requestTimeoutMs, keepAliveTimeout: t.keepAliveTimeoutMs, connectionsCheckingInterval: 1000 },
    app,
  );
  server.keepAliveTimeout = t.keepAliveTimeoutMs;
  server.on('clientError', answerClientError);
  trackResponses(server);
  return server;
}

/** Errors Node's parser raises before Express sees a request → status, stable code and message. */
function describeClientError(code: string | undefined): { status: number; reason: string; errorCode: string; diagnostics: string } {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return { status: 431, reason: 'Request Header Fields Too Large', errorCode: 'headers-too-large', diagnostics: 'The request line and headers are larger than this server accepts (16 KB): send fewer or shorter parameters, or use POST …/_search.' };
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return { status: 408, reason: 'Request Timeout', errorCode: 'request-timeout', diagnostics: 'The request (headers and body) did not arrive in time; the connection is closed.' };
    default:
      return { status: 400, reason: 'Bad Request', errorCode: 'malformed-request', diagnostics: 'The request is not well-formed HTTP.' };
  }
}

/**
 * 'clientError': where Node would write a bare status line (431, 408, 400), write an OperationOutcome
 * instead, unless the connection is gone or a response has already started on it.
 */
function answerClientError(err: Error & { code?: string }, socket: Socket): void {
  const pending = (socket as Socket & { _httpMessage?: ServerResponse })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || (pending && pending.headersSent)) {
    socket.destroy();
    return;
  }
  const d = describeClientError(err.code);
  const body = JSON.stringify(outcome(d.status, [{ code: d.status === 431 ? 'too-costly' : d.status === 408 ? 'timeout' : 'invalid', errorCode: d.errorCode, diagnostics: d.diagnostics }]));
  socket.end(
    `HTTP/1.1 ${d.status} ${d.reason}\r\nContent-Type: ${FHIR_JSON}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
      `Cache-Control: no-store\r\nConnection: close\r\n\r\n${body}`,
  );
}

/** A port the process could not listen on: one line naming the setting to change. */
export class PortUnavailableError extends Error {
  constructor(readonly setting: string, port: number, code: string | undefined) {
    super(
      code === 'EADDRINUSE'
        ? `port ${port} is already in use: set ${setting} to a free port (or stop what is using it)`
        : `cannot listen on port ${port} (${code ?? 'error'}): set ${setting} to a port this user may open`,
    );
    this.name = 'PortUnavailableError';
  }
}

/** Listens; a busy or forbidden port rejects with PortUnavailableError naming `setting` (e.g. PORT). */
export function listen(server: Server, port: number, host: string, setting: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      reject(e.code === 'EADDRINUSE' || e.code === 'EACCES' || e.code === 'EADDRNOTAVAIL' ? new PortUnavailableError(setting, port, e.code) : e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

/**
 * Graceful shutdown: stop accepting connections; answer every request still to be answered with
 * `Connection: close` (in flight, or arriving on an open keep-alive connection); close each connection
 * as soon as it is idle; resolve once all are closed, or force them closed after `graceMs`.
 */
export function drain(server: Server, graceMs: number): Promise<void> {
  const closeWhenDone = (res: ServerResponse) => {
    if (!res.headersSent) res.shouldKeepAlive = false; // Node sends Connection: close and ends the socket
    res.once('finish', () => setImmediate(() => server.closeIdleConnections()));
  };
  for (const res of inFlight.get(server) ?? []) closeWhenDone(res);
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => closeWhenDone(res));
  return new Promise((resolve) => {
    const force = setTimeout(() => server.closeAllConnections(), graceMs);
    force.unref();
    server.close(() => {
      clearTimeout(force);
      resolve();
    });
    server.closeIdleConnections();
  });
}

const inFlight = new WeakMap<Server, Set<ServerResponse>>();

/** Tracks the responses in progress, so drain() can mark them. */
function trackResponses(server: Server): void {
  const open = new Set<ServerResponse>();
  inFlight.set(server, open);
  server.prependListener('request', (_req: IncomingMessage, res: ServerResponse) => {
    open.add(res);
    res.once('close', () => open.delete(res));
  });
}
