import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Bundle, Patient } from 'fhir/r4.js';
import { createTokenVerifier } from '../server/auth.js';
import { loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { startRegion, type Region } from '../scripts/sandbox/region.js';
import { openTestDb } from './helpers/test-db.js';

/**
 * One GP system serving 300 practices (issue 14): the legitimate-relationship rule goes by the patient's own
 * practice, the CapabilityStatement and readyz do not grow with the practices, and the indicators report
 * per practice.
 */
describe('a GP system serving 300 practices', function () {
  this.timeout(300_000);
  const PRACTICES = 300;
  let region: Region;
  let service: Service;
  let key: JWK;

  before(async () => {
    region = await startRegion({ gp: 1, hospital: 1, socialCare: 1, generate: { count: 330, seed: 23 }, practices: PRACTICES });
    const dir = mkdtempSync(join(tmpdir(), 'many-practices-'));
    writeFileSync(join(dir, 'sources.json'), JSON.stringify(region.registry()));
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    key = await exportJWK(privateKey);
    service = await createService(loadConfig({ SOURCES_FILE: join(dir, 'sources.json'), SOURCE_RETRIES: '0', INDICATOR_PSEUDONYM_SECRET: 's'.repeat(40), DATA_DIR: dir }), createLogger('silent'), {
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
  const practiceOf = (nhs: string) =>
    (region.data.gp.find((r) => r.resourceType === 'Patient' && (r as Patient).identifier?.some((i) => i.value === nhs)) as Patient).generalPractitioner![0]!.identifier!.value!;

  it('the registry lists the 300 practices behind the one GP system', () => {
    const gp = region.registry().sources.find((s) => s.id === 'gp-1')!;
    expect(gp.organisations.length).to.equal(PRACTICES);
    expect(new Set(gp.organisations.map((o) => o.type))).to.deep.equal(new Set(['gp-practice']));
  });

  it('a clinician at practice N sees their own patient and not a patient of another practice of the same GP system', async () => {
    const [a, b] = region.data.manifest.slice(150, 152).map((m) => m.nhsNumber);
    const [pa, pb] = [practiceOf(a!), practiceOf(b!)];
    expect(pa).to.not.equal(pb);
    const idOf = async (nhs: string, org: string) => {
      const r = await get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`, org);
      expect(r.status).to.equal(200);
      return ((r.body as Bundle).entry![0]!.resource as Patient).id!;
    };
    const idA = await idOf(a!, pa);
    const idB = await idOf(b!, pa);
    const own = await get(`/fhir/Patient/${idA}/$everything`, pa);
    expect(own.status).to.equal(200);
    expect((own.body as Bundle).entry!.some((e) => e.resource?.resourceType === 'Condition' || e.resource?.resourceType === 'Observation')).to.equal(true);
    const other = await get(`/fhir/Patient/${idB}/$everything`, pa);
    expect(other.status).to.equal(403);
    expect(other.body.issue[0].details.coding[0].code).to.equal('no-relationship');
    expect((await get(`/fhir/Patient/${idB}/$everything`, pb)).status).to.equal(200);
  });

  it('the CapabilityStatement and readyz name the sources, not the 300 practices', async () => {
    const meta = await request(service.app).get('/fhir/metadata');
    expect(meta.status).to.equal(200);
    const description = meta.body.implementation.description as string;
    expect(description).to.include('GP system 1');
    expect(description).to.not.match(/P00\d{3}/);
    expect(JSON.stringify(meta.body).length).to.be.lessThan(100_000);
    const ready = await request(service.app).get('/readyz');
    expect(ready.status).to.equal(200);
    const text = JSON.stringify(ready.body);
    expect(text).to.not.match(/P00\d{3}/);
    expect(text.length).to.be.lessThan(2_000);
  });

  it('indicators report per practice: one row per practice with registered patients, every code one of the GP system’s', async () => {
    const years = region.data.gp.flatMap((r) => (r.resourceType === 'Observation' ? [((r as { effectiveDateTime?: string }).effectiveDateTime ?? '').slice(0, 4)] : [])).filter(Boolean).sort();
    const year = years.at(-1)!;
    const run = await service.indicators.compute({ start: `${year}-01-01`, end: `${year}-12-31` }, service.indicators.catalogue.filter((d) => d.level === 'gp-practice' && d.sources.length === 1).map((d) => d.id));
    expect(run.complete, JSON.stringify(run.sources)).to.equal(true);
    const registered = new Set(region.registry().sources.find((s) => s.id === 'gp-1')!.organisations.map((o) => o.ods));
    const widest = Math.max(...run.results.map((r) => r.organisations.length));
    expect(widest, 'practices in the widest indicator').to.be.greaterThan(100);
    for (const r of run.results) for (const o of r.organisations) expect(registered.has(o.code), `${r.indicatorId} ${o.code}`).to.equal(true);
  });
});
