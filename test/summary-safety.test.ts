import { expect } from 'chai';
import type { Bundle, Composition, Patient, Resource } from 'fhir/r4.js';
import { buildSummary } from '../record/summary.js';
import { get, idForNhs } from './helpers/fhir-http.js';
import { startHarness, SYNTHEA_DIR, syntheaAvailable, type Harness } from './helpers/harness.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { section } from './helpers/ips-shape.js';

/**
 * $summary clinical-safety fixes (issue 14), on the shared Synthea patients through the HTTP interface:
 * a deceased patient is stated first (Composition header, top of the narrative, first alert, and the
 * medicines not presented as current); the care team leaves the patient out and lists each participant once.
 */
const comp = (b: Bundle) => b.entry![0]!.resource as Composition;
const items = (div: string) => [...div.matchAll(/<li>(.*?)<\/li>/g)].map((m) => m[1]!);

describe('$summary: deceased patients and key contacts (Synthea, HTTP interface)', function () {
  this.timeout(300_000);
  let h: Harness;
  let searcher: string;

  before(async function () {
    if (!syntheaAvailable()) {
      const why = `Synthea data not found at ${SYNTHEA_DIR}`;
      if (process.env.CI_REQUIRE_SHARED === '1') throw new Error(`${why} and CI_REQUIRE_SHARED=1`);
      this.skip();
    }
    h = await startHarness({ sandbox: { bundleDirs: [SYNTHEA_DIR] } });
    searcher = await h.token({ role: 'clinician', org: 'Z99999', sub: 'searcher' });
  });
  after(async () => {
    await h?.close();
  });

  const gpPatients = () => h.sandbox.data.gp.filter((r): r is Patient => r.resourceType === 'Patient');
  const nhsOf = (p: Patient) => p.identifier!.find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number')!.value!;
  const summaryFor = async (p: Patient) => {
    const nhs = nhsOf(p);
    const id = await idForNhs(h.service.app, searcher, nhs);
    const r = await get(h.service.app, `/fhir/Patient/${id}/$summary`, await h.clinicianFor(nhs, 'ambulance-crew'));
    expect(r.status).to.equal(200);
    expectValidFhir(r.body);
    return r.body as Bundle;
  };

  it('a patient recorded as deceased: stated in the Composition title, first in its narrative, first alert; medicines carry the caveat', async () => {
    const deceased = gpPatients().filter((p) => p.deceasedDateTime);
    expect(deceased.length).to.be.above(0);
    let withMedicines = 0;
    for (const p of deceased.slice(0, 4)) {
      const b = await summaryFor(p);
      const c = comp(b);
      expect(c.title).to.match(/patient recorded as deceased \(\d{4}-\d{2}-\d{2}\)/);
      expect(c.text!.div).to.match(/^<div[^>]*><p><b>ALERT: Recorded as deceased \(/);
      const alerts = section(b, '104605-1')!;
      expect(items(alerts.text!.div)[0]).to.match(/^<b>Recorded as deceased/);
      const meds = section(b, '10160-0')!;
      if (meds.entry?.length) {
        withMedicines++;
        expect(meds.text!.div).to.match(/^<div[^>]*><p><b>The patient is recorded as deceased: these are the medicines last recorded, not current medication\.<\/b><\/p>/);
      }
    }
    const living = gpPatients().find((p) => !p.deceasedDateTime && !p.deceasedBoolean)!;
    const b = await summaryFor(living);
    expect(comp(b).title).not.to.include('deceased');
    expect(comp(b).text!.div).not.to.include('deceased');
    expect(section(b, '10160-0')!.text!.div).not.to.include('deceased');
    expect(withMedicines, 'at least one deceased patient with medicines checked').to.be.above(0);
  });
});

/** Synthea 2024 writes one CareTeam per CarePlan, each naming the patient, their GP and the practice. */
describe('$summary key contacts (builder; CareTeams shaped as Synthea 2024 writes them)', () => {
  const PID = 'p-1';
  const subject = { reference: `Patient/${PID}` };
  const TAG = 'https://integrated-record.example.nhs.uk/CodeSystem/record-source';
  const meta = { source: 'http://gp', tag: [{ system: TAG, code: 'gp' }] };
  const sct = (code: string, display: string) => ({ coding: [{ system: 'http://snomed.info/sct', code, display }] });
  const team = (id: string, name: string): Resource =>
    ({
      resourceType: 'CareTeam', id, status: 'active', name, subject, meta,
      participant: [
        { role: [sct('116154003', 'Patient')], member: { reference: `Patient/${PID}`, display: 'Ann Smith' } },
        { role: [sct('223366009', 'Healthcare professional')], member: { reference: 'Practitioner/dr-1', display: 'Dr Jane Jones' } },
        { role: [sct('224891009', 'Healthcare services')], member: { reference: 'Organization/org-1', display: 'Leeds Practice' } },
      ],
    }) as Resource;
  const resources: Resource[] = [
    { resourceType: 'Patient', id: PID, name: [{ given: ['Ann'], family: 'Smith' }], meta } as Resource,
    { resourceType: 'Practitioner', id: 'dr-1', name: [{ given: ['Jane'], family: 'Jones' }], meta } as Resource,
    { resourceType: 'Organization', id: 'org-1', name: 'Leeds Practice', meta } as Resource,
    team('ct-1', 'Diabetes care'),
    team('ct-2', 'Hypertension care'),
    team('ct-3', 'Asthma care'),
  ];
  const build = (rs: Resource[]) =>
    buildSummary({
      patientId: PID, resources: rs, warnings: [], now: new Date('2026-11-23T10:00:00Z'), sourceTagSystem: TAG,
      sourceNames: { gp: 'GP practice system', consent: 'Consent' }, software: { name: 'integrated-patient-record', version: 'test' },
      isSafeguarding: () => false,
    });

  it('leaves the patient out and lists each practitioner and organisation once, with its roles and teams merged', () => {
    const b = build(resources);
    expectValidFhir(b);
    const lines = items(section(b, '85847-2')!.text!.div);
    expect(lines).to.have.length(2);
    expect(lines.join(' ')).not.to.include('Ann Smith');
    expect(lines[0]).to.include('Dr Jane Jones').and.to.include('Diabetes care; Hypertension care; Asthma care');
    expect(lines[1]).to.include('Leeds Practice');
  });
});
