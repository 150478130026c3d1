import { expect } from 'chai';
import request from 'supertest';
import type { Bundle, Patient, Resource } from 'fhir/r4.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { get, idForNhs, issueCodes, matches, NHS, outcomes } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

/** Every `Patient/<id>` reference anywhere in a resource. */
function patientRefs(r: Resource): string[] {
  return [...JSON.stringify(r).matchAll(/"reference":"Patient\/([^"]+)"/g)].map((m) => m[1]!);
}

/** Path + query of an absolute link on the facade's public base URL. */
const pathOf = (url: string) => {
  const u = new URL(url);
  return `${u.pathname}${u.search}`;
};

describe("the patient's own view (patient token, same endpoints)", function () {
  this.timeout(120_000);
  let h: Harness;
  let nhs: string;
  let ownId: string;
  let otherNhs: string;
  let otherId: string;
  let me: string;
  const app = () => h.service.app;

  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 30, seed: 7 } } });
    // A patient whose integrated record has test results, medications and a social-care plan.
    for (const m of h.sandbox.data.manifest.filter((e) => e.hospitalPatientId && e.socialCareHasNhsNumber)) {
      const staff = await h.clinicianFor(m.nhsNumber);
      const id = await idForNhs(app(), staff, m.nhsNumber);
      const all = await get(app(), `/fhir/Patient/${id}/$everything?_count=1000`, staff);
      const types = new Set(matches(all.body).map((r) => r.resourceType));
      if (['Observation', 'MedicationRequest', 'CarePlan'].every((t) => types.has(t))) {
        nhs = m.nhsNumber;
        ownId = id;
        break;
      }
    }
    expect(nhs, 'a generated patient with results, medications and a care plan').to.be.a('string');
    otherNhs = h.sandbox.data.manifest.find((m) => m.nhsNumber !== nhs)!.nhsNumber;
    otherId = await idForNhs(app(), await h.clinicianFor(otherNhs), otherNhs);
    me = await h.token({ role: 'patient', nhs_number: nhs, sub: 'patient-self' });
  });
  after(async () => {
    await h?.close();
  });

  it('finds their own record by their NHS number and reads their Patient resource', async () => {
    const r = await get(app(), `/fhir/Patient?identifier=${NHS}|${nhs}`, me);
    expect(r.status).to.equal(200);
    expect(matches(r.body).map((p) => p.id)).to.deep.equal([ownId]);
    const read = await get(app(), `/fhir/Patient/${ownId}`, me);
    expect(read.status).to.equal(200);
    expect(read.body.identifier.some((i: { value: string }) => i.value === nhs)).to.equal(true);
    expectValidFhir(read.body, 'own Patient');
  });

  it('reads their own test results, medications and care plans through $everything, and nothing of anyone else', async () => {
    const r = await get(app(), `/fhir/Patient/${ownId}/$everything?_count=1000`, me);
    expect(r.status).to.equal(200);
    expectValidFhir(r.body, 'own $everything');
    const resources = matches(r.body);
    const byType = (t: string) => resources.filter((x) => x.resourceType === t);
    expect(byType('Observation').length, 'test results').to.be.greaterThan(0);
    expect(byType('MedicationRequest').length, 'medications').to.be.greaterThan(0);
    expect(byType('CarePlan').length, 'care plans').to.be.greaterThan(0);
    expect(byType('Encounter').length, 'appointments/encounters').to.be.greaterThan(0);
    // Every patient reference in the record is to the patient themself.
    const refs = new Set(resources.flatMap(patientRefs));
    expect([...refs]).to.deep.equal([ownId]);
    expect(JSON.stringify(r.body)).to.not.include(otherId);
  });

  it('pages through their own record by following next links, and every page stays theirs', async () => {
    let url: string | undefined = `/fhir/Patient/${ownId}/$everything?_count=7`;
    const seen: string[] = [];
    let pages = 0;
    while (url && pages < 100) {
      const page = await get(app(), url, me);
      expect(page.status, url).to.equal(200);
      const b = page.body as Bundle;
      for (const l of b.link ?? []) {
        expect(l.url).to.not.include(nhs); // paging links carry no NHS number
        expect(l.url).to.include(`/Patient/${ownId}/`);
      }
      seen.push(...matches(b).map((x) => `${x.resourceType}/${x.id}`));
      const next = b.link?.find((l) => l.relation === 'next')?.url;
      url = next ? pathOf(next) : undefined;
      pages++;
    }
    expect(pages).to.be.greaterThan(1);
    expect(new Set(seen).size).to.equal(seen.length); // no duplicates across pages
    const all = await get(app(), `/fhir/Patient/${ownId}/$everything?_count=1000`, me);
    expect(seen.length).to.equal(matches(all.body).length);
  });

  it("cannot read another patient's record by id, by $everything, by search or by editing a paging link", async () => {
    const deny = (r: request.Response) => {
      expect(r.status, JSON.stringify(r.body)).to.equal(403);
      expectValidFhir(r.body);
      expect(issueCodes(r.body)).to.deep.equal(['not-own-record']);
      expect(JSON.stringify(r.body)).to.not.include(otherNhs);
    };
    deny(await get(app(), `/fhir/Patient/${otherId}`, me));
    deny(await get(app(), `/fhir/Patient/${otherId}/$everything`, me));
    deny(await get(app(), `/fhir/Patient?identifier=${NHS}|${otherNhs}`, me));
    // A next link from their own record, with the other patient's id put in.
    const first = await get(app(), `/fhir/Patient/${ownId}/$everything?_count=5`, me);
    const next = pathOf((first.body as Bundle).link!.find((l) => l.relation === 'next')!.url);
    deny(await get(app(), next.replace(ownId, otherId), me));
    // An unknown id looks the same as someone else's (no probing).
    deny(await get(app(), '/fhir/Patient/00000000-0000-4000-8000-000000000000', me));
  });

  it('searches their own test results, care plans and medications by type (with paging links that stay theirs)', async () => {
    for (const type of ['Observation', 'CarePlan', 'MedicationRequest', 'Encounter']) {
      const r = await get(app(), `/fhir/${type}?patient=Patient/${ownId}&_count=3`, me);
      expect(r.status, `${type}: ${JSON.stringify(r.body).slice(0, 300)}`).to.equal(200);
      expectValidFhir(r.body, `${type} search`);
      const found = matches(r.body);
      expect(found.length, type).to.be.greaterThan(0);
      expect(found.every((x) => x.resourceType === type)).to.equal(true);
      expect([...new Set(found.flatMap(patientRefs))]).to.deep.equal([ownId]);
      for (const l of (r.body as Bundle).link ?? []) expect(l.url).to.not.include(nhs);
    }
    const labs = await get(app(), `/fhir/Observation?patient=Patient/${ownId}&_count=2`, me);
    const next = (labs.body as Bundle).link?.find((l) => l.relation === 'next')?.url;
    expect(next, 'a next link').to.be.a('string');
    const page2 = await get(app(), pathOf(next!), me);
    expect(page2.status).to.equal(200);
    expect(matches(page2.body).every((x) => patientRefs(x).every((ref) => ref === ownId))).to.equal(true);
    // The same next link pointed at someone else is refused.
    const edited = await get(app(), pathOf(next!).replace(ownId, otherId), me);
    expect(edited.status).to.equal(403);
    expect(issueCodes(edited.body)).to.deep.equal(['not-own-record']);
    const other = await get(app(), `/fhir/Observation?patient=Patient/${otherId}`, me);
    expect(other.status).to.equal(403);
    expect(issueCodes(other.body)).to.deep.equal(['not-own-record']);
  });

  it('reads their own patient summary, never anyone else\'s', async () => {
    const r = await get(app(), `/fhir/Patient/${ownId}/$summary`, me);
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).to.equal(200);
    expectValidFhir(r.body, 'own $summary');
    const b = r.body as Bundle;
    expect(b.type).to.equal('document');
    expect(b.entry?.[0]?.resource?.resourceType).to.equal('Composition');
    // The summary is about the patient themself: its one Patient carries their NHS number, nobody else appears.
    const patients = (b.entry ?? []).map((e) => e.resource!).filter((x) => x.resourceType === 'Patient') as Patient[];
    expect(patients).to.have.length(1);
    expect(patients[0]!.identifier?.some((i) => i.system === NHS && i.value === nhs)).to.equal(true);
    expect(JSON.stringify(b)).to.not.include(otherId).and.not.include(otherNhs);
    const other = await get(app(), `/fhir/Patient/${otherId}/$summary`, me);
    expect(other.status).to.equal(403);
    expect(issueCodes(other.body)).to.deep.equal(['not-own-record']);
    // A results-only token may not have a summary (it would show sections as empty that are only hidden).
    const resultsOnly = await h.token({ role: 'patient', nhs_number: nhs, scope: 'patient/Patient.r patient/Observation.rs' });
    const narrow = await get(app(), `/fhir/Patient/${ownId}/$summary`, resultsOnly);
    expect(narrow.status).to.equal(403);
    expect(issueCodes(narrow.body)).to.deep.equal(['insufficient-scope']);
  });

  it('a token without search scope cannot search by type, and one without CarePlan cannot search care plans', async () => {
    const readOnly = await h.token({ role: 'patient', nhs_number: nhs, scope: 'patient/*.r' });
    const r = await get(app(), `/fhir/Observation?patient=Patient/${ownId}`, readOnly);
    expect(r.status).to.equal(403);
    expect(r.body.issue[0].diagnostics).to.include('patient/Observation.s');
    const resultsOnly = await h.token({ role: 'patient', nhs_number: nhs, scope: 'patient/Observation.rs' });
    expect((await get(app(), `/fhir/Observation?patient=Patient/${ownId}`, resultsOnly)).status).to.equal(200);
    const plans = await get(app(), `/fhir/CarePlan?patient=Patient/${ownId}`, resultsOnly);
    expect(plans.status).to.equal(403);
    expect(plans.body.issue[0].diagnostics).to.include('patient/CarePlan.s');
  });

  it("cannot read another patient's consents", async () => {
    const own = await get(app(), `/fhir/Consent?patient=${ownId}`, me);
    expect(own.status).to.equal(200);
    const other = await get(app(), `/fhir/Consent?patient=${otherId}`, me);
    expect(other.status).to.equal(403);
    expect(issueCodes(other.body)).to.deep.equal(['not-own-record']);
  });

  it('a narrower patient scope narrows the view: only test results', async () => {
    const resultsOnly = await h.token({ role: 'patient', nhs_number: nhs, scope: 'patient/Patient.r patient/Observation.rs' });
    const r = await get(app(), `/fhir/Patient/${ownId}/$everything?_count=1000`, resultsOnly);
    expect(r.status).to.equal(200);
    expect([...new Set(matches(r.body).map((x) => x.resourceType))].sort()).to.deep.equal(['Observation', 'Patient']);
    const warn = outcomes(r.body).flatMap((o) => o.issue).map((i) => i.diagnostics ?? '').join(' ');
    expect(warn).to.match(/scopes do not allow reading them: .*CarePlan.*MedicationRequest/);
  });

  it("their own access log shows their reads as 'you'", async () => {
    const r = await get(app(), '/access-log', me);
    expect(r.status).to.equal(200);
    const mine = (r.body.entries as { who: string; userId: string }[]).filter((e) => e.userId === 'patient-self');
    expect(mine.length).to.be.greaterThan(0);
    expect(mine.every((e) => e.who === 'you')).to.equal(true);
  });
});
