import { expect } from 'chai';
import nock from 'nock';
import request from 'supertest';
import { exportJWK, generateKeyPair } from 'jose';
import type { Bundle, Resource } from 'fhir/r4.js';
import { createTokenVerifier } from '../server/auth.js';
import { loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { PatientIndex } from '../store/patient-index.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { issueCodes, matches, outcomes } from './helpers/fhir-http.js';
import { openTestDb } from './helpers/test-db.js';

/**
 * Paging and bad answers from a FHIR source, through the service's HTTP interface (issue 14): every
 * `next` link followed (same origin only), a cap per source per request, and every malformed, wrongly
 * typed, redirected or oversized answer reported as `source-invalid-response` naming the source.
 */
const GP = 'http://gp.paging.test';
const HOSP = 'http://hospital.paging.test';
const SC = 'http://socialcare.paging.test';
const NHS_NUMBER = '9990000026';
const JSON_TYPE = { 'content-type': 'application/fhir+json' };

const patient = { resourceType: 'Patient', id: 'g1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS_NUMBER }], name: [{ family: 'Test', given: ['Ann'] }], birthDate: '1940-01-01' };
const observation = (i: number) => ({
  resourceType: 'Observation', id: `o${i}`, status: 'final', code: { coding: [{ system: 'http://loinc.org', code: '8867-4' }] },
  subject: { reference: 'Patient/g1' }, effectiveDateTime: `2020-01-${String(i + 1).padStart(2, '0')}`, valueQuantity: { value: 60 + i, unit: '/min' },
});
const capabilities = (everything: boolean) => ({
  resourceType: 'CapabilityStatement', status: 'active', date: '2026-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'],
  rest: [{ mode: 'server', resource: [
    { type: 'Patient', interaction: [{ code: 'read' }, { code: 'search-type' }], searchParam: [{ name: 'identifier', type: 'token' }], ...(everything ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] } : {}) },
    { type: 'Observation', interaction: [{ code: 'search-type' }], searchParam: [{ name: 'patient', type: 'reference' }, { name: 'code', type: 'token' }] },
  ] }],
});
/** A searchset page; `next`: the URL of the following page. */
const page = (entries: unknown[], next?: string, type = 'searchset') => ({
  resourceType: 'Bundle', type, ...(next ? { link: [{ relation: 'next', url: next }] } : {}), entry: entries,
});
const wrap = (r: unknown) => ({ resource: r });
const observations = (n: number, from = 0) => Array.from({ length: n }, (_, i) => wrap(observation(from + i)));

describe('source paging and bad answers (nock, HTTP interface)', function () {
  this.timeout(60_000);
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
      SOURCE_DEADLINE_MS: '500',
      SOURCE_RETRIES: '0',
      CIRCUIT_FAILURE_THRESHOLD: '50',
      SOURCE_PAGE_SIZE: '2',
      SOURCE_MAX_PAGES: '3',
      SOURCE_MAX_BODY_BYTES: '20000',
      VALIDATE_RESPONSES: 'true',
    });
    service = await createService(config, createLogger('silent'), {
      db,
      verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }),
    });
    token = await mintToken(await exportJWK(privateKey), 'k', { sub: 'u', role: 'clinician', org: 'A81001' }, { issuer: 'iss', audience: 'aud' });
    id = await new PatientIndex(db).link(NHS_NUMBER, [{ source: 'gp', sourcePatientId: 'g1', matchMethod: 'nhs-number' }], 'A81001');
  });
  beforeEach(() => {
    nock(HOSP).get('/fhir/Patient').query(true).reply(200, page([]), JSON_TYPE).persist();
    nock(HOSP).get('/fhir/metadata').reply(200, capabilities(true), JSON_TYPE).persist();
    nock(SC).get('/api/v1/people').query(true).reply(200, { people: [] }, { 'content-type': 'application/json' }).persist();
    nock(GP).get('/fhir/metadata').reply(200, capabilities(true), JSON_TYPE).persist();
  });
  afterEach(() => nock.cleanAll());
  after(async () => {
    nock.enableNetConnect();
    await service?.close();
  });

  const get = (path: string) => request(service.app).get(path).set('Authorization', `Bearer ${token}`);
  const everything = () => get(`/fhir/Patient/${id}/$everything`);
  /** The GP's $everything, page `n` (1-based) answered by `reply`. */
  const gpPage = (n: number) =>
    nock(GP).get('/fhir/Patient/g1/$everything').query((q) => String(q._offset ?? '0') === String((n - 1) * 2));
  const nextUrl = (n: number) => `${GP}/fhir/Patient/g1/$everything?_count=2&_offset=${(n - 1) * 2}`;
  const ids = (body: Bundle) => matches(body).map((r: Resource) => `${r.resourceType}/${r.id}`);

  it('$everything follows next links to the last page, asking for the configured page size; total given', async () => {
    let asked: string | undefined;
    nock(GP).get('/fhir/Patient/g1/$everything').query((q) => ((asked = String(q._count)), !q._offset)).reply(200, page([wrap(patient), ...observations(1)], nextUrl(2)), JSON_TYPE);
    gpPage(2).reply(200, page(observations(2, 1), nextUrl(3)), JSON_TYPE);
    gpPage(3).reply(200, page(observations(2, 3)), JSON_TYPE);
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(asked).to.equal('2');
    expect(ids(r.body).filter((x) => x.startsWith('Observation'))).to.have.length(5);
    expect(outcomes(r.body)).to.have.length(0);
    expect(r.body.total).to.equal(6);
    expect(r.headers['x-incomplete-sources']).to.equal(undefined);
    expectValidFhir(r.body);
  });

  it('the page cap cuts the GP record with a truncation warning, X-Incomplete-Sources and no total', async () => {
    gpPage(1).reply(200, page([wrap(patient), ...observations(1)], nextUrl(2)), JSON_TYPE);
    gpPage(2).reply(200, page(observations(2, 1), nextUrl(3)), JSON_TYPE);
    gpPage(3).reply(200, page(observations(2, 3), nextUrl(4)), JSON_TYPE);
    const fourth = gpPage(4).reply(200, page(observations(2, 5)), JSON_TYPE);
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(fourth.isDone()).to.equal(false);
    expect(ids(r.body).filter((x) => x.startsWith('Observation'))).to.have.length(5);
    expect(issueCodes(outcomes(r.body)[0])).to.deep.equal(['source-truncated']);
    expect(outcomes(r.body)[0]!.issue[0]!.diagnostics).to.include('GP practice system');
    expect(r.headers['x-incomplete-sources']).to.equal('gp');
    expect(r.body.total).to.equal(undefined);
    expectValidFhir(r.body);
  });

  it('a next link to another origin is not followed: what arrived is shown, with an invalid-response warning', async () => {
    const elsewhere = nock('http://elsewhere.test').get(/.*/).reply(200, page(observations(2, 10)), JSON_TYPE);
    gpPage(1).reply(200, page([wrap(patient), ...observations(1)], 'http://elsewhere.test/fhir/Patient/g1/$everything?page=2'), JSON_TYPE);
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(elsewhere.isDone()).to.equal(false);
    expect(ids(r.body)).to.include(`Observation/gp-o0`);
    expect(issueCodes(outcomes(r.body)[0])).to.deep.equal(['source-invalid-response']);
    expect(r.headers['x-incomplete-sources']).to.equal('gp');
    expect(r.body.total).to.equal(undefined);
  });

  it('malformed entries ([1, "x", null, {}], entries without a resource) are reported; the valid entries are still shown', async () => {
    gpPage(1).reply(200, page([1, 'x', null, {}, { fullUrl: 'urn:x' }, { resource: { id: 'no-type' } }, wrap(patient), ...observations(2)]), JSON_TYPE);
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(ids(r.body)).to.include.members(['Observation/gp-o0', 'Observation/gp-o1']);
    const [oo] = outcomes(r.body);
    expect(issueCodes(oo)).to.deep.equal(['source-invalid-response']);
    expect(oo!.issue[0]!.diagnostics).to.match(/GP practice system: 6 entries/);
    expect(r.headers['x-incomplete-sources']).to.equal('gp');
    expectValidFhir(r.body);
  });

  it('a Bundle of the wrong type (transaction) is an invalid answer naming the GP', async () => {
    gpPage(1).reply(200, page([wrap(patient)], undefined, 'transaction'), JSON_TYPE);
    const r = await everything();
    expect(r.status).to.equal(503);
    expect(issueCodes(r.body)).to.include('source-invalid-response');
    expect(JSON.stringify(r.body)).to.include('GP practice system');
  });

  it('a redirect to another host is not followed; a redirect within the source is', async () => {
    const elsewhere = nock('http://elsewhere.test').get(/.*/).reply(200, page([]), JSON_TYPE);
    gpPage(1).reply(307, '', { location: 'http://elsewhere.test/fhir/Patient/g1/$everything' });
    const r = await everything();
    expect(r.status).to.equal(503);
    expect(elsewhere.isDone()).to.equal(false);
    expect(JSON.stringify(r.body)).to.include('redirected to another server');

    gpPage(1).reply(307, '', { location: `${GP}/fhir/moved/everything` });
    nock(GP).get('/fhir/moved/everything').reply(200, page([wrap(patient), ...observations(1)]), JSON_TYPE);
    const ok = await everything();
    expect(ok.status).to.equal(200);
    expect(ids(ok.body)).to.include('Observation/gp-o0');
    expect(outcomes(ok.body)).to.have.length(0);
  });

  it('a body over the size cap is cut and reported, never buffered whole', async () => {
    const big = page([wrap(patient), ...Array.from({ length: 200 }, (_, i) => wrap(observation(i)))]);
    gpPage(1).reply(200, JSON.stringify(big), { 'content-type': 'application/fhir+json', 'transfer-encoding': 'chunked' });
    const r = await everything();
    expect(r.status).to.equal(503);
    expect(JSON.stringify(r.body)).to.include('larger than 20000 bytes');
  });

  it('the deadline covers the whole body: a body that trickles in past it is a timeout', async () => {
    gpPage(1).delayBody(1500).reply(200, page([wrap(patient)]), JSON_TYPE);
    const started = Date.now();
    const r = await everything();
    expect(Date.now() - started).to.be.below(1400);
    expect(r.status).to.equal(503);
    expect(issueCodes(r.body)).to.include('source-timeout');
  });

  it('type search follows next links; resources of another type are reported and dropped', async () => {
    const url = (offset: number) => `${GP}/fhir/Observation?patient=g1&_count=2&_offset=${offset}`;
    nock(GP).get('/fhir/Observation').query((q) => !q._offset).reply(200, page(observations(2), url(2)), JSON_TYPE);
    nock(GP).get('/fhir/Observation').query((q) => q._offset === '2').reply(200, page([...observations(1, 2), wrap({ resourceType: 'Condition', id: 'c1', subject: { reference: 'Patient/g1' } })]), JSON_TYPE);
    const r = await get(`/fhir/Observation?patient=${id}`);
    expect(r.status).to.equal(200);
    expect(ids(r.body)).to.have.members(['Observation/gp-o0', 'Observation/gp-o1', 'Observation/gp-o2']);
    expect(issueCodes(outcomes(r.body)[0])).to.deep.equal(['source-invalid-response']);
    expect(outcomes(r.body)[0]!.issue[0]!.diagnostics).to.include('types not asked for (Condition)');
    expect(r.headers['x-incomplete-sources']).to.equal('gp');
    expect(r.body.total).to.equal(undefined);
    expectValidFhir(r.body);
  });

  it('type search recovers with the GP’s next good answer after repeated wrong-type answers', async () => {
    for (let i = 0; i < 6; i++) {
      nock(GP).get('/fhir/Observation').query(true).reply(200, { resourceType: 'Patient', id: 'x' }, JSON_TYPE);
      const bad = await get(`/fhir/Observation?patient=${id}`);
      expect(issueCodes(bad.body)).to.include('source-invalid-response');
    }
    nock(GP).get('/fhir/Observation').query(true).reply(200, page(observations(2)), JSON_TYPE);
    const r = await get(`/fhir/Observation?patient=${id}`);
    expect(r.status).to.equal(200);
    expect(ids(r.body)).to.have.members(['Observation/gp-o0', 'Observation/gp-o1']);
    expect(outcomes(r.body)).to.have.length(0);
  });

  it('a GP without $everything is asked one paged search per type it declares, in parallel', async () => {
    nock.cleanAll();
    nock(HOSP).get('/fhir/Patient').query(true).reply(200, page([]), JSON_TYPE).persist();
    nock(SC).get('/api/v1/people').query(true).reply(200, { people: [] }, { 'content-type': 'application/json' }).persist();
    // A fresh service would read the statement again; here the cached one is replaced once its TTL passes.
    const fresh = await freshCapabilities(false);
    nock(GP).get('/fhir/Patient/g1').reply(200, patient, JSON_TYPE);
    const url = `${GP}/fhir/Observation?patient=g1&_count=2&_offset=2`;
    nock(GP).get('/fhir/Observation').query((q) => !q._offset).reply(200, page(observations(2), url), JSON_TYPE);
    nock(GP).get('/fhir/Observation').query((q) => q._offset === '2').reply(200, page(observations(1, 2)), JSON_TYPE);
    const everythingAsked = nock(GP).get('/fhir/Patient/g1/$everything').query(true).reply(200, page([]), JSON_TYPE);
    const r = await fresh.get(`/fhir/Patient/${fresh.id}/$everything`);
    expect(r.status).to.equal(200);
    expect(everythingAsked.isDone()).to.equal(false);
    expect(ids(r.body).filter((x) => x.startsWith('Observation'))).to.have.length(3);
    expect(outcomes(r.body)).to.have.length(0);
    await fresh.close();
  });

  /** A second service (fresh capability cache) whose GP declares `everything` or not. */
  async function freshCapabilities(everythingDeclared: boolean) {
    nock(GP).get('/fhir/metadata').reply(200, capabilities(everythingDeclared), JSON_TYPE).persist();
    const db = await openTestDb();
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const svc = await createService(
      loadConfig({ GP_FHIR_URL: `${GP}/fhir`, HOSPITAL_FHIR_URL: `${HOSP}/fhir`, SOCIAL_CARE_URL: SC, SOURCE_PAGE_SIZE: '2', SOURCE_RETRIES: '0', VALIDATE_RESPONSES: 'true' }),
      createLogger('silent'),
      { db, verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }) },
    );
    const t = await mintToken(await exportJWK(privateKey), 'k', { sub: 'u', role: 'clinician', org: 'A81001' }, { issuer: 'iss', audience: 'aud' });
    const pid = await new PatientIndex(db).link(NHS_NUMBER, [{ source: 'gp', sourcePatientId: 'g1', matchMethod: 'nhs-number' }], 'A81001');
    return { id: pid, get: (path: string) => request(svc.app).get(path).set('Authorization', `Bearer ${t}`), close: () => svc.close() };
  }
});
