/**
 * Sends a public page whose body is cached. For a visitor who is not signed in the whole page depends only on
 * the cache key (no account in the header, no CSRF token), so it is rendered and compressed (br or gzip, as the
 * browser accepts) once and the bytes are cached; the service's compression middleware passes a response that
 * already has a Content-Encoding through. Signed-in visitors get the page rendered with their header.
 */
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Request, Response } from 'express';
import type { PageKit } from '../page-kit.js';
import { Lru } from './operations.js';

/**
 * Whole pages as sent, at most 20,000 and 64 MiB in all (an indicator page with 6,500 organisations is ≈ 47 KB
 * with brotli; an organisation's page ≈ 6 KB, so every organisation's page of a 6,500-practice site fits).
 */
const bytes = new Lru<Buffer>(20_000, { maxSize: 64 * 1024 * 1024, sizeOf: (b) => b.length });

/** br or gzip when the request accepts it with a non-zero quality; otherwise none. */
function codingOf(req: Request): 'br' | 'gzip' | undefined {
  const accepted = new Set(
    String(req.header('accept-encoding') ?? '').split(',').map((p) => p.trim().split(';')).filter(([, q]) => !q || !/^\s*q=0(\.0*)?\s*$/.test(q)).map(([c]) => c!.trim().toLowerCase()),
  );
  return accepted.has('br') ? 'br' : accepted.has('gzip') ? 'gzip' : undefined;
}

type Coding = 'br' | 'gzip' | undefined;
type PageContext = { title: string; body: string; footerLinks: { href: string; text: string }[] };

/** The page for a visitor who is not signed in, rendered and compressed once per key and encoding. */
function anonymousPage(kit: PageKit, key: string, coding: Coding, context: PageContext): Buffer {
  const k = `${key}|${coding ?? 'identity'}`;
  let out = bytes.get(k);
  if (!out) {
    // Only the encoding asked for is kept (browsers all ask for br or gzip): no plain copy beside it.
    const plain = Buffer.from(kit.toHtml('public/page', { ...context, csrfToken: '', demoNotice: false }), 'utf8');
    // A miss renders and compresses once. Large pages (an indicator's funnel) are few: compress them well;
    // small ones (an organisation's page, thousands of them) fast — brotli 3 costs a third of 5 for ~10 % more bytes.
    const quality = plain.length > 64 * 1024 ? 5 : 3;
    out = coding === 'br' ? brotliCompressSync(plain, { params: { [constants.BROTLI_PARAM_QUALITY]: quality } }) : coding === 'gzip' ? gzipSync(plain, { level: quality > 3 ? 6 : 4 }) : plain;
    bytes.set(k, out);
  }
  return out;
}

/** True when the page a browser asking for brotli would get is cached already. */
export const pageIsCached = (key: string): boolean => bytes.get(`${key}|br`) !== undefined;

/** Renders and caches, ahead of any request, the page a browser asking for brotli gets (publish-time pre-rendering). */
export function preparePage(kit: PageKit, key: string, context: PageContext): void {
  anonymousPage(kit, key, 'br', context);
}

export function sendPage(kit: PageKit, req: Request, res: Response, key: string, context: PageContext): void {
  if (res.locals.principal) return kit.render(res, 'public/page', context);
  const coding = codingOf(req);
  const out = anonymousPage(kit, key, coding, context);
  res.status(200);
  res.setHeader('Cache-Control', 'no-store');
  res.type('text/html; charset=utf-8');
  res.vary('Accept-Encoding');
  if (coding) res.setHeader('Content-Encoding', coding);
  res.setHeader('Content-Length', out.length);
  res.end(out);
}
