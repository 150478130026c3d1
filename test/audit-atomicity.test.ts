import { expect } from 'chai';
import request from 'supertest';
import type { Consent, ConsentProvision } from 'fhir/r4.js';
import { PARTICIPATION_SYSTEM, ROLE_SYSTEM } from '../consent/types.js';
import { consentWith } from './helpers/consent-fixture.js';
import { get, idForNhs, issueCodes, matches } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';
import { TEST_ENGINE } from './helpers/test-db.js';

/**
 * Issue 15, item 5: a state change and its audit event commit together or not at all. Writes to the audit
 * table are made to fail with a trigger (on PGlite and on PostgreSQL alike); every state-changing request
 * must then answer 503 and leave nothing changed, and the chain must still verify once writes work again.
 */

const crewDeny: ConsentProvision = {
  type: 'deny',
  actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'IRCP' }] }, reference: { identifier: { system: ROLE_SYSTEM, value: 'ambulance-crew' } } }],
};

const consent = consentWith;

describe(`a change and its audit event commit together or not at all (${TEST_ENGINE})`, function () {
  this.timeout(120_000);
  let h: Harness;
  let patientId: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 40, seed: 15 } } });
    const nhs = h.sandbox.data.manifest[0]!.nhsNumber;
    tokens.search = await h.token({ role: 'clinician', org: 'Z99999', sub: 'searcher' });
    patientId = await idForNhs(h.service.app, tokens.search, nhs);
    tokens.patient = await h.token({ role: 'patient', nhs_number: nhs, sub: 'patient-1' });
    tokens.crew = await h.token({ role: 'ambulance-crew', org: 'RX9', sub: 'crew-1' });
    tokens.officer = await h.token({ role: 'privacy-officer', org: 'X26', sub: 'po-1' });
    await h.service.db.query(`CREATE OR REPLACE FUNCTION test_audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'audit storage unavailable (test)'; END $$`);
  });
  after(async () => {
    await h?.close();
  });

  const app = () => h.service.app;
  const breakAudit = () => h.service.db.query('CREATE TRIGGER test_audit_fails BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION test_audit_fails()');
  const repairAudit = () => h.service.db.query('DROP TRIGGER IF EXISTS test_audit_fails ON audit_event');
  const count = async (sql: string, params: unknown[] = []) => Number((await h.service.db.query<{ n: number | string }>(sql, params)).rows[0]!.n);
  const postJson = (path: string, who: string, body: unknown, type = 'application/fhir+json') =>
    request(app()).post(path).set('Authorization', `Bearer ${tokens[who]}`).set('content-type', type).send(JSON.stringify(body));
  const expect503 = (r: request.Response) => {
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).to.equal(503);
    expect(issueCodes(r.body)).to.include('audit-unavailable');
  };
  const verified = async () => {
    const v = await get(app(), '/audit/verify', tokens.officer!);
    expect(v.body, 'the chain verifies').to.deep.include({ ok: true });
    return v.body.count as number;
  };

  it('POST /fhir/Consent: 503 and no consent stored', async () => {
    const before = await count('SELECT count(*) AS n FROM consent_version');
    await breakAudit();
    try {
      expect503(await postJson('/fhir/Consent', 'patient', consent(patientId, [crewDeny])));
    } finally {
      await repairAudit();
    }
    expect(await count('SELECT count(*) AS n FROM consent_version')).to.equal(before);
    const list = await get(app(), `/fhir/Consent?patient=Patient/${patientId}`, tokens.patient!);
    expect(matches(list.body)).to.have.length(0);
    await verified();
  });

  it('PUT /fhir/Consent/{id}: 503 and the stored version unchanged (the next request still sees the old one)', async () => {
    const created = await postJson('/fhir/Consent', 'patient', consent(patientId, [crewDeny]));
    expect(created.status).to.equal(201);
    const c = created.body as Consent;
    await breakAudit();
    try {
      const r = await request(app())
        .put(`/fhir/Consent/${c.id}`)
        .set('Authorization', `Bearer ${tokens.patient}`)
        .set('content-type', 'application/fhir+json')
        .set('If-Match', created.headers.etag!)
        .send(JSON.stringify({ ...c, status: 'inactive' }));
      expect503(r);
    } finally {
      await repairAudit();
    }
    const now = await get(app(), `/fhir/Consent/${c.id}`, tokens.patient!);
    expect(now.body.status).to.equal('active');
    expect(now.headers.etag).to.equal(created.headers.etag);
    // The withdrawal did not happen: the crew is still refused by the consent.
    expect((await get(app(), `/fhir/Patient/${patientId}/$everything`, tokens.crew!)).status).to.equal(403);
    // Withdraw it properly for the next test.
    const ok = await request(app())
      .put(`/fhir/Consent/${c.id}`)
      .set('Authorization', `Bearer ${tokens.patient}`)
      .set('content-type', 'application/fhir+json')
      .set('If-Match', created.headers.etag!)
      .send(JSON.stringify({ ...c, status: 'inactive' }));
    expect(ok.status).to.equal(200);
    await verified();
  });

  it('POST /emergency-access: 503, no grant in force (the crew’s next $everything is still 403), no alert queued', async () => {
    const grants = await count('SELECT count(*) AS n FROM emergency_grant');
    expect((await get(app(), `/fhir/Patient/${patientId}/$everything`, tokens.crew!)).status).to.equal(403);
    await breakAudit();
    try {
      expect503(await postJson('/emergency-access', 'crew', { patient: patientId, reason: 'unconscious', note: 'Found collapsed, not responding' }, 'application/json'));
    } finally {
      await repairAudit();
    }
    expect(await count('SELECT count(*) AS n FROM emergency_grant')).to.equal(grants);
    expect((await get(app(), `/fhir/Patient/${patientId}/$everything`, tokens.crew!)).status).to.equal(403);
    expect((await get(app(), '/review/alerts', tokens.officer!)).body.alerts).to.have.length(0);
    await verified();
  });

  it('POST /review/alerts/{id}: 503 and the alert stays open', async () => {
    const g = await postJson('/emergency-access', 'crew', { patient: patientId, reason: 'unconscious', note: 'Found collapsed, not responding' }, 'application/json');
    expect(g.status).to.equal(201);
    await breakAudit();
    try {
      expect503(await postJson(`/review/alerts/${g.body.id}`, 'officer', { outcome: 'appropriate', note: 'Justified.' }, 'application/json'));
    } finally {
      await repairAudit();
    }
    const alerts = (await get(app(), '/review/alerts', tokens.officer!)).body.alerts as { id: string; reviewStatus: string }[];
    expect(alerts.find((a) => a.id === g.body.id)?.reviewStatus).to.equal('open');
    const reviewed = await postJson(`/review/alerts/${g.body.id}`, 'officer', { outcome: 'appropriate', note: 'Justified.' }, 'application/json');
    expect(reviewed.status).to.equal(200);
  });

  it('with audit writes working, each change and its event land together and the chain stays gapless under concurrency', async () => {
    const events = await verified();
    const results = await Promise.all([
      postJson('/fhir/Consent', 'patient', consent(patientId, [crewDeny])),
      postJson('/emergency-access', 'crew', { patient: patientId, reason: 'unconscious', note: 'Second call-out, patient unresponsive' }, 'application/json'),
      get(app(), `/fhir/Patient/${patientId}/$everything`, tokens.patient!),
      postJson('/fhir/Consent', 'patient', consent(patientId, [crewDeny])),
      get(app(), `/fhir/Consent?patient=Patient/${patientId}`, tokens.patient!),
    ]);
    expect(results.map((r) => r.status)).to.deep.equal([201, 201, 200, 201, 200]);
    expect(await verified()).to.be.greaterThan(events + 4);
    const changes = await get(app(), `/audit?patient=${patientId}&_count=1000`, tokens.officer!);
    const actions = (matches(changes.body) as { entity?: { detail?: { type: string; valueString?: string }[] }[] }[]).map(
      (e) => e.entity?.flatMap((x) => x.detail ?? []).find((d) => d.type === 'action')?.valueString,
    );
    const consentEvents = actions.filter((a) => a === 'consent-change').length;
    const stored = await count('SELECT count(*) AS n FROM consent_version WHERE patient_id = $1', [patientId]);
    // Every stored consent version has its consent-change event (2 earlier in this file + 2 now; the failed ones have neither).
    expect(consentEvents).to.equal(stored);
    expect(actions.filter((a) => a === 'emergency-access').length).to.equal(await count('SELECT count(*) AS n FROM emergency_grant WHERE patient_id = $1', [patientId]));
  });
});
