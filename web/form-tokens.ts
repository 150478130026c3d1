/**
 * CSRF tokens for forms a visitor fills in WITHOUT signing in (the public site's feedback form), with no
 * server-side state: a visitor without a session gets a random nonce in an HttpOnly, SameSite=Lax cookie, and
 * the form carries HMAC-SHA256(key, nonce) (a signed double-submit token). Another site can neither read the
 * token nor set the cookie, so it cannot forge the pair; nothing is stored, so a crawler fetching the form
 * a million times writes nothing. The key is derived from the service's secret, shared by every instance.
 * Signed-in visitors keep their session's synchroniser token (sessions.ts requireCsrf).
 */
import { createHmac, randomBytes } from 'node:crypto';
import type { Request, Response } from 'express';
import { readCookie } from './sessions.js';

export const FORM_COOKIE = 'ipr_form';
const NONCE = /^[A-Za-z0-9_-]{32}$/;

export class AnonymousFormTokens {
  constructor(
    private readonly key: Uint8Array,
    private readonly secureCookies: boolean,
  ) {}

  /** The token for this visitor's forms (setting the nonce cookie when they have none); also res.locals.csrfToken. */
  issue(req: Request, res: Response): string {
    let nonce = readCookie(req, FORM_COOKIE);
    if (!nonce || !NONCE.test(nonce)) {
      nonce = randomBytes(24).toString('base64url');
      res.append('Set-Cookie', `${FORM_COOKIE}=${nonce}; Path=/; HttpOnly; SameSite=Lax${this.secureCookies ? '; Secure' : ''}`);
    }
    const token = this.tokenOf(nonce);
    res.locals.csrfToken = token;
    return token;
  }

  /** The token a form must carry for this request's nonce cookie, when it has one. */
  expected(req: Request): string | undefined {
    const nonce = readCookie(req, FORM_COOKIE);
    return nonce && NONCE.test(nonce) ? this.tokenOf(nonce) : undefined;
  }

  private tokenOf(nonce: string): string {
    return createHmac('sha256', this.key).update(`anonymous-form:${nonce}`, 'utf8').digest('base64url');
  }
}
