/**
 * The pages' Content-Security-Policy: scripts, styles, images and fonts from this service only, no
 * inline script or style (not even style attributes), no framing, forms post only to this service and
 * to the identity provider (a sign-out form redirects there, and browsers apply form-action to redirects).
 */
import type { RequestHandler } from 'express';

/** The CSP header value for the pages. */
export function pageCsp(formTargets: string[] = []): string {
  const formAction = ["'self'", ...formTargets].join(' ');
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self'",
    "font-src 'self'",
    "connect-src 'self'",
    "manifest-src 'self'",
    `form-action ${formAction}`,
    "frame-ancestors 'none'",
    "base-uri 'none'",
  ].join('; ');
}

/** Sets the page CSP (replacing helmet's default, which allows inline styles) and related headers. */
export function pageSecurityHeaders(formTargets: string[] = []): RequestHandler {
  const csp = pageCsp(formTargets);
  return (_req, res, next) => {
    res.setHeader('Content-Security-Policy', csp);
    res.setHeader('Referrer-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=(), payment=()');
    next();
  };
}
