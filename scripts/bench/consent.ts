/**
 * Micro-benchmark (issue 3): consent decision + redaction per $everything on the largest shared patient.
 * Run: `node --import tsx/esm scripts/bench/consent.ts`. Builds the merged record exactly as the service
 * does (sandbox split → merge), then times decideRequest + canSee over every resource with a consent
 * that withholds hospital data and a sensitive category. Prints p50/p95/p99 in ms.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Consent, Resource } from 'fhir/r4.js';
import { mergeRecords } from '../../adapters/merge.js';
import type { SourceRecord } from '../../adapters/types.js';
import { canSee, compileConsents, decideRequest } from '../../consent/policy.js';
import { CONSENT_POLICY_URI, CONSENT_SCOPE_SYSTEM, PARTICIPATION_SYSTEM, SOURCE_SYSTEM, type AccessContext } from '../../consent/types.js';
import { generatePatients } from '../generate-patients.js';
import { loadBundles, readBundleDir } from '../sandbox/loader.js';
import { percentile } from './lib.js';

const dir = fileURLToPath(new URL('../../../shared/data/synthea', import.meta.url));
const bundles = existsSync(dir) ? readBundleDir(dir) : generatePatients({ count: 70, seed: 1 });
const data = loadBundles(bundles);
const refOf = (r: Resource) => (r as { patient?: { reference?: string }; subject?: { reference?: string } });
const recordOf = (resources: Resource[], patientId: string) =>
  resources.filter((r) => (r.resourceType === 'Patient' && r.id === patientId) || [refOf(r).patient?.reference, refOf(r).subject?.reference].includes(`Patient/${patientId}`) || r.resourceType === 'Organization' || r.resourceType === 'Practitioner');

let largest: Resource[] = [];
for (const m of data.manifest) {
  const records: SourceRecord[] = [{ source: 'gp', sourcePatientId: m.gpPatientId, resources: recordOf(data.gp, m.gpPatientId) }];
  if (m.hospitalPatientId) records.push({ source: 'hospital', sourcePatientId: m.hospitalPatientId, resources: recordOf(data.hospital, m.hospitalPatientId) });
  const merged = mergeRecords({ integratedId: '11111111-1111-4111-8111-111111111111', records, sourceUris: { gp: 'http://gp', hospital: 'http://hosp', 'social-care': 'http://sc' } });
  if (merged.length > largest.length) largest = merged;
}

const consent: Consent = {
  resourceType: 'Consent',
  status: 'active',
  scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  patient: { reference: 'Patient/11111111-1111-4111-8111-111111111111' },
  policy: [{ uri: CONSENT_POLICY_URI }],
  provision: {
    type: 'permit',
    provision: [
      { type: 'deny', actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'CST' }] }, reference: { identifier: { system: SOURCE_SYSTEM, value: 'hospital' } } }] },
      { type: 'deny', securityLabel: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'PSY' }] },
    ],
  },
};
const ctx: AccessContext = {
  principal: { sub: 'dr', role: 'clinician', organisation: 'A81001' },
  patientId: '11111111-1111-4111-8111-111111111111',
  patientNhsNumber: '9990000018',
  purpose: 'TREAT',
  now: new Date(),
  legitimateRelationship: true,
};

const times: number[] = [];
let withheld = 0;
for (let i = 0; i < 3000; i++) {
  const t = performance.now();
  const c = { ...ctx }; // a fresh context per request, as the guard builds one
  const compiled = compileConsents([consent], c.now);
  const d = decideRequest(c, compiled);
  if (!d.permit) throw new Error('unexpected deny');
  let w = 0;
  for (const r of largest) if (!(r.resourceType === 'Patient' || canSee(c, compiled, r))) w++;
  times.push(performance.now() - t);
  withheld = w;
}
times.sort((a, b) => a - b);
const warm = times.slice(0); // includes the first (cold) iterations on purpose
console.log(`consent decision + redaction on the largest patient (${largest.length} resources, ${withheld} withheld), 3000 runs:`);
console.log(`  p50 ${percentile(warm, 50).toFixed(3)} ms  p95 ${percentile(warm, 95).toFixed(3)} ms  p99 ${percentile(warm, 99).toFixed(3)} ms  (target p95 ≤ 5 ms: ${percentile(warm, 95) <= 5 ? 'PASS' : 'FAIL'})`);
