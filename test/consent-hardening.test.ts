import { expect } from 'chai';
import request from 'supertest';
import type { AuditEvent, Bundle, Consent, ConsentProvision, Encounter, OperationOutcome, Patient, Resource } from 'fhir/r4.js';
import { categoriesOf } from '../consent/sensitivity.js';
import { PARTICIPATION_SYSTEM, SOURCE_SYSTEM } from '../consent/types.js';
import { consentWith } from './helpers/consent-fixture.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { get, idForNhs, matches, NHS, outcomes, sourcesOf } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

/**
 * Issue 15, items 1–3 and 6: what consent withholds is never revealed by a search's answer, a search for a
 * patient tells staff without a care relationship no more than identity, the Patient honours a source
 * restriction, and reading consents is audited.
 */

const sourceDeny = (source: string): ConsentProvision => ({
  type: 'deny',
  actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'CST' }] }, reference: { identifier: { system: SOURCE_SYSTEM, value: source } } }],
});
const labelDeny = (label: string): ConsentProvision => ({ type: 'deny', securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: label }] });

const consent = consentWith;

/**
 * What a reader learns from a search answer besides the entries themselves: total, link relations,
 * every OperationOutcome issue (code, text), and how many entries matched. Bundle/OperationOutcome ids,
 * timestamps and the self URL (it repeats the searched value) are the only things left out.
 */
function shape(b: Bundle) {
  return JSON.stringify({
    total: b.total ?? null,
    links: (b.link ?? []).map((l) => l.relation),
    outcomes: outcomes(b).map((oo: OperationOutcome) => oo.issue.map((i) => ({ severity: i.severity, code: i.code, details: i.details, diagnostics: i.diagnostics }))),
    matches: matches(b).length,
  });
}

const codeOf = (r: Resource) => ((r as { code?: { coding?: { system?: string; code?: string }[] } }).code?.coding ?? [])[0];
const WITHHELD = 'source-consent-withheld';
const withheldIn = (b: Bundle) => outcomes(b).some((oo) => oo.issue.some((i) => i.details?.coding?.[0]?.code === WITHHELD));

describe('consent hardening (issue 15: searches, patient search, Patient, consent reads)', function () {
  this.timeout(120_000);
  let h: Harness;
  let patientId: string;
  let nhs: string;
  let otherNhs: string;
  /** The GP's mental-health Condition, the hospital's Procedure and Encounter of the chosen patient. */
  let mhCondition: Resource;
  let hospitalProcedure: Resource;
  let hospitalEncounter: Encounter;
  let hospitalMrnSystem: string;
  const tokens: Record<string, string> = {};

  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 150, seed: 21 } } });
    const bySubject = (rs: Resource[]) => {
      const m = new Map<string, Resource[]>();
      for (const r of rs) {
        const ref = (r as { subject?: { reference?: string } }).subject?.reference;
        if (ref) m.set(ref, [...(m.get(ref) ?? []), r]);
      }
      return m;
    };
    const gp = bySubject(h.sandbox.data.gp);
    const hosp = bySubject(h.sandbox.data.hospital);
    // A patient known to the GP and the hospital, with a GP mental-health Condition and a hospital Procedure.
    const entry = h.sandbox.data.manifest.find((m) => {
      if (!m.hospitalPatientId) return false;
      const g = gp.get(`Patient/${m.gpPatientId}`) ?? [];
      const hp = hosp.get(`Patient/${m.hospitalPatientId}`) ?? [];
      return g.some((r) => r.resourceType === 'Condition' && categoriesOf(r).has('mental-health')) && hp.some((r) => r.resourceType === 'Procedure') && hp.some((r) => r.resourceType === 'Encounter');
    });
    expect(entry, 'a generated patient with a GP mental-health condition and hospital procedures').to.not.equal(undefined);
    nhs = entry!.nhsNumber;
    otherNhs = h.sandbox.data.manifest.find((m) => m.nhsNumber !== nhs)!.nhsNumber;
    mhCondition = gp.get(`Patient/${entry!.gpPatientId}`)!.find((r) => r.resourceType === 'Condition' && categoriesOf(r).has('mental-health'))!;
    const hospitalRecord = hosp.get(`Patient/${entry!.hospitalPatientId}`)!;
    hospitalProcedure = hospitalRecord.find((r) => r.resourceType === 'Procedure')!;
    hospitalEncounter = hospitalRecord.find((r) => r.resourceType === 'Encounter') as Encounter;
    const hospitalPatient = h.sandbox.data.hospital.find((r) => r.resourceType === 'Patient' && r.id === entry!.hospitalPatientId) as Patient;
    hospitalMrnSystem = hospitalPatient.identifier!.find((i) => i.system !== NHS)!.system!;

    tokens.search = await h.token({ role: 'clinician', org: 'Z99999', sub: 'searcher' });
    patientId = await idForNhs(h.service.app, tokens.search, nhs);
    await idForNhs(h.service.app, tokens.search, otherNhs);
    tokens.gp = await h.clinicianFor(nhs);
    tokens.hospital = await h.token({ role: 'clinician', org: h.config.providerOrganisations.hospital, sub: 'dr-hosp' });
    tokens.stranger = await h.token({ role: 'clinician', org: 'B99999', sub: 'dr-stranger' });
    tokens.officer = await h.token({ role: 'privacy-officer', org: 'X26', sub: 'po-1' });
    tokens.patient = await h.token({ role: 'patient', nhs_number: nhs, sub: 'patient-1' });
    tokens.otherPatient = await h.token({ role: 'patient', nhs_number: otherNhs, sub: 'patient-2' });
  });
  after(async () => {
    await h?.close();
  });

  const app = () => h.service.app;
  const search = async (who: string, path: string) => {
    const r = await get(app(), path, tokens[who]!);
    expect(r.status, `${path}: ${JSON.stringify(r.body).slice(0, 300)}`).to.equal(200);
    expectValidFhir(r.body);
    return r.body as Bundle;
  };
  const put = (path: string, who: string, body: unknown, etag: string) =>
    request(app()).put(path).set('Authorization', `Bearer ${tokens[who]}`).set('content-type', 'application/fhir+json').set('If-Match', etag).send(JSON.stringify(body));
  const setConsent = async (provisions: ConsentProvision[] | null) => {
    const list = await get(app(), `/fhir/Consent?patient=Patient/${patientId}`, tokens.patient!);
    for (const e of matches(list.body) as Consent[]) {
      if (e.status !== 'active') continue;
      const r = await put(`/fhir/Consent/${e.id}`, 'patient', { ...e, status: 'inactive' }, `W/"${e.meta!.versionId}"`);
      expect(r.status, JSON.stringify(r.body)).to.equal(200);
    }
    if (provisions) {
      const r = await request(app())
        .post('/fhir/Consent')
        .set('Authorization', `Bearer ${tokens.patient}`)
        .set('content-type', 'application/fhir+json')
        .send(JSON.stringify(consent(patientId, provisions)));
      expect(r.status, JSON.stringify(r.body)).to.equal(201);
    }
  };
  const auditFor = async (pid = patientId) => {
    const r = await get(app(), `/audit?patient=${pid}&_count=1000`, tokens.officer!);
    expect(r.status).to.equal(200);
    return matches(r.body) as AuditEvent[];
  };
  const actionOf = (e: AuditEvent) => e.entity?.flatMap((x) => x.detail ?? []).find((d) => d.type === 'action')?.valueString;
  const userOf = (e: AuditEvent) => e.agent[0]?.who?.identifier?.value;

  describe('1. a restricted patient’s search answers the same whether withheld data matched or not', () => {
    it('Condition?code= the withheld diagnosis vs a code the patient does not have: same warnings, totals, links', async () => {
      await setConsent([labelDeny('PSY')]);
      const c = codeOf(mhCondition)!;
      const base = `/fhir/Condition?patient=Patient/${patientId}`;
      const withheldCode = await search('hospital', `${base}&code=${encodeURIComponent(`${c.system}|${c.code}`)}`);
      const absentCode = await search('hospital', `${base}&code=${encodeURIComponent('http://snomed.info/sct|1234567009')}`);
      expect(matches(withheldCode), 'the withheld diagnosis is not shown').to.have.length(0);
      expect(shape(withheldCode)).to.equal(shape(absentCode));
      expect(withheldIn(absentCode), 'the notice follows the restriction in force').to.equal(true);
      // Also with the code alone (no system) and by the diagnosis' onset day vs a day without any entry.
      expect(shape(await search('hospital', `${base}&code=${c.code}`))).to.equal(shape(await search('hospital', `${base}&code=1234567009`)));
      const day = String((mhCondition as { onsetDateTime?: string }).onsetDateTime).slice(0, 10);
      const onDay = await search('hospital', `${base}&onset-date=${day}`);
      const emptyDay = await search('hospital', `${base}&onset-date=1901-01-01`);
      expect(matches(onDay).filter((r) => categoriesOf(r).has('mental-health'))).to.have.length(0);
      expect(shape({ ...onDay, entry: outcomes(onDay).map((o) => ({ resource: o, search: { mode: 'outcome' } })) })).to.equal(shape(emptyDay));
    });

    it('Procedure?code= and Encounter?class= under "do not share hospital data": same answer whether hospital data matched', async () => {
      await setConsent([sourceDeny('hospital')]);
      const p = codeOf(hospitalProcedure)!;
      const proc = `/fhir/Procedure?patient=Patient/${patientId}`;
      const hospitalCode = await search('gp', `${proc}&code=${encodeURIComponent(`${p.system}|${p.code}`)}`);
      const absent = await search('gp', `${proc}&code=${encodeURIComponent(`${p.system}|1234567009`)}`);
      expect(matches(hospitalCode).filter((r) => sourcesOf(r).every((s) => s === 'hospital'))).to.have.length(0);
      expect(shape(hospitalCode)).to.equal(shape(absent));
      expect(withheldIn(absent)).to.equal(true);
      const enc = `/fhir/Encounter?patient=Patient/${patientId}`;
      const hospitalClass = await search('gp', `${enc}&class=${hospitalEncounter.class.code}`);
      const noClass = await search('gp', `${enc}&class=VR`);
      expect(matches(hospitalClass).filter((r) => sourcesOf(r).every((s) => s === 'hospital'))).to.have.length(0);
      // The whole answer apart from the GP's own encounters of that class (which the GP clinician rightly
      // sees): the same warnings and links, and a total that counts only what is shown.
      const rest = (x: Bundle) => JSON.parse(shape(x)) as { total: number | null; links: string[]; outcomes: unknown; matches: number };
      const [withHospital, without] = [rest(hospitalClass), rest(noClass)];
      expect(withHospital.outcomes).to.deep.equal(without.outcomes);
      expect(withHospital.links).to.deep.equal(without.links);
      expect(withHospital.total === null || withHospital.total === withHospital.matches, 'the total does not count withheld entries').to.equal(true);
      expect(withheldIn(noClass)).to.equal(true);
    });

    it('$everything?_type= a type holding withheld data vs one that holds none: the same notice', async () => {
      await setConsent([labelDeny('PSY')]);
      const e = (types: string) => search('hospital', `/fhir/Patient/${patientId}/$everything?_type=${types}`);
      const conditions = await e('Condition');
      const immunizations = await e('Immunization');
      expect(matches(conditions).some((r) => categoriesOf(r).has('mental-health'))).to.equal(false);
      expect(withheldIn(conditions)).to.equal(true);
      expect(withheldIn(immunizations), 'no withheld Immunization, yet the same notice').to.equal(true);
      expect(conditions.total).to.equal(undefined);
      expect(immunizations.total).to.equal(undefined);
    });

    it('without a restriction nothing says data may be withheld', async () => {
      await setConsent(null);
      expect(withheldIn(await search('hospital', `/fhir/Condition?patient=Patient/${patientId}`))).to.equal(false);
    });
  });

  describe('2. patient search by staff without a care relationship', () => {
    const IDENTITY_KEYS = ['birthDate', 'id', 'identifier', 'name', 'resourceType'];
    it('by NHS number: identity only (name, date of birth, NHS number, integrated id), audited', async () => {
      await setConsent(null);
      const b = await search('stranger', `/fhir/Patient?identifier=${NHS}|${nhs}`);
      const p = matches(b)[0] as Patient;
      expect(p.id).to.equal(patientId);
      expect(Object.keys(p).sort()).to.deep.equal(IDENTITY_KEYS);
      expect(p.identifier).to.deep.equal([{ system: NHS, value: nhs }]);
      expect(JSON.stringify(b)).not.to.include(hospitalMrnSystem);
      const events = (await auditFor()).filter((e) => userOf(e) === 'dr-stranger' && actionOf(e) === 'patient-query');
      expect(events.some((e) => /identity only/.test(e.outcomeDesc ?? ''))).to.equal(true);
    });
    it('by name and birth date: identity only', async () => {
      const gpPatient = (await search('gp', `/fhir/Patient/${patientId}/$everything?_type=Patient`)).entry![0]!.resource as Patient;
      const name = gpPatient.name![0]!;
      const b = await search('stranger', `/fhir/Patient?family=${encodeURIComponent(name.family!)}&birthdate=${gpPatient.birthDate}`);
      const p = matches(b).find((r) => r.id === patientId) as Patient;
      expect(Object.keys(p).sort()).to.deep.equal(IDENTITY_KEYS);
      expect(p).not.to.have.property('address');
      expect(p).not.to.have.property('telecom');
    });
    it('with a care relationship: the full Patient as before (address, telecom, hospital number, source tags)', async () => {
      const b = await search('gp', `/fhir/Patient?identifier=${NHS}|${nhs}`);
      const p = matches(b)[0] as Patient;
      expect(p.address).to.be.an('array');
      expect(p.telecom).to.be.an('array');
      expect(p.identifier!.some((i) => i.system === hospitalMrnSystem)).to.equal(true);
      expect(sourcesOf(p)).to.include('hospital');
    });
  });

  describe('3. the Patient honours a source restriction', () => {
    it('under "do not share hospital data": no hospital number, no hospital source tag (read, search, $everything)', async () => {
      await setConsent([sourceDeny('hospital')]);
      const read = await get(app(), `/fhir/Patient/${patientId}`, tokens.gp!);
      expect(read.status).to.equal(200);
      expectValidFhir(read.body);
      const fromSearch = matches(await search('gp', `/fhir/Patient?identifier=${NHS}|${nhs}`))[0] as Patient;
      const fromEverything = matches(await search('gp', `/fhir/Patient/${patientId}/$everything?_type=Patient`))[0] as Patient;
      for (const p of [read.body as Patient, fromSearch, fromEverything]) {
        expect(p.id).to.equal(patientId);
        expect(p.identifier!.some((i) => i.system === hospitalMrnSystem), 'hospital MRN').to.equal(false);
        expect(sourcesOf(p), 'source tags').to.include('gp').and.not.include('hospital');
        expect(p.identifier!.some((i) => i.system === NHS && i.value === nhs)).to.equal(true);
      }
      await setConsent(null);
      const again = await get(app(), `/fhir/Patient/${patientId}`, tokens.gp!);
      expect((again.body as Patient).identifier!.some((i) => i.system === hospitalMrnSystem)).to.equal(true);
    });
    it('the patient themself still sees every source', async () => {
      await setConsent([sourceDeny('hospital')]);
      const own = await get(app(), `/fhir/Patient/${patientId}`, tokens.patient!);
      expect(sourcesOf(own.body as Patient)).to.include('hospital');
      await setConsent(null);
    });
  });

  describe('4. sensitive categories from the value sets, through HTTP', () => {
    it('under "do not share mental health" the psychiatric medicine (sertraline) is withheld with the diagnosis', async () => {
      const gpMeds = h.sandbox.data.gp.filter(
        (r) => r.resourceType === 'MedicationRequest' && (r as { subject?: { reference?: string } }).subject?.reference === (mhCondition as { subject?: { reference?: string } }).subject?.reference,
      );
      const isSertraline = (r: Resource) => JSON.stringify((r as { medicationCodeableConcept?: unknown }).medicationCodeableConcept ?? {}).includes('"312938"');
      expect(gpMeds.some(isSertraline), 'the chosen patient is prescribed sertraline').to.equal(true);
      await setConsent(null);
      const before = await search('hospital', `/fhir/MedicationRequest?patient=Patient/${patientId}`);
      expect(matches(before).some(isSertraline), 'visible without a restriction').to.equal(true);
      await setConsent([labelDeny('PSY')]);
      const after = await search('hospital', `/fhir/MedicationRequest?patient=Patient/${patientId}`);
      expect(matches(after).some(isSertraline), 'withheld under PSY').to.equal(false);
      expect(matches(after).length, 'other medicines stay visible').to.be.greaterThan(0);
      await setConsent(null);
    });
  });

  describe('6. reading consents is audited', () => {
    it('staff reading a patient’s consents (200) and a patient refused another’s (403) each leave an event', async () => {
      const staff = await get(app(), `/fhir/Consent?patient=Patient/${patientId}`, tokens.gp!);
      expect(staff.status).to.equal(200);
      const refused = await get(app(), `/fhir/Consent?patient=Patient/${patientId}`, tokens.otherPatient!);
      expect(refused.status).to.equal(403);
      expect(JSON.stringify(refused.body)).not.to.include(patientId);
      const events = (await auditFor()).filter((e) => actionOf(e) === 'consent-read');
      expect(events.some((e) => e.outcome === '0' && userOf(e)?.startsWith('gp-')), 'staff read audited').to.equal(true);
      expect(events.some((e) => e.outcome === '4' && userOf(e) === 'patient-2'), 'refusal audited').to.equal(true);
      const log = await get(app(), '/access-log', tokens.patient!);
      expect((log.body.entries as { what: string }[]).some((e) => e.what === 'read your choices about sharing your record')).to.equal(true);
    });
    it('an unknown patient or consent is never echoed back', async () => {
      const r = await get(app(), `/fhir/Consent?patient=Patient/${otherNhs}`, tokens.gp!);
      expect(r.status).to.equal(404);
      expect(JSON.stringify(r.body)).not.to.include(otherNhs);
      const p = await get(app(), `/fhir/Patient/${otherNhs}`, tokens.gp!);
      expect(p.status).to.equal(404);
      expect(JSON.stringify(p.body)).not.to.include(otherNhs);
    });
  });
});
