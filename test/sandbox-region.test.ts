import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Bundle, Resource } from 'fhir/r4.js';
import { createTokenVerifier } from '../server/auth.js';
import { loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { startRegion, type Region } from '../scripts/sandbox/region.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { openTestDb } from './helpers/test-db.js';

/** A sandbox region of 3 GP systems, 2 trusts and 2 councils, federated from a registry file (issue 14). */
describe('sandbox region: N sources of each kind through the service', function () {
  this.timeout(120_000);
  let region: Region;
  let service: Service;
  let key: JWK;

  before(async () => {
    region = await startRegion({ gp: 3, hospital: 2, socialCare: 2, generate: { count: 40, seed: 5 } });
    const dir = mkdtempSync(join(tmpdir(), 'region-'));
    writeFileSync(join(dir, 'sources.json'), JSON.stringify(region.registry()));
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = await exportJWK(privateKey);
    service = await createService(loadConfig({ SOURCES_FILE: join(dir, 'sources.json'), SOURCE_RETRIES: '0', CIRCUIT_FAILURE_THRESHOLD: '50', VALIDATE_RESPONSES: 'true' }), createLogger('silent'), {
      db: await openTestDb(),
      verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }),
    });
  });
  after(async () => {
    await service?.close();
    await region?.close();
  });
  const get = async (path: string, org: string) =>
    request(service.app).get(path).set('Authorization', `Bearer ${await mintToken(key, 'k', { sub: `u-${org}`, role: 'clinician', org }, { issuer: 'iss', audience: 'aud' })}`);

  it('a patient known to two trusts: both trusts’ records in one $everything; one trust failing is named', async () => {
    expect(region.sources.map((s) => s.id)).to.deep.equal(['gp-1', 'gp-2', 'gp-3', 'trust-1', 'trust-2', 'council-1', 'council-2']);
    const [nhs, where] = [...region.placement].find(([, p]) => p.hospitals.length === 2)!;
    const trust = region.sources.find((s) => s.id === where.hospitals[0])!;
    const org = trust.organisations[0]!.ods;
    const found = await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`, org);
    expect(found.status).to.equal(200);
    const id = (found.body as Bundle).entry![0]!.resource!.id!;
    const r = await get(`/fhir/Patient/${id}/$everything?_count=1000`, org);
    expect(r.status).to.equal(200);
    expect(r.headers['x-incomplete-sources']).to.equal(undefined);
    expectValidFhir(r.body);
    const origins = new Set((r.body as Bundle).entry!.map((e) => (e.resource as Resource).meta?.source).filter(Boolean));
    for (const s of [where.gp, ...where.hospitals]) expect([...origins]).to.include(region.sources.find((x) => x.id === s)!.baseUrl);

    region.sources.find((s) => s.id === where.hospitals[1])!.faults.set({ mode: 'error' });
    const partial = await get(`/fhir/Patient/${id}/$everything?_count=1000`, org);
    expect(partial.status).to.equal(200);
    expect(partial.headers['x-incomplete-sources']).to.equal(where.hospitals[1]);
    region.sources.find((s) => s.id === where.hospitals[1])!.faults.reset();
  });
});
