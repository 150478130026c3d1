/**
 * Sign-in sessions across several service instances on one PostgreSQL (issue 15, scale-out): three
 * instances behind a round-robin "load balancer" on one public URL, signing in through an external OpenID
 * provider (WEB_SIGN_IN=oidc, as in production). Every hop of the sign-in lands on a different instance:
 * the pending sign-in (state, nonce, PKCE verifier), the signed-in session, its CSRF token and its end are
 * all in the shared database, so no instance needs stickiness.
 */
import { createServer, type Server } from 'node:http';
import { expect } from 'chai';
import type { Service } from '../server/compose.js';
import { startExternalIdp, type ExternalIdp } from './helpers/external-idp.js';
import { startHarness, type Harness } from './helpers/harness.js';
import { PageClient } from './helpers/page-client.js';

const SKIP_REASON = process.env.DATABASE_URL ? '' : " — skipped: needs PostgreSQL (DATABASE_URL); embedded PGlite is one process's database";

describe(`sign-in sessions across three instances on one PostgreSQL${SKIP_REASON}`, function () {
  this.timeout(180_000);
  let h: Harness;
  let idp: ExternalIdp;
  let lb: Server;
  let base: string;
  const services: Service[] = [];
  /** Which instance answered each request, in order. */
  const servedBy: number[] = [];

  before(async function () {
    if (SKIP_REASON) this.skip();
    idp = await startExternalIdp();
    let turn = 0;
    lb = createServer((req, res) => {
      const i = turn++ % services.length;
      servedBy.push(i);
      services[i]!.app(req, res);
    });
    await new Promise<void>((resolve) => lb.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(lb.address() as { port: number }).port}`;
    h = await startHarness({ sandbox: { generate: { count: 5, seed: 7 } }, env: { ...idp.env, PUBLIC_BASE_URL: base, VALIDATE_RESPONSES: 'false' } });
    services.push(h.service, await h.anotherInstance(), await h.anotherInstance());
    await idp.register(base);
  });
  after(async () => {
    lb?.closeAllConnections();
    await new Promise<void>((resolve) => (lb ? lb.close(() => resolve()) : resolve()));
    for (const s of services.slice(1)) await s.close();
    await h?.close();
    await idp?.close();
  });

  it('signing in hops across instances (start, callback, landing each on another) and the session works on all of them', async () => {
    idp.nextAccount = 'crew-1';
    const c = new PageClient(base);
    const from = servedBy.length;
    const landing = await c.go('/sign-in');
    expect(landing.url).to.equal(`${base}/`);
    expect(landing.text).to.include('You are signed in').and.include('ambulance crew · RX9');
    // /sign-in, /auth/callback and / were answered by three different instances.
    expect(new Set(servedBy.slice(from)).size).to.equal(3);
    for (let i = 0; i < 3; i++) {
      const page = await c.go('/crew');
      expect(page.res.status, `instance ${servedBy.at(-1)}`).to.equal(200);
      expect(page.text).to.include('Find a patient');
    }
  });

  it('a CSRF token issued by one instance is accepted by another; sign-out on one ends the session on all', async () => {
    idp.nextAccount = 'gp-1';
    const c = new PageClient(base);
    await c.go('/sign-in');
    const confirm = await c.go('/sign-out'); // one instance renders the form with the session's token
    const confirmedBy = servedBy.at(-1);
    const out = await c.raw('/sign-out', { form: { _csrf: PageClient.csrfOf(confirm.text) } });
    expect(servedBy.at(-1)).to.not.equal(confirmedBy);
    expect(out.status).to.equal(303);
    expect(new URL(out.headers.get('location')!).origin).to.equal(idp.issuer);
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const page = await c.raw('/record');
      seen.add(servedBy.at(-1)!);
      expect(page.status).to.equal(303); // sent to sign in again, whichever instance answers
      expect(page.headers.get('location')).to.equal('/sign-in');
    }
    expect(seen.size).to.be.greaterThan(1);
  });
});
