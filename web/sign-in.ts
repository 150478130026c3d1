/**
 * Sign-in with OpenID Connect (authorization code + PKCE, openid-client) against the embedded demo
 * provider or the configured external one; sign-out ends the provider's session too (RP-initiated
 * logout). The ID token's claims become the service's Principal (web/claims.ts) — the same object the
 * bearer API builds from a token — kept in a server-side session under a NEW id (no session fixation).
 */
import { Router, type Request, type Response } from 'express';
import * as oidc from 'openid-client';
import { forbidden, serviceUnavailable, unauthorized } from '../fhir/outcomes.js';
import { ClaimsRefused, principalFromClaims } from './claims.js';
import type { ClaimMapping } from './config.js';
import type { Renderer } from './render.js';
import { sessionOf, type Sessions } from './sessions.js';

export interface RelyingPartyOptions {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scope: string;
  /** The service's public base URL (callback and post-logout pages live under it). */
  baseUrl: string;
  claims: ClaimMapping;
  idleMinutes: { staff: number; patient: number };
  sessions: Sessions;
  render: Renderer;
}

const SIGN_IN_IDLE_MINUTES = 10;

/** A path on this service to return to after signing in (nothing else is accepted). */
export function safeReturnTo(v: unknown): string {
  return typeof v === 'string' && /^\/(?![/\\])[A-Za-z0-9/_.~-]*$/.test(v) ? v : '/';
}

/** The sign-in, callback and sign-out routes. */
export function signInRoutes(o: RelyingPartyOptions): Router {
  const router = Router();
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(new URL(o.issuer).hostname);
  let discovered: Promise<oidc.Configuration> | undefined;
  const config = () => {
    discovered ??= oidc
      .discovery(new URL(o.issuer), o.clientId, undefined, oidc.ClientSecretBasic(o.clientSecret), {
        ...(loopback && o.issuer.startsWith('http:') ? { execute: [oidc.allowInsecureRequests] } : {}),
        timeout: 15,
      })
      .catch((e: unknown) => {
        discovered = undefined;
        throw e;
      });
    return discovered.catch(() => {
      throw serviceUnavailable('sign-in-unavailable', 'The sign-in service cannot be reached just now. Try again in a few minutes.');
    });
  };
  const redirectUri = `${o.baseUrl}/auth/callback`;

  router.get('/sign-in', async (_req: Request, res: Response) => {
    if (res.locals.principal) return res.redirect(303, '/');
    const cfg = await config();
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const returnTo = safeReturnTo(sessionOf(res)?.data.returnTo);
    await o.sessions.regenerate(res, { idleMinutes: SIGN_IN_IDLE_MINUTES, signIn: { state, nonce, codeVerifier, returnTo } });
    const url = oidc.buildAuthorizationUrl(cfg, {
      redirect_uri: redirectUri,
      scope: o.scope,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    });
    res.redirect(303, url.href);
  });

  router.get('/auth/callback', async (req: Request, res: Response) => {
    const pending = sessionOf(res)?.data.signIn;
    if (!pending) throw unauthorized('sign-in-expired', 'The sign-in took too long or was started in another browser. Sign in again.');
    const cfg = await config();
    let claims: Record<string, unknown>;
    try {
      const tokens = await oidc.authorizationCodeGrant(cfg, new URL(req.originalUrl, o.baseUrl), {
        pkceCodeVerifier: pending.codeVerifier,
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        idTokenExpected: true,
      });
      claims = (tokens.claims() ?? {}) as Record<string, unknown>;
    } catch {
      await o.sessions.end(res);
      throw unauthorized('sign-in-failed', 'Sign-in did not complete. Sign in again.');
    }
    let principal;
    try {
      principal = principalFromClaims(claims, o.claims);
    } catch (e) {
      await o.sessions.end(res);
      if (e instanceof ClaimsRefused) throw forbidden('sign-in-claims', e.message);
      throw e;
    }
    const idleMinutes = principal.role === 'patient' ? o.idleMinutes.patient : o.idleMinutes.staff;
    await o.sessions.regenerate(res, { principal, idleMinutes });
    res.redirect(303, pending.returnTo);
  });

  router.get('/sign-out', (_req: Request, res: Response) => {
    if (!res.locals.principal) return res.redirect(303, '/');
    o.render(res, 'sign-out', { title: 'Sign out' });
  });

  router.post('/sign-out', async (_req: Request, res: Response) => {
    await o.sessions.end(res);
    let cfg: oidc.Configuration;
    try {
      cfg = await config();
    } catch {
      return res.redirect(303, '/signed-out');
    }
    // client_id, not id_token_hint: the ID token carries the person's claims and must not go in a URL.
    res.redirect(303, oidc.buildEndSessionUrl(cfg, { client_id: o.clientId, post_logout_redirect_uri: `${o.baseUrl}/signed-out` }).href);
  });

  router.get('/signed-out', (_req: Request, res: Response) => {
    o.render(res, 'signed-out', { title: 'You have signed out' });
  });
  return router;
}
