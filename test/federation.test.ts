import { expect } from 'chai';
import { readFileSync, readdirSync } from 'node:fs';
import type { Bundle, Patient, Resource } from 'fhir/r4.js';
import { DROPPED_TYPES, SHARED_TYPES } from '../scripts/sandbox/split.js';
import { expectValidFhir, requireShared, sharedAvailable } from './helpers/fhir-validator.js';
import { get, idForNhs, issueCodes, matches, NHS, outcomes, sourcesOf } from './helpers/fhir-http.js';
import { startHarness, SYNTHEA_DIR, type Harness } from './helpers/harness.js';

describe('federated record through the FHIR API (real sandbox over HTTP)', function () {
  this.timeout(120_000);
  let h: Harness;
  let token: string;

  before(async () => {
    h = await startHarness({
      sandbox: { bundleDirs: sharedAvailable() ? [SYNTHEA_DIR] : [], generate: { count: 40, seed: 11 } },
    });
    token = await h.token({ role: 'clinician' });
  });
  after(async () => {
    await h?.close();
  });

  it('finds a patient by NHS number and returns one integrated Patient naming every source', async () => {
    const entry = h.sandbox.data.manifest.find((m) => m.hospitalPatientId && m.socialCareHasNhsNumber)!;
    // A clinician at the registered practice (staff without a care relationship see identity only: consent-hardening.test.ts).
    const r = await get(h.service.app, `/fhir/Patient?identifier=${NHS}|${entry.nhsNumber}`, await h.clinicianFor(entry.nhsNumber));
    expect(r.status).to.equal(200);
    expect(r.headers['content-type']).to.match(/application\/fhir\+json/);
    const [patient] = matches(r.body) as Patient[];
    expect(matches(r.body)).to.have.length(1);
    expect(patient!.identifier?.find((i) => i.system === NHS)?.value).to.equal(entry.nhsNumber);
    expect(sourcesOf(patient!)).to.have.members(['gp', 'hospital', 'social-care']);
    expect(patient!.meta?.source).to.equal(h.config.sources.gp);
    expectValidFhir(r.body, 'Patient search Bundle');
    // The search values never come back in the self link.
    expect(JSON.stringify((r.body as Bundle).link)).not.to.include(entry.nhsNumber);
  });

  it('returns an empty searchset for an NHS number no source knows', async () => {
    const r = await get(h.service.app, `/fhir/Patient?identifier=${NHS}|9990000018`, token);
    expect(r.status).to.equal(200);
    expect(r.body.total).to.equal(0);
  });

  it('finds a patient by family name + birth date + postcode, and reads it by id', async () => {
    const entry = h.sandbox.data.manifest[3]!;
    const gp = h.sandbox.data.gp.find((x) => x.resourceType === 'Patient' && x.id === entry.gpPatientId) as Patient;
    const q = new URLSearchParams({ family: gp.name![0]!.family!, birthdate: gp.birthDate!, 'address-postalcode': gp.address![0]!.postalCode! });
    const r = await get(h.service.app, `/fhir/Patient?${q}`, token);
    expect(r.status).to.equal(200);
    const found = (matches(r.body) as Patient[]).filter((p) => p.identifier?.some((i) => i.value === entry.nhsNumber));
    expect(found).to.have.length(1);
    const read = await get(h.service.app, `/fhir/Patient/${found[0]!.id}`, await h.clinicianFor(entry.nhsNumber));
    expect(read.status).to.equal(200);
    expect(read.body.id).to.equal(found[0]!.id);
    expectValidFhir(read.body, 'Patient read');
  });

  it('answers an unknown patient id with 404 OperationOutcome', async () => {
    const r = await get(h.service.app, '/fhir/Patient/00000000-0000-4000-8000-000000000000/$everything', token);
    expect(r.status).to.equal(404);
    expect(r.body.resourceType).to.equal('OperationOutcome');
  });

  it('returns every Synthea patient with every clinical resource the split rule assigns, merged, valid FHIR R4', async function () {
    requireShared(this, 'the Synthea round trip');
    const files = readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json'));
    expect(files).to.have.length(70);
    const skipTypes = new Set<string>([...DROPPED_TYPES, ...SHARED_TYPES, 'Patient']);
    for (const file of files) {
      const input = JSON.parse(readFileSync(SYNTHEA_DIR + file, 'utf8')) as Bundle;
      const patientId = input.entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource!.id!;
      const entry = h.sandbox.data.manifest.find((m) => m.syntheaPatientId === patientId)!;
      const expected: Record<string, number> = {};
      for (const e of input.entry!) {
        const t = e.resource!.resourceType;
        if (!skipTypes.has(t)) expected[t] = (expected[t] ?? 0) + 1;
      }
      const id = await idForNhs(h.service.app, token, entry.nhsNumber);
      const r = await get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, await h.clinicianFor(entry.nhsNumber));
      expect(r.status, file).to.equal(200);
      const got: Record<string, number> = {};
      for (const res of matches(r.body)) {
        const fromClinicalSource = sourcesOf(res).some((s) => s === 'gp' || s === 'hospital');
        if (!skipTypes.has(res.resourceType) && fromClinicalSource) got[res.resourceType] = (got[res.resourceType] ?? 0) + 1;
        expect(res.meta?.source, `${file} ${res.resourceType}/${res.id} meta.source`).to.be.a('string');
        expect(sourcesOf(res), `${file} ${res.resourceType}/${res.id} source tag`).not.to.be.empty;
      }
      expect(got, file).to.deep.equal(expected);
      expect(outcomes(r.body), `${file}: no source failed`).to.have.length(0);
      expectValidFhir(r.body, `${file} $everything`);
      expectSelfConsistent(r.body, file);
    }
  });

  it('merges the hospital re-recorded allergies and medications into one entry listing both sources', async () => {
    const entry = h.sandbox.data.manifest.find((m) => m.duplicates > 0)!;
    const id = await idForNhs(h.service.app, token, entry.nhsNumber);
    const gpToken = await h.clinicianFor(entry.nhsNumber);
    const r = await get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, gpToken);
    const both = matches(r.body).filter((x) => ['AllergyIntolerance', 'MedicationRequest'].includes(x.resourceType) && sourcesOf(x).length === 2);
    expect(both).to.have.length(entry.duplicates);
    for (const x of both) expect(sourcesOf(x)).to.deep.equal(['gp', 'hospital']);
    // Stable ids between calls.
    const again = await get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, gpToken);
    expect(matches(again.body).map((x) => x.id)).to.deep.equal(matches(r.body).map((x) => x.id));
  });

  it('links a social-care record that has no NHS number on demographics, and shows its care package', async () => {
    const person = h.sandbox.data.socialCare.find((c) => c.person.nhsNumber === null && c.person.forename.length > 1 && c.carePackages.length > 0)!;
    const entry = h.sandbox.data.manifest.find((m) => m.socialCarePersonId === person.person.personId)!;
    const id = await idForNhs(h.service.app, token, entry.nhsNumber);
    const r = await get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, await h.clinicianFor(entry.nhsNumber));
    const social = matches(r.body).filter((x) => sourcesOf(x).includes('social-care'));
    expect(social.map((x) => x.resourceType)).to.include('CarePlan');
    expect(outcomes(r.body)).to.have.length(0);
    expectValidFhir(r.body, 'record with social care');
  });

  it('leaves an ambiguous social-care record unlinked and says so', async () => {
    const gpPatients = h.sandbox.data.gp.filter((x): x is Patient => x.resourceType === 'Patient');
    const namesakes = (c: { person: { dateOfBirth: string; surname: string } }) =>
      gpPatients.filter((x) => x.birthDate === c.person.dateOfBirth && x.name?.[0]?.family === c.person.surname);
    // The generator's twins: same family name, birth date and address; social care knows one of them by initial only.
    const twinRecord = h.sandbox.data.socialCare.find((c) => c.person.nhsNumber === null && c.person.forename.length === 1 && namesakes(c).length >= 2)!;
    expect(twinRecord, 'the generator made a twin pair').to.not.equal(undefined);
    const twins = namesakes(twinRecord);
    for (const twin of twins) {
      const nhs = twin.identifier!.find((i) => i.system === NHS)!.value!;
      const search = await get(h.service.app, `/fhir/Patient?identifier=${NHS}|${nhs}`, token);
      expect(issueCodes(outcomes(search.body)[0])).to.include('source-ambiguous-match');
      const id = matches(search.body)[0]!.id!;
      const r = await get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, await h.clinicianFor(nhs));
      expect(matches(r.body).filter((x) => sourcesOf(x).includes('social-care'))).to.have.length(0);
      const msg = JSON.stringify(search.body);
      expect(msg).not.to.include(twinRecord.person.personId);
    }
  });

  it('pages $everything with next/previous links that together return the whole record exactly once', async () => {
    const entry = h.sandbox.data.manifest.find((m) => m.hospitalPatientId)!;
    const id = await idForNhs(h.service.app, token, entry.nhsNumber);
    const gpToken = await h.clinicianFor(entry.nhsNumber);
    const full = await get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, gpToken);
    const seen: string[] = [];
    let url: string | undefined = `/fhir/Patient/${id}/$everything?_count=7`;
    let pages = 0;
    while (url) {
      const r = await get(h.service.app, url, gpToken);
      expect(r.status).to.equal(200);
      const page = matches(r.body);
      expect(page.length).to.be.at.most(7);
      seen.push(...page.map((x) => `${x.resourceType}/${x.id}`));
      const next = (r.body as Bundle).link?.find((l) => l.relation === 'next')?.url;
      url = next ? next.replace('http://facade.test', '') : undefined;
      if (pages > 0) expect((r.body as Bundle).link?.some((l) => l.relation === 'previous')).to.equal(true);
      pages++;
    }
    expect(pages).to.be.greaterThan(1);
    expect(seen).to.deep.equal(matches(full.body).map((x) => `${x.resourceType}/${x.id}`));
  });

  it('lets a patient read their own record but nobody else’s; analysts read no records', async () => {
    const [mine, other] = h.sandbox.data.manifest;
    const patientToken = await h.token({ role: 'patient', nhs_number: mine!.nhsNumber, sub: 'patient-1' });
    const own = await get(h.service.app, `/fhir/Patient?identifier=${NHS}|${mine!.nhsNumber}`, patientToken);
    expect(own.status).to.equal(200);
    const ownId = matches(own.body)[0]!.id!;
    expect((await get(h.service.app, `/fhir/Patient/${ownId}/$everything`, patientToken)).status).to.equal(200);
    const otherId = await idForNhs(h.service.app, token, other!.nhsNumber);
    expect((await get(h.service.app, `/fhir/Patient/${otherId}/$everything`, patientToken)).status).to.equal(403);
    expect((await get(h.service.app, `/fhir/Patient?identifier=${NHS}|${other!.nhsNumber}`, patientToken)).status).to.equal(403);
    const analyst = await h.token({ role: 'analyst' });
    const r = await get(h.service.app, `/fhir/Patient/${otherId}`, analyst);
    expect(r.status).to.equal(403);
    expect(issueCodes(r.body)).to.include('role-not-permitted');
  });
});

/** Every relative reference in the Bundle resolves to an entry in it (Patient, clinical resources). */
function expectSelfConsistent(b: Bundle, label: string): void {
  const ids = new Set(matches(b).map((r) => `${r.resourceType}/${r.id}`));
  const dangling: string[] = [];
  const walk = (v: unknown): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === 'object') {
      for (const [k, x] of Object.entries(v)) {
        if (k === 'reference' && typeof x === 'string' && /^[A-Z][A-Za-z]+\/[^/]+$/.test(x) && !ids.has(x)) dangling.push(x);
        else walk(x);
      }
    }
  };
  matches(b).forEach((r: Resource) => walk(r));
  expect(dangling, `${label}: dangling references`).to.deep.equal([]);
}
