import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import { once } from 'node:events';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import request from 'supertest';
import type { AuditEvent, Bundle, Composition, Consent, Observation, OperationOutcome, RelatedPerson } from 'fhir/r4.js';
import { CONSENT_POLICY_URI, CONSENT_SCOPE_SYSTEM, PARTICIPATION_SYSTEM, SOURCE_SYSTEM } from '../consent/types.js';
import { expectValidFhir, requireShared, sharedAvailable } from './helpers/fhir-validator.js';
import { get, idForNhs, issueCodes, matches, sourcesOf } from './helpers/fhir-http.js';
import { startHarness, SYNTHEA_DIR, type Harness } from './helpers/harness.js';
import { ipsProblems, section, sectionResources, textOf, xhtmlProblems } from './helpers/ips-shape.js';

const summaryOf = (h: Harness, id: string, token: string) => get(h.service.app, `/fhir/Patient/${id}/$summary`, token);
const comp = (b: Bundle) => b.entry![0]!.resource as Composition;

/** The raw (still compressed) body of a response and its headers, over a real socket (no client-side decoding). */
async function raw(h: Harness, path: string, token: string, encoding: string): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const server = h.service.app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  try {
    const { port } = server.address() as AddressInfo;
    return await new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port, path, headers: { authorization: `Bearer ${token}`, 'accept-encoding': encoding } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  } finally {
    server.closeAllConnections();
    server.close();
  }
}

describe('Patient/$summary (IPS) through the HTTP interface', function () {
  this.timeout(300_000);
  let h: Harness;
  let search: string;
  /** The generated person with dementia, a daughter who is their carer and home care 4 visits a day. */
  let dementia: { id: string; nhs: string };

  before(async () => {
    h = await startHarness({ sandbox: { bundleDirs: sharedAvailable() ? [SYNTHEA_DIR] : [], generate: { count: 150, seed: 21 } } });
    search = await h.token({ role: 'clinician', org: 'Z99999', sub: 'searcher' });
    const kase = h.sandbox.data.socialCare.find(
      (c) => c.person.nhsNumber && c.person.flags.includes('dementia') && c.contacts.some((x) => x.isCarer && x.relationship === 'daughter') && c.carePackages.some((p) => p.status === 'active' && p.visitsPerDay === 4),
    );
    expect(kase, 'a generated person with dementia, a daughter carer and home care 4 visits daily').to.not.equal(undefined);
    dementia = { nhs: kase!.person.nhsNumber!, id: await idForNhs(h.service.app, search, kase!.person.nhsNumber!) };
  });
  after(async () => {
    await h?.close();
  });

  it('answers an IPS document: Composition first, required sections, resolvable references, valid R4', async () => {
    const r = await summaryOf(h, dementia.id, await h.clinicianFor(dementia.nhs, 'ambulance-crew'));
    expect(r.status, JSON.stringify(r.body).slice(0, 300)).to.equal(200);
    expect(r.headers['content-type']).to.match(/application\/fhir\+json/);
    const b = r.body as Bundle;
    expect(ipsProblems(b)).to.deep.equal([]);
    expectValidFhir(b, '$summary');
    const c = comp(b);
    expect(c.type.coding![0]).to.include({ system: 'http://loinc.org', code: '60591-5' });
    expect(b.entry!.find((e) => e.fullUrl === c.subject!.reference)!.resource!.id).to.equal(dementia.id);
    expect(b.entry!.find((e) => e.fullUrl === c.author[0]!.reference)!.resource!.resourceType).to.equal('Device');
    expect(c.section!.map((s) => s.code!.coding![0]!.code)).to.deep.equal(['104605-1', '11450-4', '48765-2', '10160-0', '42348-3', '85847-2', '18776-5', '11369-6', '30954-2', '47519-4']);
    for (const s of c.section!) expect(xhtmlProblems(s.text!.div), s.title).to.deep.equal([]);
    // Every entry from a source keeps its provenance (meta.source + source tag).
    for (const e of b.entry!.slice(1)) {
      const t = e.resource!.resourceType;
      if (t === 'Device' || t === 'OperationOutcome') continue;
      expect(e.resource!.meta?.source, `${t}/${e.resource!.id} meta.source`).to.be.a('string');
      expect(sourcesOf(e.resource!), `${t}/${e.resource!.id} source tag`).to.not.be.empty;
    }
  });

  it('shows the crew "dementia, daughter is carer, carers visit 4× daily"', async () => {
    const r = await summaryOf(h, dementia.id, await h.clinicianFor(dementia.nhs, 'ambulance-crew'));
    const b = r.body as Bundle;
    expect(textOf(section(b, '104605-1')!.text!.div)).to.match(/Dementia/);
    expect(textOf(comp(b).text!.div)).to.match(/Alerts: .*Dementia/);
    const carers = sectionResources(b, '85847-2').filter((x) => x.resourceType === 'RelatedPerson') as RelatedPerson[];
    const daughter = carers.find((p) => p.relationship?.some((x) => x.text === 'daughter') && p.relationship?.some((x) => x.coding?.some((c) => c.code === 'carer')));
    expect(daughter, 'the daughter who cares').to.not.equal(undefined);
    const careText = textOf(section(b, '85847-2')!.text!.div);
    expect(careText).to.include(`${daughter!.name![0]!.given![0]} ${daughter!.name![0]!.family}`);
    expect(careText).to.match(/daughter.*carer/);
    expect(careText).to.include(daughter!.telecom![0]!.value!);
    expect(textOf(section(b, '18776-5')!.text!.div)).to.include('Home care: 4 visits daily');
    // Social-care flags carry their source.
    expect(sectionResources(b, '104605-1').some((f) => sourcesOf(f).includes('social-care'))).to.equal(true);
  });

  it('keeps an empty required section with emptyReason, and caps results with a note', async function () {
    // Someone with no recorded allergy, and someone with more laboratory results than the cap.
    const gpAllergyPatients = new Set(h.sandbox.data.gp.filter((x) => x.resourceType === 'AllergyIntolerance').map((x) => (x as { patient?: { reference?: string } }).patient?.reference));
    const noAllergy = h.sandbox.data.manifest.find((m) => !m.hospitalPatientId && !gpAllergyPatients.has(`Patient/${m.gpPatientId}`))!;
    const id = await idForNhs(h.service.app, search, noAllergy.nhsNumber);
    const b = (await summaryOf(h, id, await h.clinicianFor(noAllergy.nhsNumber))).body as Bundle;
    const allergies = section(b, '48765-2')!;
    expect(allergies.entry).to.equal(undefined);
    expect(allergies.emptyReason!.coding![0]!.code).to.equal('nilknown');
    expect(textOf(allergies.text!.div)).to.include('None recorded');

    const labCount = new Map<string, number>();
    for (const x of [...h.sandbox.data.gp, ...h.sandbox.data.hospital]) {
      const o = x as Observation;
      if (o.resourceType === 'Observation' && o.category?.some((c) => c.coding?.some((k) => k.code === 'laboratory'))) labCount.set(o.subject!.reference!, (labCount.get(o.subject!.reference!) ?? 0) + 1);
    }
    // Only the shared Synthea patients have long enough laboratory histories for the cap to bite.
    requireShared(this, 'the results cap (a patient with more than 12 laboratory results)');
    const many = h.sandbox.data.manifest.find((m) => (labCount.get(`Patient/${m.gpPatientId}`) ?? 0) > 12 && !m.hospitalPatientId)!;
    expect(many, 'a patient with more than 12 laboratory results').to.not.equal(undefined);
    const mid = await idForNhs(h.service.app, search, many.nhsNumber);
    const token = await h.clinicianFor(many.nhsNumber);
    const sb = (await summaryOf(h, mid, token)).body as Bundle;
    const shown = sectionResources(sb, '30954-2') as Observation[];
    expect(shown.length).to.be.within(1, 10);
    const all = (matches((await get(h.service.app, `/fhir/Patient/${mid}/$everything?_count=1000`, token)).body) as Observation[])
      .filter((o) => o.resourceType === 'Observation' && o.category?.some((c) => c.coding?.some((k) => k.code === 'laboratory')))
      .map((o) => o.effectiveDateTime!)
      .sort()
      .reverse();
    const dates = shown.map((o) => o.effectiveDateTime!);
    // The newest results, within six months of the latest one.
    expect(dates[0]).to.equal(all[0]);
    expect(dates.every((d) => d >= all[shown.length - 1]!)).to.equal(true);
    const sixMonthsBefore = new Date(all[0]!);
    sixMonthsBefore.setUTCMonth(sixMonthsBefore.getUTCMonth() - 6);
    expect(dates.every((d) => new Date(d) >= new Date(sixMonthsBefore.toISOString().slice(0, 10)))).to.equal(true);
    expect(textOf(section(sb, '30954-2')!.text!.div)).to.match(new RegExp(`Capped: showing the ${shown.length} most recent of ${all.length} laboratory results`));
  });

  it('says which source is missing when one is down (section, OperationOutcome, header, emptyReason)', async () => {
    const token = await h.clinicianFor(dementia.nhs, 'ambulance-crew');
    h.sandbox.faults.socialCare.set({ mode: 'error' });
    try {
      const r = await summaryOf(h, dementia.id, token);
      expect(r.status).to.equal(200);
      const b = r.body as Bundle;
      expect(ipsProblems(b)).to.deep.equal([]);
      expectValidFhir(b);
      expect(r.headers['x-incomplete-sources']).to.equal('social-care');
      const first = comp(b).section![0]!;
      expect(first.title).to.equal('Record completeness');
      expect(textOf(first.text!.div)).to.match(/Social care system could not be queried/);
      const oo = sectionResources(b, 'record-completeness')[0] as OperationOutcome;
      expect(issueCodes(oo)).to.include('source-error');
      expect(textOf(comp(b).text!.div)).to.include('Not available: Social care system');
      // The carers came only from social care: the section is empty because the source is down.
      expect(section(b, '85847-2')!.emptyReason!.coding![0]!.code).to.equal('unavailable');
      expect(textOf(section(b, '85847-2')!.text!.div)).to.include('Social care system');
    } finally {
      h.sandbox.faults.socialCare.reset();
      await new Promise((r) => setTimeout(r, 500)); // CIRCUIT_OPEN_MS 400 in the harness
    }
  });

  it('goes through the consent guard: withheld warning, and a crew without relationship is refused and audited', async () => {
    const patientToken = await h.token({ role: 'patient', nhs_number: dementia.nhs, sub: 'patient-dem' });
    const consent: Consent = {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${dementia.id}` },
      dateTime: '2026-11-01T10:00:00Z',
      policy: [{ uri: CONSENT_POLICY_URI }],
      provision: { type: 'permit', provision: [{ type: 'deny', actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'CST' }] }, reference: { identifier: { system: SOURCE_SYSTEM, value: 'social-care' } } }] }] },
    };
    const created = await request(h.service.app).post('/fhir/Consent').set('Authorization', `Bearer ${patientToken}`).set('content-type', 'application/fhir+json').send(JSON.stringify(consent));
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    try {
      const r = await summaryOf(h, dementia.id, await h.clinicianFor(dementia.nhs, 'ambulance-crew'));
      expect(r.status).to.equal(200);
      const b = r.body as Bundle;
      expectValidFhir(b);
      expect(ipsProblems(b)).to.deep.equal([]);
      const oo = sectionResources(b, 'record-completeness')[0] as OperationOutcome;
      expect(issueCodes(oo)).to.include('source-consent-withheld');
      expect(textOf(comp(b).text!.div)).to.include('withheld under the patient’s consent');
      // Nothing only social care recorded is shown (its carers and flags are withheld).
      expect(b.entry!.filter((e) => sourcesOf(e.resource!).length === 1 && sourcesOf(e.resource!)[0] === 'social-care')).to.deep.equal([]);
      expect(r.headers['x-incomplete-sources']).to.equal(undefined);
    } finally {
      await request(h.service.app).put(`/fhir/Consent/${created.body.id}`).set('Authorization', `Bearer ${patientToken}`).set('If-Match', created.headers.etag).set('content-type', 'application/fhir+json').send(JSON.stringify({ ...created.body, status: 'inactive' }));
    }

    const stranger = await h.token({ role: 'ambulance-crew', org: 'RX9', sub: 'crew-no-relationship' });
    const denied = await summaryOf(h, dementia.id, stranger);
    expect(denied.status).to.equal(403);
    expect(denied.body.resourceType).to.equal('OperationOutcome');
    const officer = await h.token({ role: 'privacy-officer', org: 'X26', sub: 'po-1' });
    const audit = await get(h.service.app, `/audit?patient=${dementia.id}&decision=deny&_count=1000`, officer);
    expect(audit.status).to.equal(200);
    const events = matches(audit.body) as AuditEvent[];
    expect(events.some((e) => e.outcome === '4' && e.agent.some((a) => a.who?.identifier?.value === 'crew-no-relationship') && e.entity?.some((x) => x.name === 'GET /fhir/Patient/{id}/$summary')), 'the refusal is audited').to.equal(true);
    // The patient reads their own summary through the same route.
    const own = await summaryOf(h, dementia.id, patientToken);
    expect(own.status, JSON.stringify(own.body).slice(0, 300)).to.equal(200);
    expect(ipsProblems(own.body)).to.deep.equal([]);
    // The patient's own access log says in plain words that their summary was viewed.
    const log = await get(h.service.app, '/access-log', patientToken);
    expect(log.status).to.equal(200);
    const entries = log.body.entries as { role: string; what: string; decision: string }[];
    expect(entries.some((e) => e.role === 'ambulance-crew' && /viewed your patient summary/.test(e.what))).to.equal(true);
  });

  it('is compressed on the wire (gzip, br) and other responses still work compressed', async () => {
    const token = await h.clinicianFor(dementia.nhs, 'ambulance-crew');
    const path = `/fhir/Patient/${dementia.id}/$summary`;
    const plain = await raw(h, path, token, 'identity');
    expect(plain.headers['content-encoding']).to.equal(undefined);
    for (const [enc, inflate] of [['gzip', gunzipSync], ['br', brotliDecompressSync]] as const) {
      const r = await raw(h, path, token, enc);
      expect(r.status).to.equal(200);
      expect(r.headers['content-encoding']).to.equal(enc);
      expect(r.headers.vary).to.match(/Accept-Encoding/i);
      const body = JSON.parse(inflate(r.body).toString('utf8')) as Bundle;
      expect(body.type).to.equal('document');
      expect(r.body.length).to.be.below(plain.body.length / 3);
    }
    // A large $everything, the CapabilityStatement and an error still arrive intact when compressed.
    const every = await raw(h, `/fhir/Patient/${dementia.id}/$everything`, token, 'gzip');
    expect(every.status).to.equal(200);
    expect(every.headers['content-encoding']).to.equal('gzip');
    expect(JSON.parse(gunzipSync(every.body).toString()).type).to.equal('searchset');
    const meta = await request(h.service.app).get('/fhir/metadata').set('Accept-Encoding', 'gzip');
    expect(meta.status).to.equal(200);
    expect(meta.body.rest[0].resource[0].operation.map((o: { name: string }) => o.name)).to.include('summary');
    const err = await request(h.service.app).get('/fhir/Patient/00000000-0000-4000-8000-000000000000/$summary').set('Authorization', `Bearer ${token}`).set('Accept-Encoding', 'gzip');
    expect(err.status).to.equal(404);
    expect(err.body.resourceType).to.equal('OperationOutcome');
  });

  it('every shared Synthea patient gives a valid, structurally conformant IPS document; median ≤ 30 KB', async function () {
    requireShared(this, 'the summary over the 70 shared Synthea patients');
    const files = readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json'));
    expect(files).to.have.length(70);
    const ids = new Set(files.map((f) => (JSON.parse(readFileSync(SYNTHEA_DIR + f, 'utf8')) as Bundle).entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource!.id!));
    const shared = h.sandbox.data.manifest.filter((m) => ids.has(m.syntheaPatientId));
    expect(shared).to.have.length(70);
    const sizes: number[] = [];
    for (const m of shared) {
      const id = await idForNhs(h.service.app, search, m.nhsNumber);
      const r = await summaryOf(h, id, await h.clinicianFor(m.nhsNumber, 'ambulance-crew'));
      expect(r.status).to.equal(200);
      expect(ipsProblems(r.body), m.syntheaPatientId).to.deep.equal([]);
      expectValidFhir(r.body, `$summary of ${m.syntheaPatientId}`);
      for (const s of comp(r.body).section!) expect(xhtmlProblems(s.text!.div)).to.deep.equal([]);
      sizes.push(Buffer.byteLength(JSON.stringify(r.body)));
    }
    sizes.sort((a, b) => a - b);
    const median = sizes[Math.floor(sizes.length / 2)]!;
    console.log(`      summary size over ${sizes.length} shared patients: median ${(median / 1024).toFixed(1)} KB, max ${(sizes[sizes.length - 1]! / 1024).toFixed(1)} KB`);
    expect(median).to.be.at.most(30 * 1024);
  });
});
