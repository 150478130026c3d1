import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nock from 'nock';
import request from 'supertest';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Bundle, Resource } from 'fhir/r4.js';
import { createTokenVerifier } from '../server/auth.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { openTestDb } from './helpers/test-db.js';

/** The source registry from configuration (issue 14): any number of sources, validated at start-up. */
const dir = mkdtempSync(join(tmpdir(), 'registry-'));
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
const JSON_TYPE = { 'content-type': 'application/fhir+json' };
const NHS = '9990000050';
const ODS = 'https://fhir.nhs.uk/Id/ods-organization-code';

const REGISTRY = `
sources:
  - id: gp-north
    kind: fhir
    displayName: GP system (north)
    organisations: [{ ods: B82001, type: gp-practice }, { ods: B82002, type: gp-practice }]
    baseUrl: http://gp-north.registry.test/fhir
  - id: gp-south
    kind: fhir
    displayName: GP system (south)
    organisations: [{ ods: C82001, type: gp-practice }]
    baseUrl: http://gp-south.registry.test/fhir
  - id: trust-a
    kind: fhir
    displayName: Trust A hospital system
    organisations: [{ ods: RAA, type: trust }]
    baseUrl: http://trust-a.registry.test/fhir
    deadlineMs: 800
  - id: trust-b
    kind: fhir
    displayName: Trust B hospital system
    organisations: [{ ods: RBB, type: trust }]
    baseUrl: http://trust-b.registry.test/fhir
  - id: council-x
    kind: social-care-api
    displayName: Council X social care
    organisations: [{ ods: E08000001, type: council }]
    baseUrl: http://council-x.registry.test
`;

describe('source registry from configuration', function () {
  this.timeout(60_000);

  it('a bad registry stops start-up with every problem naming the entry and field', () => {
    const bad = file('bad.yaml', `
sources:
  - id: gp-north
    kind: fhir
    displayName: GP
    organisations: [{ ods: B82001, type: gp-practice }]
    baseUrl: http://gp.test/fhir
  - id: trust-b
    kind: soap
    displayName: ""
    organisations: [{ ods: rbb, type: hospital }]
    baseUrl: ftp://x
    deadlineMs: 5
    auth: { type: smart-backend, tokenUrl: http://as.test/token, clientId: c, privateKeyFile: k.pem, keyId: k1, algorithm: HS256, scope: system/*.read }
  - id: gp-north
    kind: fhir
    displayName: dup
    organisations: [{ ods: B82003, type: gp-practice }]
    baseUrl: http://gp2.test/fhir
`);
    let error: unknown;
    try {
      loadConfig({ SOURCES_FILE: bad });
    } catch (e) {
      error = e;
    }
    expect(error).to.be.instanceOf(ConfigError);
    const text = (error as Error).message;
    for (const expected of [
      "sources[1] (trust-b).kind: must be 'fhir' or 'social-care-api'",
      'sources[1] (trust-b).displayName: is required',
      'sources[1] (trust-b).organisations[0].ods: must be an ODS code',
      "sources[1] (trust-b).organisations[0].type: must be 'gp-practice', 'trust' or 'council'",
      'sources[1] (trust-b).baseUrl: must be an http(s) URL',
      'sources[1] (trust-b).deadlineMs: must be an integer from 50 to 60000',
      "sources[1] (trust-b).auth.algorithm: must be 'ES384' or 'RS384'",
      'sources[2] (gp-north).id: is used by another source',
    ]) expect(text).to.include(expected);
    expect(() => loadConfig({ SOURCES_FILE: file('broken.json', '{"sources": [') })).to.throw(ConfigError, /SOURCES_FILE[\s\S]*not valid JSON/);
  });

  it('the simple three-variable form still gives the three sources', () => {
    const c = loadConfig({ GP_FHIR_URL: 'http://gp.test/fhir', HOSPITAL_FHIR_URL: 'http://h.test/fhir', SOCIAL_CARE_URL: 'http://sc.test' });
    expect(c.sourceRegistry.map((s) => `${s.id}:${s.category}`)).to.deep.equal(['gp:gp', 'hospital:hospital', 'social-care:social-care']);
  });

  describe('five sources through the HTTP interface (nock)', () => {
    let service: Service;
    let key: JWK;
    let id: string;

    before(async () => {
      nock.disableNetConnect();
      nock.enableNetConnect(/127\.0\.0\.1|localhost/);
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      key = await exportJWK(privateKey);
      service = await createService(loadConfig({ SOURCES_FILE: file('registry.yaml', REGISTRY), SOURCE_RETRIES: '0', VALIDATE_RESPONSES: 'true' }), createLogger('silent'), {
        db: await openTestDb(),
        verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }),
      });
    });
    after(async () => {
      nock.cleanAll();
      nock.enableNetConnect();
      await service?.close();
    });
    const get = async (path: string, org: string) =>
      request(service.app).get(path).set('Authorization', `Bearer ${await mintToken(key, 'k', { sub: `u-${org}`, role: 'clinician', org }, { issuer: 'iss', audience: 'aud' })}`);
    const capabilities = { resourceType: 'CapabilityStatement', status: 'active', date: '2026-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], rest: [{ mode: 'server', resource: [{ type: 'Patient', interaction: [{ code: 'search-type' }], operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] }] }] };
    const person = (pid: string, extra: object = {}) => ({ resourceType: 'Patient', id: pid, identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS }], name: [{ family: 'Reg', given: ['Ann'] }], birthDate: '1950-02-02', ...extra });
    const bundle = (rs: unknown[]) => ({ resourceType: 'Bundle', type: 'searchset', entry: rs.map((resource) => ({ resource })) });
    const allergy = (aid: string, code: string) => ({ resourceType: 'AllergyIntolerance', id: aid, patient: { reference: 'Patient/p' }, clinicalStatus: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical', code: 'active' }] }, code: { coding: [{ system: 'http://snomed.info/sct', code }] }, recordedDate: '2020-01-01' });

    const sources = (trustB: 'ok' | 'down') => {
      for (const host of ['gp-north', 'gp-south', 'trust-a', 'trust-b']) nock(`http://${host}.registry.test`).get('/fhir/metadata').reply(200, capabilities, JSON_TYPE).persist();
      nock('http://gp-north.registry.test').get('/fhir/Patient').query(true).reply(200, bundle([person('p', { generalPractitioner: [{ identifier: { system: ODS, value: 'B82002' } }] })]), JSON_TYPE).persist();
      nock('http://gp-north.registry.test').get('/fhir/Patient/p/$everything').query(true).reply(200, bundle([person('p'), allergy('a1', '91936005')]), JSON_TYPE).persist();
      nock('http://gp-south.registry.test').get('/fhir/Patient').query(true).reply(200, bundle([]), JSON_TYPE).persist();
      // Known to two trusts.
      nock('http://trust-a.registry.test').get('/fhir/Patient').query(true).reply(200, bundle([person('p')]), JSON_TYPE).persist();
      nock('http://trust-a.registry.test').get('/fhir/Patient/p/$everything').query(true).reply(200, bundle([person('p'), allergy('a2', '300916003')]), JSON_TYPE).persist();
      if (trustB === 'ok') {
        nock('http://trust-b.registry.test').get('/fhir/Patient').query(true).reply(200, bundle([person('p')]), JSON_TYPE).persist();
        nock('http://trust-b.registry.test').get('/fhir/Patient/p/$everything').query(true).reply(200, bundle([person('p'), allergy('a3', '418689008')]), JSON_TYPE).persist();
      } else nock('http://trust-b.registry.test').get(/.*/).reply(502, 'down').persist();
      nock('http://council-x.registry.test').get('/api/v1/people').query(true).reply(200, { people: [] }, { 'content-type': 'application/json' }).persist();
    };

    it('merges the record from every source holding the patient; each entry carries its own source and recorder', async () => {
      sources('ok');
      const found = await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${NHS}`, 'B82002');
      expect(found.status).to.equal(200);
      id = (found.body as Bundle).entry![0]!.resource!.id!;
      const r = await get(`/fhir/Patient/${id}/$everything`, 'B82002');
      expect(r.status).to.equal(200);
      expectValidFhir(r.body);
      const allergies = (r.body as Bundle).entry!.map((e) => e.resource as Resource).filter((x) => x.resourceType === 'AllergyIntolerance');
      expect(allergies.map((a) => [a.id, a.meta?.source, a.meta?.tag?.find((t) => t.system === ODS)?.code])).to.have.deep.members([
        ['gp-north-a1', 'http://gp-north.registry.test/fhir', 'B82002'],
        ['trust-a-a2', 'http://trust-a.registry.test/fhir', 'RAA'],
        ['trust-b-a3', 'http://trust-b.registry.test/fhir', 'RBB'],
      ]);
      expect(r.headers['x-incomplete-sources']).to.equal(undefined);
    });

    it('a trust holding the patient gives its staff a relationship; a trust or practice that does not, does not', async () => {
      expect((await get(`/fhir/Patient/${id}/$everything`, 'RBB')).status).to.equal(200);
      expect((await get(`/fhir/Patient/${id}/$everything`, 'B82001')).status).to.equal(403); // another practice of the same GP system
      expect((await get(`/fhir/Patient/${id}/$everything`, 'E08000001')).status).to.equal(403); // the council holds no record
    });

    it('one trust down: named by its registry id in X-Incomplete-Sources and by its display name in the warning', async () => {
      nock.cleanAll();
      sources('down');
      const r = await get(`/fhir/Patient/${id}/$everything`, 'B82002');
      expect(r.status).to.equal(200);
      expect(r.headers['x-incomplete-sources']).to.equal('trust-b');
      expect(JSON.stringify(r.body)).to.include('Trust B hospital system could not be queried');
      expect(r.body.total).to.equal(undefined);
    });

    it('the CapabilityStatement names every source of the registry', async () => {
      const r = await request(service.app).get('/fhir/metadata');
      expect(r.body.implementation.description).to.include('GP system (north); GP system (south); Trust A hospital system; Trust B hospital system; Council X social care');
    });

    it('readyz reports every source of the registry', async () => {
      const r = await request(service.app).get('/readyz');
      const names = JSON.stringify(r.body);
      for (const s of ['gp-north', 'gp-south', 'trust-a', 'trust-b', 'council-x']) expect(names).to.include(s);
    });
  });
});
