/**
 * The patient pages' view models without a browser: My record's sections (web/patient/record-view.ts)
 * and Who looked at my record's lines (web/patient/access-pages.ts), plus My record rendered through the
 * real templates for the appointments-and-visits limit.
 */
import { expect } from 'chai';
import type { FhirResource as Resource } from 'fhir/r4.js';
import type { AccessLogEntry } from '../audit/types.js';
import { SOURCE_TAG_SYSTEM } from '../adapters/merge.js';
import { accessLines } from '../web/patient/access-pages.js';
import { ENCOUNTER_LIMIT, myRecordView } from '../web/patient/record-view.js';
import { createViews } from '../web/render.js';

const tag = (...sources: string[]) => ({ tag: sources.map((code) => ({ system: SOURCE_TAG_SYSTEM, code })) });
const LOINC = 'http://loinc.org';

/** A potassium result (reference range 3.5 to 5.3 mmol/L) on a day. */
const potassium = (id: string, day: string, value: number, source = 'hospital'): Resource => ({
  resourceType: 'Observation',
  id,
  meta: tag(source),
  status: 'final',
  code: { coding: [{ system: LOINC, code: '2823-3', display: 'Potassium' }], text: 'Potassium' },
  effectiveDateTime: `${day}T09:00:00Z`,
  valueQuantity: { value, unit: 'mmol/L' },
  referenceRange: [{ low: { value: 3.5, unit: 'mmol/L' }, high: { value: 5.3, unit: 'mmol/L' } }],
});

const record: Resource[] = [
  { resourceType: 'Patient', id: 'p', meta: tag('gp', 'hospital') },
  potassium('k1', '2026-01-10', 4.1),
  potassium('k3', '2026-03-10', 5.9, 'gp'),
  potassium('k2', '2026-02-10', 3.1),
  { resourceType: 'Condition', id: 'c1', meta: tag('gp'), subject: { reference: 'Patient/p' }, code: { text: 'Asthma' }, recordedDate: '2020-05-01' },
  { resourceType: 'CarePlan', id: 'cp1', meta: tag('gp'), status: 'active', intent: 'plan', subject: { reference: 'Patient/p' }, title: 'Asthma plan', activity: [{ detail: { status: 'in-progress', description: 'Inhaler review', performer: [{ display: 'Practice nurse' }] } }] },
  { resourceType: 'MedicationRequest', id: 'm1', meta: tag('gp'), status: 'active', intent: 'order', subject: { reference: 'Patient/p' }, medicationCodeableConcept: { text: 'Salbutamol inhaler' }, authoredOn: '2026-01-01', dosageInstruction: [{ text: 'Two puffs when needed' }] },
  { resourceType: 'AllergyIntolerance', id: 'a1', meta: tag('gp', 'hospital'), patient: { reference: 'Patient/p' }, code: { text: 'Penicillin' }, recordedDate: '2019-01-01', reaction: [{ manifestation: [{ text: 'Rash' }] }] },
  { resourceType: 'Immunization', id: 'i1', meta: tag('gp'), status: 'completed', patient: { reference: 'Patient/p' }, vaccineCode: { text: 'Influenza vaccine' }, occurrenceDateTime: '2025-10-01' },
  { resourceType: 'Encounter', id: 'e1', meta: tag('hospital'), status: 'finished', class: { code: 'EMER' }, subject: { reference: 'Patient/p' }, type: [{ text: 'Emergency visit' }], period: { start: '2026-02-10T08:00:00Z' } },
  { resourceType: 'CarePlan', id: 'sc1', meta: tag('social-care'), status: 'active', intent: 'plan', subject: { reference: 'Patient/p' }, title: 'Home care package', activity: [{ detail: { status: 'in-progress', description: 'Morning visit', performer: [{ display: 'Home care team' }] } }] },
  { resourceType: 'Procedure', id: 'sc2', meta: tag('social-care'), status: 'completed', subject: { reference: 'Patient/p' }, code: { text: 'Care needs assessment' }, performedDateTime: '2025-12-01' },
  { resourceType: 'RelatedPerson', id: 'sc3', meta: tag('social-care'), patient: { reference: 'Patient/p' }, name: [{ given: ['Ann'], family: 'Carer' }], relationship: [{ text: 'Daughter' }] },
];

describe('patient record view (web/patient/record-view.ts)', () => {
  it('results: value, unit, reference range and the outside-range flag, newest first, each saying where it came from', () => {
    const view = myRecordView(record);
    expect(view.results).to.have.length(1);
    const group = view.results[0]!;
    expect(group.name).to.equal('Potassium');
    expect(group.unit).to.equal('mmol/L');
    expect(group.rows.map((r) => r.when)).to.deep.equal(['2026-03-10', '2026-02-10', '2026-01-10']);
    expect(group.rows.map((r) => r.value)).to.deep.equal(['5.9 mmol/L', '3.1 mmol/L', '4.1 mmol/L']);
    expect(group.rows.map((r) => r.range)).to.deep.equal(['3.5 to 5.3 mmol/L', '3.5 to 5.3 mmol/L', '3.5 to 5.3 mmol/L']);
    expect(group.rows.map((r) => r.outside)).to.deep.equal(['Above the range', 'Below the range', '']);
    expect(group.rows.map((r) => r.from)).to.deep.equal(['your GP practice', 'the hospital', 'the hospital']);
    expect(group.trend, 'three numeric values: a trend').to.not.equal(undefined);
  });

  it('every section is present, with what, detail and where it came from', () => {
    const view = myRecordView(record);
    expect(view.problems.map((p) => p.what)).to.deep.equal(['Asthma']);
    expect(view.carePlans).to.have.length(1);
    expect(view.carePlans[0]!.detail).to.include('Inhaler review (by Practice nurse)');
    expect(view.medicines.map((m) => [m.what, m.detail])).to.deep.equal([['Salbutamol inhaler', 'Two puffs when needed']]);
    expect(view.allergies.map((a) => [a.what, a.detail, a.from])).to.deep.equal([['Penicillin', 'Rash', 'your GP practice and the hospital']]);
    expect(view.immunisations.map((i) => i.what)).to.deep.equal(['Influenza vaccine']);
    expect(view.encounters).to.have.length(1);
    expect(view.encountersTotal).to.equal(1);
    expect(view.socialCare.packages[0]!.detail).to.include('Morning visit (by Home care team)');
    expect(view.socialCare.packages[0]!.from).to.equal('the council (social care)');
    expect(view.socialCare.assessments.map((a) => a.what)).to.deep.equal(['Care needs assessment']);
    expect(view.socialCare.carers.map((c) => [c.what, c.detail])).to.deep.equal([['Ann Carer', 'Daughter']]);
    expect(view.details?.from).to.equal('your GP practice and the hospital');
  });

  it(`appointments and visits: the ${ENCOUNTER_LIMIT} most recent listed, and the page says how many there are in all`, () => {
    const many: Resource[] = Array.from({ length: ENCOUNTER_LIMIT + 12 }, (_, i) => ({
      resourceType: 'Encounter', id: `e${i}`, meta: tag('gp'), status: 'finished', class: { code: 'AMB' }, subject: { reference: 'Patient/p' },
      type: [{ text: `Visit ${i}` }], period: { start: new Date(Date.UTC(2020, 0, 1 + i)).toISOString() },
    }));
    const view = myRecordView(many);
    expect(view.encounters).to.have.length(ENCOUNTER_LIMIT);
    expect(view.encountersTotal).to.equal(ENCOUNTER_LIMIT + 12);
    expect(view.encounters[0]!.what).to.equal(`Visit ${ENCOUNTER_LIMIT + 11}`);
    const views = createViews({ serviceName: 'Integrated patient record', assets: { css: [], js: '/x.js', favicon: '/f.ico' }, footerLinks: [], demo: false });
    const html = views.toHtml('patient/my-record', { title: 'My record', ...view, notices: { missing: [], withheld: false } });
    expect(html).to.include(`Showing the ${ENCOUNTER_LIMIT} most recent of ${ENCOUNTER_LIMIT + 12} appointments and visits.`);
    const few = views.toHtml('patient/my-record', { title: 'My record', ...myRecordView(record), notices: { missing: [], withheld: false } });
    expect(few).to.not.include('most recent of');
  });
});

describe('Who looked at my record: the access lines (web/patient/access-pages.ts)', () => {
  const entry = (e: Partial<AccessLogEntry>): AccessLogEntry => ({
    when: '2026-12-01T10:00:00.000Z', who: 'a clinician at organisation RR8 (user id dr-1)', userId: 'dr-1', role: 'clinician', organisation: 'RR8',
    what: 'viewed your full record', why: 'your care', decision: 'access was allowed', action: 'patient-read', requestId: 'r1', ...e,
  });

  it('an emergency access with its reason, the privacy officer’s review outcome, and a read with items withheld as one line; newest first', () => {
    const lines = accessLines([
      entry({ when: '2026-12-01T10:00:00.000Z', requestId: 'r1' }),
      entry({ when: '2026-12-01T10:00:00.001Z', requestId: 'r1', action: 'consent-decision', decision: 'access was refused', outcome: "2 item(s) withheld under the patient's consent" }),
      entry({ when: '2026-12-02T03:00:00.000Z', requestId: 'r2', who: 'an ambulance crew member at organisation RX9 (user id crew-1)', userId: 'crew-1', role: 'ambulance-crew', organisation: 'RX9', action: 'emergency-access', what: 'started emergency access to your record', why: 'an emergency: unconscious on arrival' }),
      entry({ when: '2026-12-03T09:00:00.000Z', requestId: 'r3', who: 'a privacy officer at organisation X26 (user id po-1)', userId: 'po-1', role: 'privacy-officer', organisation: 'X26', action: 'emergency-review', what: 'reviewed an emergency access to your record', outcome: 'emergency access reviewed: appropriate' }),
    ]);
    expect(lines.map((l) => l.date)).to.deep.equal(['2026-12-03', '2026-12-02', '2026-12-01']);
    const [review, emergency, read] = lines;
    expect(review!.outcome).to.equal("Privacy officer's review: appropriate");
    expect(review!.who).to.equal('a privacy officer (user id po-1)');
    expect(emergency!.why).to.equal('an emergency: unconscious on arrival');
    expect(emergency!.what).to.equal('started emergency access to your record');
    expect(emergency!.organisation).to.equal('RX9');
    expect(read!.outcome).to.equal('Allowed; some items were not shown because of your choices');
    expect(lines.some((l) => /^Refused/.test(l.outcome)), 'the withheld items are not a separate refused line').to.equal(false);
  });
});
