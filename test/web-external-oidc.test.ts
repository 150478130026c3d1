/**
 * Sign-in through an EXTERNAL OpenID provider (issue 16): the production path, where staff and patients
 * sign in with their organisation's identity service and the service is configured with its issuer,
 * client id and secret and a mapping of its claim names and role values. The provider here is a separate
 * oidc-provider on its own origin (http://localhost:<port>, the service is on http://127.0.0.1:<port>),
 * with its own client registration and claim names that are not ours — nothing of the embedded demo
 * provider is involved (WEB_SIGN_IN=oidc).
 */
import { expect } from 'chai';
import { startExternalIdp, type ExternalIdp } from './helpers/external-idp.js';
import { PageClient } from './helpers/page-client.js';
import { startStack, type Stack } from './helpers/stack.js';

describe('web sign-in through an external OpenID provider (issue 16)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let idp: ExternalIdp;
  let issuer: string;

  before(async () => {
    idp = await startExternalIdp();
    issuer = idp.issuer;
    stack = await startStack({ sandbox: { generate: { count: 3, seed: 11 }, bundleDirs: [] }, env: idp.env });
    await idp.register(stack.baseUrl);
  });
  after(async () => {
    await stack?.close();
    await idp?.close();
  });

  it('signs in with code + PKCE at the external provider; its claim names and role codes become our roles', async () => {
    idp.nextAccount = 'crew-1';
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
    idp.nextAccount = 'gp-1';
    const gp = new PageClient(stack.baseUrl);
    const gpLanding = await gp.go('/sign-in');
    expect(gpLanding.text).to.include('You are signed in').and.include('clinician · A81001');
    expect((await gp.go('/crew')).res.status).to.equal(403); // a clinician is not an ambulance crew
  });

  it('refuses a person whose role code is not mapped (no session is created) and says why', async () => {
    idp.nextAccount = 'unknown-role';
    const c = new PageClient(stack.baseUrl);
    const page = await c.go('/sign-in');
    expect(page.res.status).to.equal(403);
    expect(page.text).to.include('claim is not a known role').and.not.include('R9999');
    expect((await c.go('/')).text).not.to.include('You are signed in');
    const sessions = await stack.service.db.query<{ n: string }>(`SELECT count(*)::text AS n FROM web_session WHERE data->'principal'->>'sub' = 'unknown-role'`);
    expect(sessions.rows[0]!.n).to.equal('0');
  });

  it('sign-out sends the person to the external provider to end its session, and back to the service', async () => {
    idp.nextAccount = 'crew-1';
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
