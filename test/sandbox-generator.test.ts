import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import type { Bundle, Patient, Resource } from 'fhir/r4.js';
import { generatePatients } from '../scripts/generate-patients.js';
import { loadBundleDir, loadBundles } from '../scripts/sandbox/loader.js';

const patientOf = (b: Bundle): Patient => b.entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource as Patient;
const codesIn = (bundles: Bundle[]): Set<string> => new Set(JSON.stringify(bundles).match(/"code":"[^"]+"/g)!.map((s) => s.slice(8, -1)));

describe('synthetic patient generator', () => {
  it('is deterministic: same seed, same output; another seed, another population', () => {
    const a = generatePatients({ count: 25, seed: 42 });
    expect(JSON.stringify(generatePatients({ count: 25, seed: 42 }))).to.equal(JSON.stringify(a));
    expect(JSON.stringify(generatePatients({ count: 25, seed: 43 }))).not.to.equal(JSON.stringify(a));
    expect(JSON.stringify(loadBundles(a))).to.equal(JSON.stringify(loadBundles(generatePatients({ count: 25, seed: 42 }))));
  });

  it('emits Synthea-shaped transaction Bundles whose urn:uuid references all resolve', () => {
    for (const bundle of generatePatients({ count: 10, seed: 5 })) {
      expect(bundle.type).to.equal('transaction');
      const urls = new Set(bundle.entry!.map((e) => e.fullUrl));
      for (const e of bundle.entry!) {
        expect(e.fullUrl).to.equal(`urn:uuid:${e.resource!.id}`);
        expect(e.request).to.deep.equal({ method: 'POST', url: e.resource!.resourceType });
      }
      for (const ref of JSON.stringify(bundle).match(/"reference":"[^"]+"/g) ?? []) expect(urls.has(ref.slice(13, -1)), ref).to.equal(true);
    }
  });

  it('covers the UK-relevant codes and a 65+ population', () => {
    const bundles = generatePatients({ count: 150, seed: 1 });
    const codes = codesIn(bundles);
    for (const code of ['52448006', '44054006', '59621000', '195967001', '91936005', '91935009', '39156-5', '4548-4', '72166-2', '140', 'AMB', 'EMER', 'IMP']) {
      expect(codes.has(code), code).to.equal(true);
    }
    const elders = bundles.filter((b) => Number(patientOf(b).birthDate!.slice(0, 4)) <= 1955).length;
    expect(elders).to.be.greaterThan(40);
    const data = loadBundles(bundles);
    expect(data.manifest.filter((m) => m.hospitalPatientId).length).to.be.greaterThan(20);
    expect(data.manifest.reduce((n, m) => n + m.duplicates, 0)).to.be.greaterThan(0);
  });

  it('makes a twin pair the social-care system cannot tell apart on demographics', () => {
    const bundles = generatePatients({ count: 20, seed: 9 });
    const patients = bundles.map(patientOf);
    const key = (p: Patient) => `${p.name![0].family}|${p.birthDate}|${p.address![0].postalCode}`;
    const pairs = patients.filter((p) => patients.filter((q) => key(q) === key(p)).length === 2);
    expect(pairs).to.have.length(2);
    const [a, b] = pairs;
    expect(a.name![0].given![0]).not.to.equal(b.name![0].given![0]);
    expect(a.name![0].given![0][0]).to.equal(b.name![0].given![0][0]);

    const data = loadBundles(bundles);
    const inCare = data.socialCare.filter((c) => `${c.person.surname}|${c.person.dateOfBirth}|${c.person.address.postcode}` === key(a));
    expect(inCare).to.have.length(1);
    expect(inCare[0].person.nhsNumber).to.equal(null);
    expect(inCare[0].person.forename).to.equal(a.name![0].given![0][0]);
    const gpPatients = data.gp.filter((r: Resource) => r.resourceType === 'Patient') as Patient[];
    expect(JSON.stringify(gpPatients)).not.to.include('social-care-record'); // generator hint stripped
  });

  it('CLI writes one file per patient that the loader reads back identically', async () => {
    const out = mkdtempSync(join(tmpdir(), 'gen-patients-'));
    try {
      const script = fileURLToPath(new URL('../scripts/generate-patients.ts', import.meta.url));
      const tsx = fileURLToPath(new URL('../node_modules/.bin/tsx', import.meta.url));
      await promisify(execFile)(tsx, [script, '--count', '4', '--seed', '2', '--out', out]);
      expect(readdirSync(out)).to.have.length(4);
      expect(JSON.stringify(loadBundleDir(out))).to.equal(JSON.stringify(loadBundles(generatePatients({ count: 4, seed: 2 }))));
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });
});
