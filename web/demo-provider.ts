/**
 * The embedded demo OpenID provider (oidc-provider), mounted on this service at /demo-oidc for `npm start`
 * and the tests: authorization code with PKCE (required), its own signing key and cookie keys (new at
 * every start), short token lifetimes, RP-initiated logout. People sign in by choosing a demo user on a
 * page that says it is a demo. Refused when NODE_ENV=production.
 */
import { randomBytes } from 'node:crypto';
import express, { Router, type Request, type Response } from 'express';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type KoaContextWithOIDC } from 'oidc-provider';
import { isValidNhsNumber } from '../fhir/nhs-number.js';
import { demoPatientId, demoStaff, type DemoPatientDirectory, type DemoUser } from './demo-users.js';
import type { Views } from './render.js';

import { DEMO_CLIENT_ID, DEMO_PROVIDER_PATH } from './demo-paths.js';

export interface DemoProvider {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Interaction pages and the provider itself; mount at the root of the app. */
  router: Router;
}

export interface DemoProviderOptions {
  /** The service's public base URL (the provider's issuer is `${baseUrl}/demo-oidc`). */
  baseUrl: string;
  /** The relying party's client secret (made by the caller, which starts the provider lazily). */
  clientSecret: string;
  providers: { hospital: string; socialCare: string };
  /** The demo sources' people: offered by name; an NHS number nobody holds is refused. */
  patients: DemoPatientDirectory;
  views: Views;
}

/** Starts the demo provider (throws when NODE_ENV=production). */
export async function createDemoProvider(opts: DemoProviderOptions): Promise<DemoProvider> {
  if (process.env.NODE_ENV === 'production') throw new Error('The demo OpenID provider is refused when NODE_ENV=production.');
  const issuer = `${opts.baseUrl}${DEMO_PROVIDER_PATH}`;
  const { clientSecret } = opts;
  const staff = demoStaff(opts.providers);
  const patients = new Map<string, string>(); // account id → NHS number (offered or typed at demo sign-in)
  /** The people offered on the sign-in page (asked once; again while none could be had). */
  let offered: { account: string; name: string; nhs: string }[] = [];
  const offer = async () => {
    if (offered.length > 0) return offered;
    const people = await opts.patients.list().catch(() => []);
    offered = people.map((p) => ({ account: demoPatientId(p.nhsNumber), name: p.name, nhs: `${p.nhsNumber.slice(0, 3)} ${p.nhsNumber.slice(3, 6)} ${p.nhsNumber.slice(6)}` }));
    for (const p of people) patients.set(demoPatientId(p.nhsNumber), p.nhsNumber);
    return offered;
  };
  const userById = (id: string): DemoUser | undefined => {
    const s = staff.find((u) => u.id === id);
    if (s) return s;
    const nhs = patients.get(id);
    return nhs ? { id, name: 'Demo patient', role: 'patient', nhsNumber: nhs, description: 'Demo patient' } : undefined;
  };
  // An EC key: generated in a millisecond at every start (an RSA key takes far longer).
  const { privateKey } = await generateKeyPair('ES256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: `demo-${randomBytes(4).toString('hex')}`, alg: 'ES256', use: 'sig' };

  const page = (ctx: KoaContextWithOIDC, view: string, context: Record<string, unknown>) => {
    ctx.type = 'html';
    ctx.set('Cache-Control', 'no-store');
    ctx.body = opts.views.toHtml(view, context);
  };

  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: DEMO_CLIENT_ID,
        client_secret: clientSecret,
        redirect_uris: [`${opts.baseUrl}/auth/callback`],
        post_logout_redirect_uris: [`${opts.baseUrl}/signed-out`],
        response_types: ['code'],
        grant_types: ['authorization_code'],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
      },
    ],
    pkce: { required: () => true },
    jwks: { keys: [signingKey as never] },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    claims: { openid: ['sub'], profile: ['name', 'role', 'org', 'nhs_number'] },
    conformIdTokenClaims: false,
    features: {
      devInteractions: { enabled: false },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => page(ctx, 'demo-sign-out', { title: 'Sign out of the demo identity provider', formHtml: form }),
        postLogoutSuccessSource: async (ctx) => page(ctx, 'signed-out', { title: 'You have signed out' }),
      },
    },
    renderError: async (ctx, out) => {
      page(ctx, 'error', { title: 'Sign-in did not complete', paragraphs: [String(out.error_description ?? out.error ?? 'The identity provider could not complete the request.')], code: String(out.error ?? '') });
    },
    ttl: { AccessToken: 600, AuthorizationCode: 60, IdToken: 600, Interaction: 600, Session: 8 * 3600, Grant: 8 * 3600 },
    interactions: { url: (_ctx, interaction) => `${DEMO_PROVIDER_PATH}/interaction/${interaction.uid}` },
    // First-party client: the grant is given with the sign-in (no consent screen).
    loadExistingGrant: async (ctx) => {
      const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
      if (grantId) return ctx.oidc.provider.Grant.find(grantId);
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid profile');
      await grant.save();
      return grant;
    },
    findAccount: async (_ctx, id) => {
      const user = userById(id);
      if (!user) return undefined;
      return {
        accountId: id,
        claims: async () => ({
          sub: id,
          name: user.name,
          role: user.role,
          ...(user.org ? { org: user.org } : {}),
          ...(user.nhsNumber ? { nhs_number: user.nhsNumber } : {}),
        }),
      };
    },
  });
  // The service runs behind its own public base URL; oidc-provider must trust X-Forwarded-* only if proxied.
  provider.proxy = false;

  const router = Router();
  const form = express.urlencoded({ extended: false, limit: '8kb', parameterLimit: 10 });
  const showSignIn = async (res: Response, uid: string, status = 200, errors: { text: string; href: string }[] = [], values: Record<string, string> = {}) => {
    const people = await offer();
    res
      .status(status)
      .setHeader('Cache-Control', 'no-store')
      .type('html')
      .send(opts.views.toHtml('demo-sign-in', { title: errors.length ? 'Error: Demo sign-in' : 'Demo sign-in', uid, staff, patients: people, errors, values, action: `${DEMO_PROVIDER_PATH}/interaction/${uid}` }));
  };

  router.get(`${DEMO_PROVIDER_PATH}/interaction/:uid`, async (req: Request<{ uid: string }>, res: Response) => {
    const details = await provider.interactionDetails(req, res);
    await showSignIn(res, details.uid);
  });
  router.post(`${DEMO_PROVIDER_PATH}/interaction/:uid`, form, async (req: Request<{ uid: string }>, res: Response) => {
    const details = await provider.interactionDetails(req, res);
    const body = (req.body ?? {}) as Record<string, string>;
    let accountId: string | undefined;
    if (typeof body.account === 'string' && body.account) {
      // One of the offered demo patients, by account id (the NHS number is never in the form or a URL).
      if (!offered.some((p) => p.account === body.account)) return showSignIn(res, details.uid, 400, [{ text: 'Choose who to sign in as', href: `#user-${staff[0]!.id}` }]);
      accountId = body.account;
    } else if (body.user === 'patient') {
      const nhs = String(body.nhsNumber ?? '').replace(/\s+/g, '');
      if (!isValidNhsNumber(nhs)) {
        return showSignIn(res, details.uid, 400, [{ text: 'Enter a valid 10-digit NHS number', href: '#nhsNumber' }], { user: 'patient' });
      }
      let known: boolean;
      try {
        known = await opts.patients.known(nhs);
      } catch {
        return showSignIn(res, details.uid, 503, [{ text: 'The demo sources could not be asked just now, so this NHS number could not be checked: try again shortly', href: '#nhsNumber' }], { user: 'patient' });
      }
      if (!known) return showSignIn(res, details.uid, 400, [{ text: 'No record is known for this NHS number in the demo sources: choose one of the demo patients listed, or check the number', href: '#nhsNumber' }], { user: 'patient' });
      accountId = demoPatientId(nhs);
      patients.set(accountId, nhs);
    } else if (staff.some((u) => u.id === body.user)) {
      accountId = body.user;
    } else {
      return showSignIn(res, details.uid, 400, [{ text: 'Choose who to sign in as', href: `#user-${staff[0]!.id}` }]);
    }
    await provider.interactionFinished(req, res, { login: { accountId } }, { mergeWithLastSubmission: false });
  });
  router.use(DEMO_PROVIDER_PATH, provider.callback());
  return { issuer, clientId: DEMO_CLIENT_ID, clientSecret, router };
}
