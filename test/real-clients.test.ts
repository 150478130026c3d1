/**
 * The service driven by real third-party FHIR clients over a real socket, as an app would:
 * SMART's JavaScript client (`fhirclient`) and `fhir-kit-client`. Not supertest.
 */
import { expect } from 'chai';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, OperationOutcome, Patient, Resource } from 'fhir/r4.js';
import smart from 'fhirclient';
import { getSecurityExtensions } from 'fhirclient/lib/smart.js';
import { Client as FhirKitClient } from 'fhir-kit-client';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { idForNhs, issueCodes } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

interface HttpFailure {
  status?: number;
  response?: { status: number; data: unknown };
  parse?: () => Promise<unknown>;
}

/** A fhirclient Client for a bearer token, as a Node app holding a token response would build it. */
type SmartClient = ReturnType<ReturnType<typeof smart>['client']>;

function smartClient(serverUrl: string, accessToken: string, patient?: string): SmartClient {
  const req = { headers: { host: 'app.example' }, url: '/', method: 'GET', socket: {} } as unknown as IncomingMessage;
  const res = {} as ServerResponse;
  return smart(req, res).client({
    serverUrl,
    tokenResponse: { access_token: accessToken, token_type: 'Bearer', ...(patient ? { patient } : {}) },
  });
}

async function statusOf(p: Promise<unknown>): Promise<{ status: number; body: unknown }> {
  try {
    await p;
  } catch (e) {
    const f = e as HttpFailure;
    if (f.response && typeof f.response.status === 'number' && 'data' in f.response) return { status: f.response.status, body: f.response.data };
    if (typeof f.status === 'number') {
      // fhirclient's HttpError has already read the body into its message ("<status> …\n\n<json>").
      const message = (e as Error).message;
      const at = message.indexOf('\n\n');
      return { status: f.status, body: at >= 0 ? JSON.parse(message.slice(at + 2)) : undefined };
    }
    throw e;
  }
  throw new Error('expected the request to fail');
}

describe('real FHIR clients against the running service', function () {
  this.timeout(120_000);
  let h: Harness;
  let server: Server;
  let fhirBase: string;
  let nhs: string;
  let patientId: string;
  let otherId: string;
  let patientToken: string;
  let clinicianToken: string;

  before(async () => {
    // Listen first, so the service's public base URL (used in fullUrl and paging links) is the real one.
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    h = await startHarness({
      sandbox: { generate: { count: 20, seed: 9 } },
      env: {
        PUBLIC_BASE_URL: base,
        SMART_AUTHORIZATION_ENDPOINT: 'https://login.example.nhs.uk/authorize',
        SMART_TOKEN_ENDPOINT: 'https://login.example.nhs.uk/token',
        SMART_CAPABILITIES: 'launch-standalone,client-public,context-standalone-patient',
      },
    });
    server.on('request', h.service.app);
    fhirBase = `${base}/fhir`;
    const entry = h.sandbox.data.manifest.find((m) => m.hospitalPatientId)!;
    nhs = entry.nhsNumber;
    const other = h.sandbox.data.manifest.find((m) => m.nhsNumber !== nhs)!.nhsNumber;
    clinicianToken = await h.clinicianFor(nhs);
    patientId = await idForNhs(h.service.app, clinicianToken, nhs);
    otherId = await idForNhs(h.service.app, await h.clinicianFor(other), other);
    patientToken = await h.token({ role: 'patient', nhs_number: nhs, sub: 'patient-app' });
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await h?.close();
  });

  describe('fhirclient (SMART JavaScript client)', () => {
    it('discovers the authorisation endpoints from [base]/.well-known/smart-configuration', async () => {
      const ext = await getSecurityExtensions(fhirBase);
      expect(ext.authorizeUri).to.equal('https://login.example.nhs.uk/authorize');
      expect(ext.tokenUri).to.equal('https://login.example.nhs.uk/token');
      expect(ext.codeChallengeMethods).to.deep.equal(['S256']);
    });

    it("reads the patient in the token's launch context (client.patient.read)", async () => {
      const client = smartClient(fhirBase, patientToken, patientId);
      const patient = (await client.patient.read()) as Patient;
      expect(patient.resourceType).to.equal('Patient');
      expect(patient.id).to.equal(patientId);
      expect(patient.identifier?.some((i) => i.value === nhs)).to.equal(true);
      expectValidFhir(patient);
    });

    it('fetches $everything across all pages (pageLimit 0, flat) and gets the same record as one big page', async () => {
      const client = smartClient(fhirBase, patientToken, patientId);
      const pages: Bundle[] = [];
      await client.request(`Patient/${patientId}/$everything?_count=10`, {
        pageLimit: 0,
        onPage: (b) => {
          pages.push(b as unknown as Bundle);
        },
      });
      const paged = pages.flatMap((b) => (b.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Resource));
      const flatAll = (await client.request(`Patient/${patientId}/$everything?_count=10`, { pageLimit: 0, flat: true })) as Resource[];
      const whole = (await client.request(`Patient/${patientId}/$everything?_count=1000`)) as Bundle;
      const key = (r: Resource) => `${r.resourceType}/${r.id}`;
      const wholeKeys = (whole.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => key(e.resource!));
      expect(paged.map(key)).to.deep.equal(wholeKeys);
      expect(flatAll.filter((r) => r.resourceType !== 'OperationOutcome').map(key)).to.deep.equal(wholeKeys);
      for (const p of pages) expectValidFhir(p, 'page');
    });

    it("searches the launch patient's Observations with client.patient.request across all pages", async () => {
      const client = smartClient(fhirBase, patientToken, patientId);
      const all = (await client.patient.request('Observation?_count=5', { pageLimit: 0, flat: true })) as Resource[];
      const observations = all.filter((r) => r.resourceType === 'Observation');
      expect(observations.length).to.be.greaterThan(5); // more than one page was followed
      expect(new Set(observations.map((r) => r.id)).size).to.equal(observations.length);
      const expected = h.sandbox.data.gp.concat(h.sandbox.data.hospital).filter((r) => r.resourceType === 'Observation');
      expect(observations.length).to.be.at.most(expected.length);
      for (const o of observations) expect(JSON.stringify(o)).to.include(`Patient/${patientId}`);
    });

    it('sees a 403 OperationOutcome naming the missing scope', async () => {
      const client = smartClient(fhirBase, await h.token({ role: 'patient', nhs_number: nhs, scope: 'patient/Observation.rs' }), patientId);
      const { status, body } = await statusOf(client.patient.read());
      expect(status).to.equal(403);
      expect(issueCodes(body as OperationOutcome)).to.deep.equal(['insufficient-scope']);
      expect((body as OperationOutcome).issue[0]!.diagnostics).to.include('patient/Patient.r');
    });

    it("sees a 403 for another patient's record", async () => {
      const client = smartClient(fhirBase, patientToken, patientId);
      const { status, body } = await statusOf(client.request(`Patient/${otherId}`));
      expect(status).to.equal(403);
      expect(issueCodes(body as OperationOutcome)).to.deep.equal(['not-own-record']);
    });
  });

  describe('fhir-kit-client', () => {
    const kit = (token: string) => new FhirKitClient({ baseUrl: fhirBase, bearerToken: token });

    it('reads the CapabilityStatement and the SMART metadata', async () => {
      const cs = (await kit(clinicianToken).capabilityStatement()) as { resourceType: string; rest: { security: { service: { coding: { code: string }[] }[] } }[] };
      expect(cs.resourceType).to.equal('CapabilityStatement');
      expect(cs.rest[0]!.security.service.flatMap((s) => s.coding.map((c) => c.code))).to.include('SMART-on-FHIR');
      const meta = await kit(clinicianToken).smartAuthMetadata();
      expect(meta.authorizeUrl?.toString()).to.equal('https://login.example.nhs.uk/authorize');
    });

    it('reads a Patient', async () => {
      const p = (await kit(clinicianToken).read({ resourceType: 'Patient', id: patientId })) as unknown as Patient;
      expect(p.id).to.equal(patientId);
      expectValidFhir(p);
    });

    it('searches Patient by NHS number', async () => {
      const b = (await kit(clinicianToken).search({ resourceType: 'Patient', searchParams: { identifier: `https://fhir.nhs.uk/Id/nhs-number|${nhs}` } })) as unknown as Bundle;
      expect(b.entry?.filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id)).to.deep.equal([patientId]);
    });

    it('runs $everything as an operation and pages with nextPage/prevPage', async () => {
      const client = kit(patientToken);
      let page = (await client.operation({ name: '$everything', resourceType: 'Patient', id: patientId, method: 'GET', input: { _count: '15' } })) as unknown as Bundle;
      const first = page;
      const seen: string[] = [];
      let pages = 0;
      for (;;) {
        pages++;
        seen.push(...(page.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => `${e.resource!.resourceType}/${e.resource!.id}`));
        const next = client.nextPage({ bundle: page as never });
        if (!next) break;
        page = (await next) as unknown as Bundle;
      }
      expect(pages).to.be.greaterThan(1);
      expect(new Set(seen).size).to.equal(seen.length);
      const back = (await client.prevPage({ bundle: page as never })) as unknown as Bundle | undefined;
      expect(back?.resourceType).to.equal('Bundle');
      expect(first.link?.find((l) => l.relation === 'self')?.url).to.include('_offset=0');
    });

    it('searches by type and pages with nextPage until the end', async () => {
      const client = kit(clinicianToken);
      let page = (await client.search({ resourceType: 'Observation', searchParams: { patient: `Patient/${patientId}`, _count: 4, _sort: '-date' } })) as unknown as Bundle;
      const ids: string[] = [];
      let pages = 0;
      for (;;) {
        pages++;
        expectValidFhir(page, 'Observation search page');
        ids.push(...(page.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource!.id!));
        const next = client.nextPage({ bundle: page as never });
        if (!next) break;
        page = (await next) as unknown as Bundle;
      }
      expect(pages).to.be.greaterThan(1);
      expect(new Set(ids).size).to.equal(ids.length);
      const everything = (await client.operation({ name: '$everything', resourceType: 'Patient', id: patientId, method: 'GET', input: { _count: '1000', _type: 'Observation' } })) as unknown as Bundle;
      const all = (everything.entry ?? []).filter((e) => e.resource?.resourceType === 'Observation').map((e) => e.resource!.id!);
      expect([...ids].sort()).to.deep.equal([...all].sort());
    });

    it('gets a 403 OperationOutcome when the token lacks the scope', async () => {
      const client = kit(await h.token({ role: 'clinician', org: h.practiceOf(nhs), scope: 'user/Patient.r' }));
      const { status, body } = await statusOf(client.search({ resourceType: 'Patient', searchParams: { identifier: `https://fhir.nhs.uk/Id/nhs-number|${nhs}` } }));
      expect(status).to.equal(403);
      const oo = (typeof body === 'string' ? JSON.parse(body) : body) as OperationOutcome;
      expect(issueCodes(oo)).to.deep.equal(['insufficient-scope']);
    });
  });
});
