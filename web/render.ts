/**
 * Server-side rendering: one Nunjucks environment over this service's views (web/views) and the NHS
 * design system's macros (`nhsuk/components/<name>/macro.njk`). Autoescape is on; text handed to a
 * macro's `html` option must be escaped first (`escapeHtml`).
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageFile } from '../store/package-files.js';
import type { Response } from 'express';
import nunjucks from 'nunjucks';
import type { AssetUrls } from './assets.js';
import type { Principal } from '../identity/principal.js';

const require = createRequire(import.meta.url);
const NHSUK_ROOT = join(dirname(require.resolve('nhsuk-frontend/package.json')), 'dist');
const VIEWS = packageFile('web', 'views');

export const ROLE_LABELS: Record<Principal['role'], string> = {
  'ambulance-crew': 'ambulance crew',
  clinician: 'clinician',
  patient: 'patient',
  analyst: 'analyst',
  'privacy-officer': 'privacy officer',
};

export interface LayoutOptions {
  serviceName: string;
  assets: AssetUrls;
  /** Footer links (the feedback link is the public site's to fill in). */
  footerLinks: { href: string; text: string }[];
  /** True when sign-in goes through the embedded demo provider: signed-in pages say so. */
  demo: boolean;
}

/** Renders a page as the response (status, no-store, text/html). */
export type Renderer = (res: Response, view: string, context?: Record<string, unknown>, status?: number) => void;

export interface Views {
  render: Renderer;
  /** The HTML of a view for a caller that is not an Express handler (the demo provider's Koa pages). */
  toHtml(view: string, context?: Record<string, unknown>): string;
}

/** Escapes text for a macro's `html` option (autoescape covers `text` options and template output). */
export function escapeHtml(s: unknown): string {
  return String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

/** Additional view folders (later page sets) are searched after web/views. */
export function createViews(layout: LayoutOptions, extraViewDirs: string[] = []): Views {
  const env = new nunjucks.Environment(new nunjucks.FileSystemLoader([VIEWS, ...extraViewDirs, NHSUK_ROOT], { noCache: false }), {
    autoescape: true,
    throwOnUndefined: false,
    trimBlocks: true,
    lstripBlocks: true,
  });
  const base = {
    serviceName: layout.serviceName,
    homeHref: '/',
    assets: layout.assets,
    footerLinks: layout.footerLinks,
    useJs: true,
  };
  const toHtml = (view: string, context: Record<string, unknown> = {}) => env.render(`${view}.njk`, { ...base, ...context });
  const render: Renderer = (res, view, context = {}, status = 200) => {
    const principal = res.locals.principal as Principal | undefined;
    const csrfToken = (res.locals.csrfToken as string | undefined) ?? '';
    const account = principal
      ? {
          items: [
            { text: `${ROLE_LABELS[principal.role]}${principal.organisation ? ` · ${principal.organisation}` : ''}`, icon: true },
            { href: '/sign-out', text: 'Sign out' },
          ],
        }
      : undefined;
    const html = toHtml(view, {
      demoNotice: layout.demo && !!principal,
      principal,
      account,
      csrfToken,
      ...context,
    });
    res.status(status);
    res.setHeader('Cache-Control', 'no-store');
    res.type('text/html; charset=utf-8').send(html);
  };
  return { render, toHtml };
}
