import { expect } from 'chai';
import request from 'supertest';
import { SignJWT, base64url } from 'jose';
import { parse as parseYaml } from 'yaml';
import { readFileSync } from 'node:fs';
import type { Patient } from 'fhir/r4.js';
import { OPENAPI_PATH } from '../server/app.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { get, idForNhs, issueCodes, NHS } from './helpers/fhir-http.js';
import { AUDIENCE, ISSUER, startHarness, type Harness } from './helpers/harness.js';

describe('HTTP interface: bad input, tokens, privacy and the OpenAPI contract', function () {
  this.timeout(60_000);
  let h: Harness;
  let token: string;

  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 20, seed: 5 } } });
    token = await h.token({ role: 'clinician' });
  });
  after(async () => {
    await h?.close();
  });

  const expectOutcome = (r: request.Response, status: number, code?: string) => {
    expect(r.status, JSON.stringify(r.body)).to.equal(status);
    expect(r.headers['content-type']).to.match(/application\/fhir\+json/);
    const body = JSON.parse(r.text);
    expect(body.resourceType).to.equal('OperationOutcome');
    expect(body.issue[0].diagnostics).to.be.a('string').and.not.match(/\n\s+at /);
    if (code) expect(issueCodes(body)).to.include(code);
    return body;
  };

  describe('bad input → the right 4xx OperationOutcome', () => {
    it('malformed NHS number (bad check digit, letters, too short) → 400 invalid-nhs-number at identifier', async () => {
      for (const bad of ['9990000019', '99900000AB', '12345']) {
        const body = expectOutcome(await get(h.service.app, `/fhir/Patient?identifier=${NHS}|${bad}`, token), 400, 'invalid-nhs-number');
        expect(body.issue[0].expression).to.deep.equal(['identifier']);
        expect(JSON.stringify(body)).not.to.include(bad);
      }
    });
    it('unknown search parameter → 400 unknown-parameter naming it', async () => {
      const body = expectOutcome(await get(h.service.app, '/fhir/Patient?family=Smith&birthdate=1950-01-01&colour=blue', token), 400, 'unknown-parameter');
      expect(body.issue[0].expression).to.deep.equal(['colour']);
    });
    it('an identifier in another system, a missing birthdate, a bad date → 400', async () => {
      expectOutcome(await get(h.service.app, '/fhir/Patient?identifier=http://example.org|123', token), 400, 'unsupported-identifier-system');
      expectOutcome(await get(h.service.app, '/fhir/Patient?family=Smith', token), 400, 'missing-parameter');
      expectOutcome(await get(h.service.app, '/fhir/Patient?family=Smith&birthdate=12/03/1950', token), 400, 'invalid-date');
      expectOutcome(await get(h.service.app, '/fhir/Patient', token), 400, 'missing-parameter');
    });
    it('a repeated parameter and an out-of-range _count → 400', async () => {
      expectOutcome(await get(h.service.app, '/fhir/Patient?family=A&family=B&birthdate=1950-01-01', token), 400);
      expectOutcome(await get(h.service.app, '/fhir/Patient/00000000-0000-4000-8000-000000000000/$everything?_count=0', token), 400);
    });
    it('oversized body → 413; wrong content type → 415; malformed id → 400', async () => {
      const big = 'family=' + 'x'.repeat(2_000_000);
      expectOutcome(
        await request(h.service.app).post('/fhir/Patient/_search').set('Authorization', `Bearer ${token}`).type('form').send(big),
        413,
        'payload-too-large',
      );
      expectOutcome(
        await request(h.service.app).post('/fhir/Patient/_search').set('Authorization', `Bearer ${token}`).set('content-type', 'application/xml').send('<x/>'),
        415,
        'unsupported-media-type',
      );
      expectOutcome(await get(h.service.app, '/fhir/Patient/bad$id!', token), 400);
    });
    it('searching with a form body works like the query string', async () => {
      const m = h.sandbox.data.manifest[0]!;
      const r = await request(h.service.app).post('/fhir/Patient/_search').set('Authorization', `Bearer ${token}`).type('form').send({ identifier: `${NHS}|${m.nhsNumber}` });
      expect(r.status).to.equal(200);
      expect(r.body.total).to.equal(1);
    });
    it('garbage path → 404; wrong method → 404/405; Accept text/html → 406', async () => {
      expectOutcome(await get(h.service.app, '/fhir/Nonsense/%%%/x', token), 404);
      expectOutcome(await get(h.service.app, '/no/such/thing', token), 404);
      const del = await request(h.service.app).delete('/fhir/Patient').set('Authorization', `Bearer ${token}`);
      expect([404, 405]).to.include(del.status);
      expectOutcome(await request(h.service.app).get('/fhir/metadata').set('Accept', 'text/html'), 406, 'not-acceptable');
    });
  });

  describe('token attacks through HTTP → 401 with WWW-Authenticate', () => {
    const patientUrl = '/fhir/Patient?family=Smith&birthdate=1950-01-01';
    const b64 = (o: object) => base64url.encode(JSON.stringify(o));
    const now = () => Math.floor(Date.now() / 1000);
    const attacks: [string, () => Promise<string | undefined>][] = [
      ['no token', async () => undefined],
      ['alg none', async () => `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ sub: 'x', role: 'clinician', org: 'A81001', iss: ISSUER, aud: AUDIENCE, exp: now() + 60 })}.`],
      ['HS256 signed with a guessable secret', async () =>
        new SignJWT({ role: 'clinician', org: 'A81001' }).setProtectedHeader({ alg: 'HS256', kid: 'test-key' }).setSubject('x').setIssuer(ISSUER).setAudience(AUDIENCE).setExpirationTime('5m')
          .sign(new TextEncoder().encode('public-key-as-secret'))],
      ['expired', async () => h.token({ role: 'clinician' }, { now: new Date(Date.now() - 7_200_000), ttlSec: 60 })],
      ['wrong audience', async () => h.token({ role: 'clinician' }, { audience: 'https://other.example' })],
      ['wrong issuer', async () => h.token({ role: 'clinician' }, { issuer: 'https://evil.example' })],
      ['garbage', async () => 'not.a.jwt'],
    ];
    for (const [name, make] of attacks) {
      it(name, async () => {
        const t = await make();
        const req = request(h.service.app).get(patientUrl);
        const r = t === undefined ? await req : await req.set('Authorization', `Bearer ${t}`);
        expectOutcome(r, 401);
        expect(r.headers['www-authenticate']).to.match(/^Bearer/);
      });
    }
    it('metadata needs no token and tells the truth about Patient search parameters', async () => {
      const r = await request(h.service.app).get('/fhir/metadata');
      expect(r.status).to.equal(200);
      const patient = r.body.rest[0].resource.find((x: { type: string }) => x.type === 'Patient');
      expect(patient.searchParam.map((p: { name: string }) => p.name)).to.have.members(['identifier', 'family', 'given', 'birthdate', 'address-postalcode']);
      expect(patient.operation.map((o: { name: string }) => o.name)).to.deep.equal(['everything', 'summary']);
    });
  });

  it('logs carry no NHS number, name, birth date or postcode, and no bearer token', async () => {
    const m = h.sandbox.data.manifest[1]!;
    const gp = h.sandbox.data.gp.find((x) => x.resourceType === 'Patient' && x.id === m.gpPatientId) as Patient;
    const family = gp.name![0]!.family!;
    const id = await idForNhs(h.service.app, token, m.nhsNumber);
    await get(h.service.app, `/fhir/Patient/${id}/$everything`, await h.clinicianFor(m.nhsNumber));
    await get(h.service.app, `/fhir/Patient?family=${encodeURIComponent(family)}&birthdate=${gp.birthDate}`, token);
    await get(h.service.app, `/fhir/Patient?identifier=${NHS}|9990000019`, token);
    const log = h.logs.join('');
    expect(log).to.include('/fhir/Patient');
    for (const secret of [m.nhsNumber, family, gp.birthDate!, gp.address![0]!.postalCode!, token.slice(-20)]) {
      expect(log, `log must not contain ${secret.length}-char identifier`).not.to.include(secret);
    }
  });

  it('health, readiness, the OpenAPI document and rendered docs are served', async () => {
    expect((await request(h.service.app).get('/healthz')).body).to.deep.equal({ status: 'ok' });
    const ready = await request(h.service.app).get('/readyz');
    expect(ready.status).to.equal(200);
    expect(ready.body.checks.map((c: { name: string }) => c.name)).to.deep.equal(['database', 'gp', 'hospital', 'social-care']);
    const spec = await request(h.service.app).get('/openapi.yaml');
    expect(spec.text).to.include('openapi: 3.1.0');
    const docs = await request(h.service.app).get('/docs/');
    expect(docs.status).to.equal(200);
    expect(docs.text).to.include('swagger');
  });

  it('the app has exactly the routes openapi.yaml describes', () => {
    const spec = parseYaml(readFileSync(OPENAPI_PATH, 'utf8')) as { paths: Record<string, Record<string, unknown>> };
    const specRoutes = Object.entries(spec.paths)
      .flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path.replace(/\{(\w+)\}/g, ':$1')}`))
      .sort();
    expect(appRoutes(h.service.app).sort()).to.deep.equal(specRoutes);
  });

  it('fails fast at start-up naming a missing or invalid setting', () => {
    const base = { GP_FHIR_URL: 'http://a/fhir', HOSPITAL_FHIR_URL: 'http://b/fhir', SOCIAL_CARE_URL: 'http://c' };
    expect(() => loadConfig({ ...base, GP_FHIR_URL: '' })).to.throw(ConfigError, /GP_FHIR_URL/);
    expect(() => loadConfig({ ...base, SOURCE_DEADLINE_MS: 'soon' })).to.throw(ConfigError, /SOURCE_DEADLINE_MS/);
    expect(() => loadConfig({ ...base, AUTH_MODE: 'jwks', AUTH_ISSUER: 'x', AUTH_AUDIENCE: 'y' })).to.throw(ConfigError, /AUTH_JWKS_URL/);
    expect(() => loadConfig({ ...base, DATABASE_URL: 'mysql://x' })).to.throw(ConfigError, /DATABASE_URL/);
    expect(loadConfig(base).sourceDeadlineMs).to.equal(3000);
  });
});

/** Every `METHOD /path` the Express app routes (mounted routers included), in OpenAPI-like form. */
function appRoutes(app: unknown): string[] {
  const out: string[] = [];
  type Layer = { route?: { path: string; methods: Record<string, boolean> }; handle?: { stack?: Layer[] }; name?: string; matchers?: unknown; slash?: boolean };
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route) {
        for (const m of Object.keys(layer.route.methods)) if (m !== '_all') out.push(`${m.toUpperCase()} ${prefix}${layer.route.path}`);
      } else if (layer.name === 'router' && layer.handle?.stack) {
        walk(layer.handle.stack, prefix + mountPath(layer));
      }
    }
  };
  walk((app as { router: { stack: Layer[] } }).router.stack, '');
  return [...new Set(out)].filter((r) => !r.startsWith('GET /docs/')).map((r) => r.replace(/\/$/, ''));
}

function mountPath(layer: unknown): string {
  // Express 5 (router 2) keeps no mount path on the layer; the only mounted router is /fhir.
  const l = layer as { matchers?: ((p: string) => unknown)[] };
  const m = l.matchers?.[0]?.('/fhir/x') as { path?: string } | false | undefined;
  return m && m.path ? m.path : '';
}
