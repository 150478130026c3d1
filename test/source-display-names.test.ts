import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle, Composition, OperationOutcome } from 'fhir/r4.js';
import { ensureDemoKeys, mintToken } from '../server/demo-keys.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { PageClient } from './helpers/page-client.js';
import { startStack, type Stack } from './helpers/stack.js';

/**
 * A failed source is named to people by its registry display name, never its registry id (issue 14):
 * $everything's OperationOutcome, $summary's Composition (completeness section, every section's note,
 * emptyReason), the staff pages' banners (clinician and crew) and the patient's own record page. The
 * X-Incomplete-Sources header stays machine-readable: registry ids.
 */
describe('source display names in warnings (registry id ≠ display name)', function () {
  this.timeout(120_000);
  let stack: Stack;
  let nhs: string;
  let id: string;
  let trustToken: string;
  const GP = { id: 'gp-riverside', name: 'Riverside GP systems' };

  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'display-names-'));
    stack = await startStack({
      sandbox: { bundleDirs: [], generate: { count: 30, seed: 8 } },
      env: (sandbox) => {
        const file = join(dir, 'sources.json');
        writeFileSync(file, JSON.stringify({
          sources: [
            { id: GP.id, kind: 'fhir', displayName: GP.name, organisations: [{ ods: 'A81001', type: 'gp-practice' }], baseUrl: sandbox.urls.gp },
            { id: 'trust-northgate', kind: 'fhir', displayName: 'Northgate Hospitals trust', organisations: [{ ods: 'RR8', type: 'trust' }], baseUrl: sandbox.urls.hospital },
            { id: 'council-eastshire', kind: 'social-care-api', displayName: 'Eastshire Council social care', organisations: [{ ods: 'E08000035', type: 'council' }], baseUrl: sandbox.urls.socialCare },
          ],
        }));
        return { SOURCES_FILE: file, SOURCE_RETRIES: '0', CIRCUIT_FAILURE_THRESHOLD: '100', DATA_DIR: '.data/test-display-names' };
      },
    });
    const entry = stack.sandbox.data.manifest.find((m) => m.hospitalPatientId)!;
    nhs = entry.nhsNumber;
    const keys = await ensureDemoKeys(stack.config.dataDir);
    trustToken = await mintToken(keys.privateJwk, keys.kid, { sub: 'trust-clinician', role: 'clinician', org: 'RR8' });
    const found = await api(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`);
    expect(found.status).to.equal(200);
    id = ((await found.json()) as Bundle).entry![0]!.resource!.id!;
    stack.sandbox.faults.gp.set({ mode: 'error' });
  });
  after(async () => {
    stack?.sandbox.faults.gp.reset();
    await stack?.close();
  });

  const api = (path: string) => fetch(`${stack.baseUrl}${path}`, { headers: { authorization: `Bearer ${trustToken}`, accept: 'application/fhir+json' } });

  it('$everything: the OperationOutcome names the GP system by display name; X-Incomplete-Sources by registry id', async () => {
    const r = await api(`/fhir/Patient/${id}/$everything`);
    expect(r.status).to.equal(200);
    expect(r.headers.get('x-incomplete-sources')).to.equal(GP.id);
    const body = (await r.json()) as Bundle;
    expectValidFhir(body);
    const outcome = body.entry!.find((e) => e.search?.mode === 'outcome')!.resource as OperationOutcome;
    expect(outcome.issue.map((i) => i.diagnostics).join(' ')).to.include(`${GP.name} could not be queried`).and.not.include(GP.id);
  });

  it('$summary: the completeness section, every section note and emptyReason name the display name, never the id', async () => {
    const r = await api(`/fhir/Patient/${id}/$summary`);
    expect(r.status).to.equal(200);
    expect(r.headers.get('x-incomplete-sources')).to.equal(GP.id);
    const body = (await r.json()) as Bundle;
    expectValidFhir(body);
    const composition = body.entry![0]!.resource as Composition;
    const sections = composition.section!;
    expect(sections[0]!.text!.div).to.include(`${GP.name} could not be queried`);
    const notes = sections.slice(1);
    expect(notes.length).to.be.greaterThan(5);
    for (const s of notes) expect(s.text!.div, s.title).to.include(`Not available: ${GP.name}`);
    const empty = notes.filter((s) => !s.entry?.length);
    expect(empty.length).to.be.greaterThan(0);
    for (const s of empty) expect(s.emptyReason?.coding?.[0]?.code, s.title).to.equal('unavailable');
    // The id appears nowhere a person reads (no resource from the GP system is in the document either).
    expect(JSON.stringify(body)).to.not.include(GP.id);
  });

  it('the clinician’s summary page, the crew’s summary after emergency access and the patient’s own record name the display name', async () => {
    const clinician = new PageClient(stack.baseUrl);
    await clinician.signIn({ user: 'demo-hospital-clinician' });
    const page = await clinician.go(`/record/patient/${id}/summary`);
    expect(page.res.status).to.equal(200);
    expect(page.text).to.include('data-banner="source-missing"').and.include(`${GP.name} could not be queried`);
    expect(page.text).to.not.include(GP.id);

    const crew = new PageClient(stack.baseUrl);
    await crew.signIn({ user: 'demo-crew' });
    const refused = await crew.go(`/crew/patient/${id}`);
    expect(refused.res.status).to.equal(403);
    const form = await crew.go(`/crew/patient/${id}/emergency-access`);
    const summary = await crew.go(`/crew/patient/${id}/emergency-access`, { form: { _csrf: PageClient.csrfOf(form.text), reason: 'unconscious', note: 'Found collapsed at home' } });
    expect(summary.res.status).to.equal(200);
    const sources = /id="sources"[\s\S]*?<\/div>\s*<\/div>/.exec(summary.text)?.[0] ?? summary.text;
    expect(sources).to.include('Did not answer').and.include(`${GP.name} could not be queried`);
    expect(sources).to.match(/Answered: [^<]*Northgate Hospitals trust/);
    expect(summary.text).to.not.include(GP.id);

    const patient = new PageClient(stack.baseUrl);
    await patient.signIn({ patientNhsNumber: nhs });
    const mine = await patient.go('/my-record');
    expect(mine.res.status).to.equal(200);
    expect(mine.text).to.include(`Information from ${GP.name} could not be fetched just now`);
    expect(mine.text).to.not.include(GP.id);
  });

  it('the patient previews their record as each trust and council of the registry (whatever the sources are called)', async () => {
    const patient = new PageClient(stack.baseUrl);
    await patient.signIn({ patientNhsNumber: nhs });
    const choices = await patient.go('/my-choices');
    expect(choices.text).to.include('href="/my-choices/preview?as=RR8"').and.include('href="/my-choices/preview?as=E08000035"');
    const asTrust = await patient.go('/my-choices/preview?as=RR8');
    expect(asTrust.res.status).to.equal(200);
    expect(asTrust.text).to.include('What the hospital trust RR8 would see');
    // The trust holds a record for this patient: its clinician could open it, and the preview shows it.
    expect(asTrust.text).to.not.include('data-banner="preview-refused"');
    expect(asTrust.text).to.include('data-banner="nothing-withheld"').and.include('id="patient-details"');
    const unknown = await patient.go('/my-choices/preview?as=hospital');
    expect(unknown.res.status).to.equal(400);
    expect(unknown.text).to.include('There is a problem with what was sent').and.include('invalid-viewer').and.include('the hospital trust RR8').and.include('the council E08000035');
  });
});
