import { SourceError } from './transport.js';
import type { SourceId } from './types.js';

/** Default cap on one response body from a source: 50 MiB. */
export const DEFAULT_MAX_BODY_BYTES = 50 * 1024 * 1024;
const MAX_REDIRECTS = 3;

export interface SourceGetOptions {
  source: SourceId;
  /** What is being asked (e.g. "record fetch"), for messages; never a URL (it may hold identifiers). */
  name: string;
  /** Aborts the request and the reading of its body: the deadline covers the whole answer. */
  signal: AbortSignal;
  /** Redirects are followed only within this origin (the source's base URL). */
  origin: string;
  maxBodyBytes: number;
  accept: string;
  /** Extra request headers (e.g. Authorization), asked for on every attempt. */
  headers?: Record<string, string>;
}

/** An HTTP error status from a source (the transport classifies it: 5xx and 429 are retried). */
export class HttpStatusError extends Error {
  constructor(readonly status: number) {
    super(`HTTP ${status}`);
    this.name = 'HttpStatusError';
  }
}

/**
 * GET a JSON document from a source: redirects are followed only within the source's own origin (a
 * redirect elsewhere is an invalid answer, never followed); the body is streamed and cut at
 * `maxBodyBytes` (an invalid answer), and the caller's signal bounds the whole exchange, body included.
 */
export async function getSourceJson(url: string, opts: SourceGetOptions): Promise<unknown> {
  let target = url;
  for (let hop = 0; ; hop++) {
    const res = await fetch(target, {
      signal: opts.signal,
      redirect: 'manual',
      headers: { accept: opts.accept, ...opts.headers },
    });
    if (res.status >= 300 && res.status < 400 && res.status !== 304) {
      await res.body?.cancel().catch(() => undefined);
      const location = res.headers.get('location');
      const next = location ? safeUrl(location, target) : undefined;
      if (!next || next.origin !== opts.origin) {
        throw new SourceError(opts.source, 'invalid-response', `${opts.name}: redirected to another server (HTTP ${res.status}); not followed`);
      }
      if (hop + 1 >= MAX_REDIRECTS) throw new SourceError(opts.source, 'invalid-response', `${opts.name}: too many redirects`);
      target = next.href;
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw new HttpStatusError(res.status);
    }
    const text = await readCapped(res, opts);
    return JSON.parse(text) as unknown;
  }
}

function safeUrl(location: string, base: string): URL | undefined {
  try {
    return new URL(location, base);
  } catch {
    return undefined;
  }
}

/** The body as text, read chunk by chunk and abandoned as soon as it passes the cap. */
async function readCapped(res: Response, opts: SourceGetOptions): Promise<string> {
  const tooLarge = () =>
    new SourceError(opts.source, 'invalid-response', `${opts.name}: answer larger than ${opts.maxBodyBytes} bytes; cut and not used`);
  const declared = Number(res.headers.get('content-length'));
  if (Number.isFinite(declared) && declared > opts.maxBodyBytes) {
    await res.body?.cancel().catch(() => undefined);
    throw tooLarge();
  }
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > opts.maxBodyBytes) {
      await reader.cancel().catch(() => undefined);
      throw tooLarge();
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}
