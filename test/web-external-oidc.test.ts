/**
 * Sign-in through an EXTERNAL OpenID provider (issue 16): the production path, where staff and patients
 * sign in with their organisation's identity service and the service is configured with its issuer,
 * client id and secret and a mapping of its claim names and role values. The provider here is a separate
 * oidc-provider on its own origin (http://localhost:<port>, the service is on http://127.0.0.1:<port>),
 * with its own client registration and claim names that are not ours — nothing of the embedded demo
 * provider is involved (WEB_SIGN_IN=oidc).
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { expect } from 'chai';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { PageClient } from './helpers/page-client.js';
import { startStack, type Stack } from './helpers/stack.js';

/** The people the "trust's identity service" knows, with its own claim names and role codes. */
const ACCOUNTS: Record<string, Record<string, string>> = {
  'crew-1': { name: 'A Paramedic', 'urn:idp:job-role': 'R1010', 'urn:idp:ods': 'RX9' },
  'gp-1': { name: 'A GP', 'urn:idp:job-role': 'R8000', 'urn:idp:ods': 'A81001' },
  'unknown-role': { name: 'A Porter', 'urn:idp:job-role': 'R9999', 'urn:idp:ods': 'RX9' },
};

describe('web sign-in through an external OpenID provider (issue 16)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let idp: Server;
  let issuer: string;
  /** Who "types their credentials" at the provider's login step next. */
  let nextAccount = 'crew-1';
  const clientSecret = randomBytes(24).toString('base64url');

  before(async () => {
    let handler: (req: IncomingMessage, res: ServerResponse) => void = (_q, s) => s.writeHead(503).end();
    idp = createServer((req, res) => handler(req, res));
    await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
    issuer = `http://localhost:${(idp.address() as { port: number }).port}`;
    stack = await startStack({
      sandbox: { generate: { count: 3, seed: 11 }, bundleDirs: [] },
      env: {
        WEB_SIGN_IN: 'oidc',
        OIDC_ISSUER: issuer,
        OIDC_CLIENT_ID: 'integrated-record',
        OIDC_CLIENT_SECRET: clientSecret,
        OIDC_SCOPE: 'openid profile nhs',
        OIDC_CLAIM_ROLE: 'urn:idp:job-role',
        OIDC_CLAIM_ORGANISATION: 'urn:idp:ods',
        OIDC_ROLE_VALUES: 'R1010=ambulance-crew,R8000=clinician',
      },
    });
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const provider = new Provider(issuer, {
      clients: [
        {
          client_id: 'integrated-record',
          client_secret: clientSecret,
          redirect_uris: [`${stack.baseUrl}/auth/callback`],
          post_logout_redirect_uris: [`${stack.baseUrl}/signed-out`],
          response_types: ['code'],
          grant_types: ['authorization_code'],
        },
      ],
      pkce: { required: () => true },
      jwks: { keys: [{ ...(await exportJWK(privateKey)), kid: 'idp-1', alg: 'RS256', use: 'sig' } as never] },
      cookies: { keys: [randomBytes(32).toString('base64url')] },
      scopes: ['openid', 'profile', 'nhs'],
      claims: { openid: ['sub'], profile: ['name'], nhs: ['urn:idp:job-role', 'urn:idp:ods'] },
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: false }, rpInitiatedLogout: { enabled: true } },
      loadExistingGrant: async (ctx) => {
        const grantId = ctx.oidc.result?.consent?.grantId || ctx.oidc.session!.grantIdFor(ctx.oidc.client!.clientId);
        if (grantId) return ctx.oidc.provider.Grant.find(grantId);
        const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
        grant.addOIDCScope('openid profile nhs');
        await grant.save();
        return grant;
      },
      findAccount: async (_ctx, id) => (ACCOUNTS[id] ? { accountId: id, claims: async () => ({ sub: id, ...ACCOUNTS[id] }) } : undefined),
    });
    const callback = provider.callback();
    handler = (req, res) => {
      // The provider's own login step: here the person "signs in" as `nextAccount`.
      const m = /^\/interaction\/([^/?]+)/.exec(req.url ?? '');
      if (m && req.method === 'GET') {
        void provider.interactionFinished(req, res, { login: { accountId: nextAccount } }, { mergeWithLastSubmission: false }).catch(() => res.writeHead(500).end());
        return;
      }
      callback(req, res);
    };
  });
  after(async () => {
    await stack?.close();
    idp?.closeAllConnections();
    await new Promise<void>((resolve) => (idp ? idp.close(() => resolve()) : resolve()));
  });

  it('signs in with code + PKCE at the external provider; its claim names and role codes become our roles', async () => {
    nextAccount = 'crew-1';
    const c = new PageClient(stack.baseUrl);
    const start = await c.raw('/sign-in');
    expect(start.status).to.equal(303);
    const auth = new URL(start.headers.get('location')!);
    expect(auth.origin).to.equal(issuer); // the external provider, not /demo-oidc
    expect(auth.searchParams.get('code_challenge_method')).to.equal('S256');
    expect(auth.searchParams.get('client_id')).to.equal('integrated-record');
    const landing = await c.go(auth.href);
    expect(landing.url).to.equal(`${stack.baseUrl}/`);
    expect(landing.text).to.include('You are signed in').and.include('ambulance crew · RX9');
    // The page set for that role works with the session: the crew's find-a-patient page.
    const find = await c.go('/crew');
    expect(find.res.status).to.equal(200);
    // The pages allow form posts to the external provider's origin (sign-out), nothing else.
    const csp = find.res.headers.get('content-security-policy')!;
    expect(csp).to.include(`form-action 'self' ${issuer}`);
    // A clinician at a GP practice maps to clinician with the practice as organisation.
    nextAccount = 'gp-1';
    const gp = new PageClient(stack.baseUrl);
    const gpLanding = await gp.go('/sign-in');
    expect(gpLanding.text).to.include('You are signed in').and.include('clinician · A81001');
    expect((await gp.go('/crew')).res.status).to.equal(403); // a clinician is not an ambulance crew
  });

  it('refuses a person whose role code is not mapped (no session is created) and says why', async () => {
    nextAccount = 'unknown-role';
    const c = new PageClient(stack.baseUrl);
    const page = await c.go('/sign-in');
    expect(page.res.status).to.equal(403);
    expect(page.text).to.include('claim is not a known role').and.not.include('R9999');
    expect((await c.go('/')).text).not.to.include('You are signed in');
    const sessions = await stack.service.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM web_session WHERE data->'principal'->>'sub' = 'unknown-role'`);
    expect(sessions.rows[0]!.n).to.equal('0');
  });

  it('sign-out sends the person to the external provider to end its session, and back to the service', async () => {
    nextAccount = 'crew-1';
    const c = new PageClient(stack.baseUrl);
    await c.go('/sign-in');
    const confirm = await c.go('/sign-out');
    const out = await c.raw('/sign-out', { form: { _csrf: PageClient.csrfOf(confirm.text) } });
    expect(out.status).to.equal(303);
    const end = new URL(out.headers.get('location')!);
    expect(`${end.origin}${end.pathname}`).to.equal(`${issuer}/session/end`);
    expect(end.searchParams.get('post_logout_redirect_uri')).to.equal(`${stack.baseUrl}/signed-out`);
    expect((await c.go('/')).text).not.to.include('You are signed in');
  });
});
