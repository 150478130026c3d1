import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { expect } from 'chai';
import type { Bundle, Consent, ConsentProvision } from 'fhir/r4.js';
import { categoriesOf } from '../consent/sensitivity.js';
import { PARTICIPATION_SYSTEM, ROLE_SYSTEM, SOURCE_SYSTEM } from '../consent/types.js';
import { consentWith } from './helpers/consent-fixture.js';
import type { Service } from '../server/compose.js';
import { idForNhs, issueCodes, outcomes } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

/**
 * Three service instances over ONE PostgreSQL database and one sandbox, each with its own connection pool
 * and its own HTTP listener, as behind a load balancer (docs/operations-scale-out.md). Requests go to the
 * instances in turn: whatever one instance changes, the others must honour on the very next request.
 * PostgreSQL only: embedded PGlite is one process's database and cannot be shared.
 */

const FEEDBACK_LIMIT = 8;

const sourceDeny = (source: string): ConsentProvision => ({
  type: 'deny',
  actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'CST' }] }, reference: { identifier: { system: SOURCE_SYSTEM, value: source } } }],
});
const roleDeny = (role: string): ConsentProvision => ({
  type: 'deny',
  actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'IRCP' }] }, reference: { identifier: { system: ROLE_SYSTEM, value: role } } }],
});
const consent = consentWith;

const SKIP_REASON = process.env.DATABASE_URL ? '' : " — skipped: needs PostgreSQL (DATABASE_URL); embedded PGlite is one process's database";

describe(`three service instances on one PostgreSQL${SKIP_REASON}`, function () {
  this.timeout(180_000);
  let h: Harness;
  const services: Service[] = [];
  const servers: Server[] = [];
  const bases: string[] = [];
  let patientId: string;
  const tokens: Record<string, string> = {};
  let turn = 0;

  before(async function () {
    if (SKIP_REASON) this.skip();
    h = await startHarness({
      sandbox: { generate: { count: 60, seed: 31 } },
      // Generous source deadlines: 150 parallel requests on a loaded machine must not trip them (not what is tested here).
      env: { SOURCE_DEADLINE_MS: '30000', CIRCUIT_FAILURE_THRESHOLD: '100', FEEDBACK_RATE_PER_MINUTE: String(FEEDBACK_LIMIT), TRUST_PROXY: 'loopback', INDICATOR_PSEUDONYM_SECRET: 'scale-out-test-secret-of-at-least-32-chars' },
    });
    services.push(h.service, await h.anotherInstance(), await h.anotherInstance());
    for (const s of services) {
      const server = s.app.listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      servers.push(server);
      bases.push(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    }
    const sensitive = new Set(h.sandbox.data.gp.filter((r) => r.resourceType === 'Condition' && categoriesOf(r).size > 0).map((r) => (r as { subject?: { reference?: string } }).subject?.reference));
    const entry = h.sandbox.data.manifest.find((m) => m.hospitalPatientId && !sensitive.has(`Patient/${m.gpPatientId}`))!;
    expect(entry, 'a generated patient with GP and hospital data').to.not.equal(undefined);
    tokens.gp = await h.clinicianFor(entry.nhsNumber);
    tokens.crew = await h.token({ role: 'ambulance-crew', org: 'RX9', sub: 'crew-scale' });
    tokens.officer = await h.token({ role: 'privacy-officer', org: 'X26', sub: 'po-scale' });
    tokens.patient = await h.token({ role: 'patient', nhs_number: entry.nhsNumber, sub: 'patient-scale' });
    patientId = await idForNhs(h.service.app, await h.token({ role: 'clinician', org: 'Z99999', sub: 'searcher' }), entry.nhsNumber);
  });
  after(async () => {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
    for (const s of services.slice(1)) await s.close();
    await h?.close();
  });

  /** The next instance in turn (round-robin), or instance i. */
  const call = async (path: string, who: string, init: RequestInit & { instance?: number } = {}) => {
    const i = init.instance ?? turn++ % 3;
    const headers = new Headers(init.headers);
    if (tokens[who]) headers.set('Authorization', `Bearer ${tokens[who]}`);
    const r = await fetch(bases[i] + path, { ...init, headers });
    const text = await r.text();
    return { status: r.status, headers: r.headers, body: text ? JSON.parse(text) : undefined, instance: i };
  };
  const everything = (who: string, instance?: number) => call(`/fhir/Patient/${patientId}/$everything?_count=1000`, who, instance === undefined ? {} : { instance });
  const postJson = (path: string, who: string, body: unknown, instance: number, type = 'application/fhir+json') =>
    call(path, who, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': type }, instance });
  const withheldSources = (b: Bundle) => issueCodes(outcomes(b)[0]).includes('source-consent-withheld');
  /** Withdraws every active consent of the patient through the given instance. */
  const withdrawAll = async (instance: number) => {
    const list = await call(`/fhir/Consent?patient=Patient/${patientId}`, 'patient', { instance });
    expect(list.status).to.equal(200);
    for (const e of (list.body as Bundle<Consent>).entry ?? []) {
      const c = e.resource as Consent;
      if (e.search?.mode !== 'match' || c.status !== 'active') continue;
      const r = await call(`/fhir/Consent/${c.id}`, 'patient', {
        method: 'PUT', instance, body: JSON.stringify({ ...c, status: 'inactive' }), headers: { 'content-type': 'application/fhir+json', 'If-Match': `W/"${c.meta!.versionId}"` },
      });
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
    }
  };

  it('each instance has its own connection pool and no PGlite-only read cache', () => {
    expect(new Set(services.map((s) => s.db)).size).to.equal(3);
    for (const s of services) {
      expect(s.db.engine).to.equal('postgres');
      expect(s.db.embeddedCaches, 'a PostgreSQL Db carries no read cache').to.equal(undefined);
    }
  });

  it('a consent change made through one instance applies to the very next request on each of the others', async () => {
    // Every instance has read the patient's (absent) consents first: a cache would now hold them.
    for (let i = 0; i < 3; i += 1) expect(withheldSources((await everything('gp', i)).body), `instance ${i} before`).to.equal(false);
    expect((await postJson('/fhir/Consent', 'patient', consent(patientId, [sourceDeny('hospital')]), 0)).status).to.equal(201);
    for (const i of [1, 2]) {
      const r = await everything('gp', i);
      expect(r.status).to.equal(200);
      expect(withheldSources(r.body), `instance ${i} right after the change on instance 0`).to.equal(true);
    }
    await withdrawAll(2);
    for (const i of [0, 1]) expect(withheldSources((await everything('gp', i)).body), `instance ${i} right after the withdrawal on instance 2`).to.equal(false);
  });

  it('an emergency grant made on one instance is honoured by the others on the next request', async () => {
    expect((await postJson('/fhir/Consent', 'patient', consent(patientId, [roleDeny('ambulance-crew')]), 1)).status).to.equal(201);
    for (let i = 0; i < 3; i += 1) expect((await everything('crew', i)).status, `instance ${i} before the grant`).to.equal(403);
    const grant = await postJson('/emergency-access', 'crew', { patient: patientId, reason: 'unconscious', note: 'Found unresponsive at home, no carer present' }, 2, 'application/json');
    expect(grant.status, JSON.stringify(grant.body)).to.equal(201);
    for (const i of [0, 1]) expect((await everything('crew', i)).status, `instance ${i} after the grant on instance 2`).to.equal(200);
    const alerts = await call('/review/alerts', 'officer', { instance: 0 });
    expect(alerts.body.alerts.map((a: { id: string }) => a.id)).to.include(grant.body.id);
    await withdrawAll(0);
  });

  it('the audit chain stays gapless and verifies after 150 parallel audited requests spread over all three', async () => {
    const ids = Array.from({ length: 150 }, (_, i) => `scale-${i}`);
    const results = await Promise.all(
      ids.map((id, i) => call(i % 5 === 0 ? `/fhir/Patient/${patientId}/$everything?_count=50` : `/fhir/Patient/${patientId}`, 'gp', { headers: { 'X-Request-Id': id }, instance: i % 3 })),
    );
    expect(results.filter((r) => r.status !== 200).map((r) => JSON.stringify(r.body).slice(0, 300)), 'every request served').to.deep.equal([]);
    const db = h.service.db;
    const r = await db.query<{ n: string; min: string; max: string }>('SELECT count(*) AS n, min(seq) AS min, max(seq) AS max FROM audit_event');
    const { n, min, max } = r.rows[0]!;
    expect([Number(min), Number(max)], 'seqs 1..count without gaps').to.deep.equal([1, Number(n)]);
    const audited = await db.query<{ request_id: string }>('SELECT DISTINCT request_id FROM audit_event WHERE request_id LIKE $1', ['scale-%']);
    expect(audited.rows.map((x) => x.request_id).sort()).to.deep.equal([...ids].sort());
    for (let i = 0; i < 3; i += 1) {
      const v = await call('/audit/verify', 'officer', { instance: i });
      expect(v.body, `verified by instance ${i}`).to.deep.equal({ ok: true, count: Number(n) });
    }
  });

  it(`the feedback rate limit is shared: the ${FEEDBACK_LIMIT + 1}th feedback in a minute from one client is refused by every instance`, async () => {
    const send = (client: string, instance: number, n: number) =>
      call('/indicators/obesity-bmi-30/feedback', '', {
        method: 'POST', instance, body: JSON.stringify({ text: `Scale-out note ${n}` }), headers: { 'content-type': 'application/json', 'X-Forwarded-For': client },
      });
    const first = [];
    for (let n = 0; n < FEEDBACK_LIMIT; n += 1) first.push((await send('203.0.113.7', n % 3, n)).status);
    expect(first, `${FEEDBACK_LIMIT} accepted, spread over the instances`).to.deep.equal(Array(FEEDBACK_LIMIT).fill(201));
    for (let i = 0; i < 3; i += 1) {
      const refused = await send('203.0.113.7', i, 100 + i);
      expect(refused.status, `instance ${i}`).to.equal(429);
      expect(refused.body.issue[0].details.coding[0].code).to.equal('rate-limited');
      expect(Number(refused.headers.get('retry-after'))).to.be.within(1, 60);
    }
    expect((await send('203.0.113.8', 1, 200)).status, 'another client is not affected').to.equal(201);
  });
});
