/**
 * Session middleware for the pages: reads the session cookie, loads the server-side session, ends it
 * when idle for longer than its limit (staff: 15 minutes by default), and exposes the signed-in
 * Principal as `res.locals.principal` — the same object the bearer API puts there. Cookie: HttpOnly,
 * SameSite=Lax, Secure outside localhost, no Max-Age (ends with the browser).
 */
import { timingSafeEqual } from 'node:crypto';
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { forbidden } from '../fhir/outcomes.js';
import { newCsrfToken, type SessionData, type SessionStore, type StoredSession } from './session-store.js';

export const SESSION_COOKIE = 'ipr_session';

export interface SessionOptions {
  store: SessionStore;
  secureCookies: boolean;
  maxSessionHours: number;
  now: () => Date;
}

/** The request's session, when it has one. */
export const sessionOf = (res: Response) => res.locals.session as StoredSession | undefined;

/** A cookie of the request, by name. */
export function readCookie(req: Request, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/** Session handling bound to one store and cookie policy. */
export class Sessions {
  constructor(private readonly opts: SessionOptions) {}

  /** Loads the session (ending it if idle) before the page handlers run. */
  middleware(): RequestHandler {
    return async (req: Request, res: Response, next: NextFunction) => {
      const id = readCookie(req, SESSION_COOKIE);
      if (!id) return next();
      const now = this.opts.now();
      const s = await this.opts.store.get(id, now);
      if (!s) {
        this.clearCookie(res);
        return next();
      }
      if (now.getTime() - s.lastSeenAt.getTime() > s.data.idleMinutes * 60_000) {
        await this.opts.store.delete(id);
        this.clearCookie(res);
        if (s.data.principal) {
          res.locals.sessionEnded = 'idle';
          res.locals.endedIdleMinutes = s.data.idleMinutes; // staff and patients have different limits
        }
        return next();
      }
      res.locals.session = s;
      res.locals.csrfToken = s.data.csrf;
      if (s.data.principal) res.locals.principal = s.data.principal;
      // The idle clock restarts on use; a write at most every 30 s.
      if (now.getTime() - s.lastSeenAt.getTime() > 30_000) await this.opts.store.touch(id, now);
      next();
    };
  }

  /**
   * Starts a session with new data under a NEW id, deleting the current one (if any): used at sign-in
   * so an id known before authentication never becomes an authenticated session (session fixation).
   */
  async regenerate(res: Response, data: Omit<SessionData, 'csrf'>): Promise<StoredSession> {
    const old = sessionOf(res);
    if (old) await this.opts.store.delete(old.id);
    const now = this.opts.now();
    const full: SessionData = { ...data, csrf: newCsrfToken() };
    const id = await this.opts.store.create(full, now, this.opts.maxSessionHours);
    const s: StoredSession = { id, data: full, lastSeenAt: now, expiresAt: new Date(now.getTime() + this.opts.maxSessionHours * 3_600_000) };
    res.locals.session = s;
    res.locals.csrfToken = full.csrf;
    if (full.principal) res.locals.principal = full.principal;
    else delete res.locals.principal;
    const secure = this.opts.secureCookies ? '; Secure' : '';
    res.append('Set-Cookie', `${SESSION_COOKIE}=${id}; Path=/; HttpOnly; SameSite=Lax${secure}`);
    return s;
  }

  /** Writes changed session data. */
  async save(res: Response): Promise<void> {
    const s = sessionOf(res);
    if (s) await this.opts.store.save(s.id, s.data, this.opts.now());
  }

  /** Ends the session (row deleted, cookie cleared). */
  async end(res: Response): Promise<void> {
    const s = sessionOf(res);
    if (s) await this.opts.store.delete(s.id);
    delete res.locals.session;
    delete res.locals.principal;
    this.clearCookie(res);
  }

  private clearCookie(res: Response): void {
    const secure = this.opts.secureCookies ? '; Secure' : '';
    res.append('Set-Cookie', `${SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0${secure}`);
  }
}

/**
 * The CSRF check for every state-changing page request: the form's `_csrf` field must equal the session's
 * synchroniser token, or, for a visitor without a session, the signed double-submit token of their form
 * cookie (form-tokens.ts). A POST with neither, or with a wrong or missing token, is a 403.
 */
export function requireCsrf(anonymous: { expected(req: Request): string | undefined }): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    if (req.method === 'GET' || req.method === 'HEAD') return next();
    const session = sessionOf(res);
    const expected = session ? session.data.csrf : anonymous.expected(req);
    const given = (req.body as Record<string, unknown> | undefined)?._csrf;
    if (!expected || typeof given !== 'string' || !sameString(given, expected)) {
      throw forbidden('csrf-token-invalid', 'This form has expired or did not come from this service. Go back, reload the page and try again.');
    }
    res.locals.csrfToken = expected; // a form shown again (with its errors) carries the same token
    next();
  };
}

function sameString(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
