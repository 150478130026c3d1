import { expect } from 'chai';
import { createServer as createNetServer } from 'node:net';
import request from 'supertest';
import type { Bundle, OperationOutcome, Patient } from 'fhir/r4.js';
import { openDb, type Db, type Queryable } from '../store/db.js';
import { issueCodes } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';
import { openTestDb } from './helpers/test-db.js';

/**
 * Issue 15, items 7, 8, 12, 13, 16, 17 and 18, through HTTP (supertest against the app): identifiers are
 * never echoed or logged, a lost database is a 503 the service recovers from, hostile parameters are
 * 400s naming the parameter, tokens are bounded, patient data is never cacheable, and break-glass takes
 * only integrated ids.
 */
describe('hardening: hostile input, tokens, database faults, caching and logs (issue 15)', function () {
  this.timeout(120_000);
  let h: Harness;
  let real: Db;
  /** What the database does now: the real one, or a stand-in that cannot connect. */
  let down: Db | undefined;
  let nhs: string;
  let patientId: string;
  let clinician: string;
  let officer: string;
  let analyst: string;

  // The service's database: the real test database, switched to an unreachable one to simulate an outage.
  const switching = (): Db => ({
    get engine() {
      return real.engine;
    },
    query: (sql, params) => (down ?? real).query(sql, params),
    tx: <T>(fn: (q: Queryable) => Promise<T>) => (down ?? real).tx(fn),
    close: () => real.close(),
  });

  before(async () => {
    real = await openTestDb();
    h = await startHarness({ sandbox: { generate: { count: 6, seed: 15 } }, db: switching() });
    const gp = h.sandbox.data.gp.find((r): r is Patient => r.resourceType === 'Patient')!;
    nhs = gp.identifier!.find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number')!.value!;
    clinician = await h.clinicianFor(nhs);
    officer = await h.token({ role: 'privacy-officer', org: 'X26' });
    analyst = await h.token({ role: 'analyst' });
    const found = await request(h.service.app).get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`).set('Authorization', `Bearer ${clinician}`);
    patientId = (found.body as Bundle).entry!.find((e) => e.search?.mode === 'match')!.resource!.id!;
  });
  after(async () => {
    down = undefined;
    await h?.close();
  });

  const get = (path: string, token: string) => request(h.service.app).get(path).set('Authorization', `Bearer ${token}`);
  const expect400Naming = (r: request.Response, parameter: string) => {
    expect(r.status, `${r.status} ${r.text.slice(0, 300)}`).to.equal(400);
    const oo = r.body as OperationOutcome;
    expect(oo.resourceType).to.equal('OperationOutcome');
    expect(oo.issue.flatMap((i) => i.expression ?? [])).to.include(parameter);
  };
  // An NHS number that passes the check digit but belongs to no sandbox patient.
  const TYPED = '9994242423';

  describe('item 7: error messages never echo what the caller typed', () => {
    it('an unknown id in the path → 404 "this patient", without the value', async () => {
      for (const path of [`/fhir/Patient/${TYPED}`, `/fhir/Patient/${TYPED}/$everything`, `/fhir/Patient/${TYPED}/$summary`, `/fhir/Consent?patient=${TYPED}`]) {
        const r = await get(path, clinician);
        expect(r.status, path).to.equal(404);
        expect(r.text, path).not.to.include(TYPED);
        expect((r.body as OperationOutcome).issue[0]!.diagnostics).to.match(/this patient/i);
      }
    });
    it('an identifier typed as a parameter name, a Consent id, an alert id → no echo', async () => {
      const paths: [string, string][] = [
        [`/fhir/Patient?${TYPED}=x`, clinician],
        [`/fhir/Consent/${TYPED}`, clinician],
        [`/audit?${TYPED}=1`, officer],
        [`/indicators/${TYPED}`, analyst],
      ];
      for (const [path, token] of paths) {
        const r = await get(path, token);
        expect(r.status, path).to.be.within(400, 499);
        expect(r.text, path).not.to.include(TYPED);
      }
      const review = await request(h.service.app).post('/review/alerts/00000000-0000-4000-8000-000000000000').set('Authorization', `Bearer ${officer}`).send({ outcome: 'appropriate', note: 'x' });
      expect(review.status).to.be.within(400, 499);
      expect(review.text).not.to.include('00000000-0000-4000-8000-000000000000');
    });
  });

  describe('item 12: hostile parameter values → 400 naming the parameter', () => {
    it('a line break or carriage return in any date search parameter', async () => {
      for (const [type, param] of [['Condition', 'onset-date'], ['Observation', 'date'], ['Encounter', 'date'], ['Procedure', 'date']]) {
        for (const value of ['%0A', '2020%0A', '2020%0D', 'ge2020-01-01%0D%0A', '%0D']) {
          expect400Naming(await get(`/fhir/${type}?patient=${patientId}&${param}=${value}`, clinician), param!);
        }
      }
      expect400Naming(await request(h.service.app).post('/fhir/Condition/_search').type('form').set('Authorization', `Bearer ${clinician}`).send(`patient=${patientId}&onset-date=2020%0A`), 'onset-date');
    });
    it('a NUL (or other control character) in /audit?user= and organisation=, and in dates', async () => {
      for (const param of ['user', 'organisation', 'from', 'to', 'patient']) {
        expect400Naming(await get(`/audit?${param}=a%00b`, officer), param);
        expect400Naming(await get(`/audit?${param}=a%0Ab`, officer), param);
      }
      expect400Naming(await get('/audit?from=2020%0A', officer), 'from');
    });
    it('huge, exponent and Infinity _offset/_count on /audit and indicator feedback', async () => {
      const ids = (await request(h.service.app).get('/indicators')).body as { indicators?: { id: string }[] } | { id: string }[];
      const list = Array.isArray(ids) ? ids : (ids.indicators ?? []);
      expect(list.length).to.be.greaterThan(0);
      const feedback = `/indicators/${list[0]!.id}/feedback`;
      for (const base of ['/audit', feedback]) {
        for (const param of ['_offset', '_count']) {
          for (const value of ['9223372036854775807', '1e21', 'Infinity', '-Infinity', 'NaN', '-1', '1.5', '99999999999']) {
            const r = await get(`${base}?${param}=${value}`, base === '/audit' ? officer : analyst);
            expect(r.status, `${base}?${param}=${value}`).to.equal(400);
            expect400Naming(r, param);
          }
        }
        expect((await get(`${base}?_offset=0&_count=5`, base === '/audit' ? officer : analyst)).status).to.equal(200);
      }
    });
  });

  describe('item 13: token lifetime, issue time and repeated Authorization headers', () => {
    it('a ten-year token → 401 token-lifetime; a one-hour token (the default of npm run token) is accepted', async () => {
      const long = await h.token({ role: 'clinician' }, { ttlSec: 10 * 365 * 86_400 });
      const r = await get('/fhir/metadata', long).then(() => get(`/fhir/Patient/${patientId}`, long));
      expect(r.status).to.equal(401);
      expect(issueCodes(r.body)).to.include('token-lifetime');
      expect((await get(`/fhir/Patient/${patientId}`, await h.token({ role: 'clinician', org: h.practiceOf(nhs) }, { ttlSec: 3600 }))).status).to.equal(200);
    });
    it('iat more than 60 s in the future → 401 token-issued-in-future; 30 s ahead (clock skew) is accepted', async () => {
      const ahead = await h.token({ role: 'clinician', org: h.practiceOf(nhs) }, { now: new Date(Date.now() + 5 * 60_000), notBeforeOffsetSec: -300, ttlSec: 600 });
      const r = await get(`/fhir/Patient/${patientId}`, ahead);
      expect(r.status).to.equal(401);
      expect(issueCodes(r.body)).to.include('token-issued-in-future');
      const skewed = await h.token({ role: 'clinician', org: h.practiceOf(nhs) }, { now: new Date(Date.now() + 30_000), notBeforeOffsetSec: -30, ttlSec: 600 });
      expect((await get(`/fhir/Patient/${patientId}`, skewed)).status).to.equal(200);
    });
    it('two Authorization headers → 400 repeated-header (not served with the first)', async () => {
      const r = await request(h.service.app).get(`/fhir/Patient/${patientId}`).set('Authorization', [`Bearer ${clinician}`, 'Bearer other'] as unknown as string);
      expect(r.status).to.equal(400);
      expect(issueCodes(r.body)).to.include('repeated-header');
    });
  });

  describe('item 16: Cache-Control', () => {
    it('no-store on every response with patient or audit data, and on errors', async () => {
      const crew = await h.token({ role: 'ambulance-crew', org: 'RX9' });
      const responses = [
        await get(`/fhir/Patient/${patientId}`, clinician),
        await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`, clinician),
        await get(`/fhir/Patient/${patientId}/$everything`, clinician),
        await get(`/fhir/Condition?patient=${patientId}`, clinician),
        await get(`/fhir/Consent?patient=${patientId}`, clinician),
        await get('/audit', officer),
        await get('/audit/verify', officer),
        await get('/review/alerts', officer),
        await get(`/fhir/Patient/${TYPED}`, clinician),
        await get('/fhir/Patient/x', 'not-a-token'),
        await request(h.service.app).post('/emergency-access').set('Authorization', `Bearer ${crew}`).send({ patient: `Patient/${patientId}`, reason: 'unconscious', note: 'cache test' }),
      ];
      for (const r of responses) expect(r.headers['cache-control'], `${r.status} ${r.text.slice(0, 80)}`).to.equal('no-store');
    });
    it('public documents and published indicators may be cached', async () => {
      for (const path of ['/fhir/metadata', '/openapi.yaml', '/indicators', '/.well-known/smart-configuration']) {
        const r = await request(h.service.app).get(path);
        expect(r.status, path).to.equal(200);
        expect(r.headers['cache-control'] ?? '', path).not.to.include('no-store');
      }
    });
  });

  describe('item 17: logs name the route, never the raw path', () => {
    it('an NHS number or name typed into a path is not in any log line', async () => {
      const before = h.logs.length;
      for (const path of [`/fhir/Patient/${TYPED}`, `/fhir/Patient/${TYPED}/$everything?_type=Condition`, `/fhir/Patient/${TYPED}/$summary`, `/no-such-route/${TYPED}`, '/fhir/Patient/Smith-John-19500101']) {
        await get(path, clinician);
      }
      await get(`/fhir/Patient/${TYPED}`, 'bad-token');
      const lines = h.logs.slice(before);
      expect(lines.length).to.be.greaterThan(5);
      for (const line of lines) {
        expect(line).not.to.include(TYPED);
        expect(line).not.to.include('Smith-John');
      }
      const routes = lines.map((l) => (JSON.parse(l) as { req?: { route?: string } }).req?.route).filter(Boolean);
      expect(routes).to.include('/fhir/Patient/{id}');
      expect(routes).to.include('/fhir/Patient/{id}/$everything');
      expect(routes).to.include('(no documented route)');
    });
  });

  describe('item 18: emergency access takes only the integrated id', () => {
    it('an NHS number → 400 (cannot probe by NHS number); an unknown id → 404, audited as denied; a known id → 201', async () => {
      const crew = await h.token({ role: 'ambulance-crew', org: 'RX9', sub: 'crew-18' });
      const post = (patient: string) => request(h.service.app).post('/emergency-access').set('Authorization', `Bearer ${crew}`).send({ patient, reason: 'unconscious', note: 'probe test' });
      for (const probe of [nhs, TYPED, `Patient/${nhs}`, 'Smith']) {
        const r = await post(probe);
        expect(r.status, probe).to.equal(400);
        expect(issueCodes(r.body)).to.include('invalid-reference');
        expect(r.text).not.to.include(probe === 'Smith' ? 'Smith' : probe.replace('Patient/', ''));
      }
      const unknown = await post('Patient/00000000-0000-4000-8000-000000000000');
      expect(unknown.status).to.equal(404);
      const denied = (await get('/audit?user=crew-18&decision=deny', officer)).body as Bundle;
      expect(denied.entry?.length, 'the failed attempt is in the audit trail').to.equal(1);
      expect((await post(`Patient/${patientId}`)).status).to.equal(201);
    });
  });

  describe('item 8: database unavailable → 503 database-unavailable with Retry-After, recovering by itself', () => {
    const expect503 = (r: request.Response) => {
      expect(r.status, r.text.slice(0, 300)).to.equal(503);
      expect(issueCodes(r.body)).to.include('database-unavailable');
      expect(Number(r.headers['retry-after'])).to.be.greaterThan(0);
    };
    const exercise = async () => {
      expect503(await get(`/fhir/Patient/${patientId}`, clinician));
      expect503(await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`, clinician));
      expect503(await get(`/fhir/Condition?patient=${patientId}`, clinician));
      expect503(await get('/audit', officer));
      const ready = await request(h.service.app).get('/readyz');
      expect(ready.status).to.equal(503);
      expect((ready.body as { checks: { name: string; ok: boolean }[] }).checks.find((c) => c.name === 'database')!.ok).to.equal(false);
      expect((await request(h.service.app).get('/healthz')).status).to.equal(200);
    };
    const recovers = async () => {
      expect((await get(`/fhir/Patient/${patientId}`, clinician)).status).to.equal(200);
      expect((await request(h.service.app).get('/readyz')).status).to.equal(200);
    };
    afterEach(() => {
      down = undefined;
    });

    it('PostgreSQL refusing connections (a pg pool pointed at a closed port)', async () => {
      const closed = await closedPort();
      const pool = await openDb({ databaseUrl: `postgres://postgres@127.0.0.1:${closed}/postgres`, connectTimeoutMs: 2000 });
      try {
        down = pool;
        await exercise();
      } finally {
        down = undefined;
        await pool.close().catch(() => undefined);
      }
      await recovers();
    });
    it('a Db whose queries fail with a connection error (connection terminated, admin shutdown)', async () => {
      for (const error of [
        new Error('Connection terminated unexpectedly'),
        Object.assign(new Error('terminating connection due to administrator command'), { code: '57P01' }),
        Object.assign(new Error('connect ECONNRESET'), { code: 'ECONNRESET' }),
      ]) {
        const failing = async () => Promise.reject(error);
        down = { engine: real.engine, query: failing, tx: failing, close: async () => undefined };
        expect503(await get(`/fhir/Patient/${patientId}`, clinician));
        expect503(await get('/audit', officer));
      }
      down = undefined;
      await recovers();
    });
    it('the embedded database closed (PGlite)', async () => {
      const pglite = await openDb({ memory: true });
      await pglite.close();
      down = pglite;
      await exercise();
      down = undefined;
      await recovers();
    });
    it('a query error that is not a connection error is not disguised as an outage', async () => {
      const failing = async () => Promise.reject(Object.assign(new Error('relation "x" does not exist'), { code: '42P01' }));
      down = { engine: real.engine, query: failing, tx: failing, close: async () => undefined };
      const r = await get(`/fhir/Patient/${patientId}`, clinician);
      expect(r.status).to.be.oneOf([500, 503]);
      expect(issueCodes(r.body)).not.to.include('database-unavailable');
      expect(r.headers['retry-after']).to.equal(undefined);
    });
  });
});

/** A TCP port on loopback that nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}
