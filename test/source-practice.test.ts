import { expect } from 'chai';
import nock from 'nock';
import request from 'supertest';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createTokenVerifier } from '../server/auth.js';
import { loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { openTestDb } from './helpers/test-db.js';

/**
 * The registered practice when the GP's Patient names it only by a reference (issue 14), and a Patient
 * read that asks every source that may hold the patient.
 */
const GP = 'http://gp.practice.test';
const HOSP = 'http://hospital.practice.test';
const SC = 'http://socialcare.practice.test';
const NHS_NUMBER = '9990000034';
const JSON_TYPE = { 'content-type': 'application/fhir+json' };
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';

const capabilities = {
  resourceType: 'CapabilityStatement', status: 'active', date: '2026-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'],
  rest: [{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: 'identifier', type: 'token' }], operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] }] }],
};
const patient = (generalPractitioner: unknown[]) => ({
  resourceType: 'Patient', id: 'g1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS_NUMBER }],
  name: [{ family: 'Test', given: ['Ann'] }], birthDate: '1940-01-01', generalPractitioner,
});
const searchset = (resources: unknown[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: resources.map((resource) => ({ resource })) });

describe('registered practice by reference, and Patient read across sources (nock, HTTP interface)', function () {
  this.timeout(60_000);
  let service: Service;
  let key: JWK;

  before(async () => {
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = await exportJWK(privateKey);
    service = await createService(
      loadConfig({ GP_FHIR_URL: `${GP}/fhir`, HOSPITAL_FHIR_URL: `${HOSP}/fhir`, SOCIAL_CARE_URL: SC, SOURCE_DEADLINE_MS: '500', SOURCE_RETRIES: '0', VALIDATE_RESPONSES: 'true' }),
      createLogger('silent'),
      { db: await openTestDb(), verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }) },
    );
  });
  beforeEach(() => {
    nock(GP).get('/fhir/metadata').reply(200, capabilities, JSON_TYPE).persist();
    nock(SC).get('/api/v1/people').query(true).reply(200, { people: [] }, { 'content-type': 'application/json' }).persist();
  });
  afterEach(() => nock.cleanAll());
  after(async () => {
    nock.enableNetConnect();
    await service?.close();
  });

  const tokenFor = (org: string) => mintToken(key, 'k', { sub: `u-${org}`, role: 'clinician', org }, { issuer: 'iss', audience: 'aud' });
  const get = async (path: string, org: string) => request(service.app).get(path).set('Authorization', `Bearer ${await tokenFor(org)}`);

  it('a practice named only by Organization reference is resolved from the GP system (once, cached) and grants its clinicians access', async () => {
    nock(HOSP).get('/fhir/Patient').query(true).reply(200, searchset([]), JSON_TYPE).persist();
    nock(GP).get('/fhir/Patient').query(true).reply(200, searchset([patient([{ reference: 'Organization/org-7' }])]), JSON_TYPE).persist();
    const org = nock(GP).get('/fhir/Organization/org-7').once().reply(200, { resourceType: 'Organization', id: 'org-7', identifier: [{ system: ODS, value: 'B82005' }], name: 'Practice' }, JSON_TYPE);
    nock(GP).get('/fhir/Patient/g1/$everything').query(true).reply(200, searchset([patient([{ reference: 'Organization/org-7' }])]), JSON_TYPE).persist();

    const found = await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${NHS_NUMBER}`, 'B82005');
    expect(found.status).to.equal(200);
    const id = found.body.entry[0].resource.id as string;
    expect(org.isDone()).to.equal(true);
    const own = await get(`/fhir/Patient/${id}/$everything`, 'B82005');
    expect(own.status).to.equal(200);
    expectValidFhir(own.body);
    const other = await get(`/fhir/Patient/${id}/$everything`, 'Y99999');
    expect(other.status).to.equal(403);
    // Searched again: the Organization is not read again (nock would fail an unexpected second read).
    expect((await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${NHS_NUMBER}`, 'B82005')).status).to.equal(200);
  });

  it('a practice named by generalPractitioner.identifier alone counts too', async () => {
    nock(HOSP).get('/fhir/Patient').query(true).reply(200, searchset([]), JSON_TYPE).persist();
    const p = { ...patient([{ identifier: { system: ODS, value: 'C81010' } }]), id: 'g2', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: '9990000042' }] };
    nock(GP).get('/fhir/Patient').query(true).reply(200, searchset([p]), JSON_TYPE).persist();
    nock(GP).get('/fhir/Patient/g2/$everything').query(true).reply(200, searchset([p]), JSON_TYPE);
    const found = await get('/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|9990000042', 'C81010');
    const r = await get(`/fhir/Patient/${found.body.entry[0].resource.id}/$everything`, 'C81010');
    expect(r.status).to.equal(200);
  });

  it('Patient read asks the sources with no link yet: a hospital outage is reported, not hidden behind a plain 200', async () => {
    nock(HOSP).get('/fhir/Patient').query(true).once().reply(200, searchset([]), JSON_TYPE);
    nock(GP).get('/fhir/Patient').query(true).reply(200, searchset([patient([{ identifier: { system: ODS, value: 'B82005' } }])]), JSON_TYPE);
    const found = await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${NHS_NUMBER}`, 'B82005');
    const id = found.body.entry[0].resource.id as string;

    nock(GP).get('/fhir/Patient/g1').reply(200, patient([{ identifier: { system: ODS, value: 'B82005' } }]), JSON_TYPE);
    nock(HOSP).get('/fhir/Patient').query(true).reply(502, 'bad gateway');
    const r = await get(`/fhir/Patient/${id}`, 'B82005');
    expect(r.status).to.equal(200);
    expect(r.body.resourceType).to.equal('Patient');
    expect(r.headers['x-incomplete-sources']).to.equal('hospital');
  });
});
