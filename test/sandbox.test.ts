import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'chai';
import type { AllergyIntolerance, Bundle, Encounter, MedicationRequest, OperationOutcome, Patient, Resource } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM, isValidNhsNumber } from '../fhir/nhs-number.js';
import { readBundleDir } from '../scripts/sandbox/loader.js';
import { MRN_SYSTEM } from '../scripts/sandbox/patients.js';
import type { CaseResponse, ErrorResponse, PeopleResponse, PersonSummary } from '../adapters/social-care-api.js';
import { DROPPED_TYPES, SHARED_TYPES } from '../scripts/sandbox/split.js';
import { startSandbox, type Sandbox } from '../scripts/sandbox/start.js';

const SYNTHEA_DIR = fileURLToPath(new URL('../../shared/data/synthea', import.meta.url));
const HAS_SYNTHEA = existsSync(SYNTHEA_DIR);

/** Synthea-dependent tests skip (with a reason) when the shared data is absent, unless CI_REQUIRE_SHARED=1. */
function requireSynthea(ctx: Mocha.Context): void {
  if (HAS_SYNTHEA) return;
  const why = `Synthea data not found at ${SYNTHEA_DIR} (the sibling shared/ folder)`;
  if (process.env.CI_REQUIRE_SHARED === '1') throw new Error(`${why} and CI_REQUIRE_SHARED=1`);
  if (ctx.test) ctx.test.title += ` — skipped: ${why}`;
  ctx.skip();
}

async function get<T>(url: string): Promise<{ status: number; type: string; body: T }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(5000) });
  return { status: res.status, type: res.headers.get('content-type') ?? '', body: (await res.json()) as T };
}
const resourcesOf = (b: Bundle): Resource[] => (b.entry ?? []).map((e) => e.resource!);
const CLINICAL_EXCLUDED = new Set([...DROPPED_TYPES, ...SHARED_TYPES, 'Patient']);

describe('sandbox source systems (real HTTP)', function () {
  let sb: Sandbox;
  let syntheaIds: Set<string>;

  before(async function () {
    sb = await startSandbox({ bundleDirs: HAS_SYNTHEA ? [SYNTHEA_DIR] : [], generate: { count: 30, seed: 7 }, useEnv: false });
    syntheaIds = new Set(HAS_SYNTHEA ? readBundleDir(SYNTHEA_DIR).map((b) => b.entry!.find((e) => e.resource?.resourceType === 'Patient')!.resource!.id!) : []);
  });
  after(async () => {
    await sb?.close();
  });

  describe('split rule (Synthea)', () => {
    it('puts every clinical resource in exactly one source, with per-type counts preserved', async function () {
      requireSynthea(this);
      const input = new Map<string, string>(); // id -> type
      const inputCounts: Record<string, number> = {};
      for (const bundle of readBundleDir(SYNTHEA_DIR)) {
        for (const { resource: r } of bundle.entry!) {
          if (CLINICAL_EXCLUDED.has(r!.resourceType)) continue;
          input.set(r!.id!, r!.resourceType);
          inputCounts[r!.resourceType] = (inputCounts[r!.resourceType] ?? 0) + 1;
        }
      }
      const seen = new Map<string, number>();
      const outCounts: Record<string, number> = {};
      let extra = 0;
      const entries = sb.data.manifest.filter((m) => syntheaIds.has(m.syntheaPatientId));
      expect(entries).to.have.length(70);
      for (const m of entries) {
        const gp = await get<Bundle>(`${sb.urls.gp}/Patient/${m.gpPatientId}/$everything`);
        const hosp = m.hospitalPatientId ? (await get<Bundle>(`${sb.urls.hospital}/Patient/${m.hospitalPatientId}/$everything`)).body : undefined;
        for (const [source, bundle] of [['gp', gp.body], ['hospital', hosp]] as const) {
          for (const r of bundle ? resourcesOf(bundle) : []) {
            if (CLINICAL_EXCLUDED.has(r.resourceType)) continue;
            if (r.resourceType === 'Encounter') {
              const hospitalClass = ['EMER', 'IMP'].includes((r as Encounter).class.code!);
              expect(hospitalClass, `Encounter class in ${source}`).to.equal(source === 'hospital');
            }
            if (!input.has(r.id!)) {
              expect(source).to.equal('hospital');
              expect(['AllergyIntolerance', 'MedicationRequest']).to.include(r.resourceType);
              extra++;
              continue;
            }
            seen.set(r.id!, (seen.get(r.id!) ?? 0) + 1);
            outCounts[r.resourceType] = (outCounts[r.resourceType] ?? 0) + 1;
          }
        }
      }
      expect([...input.keys()].filter((id) => seen.get(id) !== 1)).to.deep.equal([]);
      expect(outCounts).to.deep.equal(inputCounts);
      expect(extra).to.equal(entries.reduce((n, m) => n + m.duplicates, 0)).and.to.be.greaterThan(0);
    });

    it('gives the hospital its own Patient id, MRN and NHS number, and points its references at it', async function () {
      requireSynthea(this);
      const m = sb.data.manifest.find((e) => syntheaIds.has(e.syntheaPatientId) && e.hospitalPatientId)!;
      expect(m.hospitalPatientId).to.match(/^H\d{6}$/);
      const { body } = await get<Bundle>(`${sb.urls.hospital}/Patient/${m.hospitalPatientId}/$everything`);
      const [patient, ...rest] = resourcesOf(body) as [Patient, ...Resource[]];
      expect(patient.id).to.equal(m.hospitalPatientId);
      expect(patient.identifier!.map((i) => i.system)).to.include.members([MRN_SYSTEM, NHS_NUMBER_SYSTEM]);
      const text = JSON.stringify(rest);
      expect(text).not.to.include(`Patient/${m.gpPatientId}`);
      expect(text).not.to.include('urn:uuid:');
    });
  });

  describe('patients and identifiers', () => {
    it('gives everyone a valid, unique NHS number carried by the GP (and hospital) Patient', async () => {
      const numbers = sb.data.manifest.map((m) => m.nhsNumber);
      expect(numbers.every(isValidNhsNumber)).to.equal(true);
      expect(new Set(numbers).size).to.equal(numbers.length);
      const m = sb.data.manifest.find((e) => e.hospitalPatientId)!;
      const gp = await get<Bundle>(`${sb.urls.gp}/Patient?identifier=${encodeURIComponent(`${NHS_NUMBER_SYSTEM}|${m.nhsNumber}`)}`);
      expect(gp.type).to.match(/^application\/fhir\+json/);
      expect(gp.body).to.include({ resourceType: 'Bundle', type: 'searchset', total: 1 });
      expect(gp.body.entry![0].search!.mode).to.equal('match');
      expect(gp.body.entry![0].fullUrl).to.equal(`${sb.urls.gp}/Patient/${m.gpPatientId}`);
      const hosp = await get<Bundle>(`${sb.urls.hospital}/Patient?identifier=${NHS_NUMBER_SYSTEM}|${m.nhsNumber}`);
      expect(hosp.body.entry![0].resource!.id).to.equal(m.hospitalPatientId);
      const mrn = (hosp.body.entry![0].resource as Patient).identifier!.find((i) => i.system === MRN_SYSTEM)!.value!;
      const byMrn = await get<Bundle>(`${sb.urls.hospital}/Patient?identifier=${MRN_SYSTEM}|${mrn}`);
      expect(byMrn.body.entry!.map((e) => e.resource!.id)).to.deep.equal([m.hospitalPatientId]);
    });

    it('searches GP patients by demographics (family case/accent-insensitive, postcode without spaces, given prefix)', async () => {
      const accented = (sb.data.gp as Patient[]).find((p) => p.resourceType === 'Patient' && /[^\x00-\x7f]/.test(p.name![0].family!));
      const patient = accented ?? (sb.data.gp.find((r) => r.resourceType === 'Patient') as Patient);
      const family = patient.name![0].family!.normalize('NFD').replace(/\p{Diacritic}/gu, '').toUpperCase();
      const postcode = patient.address![0].postalCode!.replace(/\s/g, '').toLowerCase();
      const given = patient.name![0].given![0].slice(0, 2);
      const url = `${sb.urls.gp}/Patient?family=${encodeURIComponent(family)}&given=${encodeURIComponent(given)}&birthdate=${patient.birthDate}&address-postalcode=${postcode}`;
      const { body } = await get<Bundle>(url);
      expect(body.entry!.map((e) => e.resource!.id)).to.include(patient.id);
      const none = await get<Bundle>(`${sb.urls.gp}/Patient?family=${encodeURIComponent(family)}&birthdate=1800-01-01`);
      expect(none.body.total).to.equal(0);
    });

    it('reads resources and answers unknown ids and routes with a 404 OperationOutcome', async () => {
      const m = sb.data.manifest[0];
      const read = await get<Patient>(`${sb.urls.gp}/Patient/${m.gpPatientId}`);
      expect(read.body.id).to.equal(m.gpPatientId);
      for (const url of [`${sb.urls.gp}/Patient/nope`, `${sb.urls.gp}/Patient/nope/$everything`, `${sb.urls.hospital}/Observation/nope`, `${sb.admin.gp}/nothing/here/at/all`]) {
        const res = await get<OperationOutcome>(url);
        expect(res.status, url).to.equal(404);
        expect(res.body.resourceType).to.equal('OperationOutcome');
      }
      const meta = await get<Resource>(`${sb.urls.hospital}/metadata`);
      expect(meta.body.resourceType).to.equal('CapabilityStatement');
      const health = await get<{ status: string }>(`${sb.admin.socialCare}/health`);
      expect(health.body).to.deep.equal({ status: 'ok' });
    });
  });

  describe('$everything and patient searches', () => {
    it('returns the patient compartment plus referenced Organization/Practitioner (route with $ really matches)', async () => {
      for (const m of sb.data.manifest.slice(-5)) {
        const { status, body } = await get<Bundle>(`${sb.urls.gp}/Patient/${m.gpPatientId}/$everything`);
        expect(status).to.equal(200);
        expect(body.type).to.equal('searchset');
        const resources = resourcesOf(body);
        expect(body.total).to.equal(resources.length);
        expect(resources[0]).to.include({ resourceType: 'Patient', id: m.gpPatientId });
        const keys = new Set(resources.map((r) => `${r.resourceType}/${r.id}`));
        const expected = sb.data.gp.filter((r) => JSON.stringify(r).includes(`"Patient/${m.gpPatientId}"`));
        for (const r of expected) expect(keys.has(`${r.resourceType}/${r.id}`)).to.equal(true);
        for (const r of resources.slice(1)) {
          if (SHARED_TYPES.has(r.resourceType)) {
            expect(JSON.stringify(resources)).to.include(`"${r.resourceType}/${r.id}"`);
          } else expect(JSON.stringify(r)).to.include(`"Patient/${m.gpPatientId}"`);
        }
        expect(resources.some((r) => r.resourceType === 'Organization')).to.equal(true);
      }
    });

    it('narrows $everything to the types listed in _type', async () => {
      const m = sb.data.manifest.find((e) => e.hospitalPatientId)!;
      const all = resourcesOf((await get<Bundle>(`${sb.urls.hospital}/Patient/${m.hospitalPatientId}/$everything`)).body);
      const { status, body } = await get<Bundle>(`${sb.urls.hospital}/Patient/${m.hospitalPatientId}/$everything?_type=Patient,Encounter`);
      expect(status).to.equal(200);
      const narrowed = resourcesOf(body);
      expect(narrowed.map((r) => `${r.resourceType}/${r.id}`)).to.deep.equal(
        all.filter((r) => r.resourceType === 'Patient' || r.resourceType === 'Encounter').map((r) => `${r.resourceType}/${r.id}`),
      );
      expect(narrowed.some((r) => r.resourceType === 'Encounter')).to.equal(true);
      expect(narrowed.length).to.be.below(all.length);
    });

    it('searches a type by patient', async () => {
      const m = sb.data.manifest.find((e) => e.hospitalPatientId)!;
      const { body } = await get<Bundle>(`${sb.urls.hospital}/Encounter?patient=${m.hospitalPatientId}`);
      expect(body.total).to.be.greaterThan(0);
      for (const r of resourcesOf(body) as Encounter[]) expect(r.subject!.reference).to.equal(`Patient/${m.hospitalPatientId}`);
    });
  });

  describe('realistic duplicates', () => {
    it('re-records allergies and active medications at admission: own id, new wording, same code, status and date', async () => {
      const m = sb.data.manifest.find((e) => e.duplicates > 0 && e.hospitalPatientId)!;
      const gp = [
        ...resourcesOf((await get<Bundle>(`${sb.urls.gp}/AllergyIntolerance?patient=${m.gpPatientId}`)).body),
        ...resourcesOf((await get<Bundle>(`${sb.urls.gp}/MedicationRequest?patient=${m.gpPatientId}`)).body),
      ] as (AllergyIntolerance | MedicationRequest)[];
      const hosp = [
        ...resourcesOf((await get<Bundle>(`${sb.urls.hospital}/AllergyIntolerance?patient=${m.hospitalPatientId}`)).body),
        ...resourcesOf((await get<Bundle>(`${sb.urls.hospital}/MedicationRequest?patient=${m.hospitalPatientId}`)).body),
      ] as (AllergyIntolerance | MedicationRequest)[];
      const concept = (r: AllergyIntolerance | MedicationRequest) => (r.resourceType === 'AllergyIntolerance' ? r.code : r.medicationCodeableConcept)!;
      const date = (r: AllergyIntolerance | MedicationRequest) =>
        r.resourceType === 'AllergyIntolerance' ? r.onsetDateTime ?? r.recordedDate : r.authoredOn;
      const status = (r: AllergyIntolerance | MedicationRequest) =>
        r.resourceType === 'AllergyIntolerance' ? r.clinicalStatus?.coding?.[0].code : r.status;
      let matched = 0;
      for (const h of hosp) {
        const twin = gp.find(
          (g) => g.resourceType === h.resourceType && concept(g).coding![0].system === concept(h).coding![0].system && concept(g).coding![0].code === concept(h).coding![0].code && date(g) === date(h),
        );
        if (!twin) continue;
        matched++;
        expect(h.id).not.to.equal(twin.id);
        expect(concept(h).text).not.to.equal(concept(twin).text);
        expect(status(h)).to.equal(status(twin));
      }
      expect(matched).to.equal(m.duplicates);
    });
  });

  describe('social care API (not FHIR)', () => {
    it('holds people with and without NHS numbers, matching GP demographics', async () => {
      const withNhs = sb.data.manifest.filter((m) => m.socialCarePersonId && m.socialCareHasNhsNumber);
      const without = sb.data.manifest.filter((m) => m.socialCarePersonId && m.socialCareHasNhsNumber === false);
      expect(withNhs.length).to.be.greaterThan(0);
      expect(without.length).to.be.greaterThan(0);
      for (const m of without.slice(0, 5)) {
        const person = (await get<PersonSummary>(`${sb.urls.socialCare}/api/v1/people/${m.socialCarePersonId}`)).body;
        expect(person.personId).to.match(/^SC\d{6}$/);
        expect(person.nhsNumber).to.equal(null);
        const gp = (await get<Patient>(`${sb.urls.gp}/Patient/${m.gpPatientId}`)).body;
        expect(person.surname).to.equal(gp.name![0].family);
        expect(person.dateOfBirth).to.equal(gp.birthDate);
        expect(person.address.postcode).to.equal(gp.address![0].postalCode);
        expect(gp.name![0].given![0].startsWith(person.forename)).to.equal(true);
        const url = `${sb.urls.socialCare}/api/v1/people?surname=${encodeURIComponent(person.surname.toLowerCase())}&dateOfBirth=${person.dateOfBirth}&postcode=${person.address.postcode.replace(' ', '').toLowerCase()}`;
        const found = await get<PeopleResponse>(url);
        expect(found.type).to.match(/^application\/json/);
        expect(found.body.people.map((p) => p.personId)).to.include(m.socialCarePersonId);
      }
      const m = withNhs[0];
      const byNhs = await get<PeopleResponse>(`${sb.urls.socialCare}/api/v1/people?nhsNumber=${m.nhsNumber}`);
      expect(byNhs.body.people.map((p) => p.personId)).to.deep.equal([m.socialCarePersonId]);
    });

    it('serves a case with care packages, assessments, contacts and key worker; 404/400 as JSON errors', async () => {
      const m = sb.data.manifest.find((e) => e.socialCarePersonId)!;
      const { body } = await get<CaseResponse>(`${sb.urls.socialCare}/api/v1/people/${m.socialCarePersonId}/case`);
      expect(body.person.personId).to.equal(m.socialCarePersonId);
      expect(body.carePackages.length).to.be.greaterThan(0);
      expect(body.carePackages[0]).to.have.keys(['packageId', 'serviceType', 'description', 'visitsPerDay', 'startDate', 'endDate', 'status', 'provider', 'reviewedOn']);
      expect(body.assessments[0].assessmentType).to.equal('care-act-needs');
      expect(body).to.have.property('contacts').that.is.an('array');
      expect(body).to.have.property('keyWorker');
      expect(sb.data.socialCare.some((c) => c.contacts.some((x) => x.isCarer))).to.equal(true);
      const missing = await get<ErrorResponse>(`${sb.urls.socialCare}/api/v1/people/SC000000/case`);
      expect(missing.status).to.equal(404);
      expect(missing.body.error).to.be.a('string');
      const bad = await get<ErrorResponse>(`${sb.urls.socialCare}/api/v1/people?surname=Smith`);
      expect(bad.status).to.equal(400);
    });
  });
});
