import { expect } from 'chai';
import request from 'supertest';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import type { Bundle, Composition, Resource } from 'fhir/r4.js';
import { createTokenVerifier } from '../server/auth.js';
import { loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { readBundleDir } from '../scripts/sandbox/loader.js';
import { startSandbox, type Sandbox } from '../scripts/sandbox/start.js';
import { SYNTHEA_DIR, syntheaAvailable } from './helpers/harness.js';
import { startMedplumServer, type MedplumServer } from './helpers/medplum-fhir-server.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { openTestDb } from './helpers/test-db.js';

/**
 * The GP system played by a FHIR server written by a third party (Medplum's FhirRouter + MemoryRepository,
 * pages of 20 with HAPI-style `next` links; with and without $everything), loaded with the shared Synthea
 * patients' GP records: the service must return exactly what it returns over the sandbox GP (issue 14).
 */
interface Client {
  service: Service;
  get(path: string, org: string): Promise<request.Response>;
}

async function serviceFor(gpUrl: string, sandbox: Sandbox): Promise<Client> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const key: JWK = await exportJWK(privateKey);
  const service = await createService(
    loadConfig({ GP_FHIR_URL: gpUrl, HOSPITAL_FHIR_URL: sandbox.urls.hospital, SOCIAL_CARE_URL: sandbox.urls.socialCare, SOURCE_DEADLINE_MS: '20000', EVERYTHING_PAGE_SIZE: '1000' }),
    createLogger('silent'),
    { db: await openTestDb(), verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }) },
  );
  return {
    service,
    get: async (path, org) =>
      request(service.app).get(path).set('Authorization', `Bearer ${await mintToken(key, 'k', { sub: `u-${org}`, role: 'clinician', org }, { issuer: 'iss', audience: 'aud' })}`),
  };
}

/** A response made comparable across services: the integrated patient id and per-response ids, stamps and versions removed. */
function normalise(body: Bundle, patientId: string): string[] {
  const text = (r: Resource) => {
    // The summary's urn:uuid references are derived from the integrated id, which differs per service.
    const copy = JSON.parse(JSON.stringify(r).split(patientId).join('PATIENT').replace(/urn:uuid:[0-9a-f-]{36}/g, 'urn:uuid:X')) as Resource & { meta?: Record<string, unknown> };
    if (copy.meta) {
      delete copy.meta.versionId;
      delete copy.meta.lastUpdated;
      delete copy.meta.source; // each GP server has its own base URL
    }
    if (copy.resourceType === 'Composition' || copy.resourceType === 'OperationOutcome') {
      delete (copy as { id?: string }).id;
      delete (copy as { date?: string }).date;
      delete (copy as { title?: string }).title; // "as of <time>"
      delete (copy as { event?: unknown }).event; // the time it was built
    }
    return JSON.stringify(copy);
  };
  return (body.entry ?? []).map((e) => text(e.resource!)).sort();
}

describe('a third-party FHIR server as the GP system (Medplum fhir-router, HAPI-style paging)', function () {
  this.timeout(600_000);
  let sandbox: Sandbox;
  let servers: MedplumServer[] = [];
  let reference: Client;
  let withEverything: Client;
  let withoutEverything: Client;
  let medplumWith: MedplumServer;
  let largestBundle = 0;
  let patients: { gpId: string; nhsNumber: string; practice: string; gpCount: number; total: number }[] = [];

  before(async function () {
    if (!syntheaAvailable()) {
      const why = `Synthea data not found at ${SYNTHEA_DIR}`;
      if (process.env.CI_REQUIRE_SHARED === '1') throw new Error(`${why} and CI_REQUIRE_SHARED=1`);
      this.skip();
    }
    sandbox = await startSandbox({ bundleDirs: [SYNTHEA_DIR], useEnv: false });
    const counts = new Map<string, number>();
    const countIn = (resources: Resource[], into: Map<string, number>) => {
      for (const r of resources) {
        const ref = (r as { subject?: { reference?: string }; patient?: { reference?: string } }).subject?.reference ?? (r as { patient?: { reference?: string } }).patient?.reference;
        if (ref?.startsWith('Patient/')) into.set(ref.slice(8), (into.get(ref.slice(8)) ?? 0) + 1);
      }
    };
    countIn(sandbox.data.gp, counts);
    const hospitalCounts = new Map<string, number>();
    countIn(sandbox.data.hospital, hospitalCounts);
    const practiceOf = (gpId: string) =>
      (sandbox.data.gp.find((r) => r.resourceType === 'Patient' && r.id === gpId) as { generalPractitioner?: { identifier?: { value?: string } }[] })
        .generalPractitioner?.find((g) => g.identifier?.value)?.identifier?.value ?? 'NONE';
    const ranked = sandbox.data.manifest
      .map((m) => ({ gpId: m.gpPatientId, nhsNumber: m.nhsNumber, practice: practiceOf(m.gpPatientId), gpCount: counts.get(m.gpPatientId) ?? 0, total: (counts.get(m.gpPatientId) ?? 0) + (m.hospitalPatientId ? hospitalCounts.get(m.hospitalPatientId) ?? 0 : 0) }))
      .sort((a, b) => b.gpCount - a.gpCount);
    // THIRD_PARTY_PATIENTS (default 20) of them: the two with the most GP data (well over 200 resources: many
    // pages of 20) and the rest spread evenly over the ranking, down to the one with the least.
    const wanted = Math.min(ranked.length, Number(process.env.THIRD_PARTY_PATIENTS) || 20);
    const step = (ranked.length - 3) / Math.max(1, wanted - 3);
    patients = [...ranked.slice(0, 2), ...Array.from({ length: wanted - 3 }, (_, i) => ranked[2 + Math.round(i * step)]!), ranked[ranked.length - 1]!];
    // The largest Synthea bundle (over 200 resources) is always one of them.
    const sizes = new Map(readBundleDir(SYNTHEA_DIR).map((b) => [b.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource?.id, b.entry?.length ?? 0]));
    const largest = sandbox.data.manifest.reduce((a, m) => ((sizes.get(m.syntheaPatientId) ?? 0) > (sizes.get(a.syntheaPatientId) ?? 0) ? m : a));
    largestBundle = sizes.get(largest.syntheaPatientId) ?? 0;
    patients = [...new Map([ranked.find((p) => p.gpId === largest.gpPatientId)!, ...patients].map((p) => [p.gpId, p])).values()];
    // The Medplum GP holds these patients' GP records and every Organization/Practitioner/Location/Medication
    // (its in-memory search scans every resource of a type, far too slow for all 70 patients on a busy machine).
    const chosen = patients.map((p) => p.gpId);
    const gpData = sandbox.data.gp.filter((r) => {
      if (['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'Medication'].includes(r.resourceType)) return true;
      if (r.resourceType === 'Patient') return chosen.includes(r.id!);
      const text = JSON.stringify(r);
      return chosen.some((id) => text.includes(`Patient/${id}"`));
    });
    medplumWith = await startMedplumServer(gpData, { everything: true });
    const medplumWithout = await startMedplumServer(gpData, { everything: false });
    servers = [medplumWith, medplumWithout];
    [reference, withEverything, withoutEverything] = await Promise.all([
      serviceFor(sandbox.urls.gp, sandbox),
      serviceFor(medplumWith.url, sandbox),
      serviceFor(medplumWithout.url, sandbox),
    ]);
  });
  after(async () => {
    await Promise.all(servers.map((s) => s.close()));
    await Promise.all([reference, withEverything, withoutEverything].filter(Boolean).map((c) => c.service.close()));
    await sandbox?.close();
  });

  const idIn = async (client: Client, nhsNumber: string, practice: string) => {
    const r = await client.get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhsNumber}`, practice);
    expect(r.status).to.equal(200);
    return (r.body as Bundle).entry!.find((e) => e.resource?.resourceType === 'Patient')!.resource!.id!;
  };

  for (const [label, pick] of [['with $everything', () => withEverything], ['without $everything (one paged search per type)', () => withoutEverything]] as const) {
    it(`$everything, type search and $summary equal the sandbox path (${label})`, async () => {
      expect(patients.length).to.be.at.least(Math.min(20, sandbox.data.manifest.length));
      // The largest Synthea patient (a bundle of over 200 resources) is compared; the most GP data is several pages of 20.
      expect(largestBundle).to.be.above(200);
      expect(Math.max(...patients.map((p) => p.gpCount))).to.be.above(140);
      for (const p of patients) {
        const [refId, otherId] = [await idIn(reference, p.nhsNumber, p.practice), await idIn(pick(), p.nhsNumber, p.practice)];
        for (const path of ['/$everything?_count=1000', '/$summary']) {
          const a = await reference.get(`/fhir/Patient/${refId}${path}`, p.practice);
          const b = await pick().get(`/fhir/Patient/${otherId}${path}`, p.practice);
          expect(b.status, path).to.equal(200);
          const warnings = ((b.body as Bundle).entry ?? []).filter((e) => e.resource?.resourceType === 'OperationOutcome').map((e) => JSON.stringify(e.resource));
          expect(b.headers['x-incomplete-sources'], `${path}: ${warnings.join(' ')}`).to.equal(undefined);
          const [got, want] = [normalise(b.body, otherId), normalise(a.body, refId)];
          const extra = got.filter((x) => !want.includes(x)).slice(0, 2);
          const missing = want.filter((x) => !got.includes(x)).slice(0, 2);
          expect(extra.length + missing.length, `${path} for a patient with ${p.gpCount} GP resources: extra ${extra.join('\n')} missing ${missing.join('\n')}`).to.equal(0);
          expect(got).to.deep.equal(want);
          if (path === '/$summary') expect(((b.body as Bundle).entry![0]!.resource as Composition).section?.length).to.be.above(0);
          expectValidFhir(b.body);
        }
        for (const type of ['Observation', 'Condition', 'MedicationRequest']) {
          const a = await reference.get(`/fhir/${type}?patient=${refId}&_count=1000`, p.practice);
          const b = await pick().get(`/fhir/${type}?patient=${otherId}&_count=1000`, p.practice);
          expect(b.status).to.equal(200);
          expect(normalise(b.body, otherId), type).to.deep.equal(normalise(a.body, refId));
          expect((b.body as Bundle).total).to.equal((a.body as Bundle).total);
        }
      }
    });
  }

  it('the Medplum GP answered in pages of 20, and the service followed every next link', () => {
    expect(medplumWith.requests.some((r) => r.includes('_getpagesoffset=20'))).to.equal(true);
    // The largest patient's GP record took more than seven pages (offset 140 was asked for).
    expect(medplumWith.requests.some((r) => r.includes('_getpagesoffset=140'))).to.equal(true);
  });
});
