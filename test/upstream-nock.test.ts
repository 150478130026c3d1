import { expect } from 'chai';
import nock from 'nock';
import request from 'supertest';
import { exportJWK, generateKeyPair } from 'jose';
import { createTokenVerifier } from '../server/auth.js';
import { loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { PatientIndex } from '../store/patient-index.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { issueCodes, matches, outcomes } from './helpers/fhir-http.js';
import { openTestDb } from './helpers/test-db.js';

const GP = 'http://gp.upstream.test';
const HOSP = 'http://hospital.upstream.test';
const SC = 'http://socialcare.upstream.test';
const NHS_NUMBER = '9990000026';

const gpRecord = {
  resourceType: 'Bundle',
  type: 'searchset',
  entry: [
    { resource: { resourceType: 'Patient', id: 'g1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS_NUMBER }], name: [{ family: 'Test', given: ['Ann'] }], birthDate: '1940-01-01' } },
    { resource: { resourceType: 'AllergyIntolerance', id: 'a1', patient: { reference: 'Patient/g1' }, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] }, code: { coding: [{ system: 'http://snomed.info/sct', code: '91936005' }] } } },
  ],
};
const emptyBundle = { resourceType: 'Bundle', type: 'searchset', entry: [] };
/** A GP declaring Patient/$everything and searches by patient (as the sandbox and HAPI do). */
const gpCapabilities = {
  resourceType: 'CapabilityStatement', status: 'active', date: '2026-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'],
  rest: [{ mode: 'server', resource: [
    { type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: 'identifier', type: 'token' }], operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] },
    { type: 'AllergyIntolerance', interaction: [{ code: 'search-type' }], searchParam: [{ name: 'patient', type: 'reference' }] },
  ] }],
};

describe('upstream faults injected with nock (HTTP interface)', function () {
  this.timeout(30_000);
  let service: Service;
  let token: string;
  let id: string;

  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    const db = await openTestDb();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const config = loadConfig({
      GP_FHIR_URL: `${GP}/fhir`,
      HOSPITAL_FHIR_URL: `${HOSP}/fhir`,
      SOCIAL_CARE_URL: SC,
      SOURCE_DEADLINE_MS: '600',
      SOURCE_RETRIES: '1',
      CIRCUIT_FAILURE_THRESHOLD: '50',
      VALIDATE_RESPONSES: 'true',
    });
    service = await createService(config, createLogger('silent'), {
      db,
      verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }),
    });
    token = await mintToken(await exportJWK(privateKey), 'k', { sub: 'u', role: 'clinician', org: 'A81001' }, { issuer: 'iss', audience: 'aud' });
    // The clinician's organisation is the registered practice: a legitimate relationship.
    id = await new PatientIndex(db).link(NHS_NUMBER, [{ source: 'gp', sourcePatientId: 'g1', matchMethod: 'nhs-number' }], 'A81001');
  });
  beforeEach(() => {
    // The hospital and social care know nobody with this NHS number.
    nock(HOSP).get('/fhir/Patient').query(true).reply(200, emptyBundle, { 'content-type': 'application/fhir+json' });
    nock(SC).get('/api/v1/people').query(true).reply(200, { people: [] }, { 'content-type': 'application/json' });
    nock(GP).get('/fhir/metadata').reply(200, gpCapabilities, { 'content-type': 'application/fhir+json' }).persist();
  });
  afterEach(() => nock.cleanAll());
  after(async () => {
    nock.enableNetConnect();
    await service?.close();
  });

  const everything = () => request(service.app).get(`/fhir/Patient/${id}/$everything`).set('Authorization', `Bearer ${token}`);
  const gp = () => nock(GP).get('/fhir/Patient/g1/$everything').query(true);

  it('serves the GP record when every source answers', async () => {
    gp().reply(200, gpRecord, { 'content-type': 'application/fhir+json' });
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(matches(r.body).map((x) => x.resourceType)).to.deep.equal(['Patient', 'AllergyIntolerance']);
    expect(outcomes(r.body)).to.have.length(0);
    expectValidFhir(r.body);
  });

  it('$everything?_type asks the GP for those types only, and drops other types a source sends anyway', async () => {
    const withExtra = { ...gpRecord, entry: [...gpRecord.entry, { resource: { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/g1' } } }] };
    let asked: string | undefined;
    nock(GP)
      .get('/fhir/Patient/g1/$everything')
      .query((q) => ((asked = String(q._type)), true))
      .reply(200, withExtra, { 'content-type': 'application/fhir+json' }); // a source that ignores _type
    const r = await request(service.app).get(`/fhir/Patient/${id}/$everything?_type=Patient,AllergyIntolerance`).set('Authorization', `Bearer ${token}`);
    expect(r.status).to.equal(200);
    expect(asked).to.equal('Patient,AllergyIntolerance');
    expect(matches(r.body).map((x) => x.resourceType)).to.deep.equal(['Patient', 'AllergyIntolerance']);
    expectValidFhir(r.body);
  });

  it('$summary asks the GP only for the types a summary is built from', async () => {
    let asked: string[] = [];
    nock(GP)
      .get('/fhir/Patient/g1/$everything')
      .query((q) => ((asked = String(q._type).split(',')), true))
      .reply(200, gpRecord, { 'content-type': 'application/fhir+json' });
    const r = await request(service.app).get(`/fhir/Patient/${id}/$summary`).set('Authorization', `Bearer ${token}`);
    expect(r.status).to.equal(200);
    expect(asked).to.include.members(['Patient', 'Condition', 'AllergyIntolerance', 'MedicationRequest', 'Observation', 'Flag', 'Consent', 'Medication']);
    expect(asked).not.to.include('Encounter');
    expect(asked).not.to.include('Claim');
    const allergy = (r.body as { entry: { resource: { resourceType: string } }[] }).entry.filter((e) => e.resource.resourceType === 'AllergyIntolerance');
    expect(allergy).to.have.length(1);
    expectValidFhir(r.body);
  });

  it('GP slower than its deadline → only a timeout warning, answered within the deadline', async () => {
    gp().delay(2000).reply(200, gpRecord).persist();
    const started = Date.now();
    const r = await everything();
    expect(Date.now() - started).to.be.below(1000);
    expect(r.status).to.equal(503); // the only source holding the record failed: nothing to show
    expect(issueCodes(r.body)).to.include('source-timeout');
  });

  it('retries an idempotent GET once after a 503, then succeeds without a warning', async () => {
    const scope = gp().reply(503, 'busy').get('/fhir/Patient/g1/$everything').query(true).reply(200, gpRecord, { 'content-type': 'application/fhir+json' });
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(outcomes(r.body)).to.have.length(0);
    expect(scope.isDone()).to.equal(true);
  });

  const bad: [string, () => nock.Scope][] = [
    ['500 twice', () => gp().times(2).reply(500, { resourceType: 'OperationOutcome', issue: [] })],
    ['HTML', () => gp().reply(200, '<html><body>Maintenance</body></html>', { 'content-type': 'text/html' })],
    ['truncated JSON', () => gp().reply(200, JSON.stringify(gpRecord).slice(0, 60), { 'content-type': 'application/fhir+json' })],
    ['a resource of the wrong type', () => gp().reply(200, { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational' }] })],
    ['a dropped connection', () => gp().replyWithError({ code: 'ECONNRESET', message: 'socket hang up' })],
  ];
  for (const [what, setup] of bad) {
    it(`GP answering with ${what} → 503 OperationOutcome naming the GP system, no stack trace`, async () => {
      setup();
      const r = await everything();
      expect(r.status).to.equal(503);
      expect(r.body.resourceType).to.equal('OperationOutcome');
      const text = JSON.stringify(r.body);
      expect(text).to.include('GP practice system could not be queried');
      expect(text).not.to.match(/at .*\.ts:\d+/);
      expect(text).not.to.include(NHS_NUMBER);
    });
  }

  it('a hospital failure next to a working GP gives a partial Bundle with a warning', async () => {
    nock.cleanAll();
    nock(GP).get('/fhir/metadata').reply(200, gpCapabilities, { 'content-type': 'application/fhir+json' }).persist();
    gp().reply(200, gpRecord, { 'content-type': 'application/fhir+json' });
    nock(HOSP).get('/fhir/Patient').query(true).times(2).reply(502, 'bad gateway');
    nock(SC).get('/api/v1/people').query(true).reply(200, { people: [] }, { 'content-type': 'application/json' });
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(issueCodes(outcomes(r.body)[0])).to.deep.equal(['source-error']);
    expect(outcomes(r.body)[0]!.issue[0]!.diagnostics).to.include('Hospital system');
    expect(matches(r.body)).to.have.length(2);
  });
});
