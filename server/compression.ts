import type { NextFunction, Request, Response } from 'express';
import { brotliCompress, brotliCompressSync, constants, deflate, deflateSync, gzip, gzipSync, type InputType } from 'node:zlib';

/**
 * Response compression (gzip, br, deflate) for the mobile apps on weak signals, done in one step on the
 * whole body. Every response here is built in memory before it is sent, so the body is collected and
 * compressed at `end`: synchronously up to `syncLimitBytes` (a summary of ~30 KB takes ≈ 0.2 ms), in one
 * thread-pool call above it. The `compression` package, used before, compressed as a stream, which cost
 * every response two or three trips between the thread pool and the event loop; under load each trip
 * waited for the busy loop, ≈ 6 ms at the median and ≈ 25 ms at p95 between a summary being built and
 * its last byte leaving (README, "Benchmarks").
 *
 * Negotiation follows RFC 9110 §12.5.3: the highest q-value wins, `*` covers unnamed codings, q=0 refuses
 * one; on a tie br, then gzip, then deflate. Nothing is compressed below `thresholdBytes`, for HEAD, for
 * 204/304, when the response is already encoded or says `Cache-Control: no-transform`, or when its type
 * is not textual. `Vary: Accept-Encoding` is set on every response whose type could be compressed.
 */
export interface CompressionOptions {
  thresholdBytes?: number;
  syncLimitBytes?: number;
}

export type Coding = 'br' | 'gzip' | 'deflate';
const PREFERENCE: readonly Coding[] = ['br', 'gzip', 'deflate'];
/** JSON (FHIR, problem documents), text (CSV, YAML, HTML), JavaScript, XML and SVG. */
const COMPRESSIBLE = /^(text\/|application\/(?:[\w.+-]*\+)?(?:json|xml|javascript|yaml|x-yaml)\b|image\/svg\+xml)/i;
/** The brotli quality the mobile apps were served before (the `compression` package's default): fast, ≈ gzip's size or better. */
const BROTLI = { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } };

/** The coding to use for an Accept-Encoding header, or undefined for none (identity). */
export function negotiateEncoding(header: string | undefined): Coding | undefined {
  if (!header) return undefined;
  const q = new Map<string, number>();
  for (const part of header.split(',')) {
    const [rawName, ...params] = part.toLowerCase().split(';');
    const name = rawName?.trim();
    if (!name) continue;
    let weight = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/.exec(p);
      if (m) weight = Number(m[1]);
    }
    q.set(name, weight);
  }
  const star = q.get('*');
  let best: Coding | undefined;
  let bestQ = 0;
  for (const c of PREFERENCE) {
    const w = q.get(c) ?? star ?? 0;
    if (w > bestQ) {
      best = c;
      bestQ = w;
    }
  }
  return best;
}

const SYNC: Record<Coding, (b: InputType) => Buffer> = {
  br: (b) => brotliCompressSync(b, BROTLI),
  gzip: (b) => gzipSync(b),
  deflate: (b) => deflateSync(b),
};
const ASYNC: Record<Coding, (b: InputType, cb: (e: Error | null, out: Buffer) => void) => void> = {
  br: (b, cb) => brotliCompress(b, { ...BROTLI, chunkSize: 1024 * 1024 }, cb),
  gzip: (b, cb) => gzip(b, { chunkSize: 1024 * 1024 }, cb),
  deflate: (b, cb) => deflate(b, { chunkSize: 1024 * 1024 }, cb),
};

type Callback = (error?: Error | null) => void;

export function compression(opts: CompressionOptions = {}) {
  const threshold = opts.thresholdBytes ?? 1024;
  const syncLimit = opts.syncLimitBytes ?? 256 * 1024;

  return (req: Request, res: Response, next: NextFunction) => {
    const end = res.end.bind(res) as (chunk?: unknown, encoding?: BufferEncoding | Callback, cb?: Callback) => Response;
    const chunks: Buffer[] = [];
    let ended = false;

    const collect = (chunk: unknown, encoding?: BufferEncoding) => {
      if (chunk === undefined || chunk === null) return;
      chunks.push(Buffer.isBuffer(chunk) ? chunk : chunk instanceof Uint8Array ? Buffer.from(chunk) : Buffer.from(String(chunk), encoding ?? 'utf8'));
    };

    res.write = function (chunk: unknown, encoding?: BufferEncoding | Callback, cb?: Callback) {
      if (ended) return false;
      const callback = typeof encoding === 'function' ? encoding : cb;
      collect(chunk, typeof encoding === 'string' ? encoding : undefined);
      if (callback) process.nextTick(callback);
      return true;
    } as Response['write'];

    res.end = function (chunk?: unknown, encoding?: BufferEncoding | Callback, cb?: Callback) {
      if (ended) return res;
      ended = true;
      let callback = cb;
      if (typeof chunk === 'function') {
        callback = chunk as Callback;
        chunk = undefined;
      } else if (typeof encoding === 'function') {
        callback = encoding;
        encoding = undefined;
      }
      collect(chunk, encoding as BufferEncoding | undefined);
      const body = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      const finish = (out: Buffer, coding?: Coding) => {
        if (coding) {
          res.setHeader('Content-Encoding', coding);
          res.setHeader('Content-Length', out.length);
        }
        end(out, undefined, callback);
      };

      const coding = res.headersSent ? undefined : codingFor(req, res, body.length, threshold);
      if (!coding) {
        finish(body);
      } else if (body.length <= syncLimit) {
        let out: Buffer | undefined;
        try {
          out = SYNC[coding](body);
        } catch {
          out = undefined;
        }
        if (out) finish(out, coding);
        else finish(body);
      } else {
        ASYNC[coding](body, (e, out) => {
          if (res.destroyed) return;
          if (e) finish(body);
          else finish(out, coding);
        });
      }
      return res;
    } as Response['end'];

    next();
  };
}

/** Whether and how to compress this response (sets Vary when the type could be compressed). */
function codingFor(req: Request, res: Response, length: number, threshold: number): Coding | undefined {
  const type = String(res.getHeader('Content-Type') ?? '');
  if (!COMPRESSIBLE.test(type)) return undefined;
  res.vary('Accept-Encoding');
  if (req.method === 'HEAD' || res.statusCode === 204 || res.statusCode === 304) return undefined;
  if (length < threshold) return undefined;
  const already = res.getHeader('Content-Encoding');
  if (already && already !== 'identity') return undefined;
  if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(String(res.getHeader('Cache-Control') ?? ''))) return undefined;
  return negotiateEncoding(req.header('accept-encoding'));
}
