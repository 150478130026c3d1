import { expect } from 'chai';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Bundle, Composition, Flag, Resource } from 'fhir/r4.js';
import { buildSummary, SUMMARY_SOURCE_TYPES, summaryMayUse, type SummaryInput } from '../record/summary.js';
import { ALERT_SYSTEM, FLAG_DETAIL_URL } from '../record/summary-flags.js';
import { esc } from '../fhir/narrative.js';
import { categoriesOf } from '../consent/sensitivity.js';
import { expectValidFhir, requireShared, SHARED_DIR } from './helpers/fhir-validator.js';
import { ipsProblems, section, sectionResources, textOf, xhtmlProblems } from './helpers/ips-shape.js';
import { SYNTHEA_DIR } from './helpers/harness.js';

const TAG = 'https://integrated-record.example.nhs.uk/CodeSystem/record-source';
const PID = 'p-1';
const tag = (code: string) => ({ meta: { source: `http://${code}`, tag: [{ system: TAG, code }] } });
const opts = (resources: Resource[], extra: Partial<SummaryInput> = {}): SummaryInput => ({
  patientId: PID,
  resources,
  warnings: [],
  now: new Date('2026-11-23T10:00:00Z'),
  sourceTagSystem: TAG,
  sourceNames: { gp: 'GP practice system', hospital: 'Hospital system', 'social-care': 'Social care system', consent: 'Consent' },
  software: { name: 'integrated-patient-record', version: 'test' },
  isSafeguarding: (r) => categoriesOf(r).has('safeguarding'),
  ...extra,
});
const sct = (code: string, display?: string) => ({ coding: [{ system: 'http://snomed.info/sct', code, ...(display ? { display } : {}) }] });
const patient: Resource = { resourceType: 'Patient', id: PID, ...tag('gp') } as Resource;
const subject = { reference: `Patient/${PID}` };

function allNarratives(b: Bundle): string[] {
  const comp = b.entry![0]!.resource as Composition;
  return [comp.text!.div, ...comp.section!.map((s) => s.text!.div)];
}

describe('patient summary builder (pure, sparse and hostile data)', () => {
  it('never crashes on resources missing codes, dates, severity and displays, and still validates', () => {
    const hostile = '<script>alert("x")</script> & \'quoted\' "dq"';
    const sparse: Resource[] = [
      patient,
      { resourceType: 'Condition', id: 'c1', subject } as Resource, // no code, no status, no dates
      { resourceType: 'Condition', id: 'c2', subject, code: { text: hostile } } as Resource,
      { resourceType: 'Condition', id: 'c3', subject, code: { coding: [{ code: '123' }] }, clinicalStatus: { coding: [{ code: 'active' }] } } as Resource,
      // Valid R4, but with everything optional left out: no displays, no dates, no severity, no values.
      { resourceType: 'AllergyIntolerance', id: 'a1', patient: subject, clinicalStatus: { coding: [{ code: 'active' }] }, reaction: [{ manifestation: [{ coding: [{ code: 'x1' }] }] }] } as Resource,
      { resourceType: 'AllergyIntolerance', id: 'a2', patient: subject, clinicalStatus: { coding: [{ code: 'active' }] }, code: { coding: [{ system: 'http://snomed.info/sct' }] }, reaction: [{ manifestation: [{ text: hostile }], severity: 'severe' }] } as Resource,
      { resourceType: 'MedicationRequest', id: 'm1', status: 'active', intent: 'order', subject, medicationReference: { reference: 'Medication/missing' } } as Resource,
      { resourceType: 'MedicationRequest', id: 'm2', status: 'active', intent: 'order', subject, medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm' }] }, dosageInstruction: [{ sequence: 1 }] } as Resource,
      { resourceType: 'Immunization', id: 'i1', status: 'completed', patient: subject, vaccineCode: { coding: [{ code: 'v' }] }, occurrenceString: 'childhood' } as Resource,
      { resourceType: 'Observation', id: 'o1', status: 'final', code: { coding: [{ code: 'y' }] }, category: [{ coding: [{ code: 'laboratory' }] }], subject } as Resource, // no value, no date
      { resourceType: 'Procedure', id: 'pr1', status: 'completed', subject } as Resource,
      { resourceType: 'CarePlan', id: 'cp1', status: 'active', intent: 'plan', subject, activity: [{ detail: { status: 'unknown' } }] } as Resource,
      { resourceType: 'RelatedPerson', id: 'rp1', patient: subject } as Resource, // no name, no relationship
      { resourceType: 'CareTeam', id: 'ct1', participant: [{ period: { start: '2020' } }, { member: { reference: 'Practitioner/nowhere' } }] } as Resource,
      { resourceType: 'Flag', id: 'f1', status: 'active', subject, code: { coding: [{ code: 'z' }] } } as Resource,
      { resourceType: 'Encounter', id: 'e1', status: 'finished', class: { code: 'AMB' } } as Resource,
    ];
    const b = buildSummary(opts(sparse));
    expect(ipsProblems(b)).to.deep.equal([]);
    expectValidFhir(b, 'sparse summary');
    for (const div of allNarratives(b)) {
      expect(xhtmlProblems(div), div).to.deep.equal([]);
      expect(div).not.to.include('<script');
    }
    const problems = textOf(section(b, '11450-4')!.text!.div);
    expect(problems).to.include('<script>alert("x")</script>'); // shown, as text
    expect(problems).to.include('Unnamed problem');
    expect(problems).to.include('code 123');
    expect(textOf(section(b, '48765-2')!.text!.div)).to.include('Unnamed allergy or intolerance');
    expect(textOf(section(b, '30954-2')!.text!.div)).to.include('no value recorded');
    // A reference to something not in the record keeps only text (never a dangling reference).
    const mr = b.entry!.find((e) => e.resource!.id === 'm1')!.resource as unknown as { medicationReference: { reference?: string; display?: string } };
    expect(mr.medicationReference.reference).to.equal(undefined);
    expect(mr.medicationReference.display).to.match(/not included/);
  });

  it('escapes markup and strips characters XML cannot carry', () => {
    expect(esc('<b a="1">&\'\u0001')).to.equal('&lt;b a=&quot;1&quot;&gt;&amp;&#39;');
    expect(esc(undefined)).to.equal('');
    expect(esc({ toString: () => '<x>' })).to.equal('');
  });

  it('required sections are present when the record is empty, with emptyReason nilknown', () => {
    const b = buildSummary(opts([patient]));
    expect(ipsProblems(b)).to.deep.equal([]);
    for (const code of ['11450-4', '48765-2', '10160-0']) {
      const s = section(b, code)!;
      expect(s.entry).to.equal(undefined);
      expect(s.emptyReason!.coding![0]).to.include({ system: 'http://terminology.hl7.org/CodeSystem/list-empty-reason', code: 'nilknown' });
      expect(textOf(s.text!.div)).to.include('None recorded');
    }
    expectValidFhir(b);
  });

  it('derives alerts from coded problems and findings, points each at its evidence, and keeps source flags', () => {
    const resources: Resource[] = [
      patient,
      { resourceType: 'Condition', id: 'gp-dem', subject, code: sct('26929004', "Alzheimer's disease"), clinicalStatus: { coding: [{ code: 'active' }] }, onsetDateTime: '2019-04-01', ...tag('gp') } as Resource,
      { resourceType: 'Observation', id: 'gp-dnacpr', status: 'final', subject, code: sct('450476008', 'Not for attempted cardiopulmonary resuscitation'), effectiveDateTime: '2025-02-03', ...tag('gp') } as Resource,
      { resourceType: 'Observation', id: 'hosp-respect', status: 'final', subject, code: { text: 'ReSPECT form completed' }, effectiveDateTime: '2025-03-01', ...tag('hospital') } as Resource,
      { resourceType: 'Condition', id: 'gp-safe', subject, code: sct('417430008', 'Vulnerable adult'), ...tag('gp') } as Resource,
      { resourceType: 'Condition', id: 'gp-fall', subject, code: sct('217082002', 'Accidental fall'), clinicalStatus: { coding: [{ code: 'resolved' }] }, onsetDateTime: '2024-01-01', ...tag('hospital') } as Resource,
      // The council already flags "lives alone": no second, derived flag for it.
      { resourceType: 'Flag', id: 'sc-alone', status: 'active', subject, code: { coding: [{ system: 'https://sandbox-socialcare.example.gov.uk/CodeSystem/person-flag', code: 'lives-alone' }], text: 'Lives alone' }, ...tag('social-care') } as Resource,
      { resourceType: 'Condition', id: 'gp-alone', subject, code: sct('105529008', 'Lives alone'), ...tag('gp') } as Resource,
      // Resolved dementia is not a current problem: not evidence.
      { resourceType: 'Condition', id: 'gp-old', subject, code: sct('52448006'), clinicalStatus: { coding: [{ code: 'resolved' }] } } as Resource,
    ];
    const b = buildSummary(opts(resources));
    expect(ipsProblems(b)).to.deep.equal([]);
    expectValidFhir(b);
    const flags = sectionResources(b, '104605-1') as Flag[];
    const kinds = flags.map((f) => f.code.coding?.find((c) => c.system === ALERT_SYSTEM)?.code ?? f.code.coding?.[0]?.code);
    expect(kinds).to.deep.equal(['dnacpr', 'respect', 'safeguarding', 'dementia', 'lives-alone', 'falls-risk']);
    expect(flags.filter((f) => f.id === 'sc-alone')).to.have.length(1);
    const dementia = flags.find((f) => f.id === 'alert-dementia')!;
    expect(dementia.period?.start).to.equal('2019-04-01');
    expect(dementia.meta?.tag?.map((t) => t.code)).to.deep.equal(['gp']);
    const detail = dementia.extension!.find((x) => x.url === FLAG_DETAIL_URL)!.valueReference!.reference!;
    expect(b.entry!.find((e) => e.fullUrl === detail)?.resource?.id).to.equal('gp-dem');
    const alertsText = textOf(section(b, '104605-1')!.text!.div);
    expect(alertsText).to.include('Do not attempt CPR');
    expect(alertsText).to.include('Lives alone');
    // DNACPR and ReSPECT are advance directives too.
    expect(sectionResources(b, '42348-3').map((r) => r.id)).to.have.members(['gp-dnacpr', 'hosp-respect']);
    expect(textOf((b.entry![0]!.resource as Composition).text!.div)).to.match(/Alerts: Do not attempt CPR/);
  });

  it('caps results at the 10 most recent within 6 months of the latest, and says so', () => {
    const labs: Resource[] = Array.from({ length: 14 }, (_, i) => ({
      resourceType: 'Observation',
      id: `lab-${i}`,
      status: 'final',
      category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: 'laboratory' }] }],
      code: { text: `Test ${i}` },
      subject,
      effectiveDateTime: `2025-${String(12 - Math.min(i, 11)).padStart(2, '0')}-01`,
      valueQuantity: { value: i, unit: 'mmol/L' },
    }) as Resource);
    const b = buildSummary(opts([patient, ...labs]));
    const shown = sectionResources(b, '30954-2');
    // Latest 2025-12-01 → window from 2025-06-01: lab-0..lab-6 (7 results), fewer than 10.
    expect(shown.map((r) => r.id)).to.deep.equal(['lab-0', 'lab-1', 'lab-2', 'lab-3', 'lab-4', 'lab-5', 'lab-6']);
    const text = textOf(section(b, '30954-2')!.text!.div);
    expect(text).to.match(/Capped: showing the 7 most recent of 14/);
    expect(text).to.include('7 older result(s) are not shown');
  });

  it('carries source warnings and consent withholding in a first section, an OperationOutcome and emptyReason', () => {
    const b = buildSummary(opts([patient], {
      warnings: [
        { source: 'hospital', kind: 'timeout', message: 'Hospital system could not be queried (timeout).' },
        { source: 'consent', kind: 'consent-withheld', message: 'Some information has been withheld.' },
      ],
    }));
    expect(ipsProblems(b)).to.deep.equal([]);
    expectValidFhir(b);
    const comp = b.entry![0]!.resource as Composition;
    expect(comp.section![0]!.title).to.equal('Record completeness');
    const oo = sectionResources(b, 'record-completeness')[0]!;
    expect(oo.resourceType).to.equal('OperationOutcome');
    expect(textOf(comp.text!.div)).to.include('Not available: Hospital system');
    expect(section(b, '48765-2')!.emptyReason!.coding![0]!.code).to.equal('unavailable');
    expect(textOf(section(b, '48765-2')!.text!.div)).to.include('Hospital system');
  });

  it('has the shape of HL7 IPS example documents (same checker, same codes, fullUrl style)', function () {
    requireShared(this, 'the IPS example documents');
    const dir = path.join(SHARED_DIR, 'data', 'hl7-ips-examples');
    const ours = buildSummary(opts([patient]));
    for (const file of ['Bundle-IPS-examples-Bundle-01.json', 'Bundle-bundle-minimal.json']) {
      const ref = JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as Bundle;
      expect(ipsProblems(ref), `${file} passes the same structural check`).to.deep.equal([]);
      // …and the check can fail: a dangling reference and a missing required section are reported.
      const broken = JSON.parse(JSON.stringify(ref)) as Bundle;
      const bc = broken.entry![0]!.resource as Composition;
      bc.section = bc.section!.filter((x) => x.code!.coding![0]!.code !== '48765-2');
      bc.subject = { reference: 'urn:uuid:00000000-0000-4000-8000-000000000000' };
      expect(ipsProblems(broken)).to.have.members(['entry[0] (Composition) reference urn:uuid:00000000-0000-4000-8000-000000000000 does not resolve inside the Bundle', 'required section 48765-2 missing']);
      const refComp = ref.entry![0]!.resource as Composition;
      const ourComp = ours.entry![0]!.resource as Composition;
      expect(ourComp.type.coding![0]).to.deep.equal(refComp.type.coding![0]);
      // Every section code the IPS example uses means the same thing in ours (same system and code).
      for (const s of refComp.section!) {
        const c = s.code!.coding![0]!;
        if (c.code === '11348-0') continue; // History of past illness: not in this summary
        const mine = section(ours, c.code!);
        expect(mine, `section ${c.code} (${s.title})`).to.not.equal(undefined);
        expect(mine!.code!.coding![0]!.system).to.equal(c.system);
      }
      // fullUrl style: urn:uuid for every entry, as in the examples; the Composition's id is its uuid.
      expect(ref.entry!.every((e) => e.fullUrl!.startsWith('urn:uuid:'))).to.equal(true);
      expect(ours.entry!.every((e) => /^urn:uuid:[0-9a-f-]{36}$/.test(e.fullUrl!))).to.equal(true);
      expect(ours.entry![0]!.fullUrl).to.equal(`urn:uuid:${ourComp.id}`);
    }
  });

  describe('what the sources are asked for ($everything?_type and the summary filter) changes nothing in the document', () => {
    const narrowed = (resources: Resource[]) => resources.filter((r) => SUMMARY_SOURCE_TYPES.includes(r.resourceType) && summaryMayUse(r, (x) => categoriesOf(x).has('safeguarding')));
    const same = (resources: Resource[], label: string, extra: Partial<SummaryInput> = {}) => {
      const input = { documentId: '00000000-0000-4000-8000-000000000001', ...extra };
      const strip = (b: Bundle) => ({ ...b, id: undefined, identifier: undefined });
      expect(strip(buildSummary(opts(narrowed(resources), input))), label).to.deep.equal(strip(buildSummary(opts(resources, input))));
    };
    const obs = (id: string, category: string, code: { coding: { system: string; code: string; display?: string }[]; text?: string }, extra: object = {}) =>
      ({ resourceType: 'Observation', id, status: 'final', subject, category: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/observation-category', code: category }] }], code, effectiveDateTime: '2026-10-01', ...tag('gp'), ...extra }) as Resource;

    it('keeps laboratory results and every Observation that evidences an alert; drops vital signs and surveys', () => {
      const lab = obs('lab', 'laboratory', { coding: [{ system: 'http://loinc.org', code: '718-7', display: 'Hemoglobin' }] }, { valueQuantity: { value: 13, unit: 'g/dL' } });
      const vital = obs('bp', 'vital-signs', { coding: [{ system: 'http://loinc.org', code: '85354-9', display: 'Blood pressure' }] });
      const survey = obs('phq', 'survey', { coding: [{ system: 'http://loinc.org', code: '44249-1', display: 'PHQ-9' }] });
      const livesAlone = obs('alone', 'social-history', sct('105529008', 'Lives alone'));
      const dnacprText = obs('dnacpr', 'exam', { coding: [{ system: 'http://example.org/local', code: 'X1' }], text: 'DNACPR decision recorded' });
      const safeguarding = obs('sg', 'social-history', sct('766561000000109', 'Adult safeguarding concern'));
      const record = [patient, lab, vital, survey, livesAlone, dnacprText, safeguarding];
      expect(narrowed(record).map((r) => r.id)).to.deep.equal([PID, 'lab', 'alone', 'dnacpr', 'sg']);
      same(record, 'hand-made record');
    });

    it('over every shared Synthea patient: the same document from the narrowed record, and much less to merge', function () {
      requireShared(this, 'the shared Synthea patients');
      let all = 0;
      let kept = 0;
      for (const file of readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json'))) {
        const resources = (JSON.parse(readFileSync(path.join(SYNTHEA_DIR, file), 'utf8')) as Bundle).entry!.map((e) => e.resource!);
        const pid = resources.find((r) => r.resourceType === 'Patient')!.id!;
        same(resources, file, { patientId: pid });
        all += resources.length;
        kept += narrowed(resources).length;
      }
      expect(kept / all).to.be.below(0.5);
    });
  });
});
