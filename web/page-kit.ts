/**
 * What a page set (staff, patients, public site) receives to build its routes: rendering, sessions,
 * the signed-in Principal and a role gate. A page set is an Express router plus the path prefixes it
 * owns; web/app.ts mounts it behind the session, CSRF and CSP middleware.
 */
import type { Request, RequestHandler, Response, Router } from 'express';
import { forbidden } from '../fhir/outcomes.js';
import type { Principal, Role } from '../identity/principal.js';
import type { Renderer } from './render.js';
import type { Sessions } from './sessions.js';
import type { AnonymousFormTokens } from './form-tokens.js';

export interface PageKit {
  render: Renderer;
  /** A view's HTML as a string (for a body a page set renders once and caches). */
  toHtml(view: string, context?: Record<string, unknown>): string;
  sessions: Sessions;
  /** CSRF tokens for forms filled in without signing in (no session row: form-tokens.ts). */
  anonymousForms: AnonymousFormTokens;
  /** Minutes a staff session may be idle (for pages that say so). */
  staffIdleMinutes: number;
  /** Middleware: the request must be signed in with one of `roles` (else sign-in, or a 403 page). */
  requireRole(...roles: Role[]): RequestHandler;
}

export interface PageSet {
  /** Path prefixes the set's routes live under (e.g. '/crew'); requests elsewhere never reach it. */
  prefixes: string[];
  /** Links on the start page for a signed-in person. */
  startLinks?(principal: Principal): { href: string; text: string }[];
  /** Links on the start page for everyone, signed in or not (e.g. the public indicators). */
  homeLinks?: { href: string; text: string }[];
  /**
   * Requests outside `prefixes` the set takes as well, decided per request (content negotiation: a browser's
   * GET of a URL whose API answer is JSON for other clients).
   */
  claims?(req: Request): boolean;
  router(kit: PageKit): Router;
}

/** The signed-in Principal of a page request (after requireRole). */
export const principalOf = (res: Response) => res.locals.principal as Principal;

/** A role gate: signed out → sign in and come back (idle expiry says so); wrong role → 403 page. */
export function roleGate(sessions: Sessions, render: Renderer, staffIdleMinutes: number) {
  return (...roles: Role[]): RequestHandler =>
    async (req: Request, res: Response, next) => {
      const p = res.locals.principal as Principal | undefined;
      if (!p) {
        if (res.locals.sessionEnded === 'idle') {
          return render(res, 'signed-out', {
            title: 'You have been signed out',
            message: `You were signed out because the service was not used for ${res.locals.endedIdleMinutes ?? staffIdleMinutes} minutes. Nothing you had not saved was kept.`,
          }, 401);
        }
        // Remember where to come back to (a path: integrated ids only, never an identifier).
        await sessions.regenerate(res, { idleMinutes: 10, ...(req.method === 'GET' ? { returnTo: req.path } : {}) });
        return res.redirect(303, '/sign-in');
      }
      if (!roles.includes(p.role)) throw forbidden('role-not-permitted', 'Your role cannot use this page.');
      next();
    };
}
