/**
 * The pages' static files, served by the service itself (nothing is fetched from elsewhere): the
 * design-system CSS subset, the service's own CSS, nhsuk-frontend's ES-module JavaScript and a small
 * module that starts it. Each is addressed by a content hash (`/assets/<name>.<hash>.<ext>`) and cached
 * as immutable; a changed file gets a new name. The design system's icons referenced from its CSS are
 * served from /assets/images/ with a day's cache.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import { Router, type Request, type Response } from 'express';
import { SUBSET_CSS_PATH } from './css-build.js';
import { packageFile } from '../store/package-files.js';

const require = createRequire(import.meta.url);
const NHSUK_DIST = join(dirname(require.resolve('nhsuk-frontend/package.json')), 'dist', 'nhsuk');
const SERVICE_CSS = packageFile('web', 'styles', 'service.css');

interface Asset {
  url: string;
  type: string;
  body: Buffer;
  /** Compressed once, on first request (the compression middleware skips an encoded response). */
  br?: Buffer;
  gzip?: Buffer;
}

/** The hashed URLs the layout links to. */
export interface AssetUrls {
  css: string[];
  js: string;
  favicon: string;
}

const hash = (body: Buffer) => createHash('sha256').update(body).digest('hex').slice(0, 12);

function asset(name: string, ext: string, type: string, body: Buffer): Asset {
  return { url: `/assets/${name}.${hash(body)}.${ext}`, type, body };
}

/** Loads and hashes every asset once (at start-up). */
export function loadAssets(): { urls: AssetUrls; router: Router } {
  const designCss = asset('nhsuk', 'css', 'text/css; charset=utf-8', readFileSync(SUBSET_CSS_PATH));
  const serviceCss = asset('service', 'css', 'text/css; charset=utf-8', readFileSync(SERVICE_CSS));
  const nhsukJs = asset('nhsuk-frontend', 'js', 'text/javascript; charset=utf-8', readFileSync(join(NHSUK_DIST, 'nhsuk-frontend.min.js')));
  // No inline script is allowed (CSP), so the "JavaScript is on" class and initAll() live in a module.
  const init = Buffer.from(
    `import { initAll } from '${nhsukJs.url}';\n` +
      `document.body.classList.add('js-enabled', 'nhsuk-frontend-supported');\n` +
      'initAll();\n',
  );
  const initJs = asset('init', 'js', 'text/javascript; charset=utf-8', init);
  const favicon = asset('favicon', 'svg', 'image/svg+xml', readFileSync(join(NHSUK_DIST, 'assets', 'images', 'favicon.svg')));
  const all = new Map([designCss, serviceCss, nhsukJs, initJs, favicon].map((a) => [a.url, a]));

  const router = Router();
  router.get(/^\/assets\/[a-z-]+\.[0-9a-f]{12}\.(css|js|svg)$/, (req, res, next) => {
    const a = all.get(req.path);
    if (!a) return next();
    sendEncoded(req, res, a);
  });
  router.get(/^\/assets\/images\/nhsuk-icon-[a-z-]+\.svg$/, (req, res, next) => {
    let body: Buffer;
    try {
      body = readFileSync(join(NHSUK_DIST, 'assets', 'images', req.path.slice('/assets/images/'.length)));
    } catch {
      return next();
    }
    send(res, 'image/svg+xml', body, 'public, max-age=86400');
  });
  router.get('/favicon.ico', (_req, res) => {
    res.redirect(301, favicon.url);
  });
  return { urls: { css: [designCss.url, serviceCss.url], js: initJs.url, favicon: favicon.url }, router };
}

/** The best precompressed form the client accepts (br, then gzip), else the plain bytes. */
function sendEncoded(req: Request, res: Response, a: Asset): void {
  const accepted = String(req.headers['accept-encoding'] ?? '');
  const coding = /\bbr\b/.test(accepted) ? 'br' : /\bgzip\b/.test(accepted) ? 'gzip' : undefined;
  res.setHeader('Vary', 'Accept-Encoding');
  if (coding) res.setHeader('Content-Encoding', coding);
  const body = coding === 'br'
    ? (a.br ??= brotliCompressSync(a.body, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }))
    : coding === 'gzip'
      ? (a.gzip ??= gzipSync(a.body, { level: 9 }))
      : a.body;
  send(res, a.type, body, 'public, max-age=31536000, immutable');
}

function send(res: Response, type: string, body: Buffer, cacheControl: string): void {
  res.setHeader('Cache-Control', cacheControl);
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.type(type).send(body);
}
