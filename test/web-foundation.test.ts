import type { Patient } from 'fhir/r4.js';
import { expect } from 'chai';
import { loadConfig } from '../server/config.js';
import { ClaimsRefused, principalFromClaims } from '../web/claims.js';
import { loadWebConfig } from '../web/config.js';
import { SessionStore } from '../web/session-store.js';
import { PageClient } from './helpers/page-client.js';
import { startStack, type Stack } from './helpers/stack.js';

const SANDBOX_ENV = { GP_FHIR_URL: 'http://127.0.0.1:1/fhir', HOSPITAL_FHIR_URL: 'http://127.0.0.1:2/fhir', SOCIAL_CARE_URL: 'http://127.0.0.1:3' };

describe('web foundation (issue 16)', function () {
  this.timeout(120_000);
  let stack: Stack;
  before(async () => {
    stack = await startStack({ sandbox: { generate: { count: 5, seed: 3 }, bundleDirs: [] } });
  });
  after(async () => stack?.close());

  describe('pages and assets', () => {
    it('the start page is a design-system page with a strict Content-Security-Policy (no inline script or style)', async () => {
      const c = new PageClient(stack.baseUrl);
      const { res, text } = await c.go('/');
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(/^text\/html/);
      const csp = res.headers.get('content-security-policy')!;
      expect(csp).to.include("default-src 'none'").and.include("script-src 'self'").and.include("style-src 'self'").and.include("frame-ancestors 'none'");
      expect(csp).not.to.include('unsafe-inline');
      expect(text).to.include('nhsuk-header').and.include('nhsuk-skip-link').and.include('nhsuk-footer');
      expect(text).not.to.match(/<script(?![^>]*\bsrc=)[^>]*>/); // every script is a file
      expect(text).not.to.match(/\sstyle="/);
      expect(text).to.include('href="/feedback"');
    });

    it('serves its CSS and JavaScript itself under content-hashed names, cached as immutable, compressed on request', async () => {
      const c = new PageClient(stack.baseUrl);
      const { text } = await c.go('/');
      const assets = [...text.matchAll(/(?:href|src)="(\/assets\/[a-z-]+\.[0-9a-f]{12}\.(?:css|js|svg))"/g)].map((m) => m[1]!);
      expect(assets.filter((a) => a.endsWith('.css'))).to.have.length(2);
      expect(assets.some((a) => a.endsWith('.js'))).to.equal(true);
      for (const a of assets) {
        const res = await fetch(`${stack.baseUrl}${a}`, { headers: { 'accept-encoding': 'gzip' } });
        expect(res.status, a).to.equal(200);
        expect(res.headers.get('cache-control'), a).to.equal('public, max-age=31536000, immutable');
      }
      const cssUrl = assets.find((a) => a.includes('/nhsuk.'))!;
      const css = await fetch(`${stack.baseUrl}${cssUrl}`, { headers: { 'accept-encoding': 'gzip' } });
      expect(css.headers.get('content-encoding')).to.equal('gzip');
      expect((await fetch(`${stack.baseUrl}${cssUrl}`, { headers: { 'accept-encoding': 'gzip, br' } })).headers.get('content-encoding')).to.equal('br');
      const wrongHash = cssUrl.replace(/\.[0-9a-f]{12}\./, '.000000000000.');
      expect((await fetch(`${stack.baseUrl}${wrongHash}`)).status).to.equal(404);
      // Nothing is fetched from elsewhere: no absolute URL in the stylesheet.
      const raw = await fetch(`${stack.baseUrl}${cssUrl}`, { headers: { 'accept-encoding': 'identity' } });
      expect(raw.headers.get('content-encoding')).to.equal(null);
      expect(await raw.text()).to.include('.nhsuk-header').and.not.match(/url\(["']?https?:/);
    });

    it('a browser gets an error page for an unknown address; an API client still gets an OperationOutcome', async () => {
      const page = await fetch(`${stack.baseUrl}/no-such-page`, { headers: { accept: 'text/html,*/*;q=0.8' } });
      expect(page.status).to.equal(404);
      expect(page.headers.get('content-type')).to.match(/^text\/html/);
      expect(page.headers.get('content-security-policy')).to.include("script-src 'self'");
      expect(await page.text()).to.include('Page not found');
      const api = await fetch(`${stack.baseUrl}/no-such-page`, { headers: { accept: 'application/fhir+json' } });
      expect(api.status).to.equal(404);
      expect(((await api.json()) as { resourceType: string }).resourceType).to.equal('OperationOutcome');
      const fhir = await fetch(`${stack.baseUrl}/fhir/Patient/abc`, { headers: { accept: 'text/html,*/*;q=0.8' } });
      expect(fhir.status).to.equal(401);
      expect(fhir.headers.get('content-type')).to.match(/fhir\+json/);
    });
  });

  describe('sign-in and sessions', () => {
    it('signs in through the demo OpenID provider (code + PKCE) with a NEW session id, HttpOnly and SameSite=Lax', async () => {
      const c = new PageClient(stack.baseUrl);
      const start = await c.raw('/sign-in');
      expect(start.status).to.equal(303);
      const auth = new URL(start.headers.get('location')!);
      expect(auth.pathname).to.equal('/demo-oidc/auth');
      expect(auth.searchParams.get('code_challenge_method')).to.equal('S256');
      expect(auth.searchParams.get('code_challenge')).to.match(/^[A-Za-z0-9_-]{43}$/);
      const setCookie = start.headers.getSetCookie().find((x) => x.startsWith('ipr_session='))!;
      expect(setCookie).to.include('HttpOnly').and.include('SameSite=Lax');
      expect(setCookie).not.to.include('Secure'); // loopback http
      const before = c.cookies.get('ipr_session')!;
      const landed = await c.signIn({ user: 'demo-privacy-officer' });
      expect(landed.text).to.include('You are signed in as privacy officer');
      const after = c.cookies.get('ipr_session')!;
      expect(after).to.be.a('string').and.not.equal(before);
      // The id known before sign-in is not a signed-in session.
      const planted = new PageClient(stack.baseUrl);
      planted.cookies.set('ipr_session', before);
      const home = await planted.go('/');
      expect(home.text).to.include('Sign in').and.not.include('You are signed in');
    });

    it('an attacker-planted session id never becomes the signed-in session (session fixation)', async () => {
      const attacker = new PageClient(stack.baseUrl);
      await attacker.raw('/sign-in'); // gets a pre-sign-in session id
      const planted = attacker.cookies.get('ipr_session')!;
      const victim = new PageClient(stack.baseUrl);
      victim.cookies.set('ipr_session', planted);
      await victim.signIn({ user: 'demo-hospital-clinician' });
      expect(victim.cookies.get('ipr_session')).not.to.equal(planted);
      const attackerView = await attacker.go('/');
      expect(attackerView.text).not.to.include('You are signed in');
    });

    it('refuses a form post without the CSRF token (403 page) and accepts it with the token', async () => {
      const c = new PageClient(stack.baseUrl);
      await c.signIn({ user: 'demo-crew' });
      const missing = await c.raw('/sign-out', { form: {} });
      expect(missing.status).to.equal(403);
      expect(await missing.text()).to.include('csrf-token-invalid');
      const wrong = await c.raw('/sign-out', { form: { _csrf: 'x'.repeat(43) } });
      expect(wrong.status).to.equal(403);
      expect((await c.go('/')).text).to.include('You are signed in'); // still signed in
      const confirm = await c.go('/sign-out');
      const ok = await c.raw('/sign-out', { form: { _csrf: PageClient.csrfOf(confirm.text) } });
      expect(ok.status).to.equal(303);
      const end = new URL(ok.headers.get('location')!);
      expect(end.pathname).to.equal('/demo-oidc/session/end');
      expect(end.searchParams.get('id_token_hint')).to.equal(null); // the ID token carries claims: never in a URL
      expect(end.searchParams.get('post_logout_redirect_uri')).to.equal(`${stack.baseUrl}/signed-out`);
      expect((await c.go('/')).text).not.to.include('You are signed in');
    });

    it('sign-out ends the provider session too: the next sign-in asks who you are again', async () => {
      const c = new PageClient(stack.baseUrl);
      await c.signIn({ user: 'demo-crew' });
      const confirm = await c.go('/sign-out');
      const ended = await c.go('/sign-out', { form: { _csrf: PageClient.csrfOf(confirm.text) } });
      // The provider asks to confirm (its own xsrf field), then returns to the service's signed-out page.
      const xsrf = /name="xsrf" value="([^"]+)"/.exec(ended.text)?.[1];
      expect(xsrf, 'provider logout confirmation').to.be.a('string');
      const done = await c.go('/demo-oidc/session/end/confirm', { form: { xsrf: xsrf!, logout: 'yes' } });
      expect(done.url).to.equal(`${stack.baseUrl}/signed-out`);
      const again = await c.go('/sign-in');
      expect(again.url).to.match(/\/demo-oidc\/interaction\//); // no silent sign-in
    });

    it('a staff session ends after 15 minutes idle (stored server-side; the page says why)', async () => {
      const c = new PageClient(stack.baseUrl);
      await c.signIn({ user: 'demo-crew' });
      await stack.service.db.query(`UPDATE web_session SET last_seen_at = now() - interval '14 minutes'`);
      expect((await c.go('/')).text).to.include('You are signed in');
      await stack.service.db.query(`UPDATE web_session SET last_seen_at = now() - interval '16 minutes'`);
      const after = await c.go('/');
      expect(after.text).to.include('not used for 15 minutes').and.not.include('You are signed in');
    });

    it('a patient session ends after 30 minutes idle, and the page gives the patient limit, not the staff one', async () => {
      const nhs = stack.sandbox.data.gp.flatMap((r) => (r.resourceType === 'Patient' ? ((r as Patient).identifier ?? []) : [])).find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number')!.value!;
      const c = new PageClient(stack.baseUrl);
      await c.signIn({ patientNhsNumber: nhs });
      await stack.service.db.query(`UPDATE web_session SET last_seen_at = now() - interval '20 minutes'`);
      expect((await c.go('/')).text).to.include('You are signed in'); // past the staff limit, inside the patient one
      await stack.service.db.query(`UPDATE web_session SET last_seen_at = now() - interval '31 minutes'`);
      const after = await c.go('/my-record');
      expect(after.text).to.include('not used for 30 minutes').and.not.include('15 minutes');
    });

    it('the sweep removes sessions idle past their own limit (a sign-in never finished goes after 10 minutes), not only after hours', async () => {
      const store = new SessionStore(stack.service.db);
      const now = new Date();
      const started = await store.create({ csrf: 'x', idleMinutes: 10, returnTo: '/record' }, new Date(now.getTime() - 11 * 60_000), 12);
      const staff = await store.create({ csrf: 'y', idleMinutes: 15 }, new Date(now.getTime() - 11 * 60_000), 12);
      await store.sweep(now);
      expect(await store.get(started, now), 'idle 11 minutes with a 10-minute limit').to.equal(undefined);
      expect(await store.get(staff, now), 'idle 11 minutes with a 15-minute limit').to.not.equal(undefined);
      await store.delete(staff);
    });

    it('the bearer API keeps working beside the pages', async () => {
      const res = await fetch(`${stack.baseUrl}/fhir/metadata`, { headers: { accept: 'application/fhir+json' } });
      expect(res.status).to.equal(200);
      const unauth = await fetch(`${stack.baseUrl}/fhir/Patient?family=x`, { headers: { accept: 'application/fhir+json' } });
      expect(unauth.status).to.equal(401);
    });
  });

  describe('configuration', () => {
    it('refuses the demo provider when NODE_ENV=production and validates an external issuer at start-up', () => {
      expect(() => loadConfig({ ...SANDBOX_ENV, NODE_ENV: 'production', INDICATOR_PSEUDONYM_SECRET: 's'.repeat(40), WEB_SIGN_IN: 'demo' })).to.throw(/WEB_SIGN_IN/);
      // Production without an identity provider: no pages at all (never the demo provider).
      expect(loadConfig({ ...SANDBOX_ENV, NODE_ENV: 'production', INDICATOR_PSEUDONYM_SECRET: 's'.repeat(40) }).web.signIn).to.deep.equal({ mode: 'off' });
      expect(() => loadConfig({ ...SANDBOX_ENV, NODE_ENV: 'production', INDICATOR_PSEUDONYM_SECRET: 's'.repeat(40), OIDC_ISSUER: 'https://idp.example.org' })).to.throw(/OIDC_CLIENT_ID/);
      expect(() => loadConfig({ ...SANDBOX_ENV, WEB_SIGN_IN: 'oidc' })).to.throw(/OIDC_ISSUER/);
      expect(() => loadConfig({ ...SANDBOX_ENV, WEB_SIGN_IN: 'oidc', OIDC_ISSUER: 'http://idp.example.org' })).to.throw(/OIDC_ISSUER.*https/);
      expect(() => loadConfig({ ...SANDBOX_ENV, WEB_SIGN_IN: 'oidc', OIDC_ISSUER: 'https://idp.example.org' })).to.throw(/OIDC_CLIENT_ID/);
      expect(() => loadConfig({ ...SANDBOX_ENV, WEB_SIGN_IN: 'oidc', OIDC_ISSUER: 'https://idp.example.org', OIDC_CLIENT_ID: 'x' })).to.throw(/OIDC_CLIENT_SECRET/);
      const ok = loadConfig({ ...SANDBOX_ENV, WEB_SIGN_IN: 'oidc', OIDC_ISSUER: 'https://idp.example.org', OIDC_CLIENT_ID: 'x', OIDC_CLIENT_SECRET: 'y'.repeat(20), OIDC_CLAIM_ROLE: 'nhs_role', OIDC_ROLE_VALUES: 'R8000=clinician' });
      expect(ok.web.signIn).to.include({ mode: 'oidc', issuer: 'https://idp.example.org' });
      expect(ok.web.claims).to.deep.include({ role: 'nhs_role', roleValues: { R8000: 'clinician' } });
    });

    it('maps ID-token claims to the same Principal as a bearer token, by configured claim names and role values', () => {
      const map = { role: 'nhs_role', organisation: 'ods', nhsNumber: 'nhs', roleValues: { R8000: 'clinician' as const } };
      expect(principalFromClaims({ sub: 'u1', nhs_role: 'R8000', ods: 'A81001' }, map)).to.deep.equal({ sub: 'u1', role: 'clinician', organisation: 'A81001' });
      expect(principalFromClaims({ sub: 'p1', role: 'patient', nhs_number: '943 476 5919' }, { role: 'role', organisation: 'org', nhsNumber: 'nhs_number' })).to.deep.equal({ sub: 'p1', role: 'patient', nhsNumber: '9434765919' });
      expect(() => principalFromClaims({ sub: 'u1', nhs_role: 'R9999', ods: 'A81001' }, map)).to.throw(ClaimsRefused, /role/);
      expect(() => principalFromClaims({ sub: 'u1', nhs_role: 'R8000' }, map)).to.throw(ClaimsRefused, /organisation/);
      expect(() => principalFromClaims({ sub: 'u1', nhs_role: 'R8000', ods: 'A81001', nhs: '9434765919' }, map)).to.throw(ClaimsRefused, /only allowed for patients/);
      expect(() => principalFromClaims({ sub: 'p1', role: 'patient', nhs_number: '9434765918' }, { role: 'role', organisation: 'org', nhsNumber: 'nhs_number' })).to.throw(ClaimsRefused, /NHS number/);
    });

    it('marks cookies Secure everywhere but plain http on loopback', () => {
      expect(loadWebConfig({}, { publicBaseUrl: 'http://127.0.0.1:8080', production: false }).secureCookies).to.equal(false);
      expect(loadWebConfig({}, { publicBaseUrl: 'http://localhost:8080', production: false }).secureCookies).to.equal(false);
      expect(loadWebConfig({}, { publicBaseUrl: 'https://record.example.nhs.uk', production: false }).secureCookies).to.equal(true);
      expect(loadWebConfig({}, { publicBaseUrl: 'http://record.internal', production: false }).secureCookies).to.equal(true);
    });
  });
});

describe('web assets build', function () {
  this.timeout(180_000);
  it('the committed design-system CSS subset is what web/styles/nhsuk-subset.scss compiles to (npm run build:web-css)', async () => {
    const { readFileSync } = await import('node:fs');
    const { compileSubset, SUBSET_CSS_PATH } = await import('../web/css-build.js');
    expect(readFileSync(SUBSET_CSS_PATH, 'utf8') === compileSubset(), 'web/static/nhsuk-subset.css is stale: run npm run build:web-css').to.equal(true);
  });
});
