import { expect } from 'chai';
import request from 'supertest';
import type { AuditEvent, Bundle, Consent, ConsentProvision } from 'fhir/r4.js';
import { AuditLog } from '../audit/audit-log.js';
import { categoriesOf } from '../consent/sensitivity.js';
import {
  ACT_REASON_SYSTEM,
  CONSENT_POLICY_URI,
  CONSENT_SCOPE_SYSTEM,
  PARTICIPATION_SYSTEM,
  ROLE_SYSTEM,
  SOURCE_SYSTEM,
} from '../consent/types.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { get, idForNhs, issueCodes, matches, outcomes, sourcesOf } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

const sourceDeny = (source: string, extra: Partial<ConsentProvision> = {}): ConsentProvision => ({
  type: 'deny',
  actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'CST' }] }, reference: { identifier: { system: SOURCE_SYSTEM, value: source } } }],
  ...extra,
});
const roleDeny = (role: string, extra: Partial<ConsentProvision> = {}): ConsentProvision => ({
  type: 'deny',
  actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'IRCP' }] }, reference: { identifier: { system: ROLE_SYSTEM, value: role } } }],
  ...extra,
});
const labelDeny = (label: string): ConsentProvision => ({ type: 'deny', securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: label }] });
const evenInEmergency: Partial<ConsentProvision> = { purpose: [{ system: ACT_REASON_SYSTEM, code: 'ETREAT' }, { system: ACT_REASON_SYSTEM, code: 'BTG' }] };

function consent(patientId: string, provisions: ConsentProvision[], status: Consent['status'] = 'active'): Consent {
  return {
    resourceType: 'Consent',
    status,
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: '2026-11-01T10:00:00Z',
    policy: [{ uri: CONSENT_POLICY_URI }],
    provision: { type: 'permit', provision: provisions },
  };
}

describe('consent, emergency access and audit through the HTTP interface', function () {
  this.timeout(120_000);
  let h: Harness;
  let patientId: string;
  let nhs: string;
  let otherNhs: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 150, seed: 21 } } });
    // A patient known to the GP and the hospital whose GP record holds a mental-health condition.
    const sensitive = new Set(h.sandbox.data.gp.filter((r) => r.resourceType === 'Condition' && categoriesOf(r).has('mental-health')).map((r) => (r as { subject?: { reference?: string } }).subject?.reference));
    const entry = h.sandbox.data.manifest.find((m) => m.hospitalPatientId && sensitive.has(`Patient/${m.gpPatientId}`))!;
    expect(entry, 'a generated patient with hospital data and a mental-health condition').to.not.equal(undefined);
    const other = h.sandbox.data.manifest.find((m) => m.nhsNumber !== entry.nhsNumber)!;
    nhs = entry.nhsNumber;
    otherNhs = other.nhsNumber;
    tokens.search = await h.token({ role: 'clinician', org: 'Z99999', sub: 'searcher' });
    patientId = await idForNhs(h.service.app, tokens.search, nhs);
    await idForNhs(h.service.app, tokens.search, otherNhs);
    tokens.gp = await h.clinicianFor(nhs);
    tokens.hospital = await h.token({ role: 'clinician', org: h.config.providerOrganisations.hospital, sub: 'dr-hosp' });
    tokens.stranger = await h.token({ role: 'clinician', org: 'B99999', sub: 'dr-stranger' });
    tokens.crew = await h.token({ role: 'ambulance-crew', org: 'RX9', sub: 'crew-1' });
    tokens.crewWithGrant = await h.token({ role: 'ambulance-crew', org: 'RX9', sub: 'crew-2' });
    tokens.analyst = await h.token({ role: 'analyst', org: 'X26', sub: 'analyst-1' });
    tokens.officer = await h.token({ role: 'privacy-officer', org: 'X26', sub: 'po-1' });
    tokens.patient = await h.token({ role: 'patient', nhs_number: nhs, sub: 'patient-1' });
    tokens.otherPatient = await h.token({ role: 'patient', nhs_number: otherNhs, sub: 'patient-2' });
    const grant = await post('/emergency-access', 'crewWithGrant', { patient: patientId, reason: 'life-threatening', note: 'Cardiac arrest at home, resuscitation in progress' }, 'application/json');
    expect(grant.status).to.equal(201);
  });
  after(async () => {
    await h?.close();
  });

  const app = () => h.service.app;
  const everything = (who: string) => get(app(), `/fhir/Patient/${patientId}/$everything?_count=1000`, tokens[who]!);
  const post = (path: string, who: string, body: unknown, type = 'application/fhir+json') =>
    request(app()).post(path).set('Authorization', `Bearer ${tokens[who]}`).set('content-type', type).send(JSON.stringify(body));
  const put = (path: string, who: string, body: unknown, etag?: string) => {
    const r = request(app()).put(path).set('Authorization', `Bearer ${tokens[who]}`).set('content-type', 'application/fhir+json');
    return (etag ? r.set('If-Match', etag) : r).send(JSON.stringify(body));
  };
  const auditFor = async () => {
    const r = await get(app(), `/audit?patient=${patientId}&_count=1000`, tokens.officer!);
    expect(r.status).to.equal(200);
    return matches(r.body) as AuditEvent[];
  };
  /** Replaces all of the patient's consents with one (by withdrawing the old ones). */
  const setConsent = async (provisions: ConsentProvision[] | null) => {
    const list = await get(app(), `/fhir/Consent?patient=Patient/${patientId}`, tokens.patient!);
    for (const e of matches(list.body) as Consent[]) {
      if (e.status !== 'active') continue;
      const r = await put(`/fhir/Consent/${e.id}`, 'patient', { ...e, status: 'inactive' }, `W/"${e.meta!.versionId}"`);
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
    }
    if (provisions) {
      const r = await post('/fhir/Consent', 'patient', consent(patientId, provisions));
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
    }
  };

  describe('authorisation matrix', () => {
    type Expect = { status: number; withheld?: boolean; hospitalData?: boolean; mentalHealth?: boolean };
    const all = (e: Expect, rest: Record<string, Expect> = {}): Record<string, Expect> => ({
      gp: e, hospital: e, stranger: { status: 403 }, crew: { status: 403 }, crewWithGrant: e,
      analyst: { status: 403 }, officer: { status: 403 }, patient: { status: 200, withheld: false, hospitalData: true, mentalHealth: true },
      otherPatient: { status: 403 }, ...rest,
    });
    const full: Expect = { status: 200, withheld: false, hospitalData: true, mentalHealth: true };
    const matrix: [string, ConsentProvision[] | null, Record<string, Expect>, boolean?][] = [
      ['no consent recorded', null, all(full)],
      // An emergency grant overrides ordinary refusals, so the crew in an emergency sees everything.
      ['hospital data withheld', [sourceDeny('hospital')], all({ status: 200, withheld: true, hospitalData: false, mentalHealth: true }, { crewWithGrant: full })],
      // …and the GP practice that recorded the mental-health entries still sees them (told, like everyone the
      // restriction applies to, that some data may be withheld: whether anything was is not revealed).
      ['mental health withheld (sensitive category)', [labelDeny('PSY')], all({ status: 200, withheld: true, hospitalData: true, mentalHealth: false }, { crewWithGrant: full, gp: { ...full, withheld: true } })],
      ['an expired provision', [sourceDeny('hospital', { period: { start: '2020-01-01', end: '2021-01-01' } })], all(full)],
      ['a withdrawn consent', [sourceDeny('hospital')], all(full), true],
      ['ambulance crews refused (emergency grant overrides)', [roleDeny('ambulance-crew')], all(full)],
      ['ambulance crews refused even in an emergency', [roleDeny('ambulance-crew', evenInEmergency)], all(full, { crewWithGrant: { status: 403 } })],
    ];
    for (const [state, provisions, rows, withdraw] of matrix) {
      for (const [who, want] of Object.entries(rows)) {
        it(`${state}: ${who} → ${want.status}${want.withheld ? ' with withheld warning' : ''}`, async () => {
          await setConsent(provisions);
          if (withdraw) await setConsent(null);
          const read = await get(app(), `/fhir/Patient/${patientId}`, tokens[who]!);
          expect(read.status, 'Patient read').to.equal(want.status);
          const before = (await auditFor()).length;
          const r = await everything(who);
          expect(r.status, JSON.stringify(r.body).slice(0, 300)).to.equal(want.status);
          if (want.status === 200) {
            const withheld = issueCodes(outcomes(r.body)[0]).includes('source-consent-withheld');
            expect(withheld, 'withheld warning').to.equal(want.withheld);
            expect(matches(r.body).some((x) => sourcesOf(x).length === 1 && sourcesOf(x)[0] === 'hospital'), 'hospital-only data').to.equal(want.hospitalData);
            expect(matches(r.body).some((x) => categoriesOf(x).has('mental-health')), 'mental-health data').to.equal(want.mentalHealth);
            if (provisions && !withdraw) expect((r.body as Bundle).total, 'no total on consent-filtered results').to.equal(undefined);
            expectValidFhir(r.body);
          } else {
            expect(r.body.resourceType).to.equal('OperationOutcome');
          }
          // Every access to this patient's data, permitted or denied, leaves an event with that outcome
          // (a patient asking for someone else's record is refused before any patient is involved).
          if (who !== 'otherPatient') {
            const fresh = (await auditFor()).slice(0, (await auditFor()).length - before);
            expect(fresh.map((e) => e.outcome), 'audit outcomes').to.include(want.status === 200 ? '0' : '4');
            if (want.withheld && !(want.hospitalData && want.mentalHealth)) expect(fresh.some((e) => e.outcome === '4' && /withheld/.test(e.outcomeDesc ?? '')), 'withholding audited').to.equal(true);
          }
        });
      }
    }
  });

  describe('emergency (break-glass) access', () => {
    it('lets an ambulance crew in for a limited time, overriding an ordinary refusal, and queues a review', async () => {
      await setConsent([roleDeny('ambulance-crew')]);
      expect((await everything('crew')).status).to.equal(403);
      const g = await post('/emergency-access', 'crew', { patient: patientId, reason: 'unconscious', note: 'Found unresponsive at home, no carer present' }, 'application/json');
      expect(g.status, JSON.stringify(g.body)).to.equal(201);
      expect(new Date(g.body.expiresAt).getTime() - Date.now()).to.be.within(59 * 60_000, 61 * 60_000);
      const r = await everything('crew');
      expect(r.status).to.equal(200);
      const alerts = await get(app(), '/review/alerts', tokens.officer!);
      const alert = alerts.body.alerts.find((a: { id: string }) => a.id === g.body.id);
      expect(alert.reviewStatus).to.equal('open');
      const reviewed = await request(app()).post(`/review/alerts/${g.body.id}`).set('Authorization', `Bearer ${tokens.officer}`).send({ outcome: 'appropriate', note: 'Unconscious patient, crew on scene.' });
      expect(reviewed.status).to.equal(200);
      expect(reviewed.body.reviewOutcome).to.equal('appropriate');
      const again = await request(app()).post(`/review/alerts/${g.body.id}`).set('Authorization', `Bearer ${tokens.officer}`).send({ outcome: 'appropriate' });
      expect(again.status).to.equal(409);
      const log = await get(app(), '/access-log', tokens.patient!);
      expect(log.status).to.equal(200);
      expect(JSON.stringify(log.body.entries)).to.include('emergency');
    });
    it('does not override a refusal marked "even in an emergency"', async () => {
      await setConsent([roleDeny('ambulance-crew', evenInEmergency)]);
      expect((await everything('crew')).status).to.equal(403);
    });
    it('is refused to roles other than crews and clinicians, and needs a coded reason', async () => {
      expect((await post('/emergency-access', 'analyst', { patient: patientId, reason: 'unconscious', note: 'curious about this one' }, 'application/json')).status).to.equal(403);
      expect((await post('/emergency-access', 'stranger', { patient: patientId, reason: 'bored', note: 'no reason at all' }, 'application/json')).status).to.equal(400);
    });
  });

  describe('consent API', () => {
    it('creates, reads, versions with ETag, and keeps every version in _history', async () => {
      await setConsent(null);
      const created = await post('/fhir/Consent', 'patient', consent(patientId, [sourceDeny('social-care')]));
      expect(created.status).to.equal(201);
      expect(created.headers.etag).to.equal('W/"1"');
      expectValidFhir(created.body);
      const id = created.body.id as string;
      const updated = await put(`/fhir/Consent/${id}`, 'patient', consent(patientId, [sourceDeny('hospital')]), 'W/"1"');
      expect(updated.status).to.equal(200);
      expect(updated.headers.etag).to.equal('W/"2"');
      const stale = await put(`/fhir/Consent/${id}`, 'patient', consent(patientId, []), 'W/"1"');
      expect(stale.status).to.equal(412);
      expect(issueCodes(stale.body)).to.include('version-conflict');
      expect((await put(`/fhir/Consent/${id}`, 'patient', consent(patientId, []))).status).to.equal(428);
      const hist = await get(app(), `/fhir/Consent/${id}/_history`, tokens.patient!);
      expect(hist.status).to.equal(200);
      expect((hist.body as Bundle).entry!.map((e) => e.resource!.meta!.versionId)).to.deep.equal(['2', '1']);
      expectValidFhir(hist.body);
    });
    it('two simultaneous updates with the same ETag: exactly one wins, the other gets 412', async () => {
      const created = await post('/fhir/Consent', 'patient', consent(patientId, [sourceDeny('social-care')]));
      const id = created.body.id as string;
      const [a, b] = await Promise.all([
        put(`/fhir/Consent/${id}`, 'patient', consent(patientId, [sourceDeny('hospital')]), 'W/"1"'),
        put(`/fhir/Consent/${id}`, 'patient', consent(patientId, [sourceDeny('gp')]), 'W/"1"'),
      ]);
      expect([a.status, b.status].sort()).to.deep.equal([200, 412]);
      const hist = await get(app(), `/fhir/Consent/${id}/_history`, tokens.patient!);
      expect((hist.body as Bundle).entry).to.have.length(2);
      const winner = a.status === 200 ? a : b;
      expect((hist.body as Bundle).entry![0]!.resource).to.deep.equal(winner.body);
    });
    it('rejects malformed and self-contradictory consents naming the element', async () => {
      const bad = await post('/fhir/Consent', 'patient', { ...consent(patientId, []), status: 'maybe' });
      expect(bad.status).to.equal(400);
      expect(bad.body.issue[0].expression[0]).to.match(/^Consent\.status/);
      const contradictory = await post('/fhir/Consent', 'patient', consent(patientId, [sourceDeny('gp', { period: { start: '2027-01-01', end: '2026-01-01' } })]));
      expect(contradictory.status).to.equal(422);
      expect(contradictory.body.issue[0].expression[0]).to.match(/period/);
    });
    it('isolates patients: another patient cannot read or change this consent, by id or by search', async () => {
      const created = await post('/fhir/Consent', 'patient', consent(patientId, []));
      const id = created.body.id as string;
      expect((await get(app(), `/fhir/Consent/${id}`, tokens.otherPatient!)).status).to.equal(403);
      expect((await get(app(), `/fhir/Consent?patient=Patient/${patientId}`, tokens.otherPatient!)).status).to.equal(403);
      expect((await put(`/fhir/Consent/${id}`, 'otherPatient', consent(patientId, []), 'W/"1"')).status).to.equal(403);
      expect((await post('/fhir/Consent', 'otherPatient', consent(patientId, []))).status).to.equal(403);
      expect((await post('/fhir/Consent', 'gp', consent(patientId, []))).status, 'staff do not write consent').to.equal(403);
      expect((await get(app(), `/fhir/Consent/${id}`, tokens.gp!)).status, 'staff with a relationship may read').to.equal(200);
      expect((await get(app(), `/fhir/Consent/${id}`, tokens.stranger!)).status).to.equal(403);
      expect((await get(app(), `/fhir/Patient/${patientId}/$everything?_count=5&_offset=5`, tokens.otherPatient!)).status, 'paging links').to.equal(403);
    });
    it('takes effect on the very next request', async () => {
      await setConsent(null);
      expect(issueCodes(outcomes((await everything('gp')).body)[0])).not.to.include('source-consent-withheld');
      await setConsent([sourceDeny('hospital')]);
      expect(issueCodes(outcomes((await everything('gp')).body)[0])).to.include('source-consent-withheld');
      await setConsent(null);
    });
  });

  describe('audit', () => {
    it('verifies the chain over HTTP and reports a row tampered with in the database', async () => {
      const ok = await get(app(), '/audit/verify', tokens.officer!);
      expect(ok.body.ok).to.equal(true);
      expect(ok.body.count).to.be.greaterThan(10);
      expect((await get(app(), '/audit/verify', tokens.gp!)).status).to.equal(403);
      await h.service.db.query('DROP RULE IF EXISTS audit_event_no_update ON audit_event');
      await h.service.db.query(`UPDATE audit_event SET decision = 'permit' WHERE seq = (SELECT min(seq) FROM audit_event WHERE decision = 'deny')`);
      const broken = await get(app(), '/audit/verify', tokens.officer!);
      expect(broken.body.ok).to.equal(false);
      expect(broken.body.firstBrokenSeq).to.be.a('number');
    });
    it('fails closed: when the audit write fails, no data is returned (503)', async () => {
      // The one write path of every audit event (immediate or deferred to a shared commit).
      const original = AuditLog.prototype.appendMany;
      AuditLog.prototype.appendMany = async () => {
        throw new Error('disk full');
      };
      try {
        const r = await everything('gp');
        expect(r.status).to.equal(503);
        expect(issueCodes(r.body)).to.include('audit-unavailable');
        expect(JSON.stringify(r.body)).not.to.include('"resourceType":"Condition"');
      } finally {
        AuditLog.prototype.appendMany = original;
      }
    });
    it('shows the patient who looked at their record, in plain words, and nothing of others', async () => {
      const log = await get(app(), '/access-log', tokens.patient!);
      const entries = log.body.entries as { who: string; what: string; why: string; decision: string }[];
      expect(entries.some((e) => e.decision === 'access was refused')).to.equal(true);
      expect(entries.some((e) => /clinician at organisation/.test(e.who) && /record/.test(e.what))).to.equal(true);
      expect((await get(app(), '/access-log', tokens.gp!)).status).to.equal(403);
      expect((await get(app(), '/audit', tokens.patient!)).status).to.equal(403);
    });
  });
});
