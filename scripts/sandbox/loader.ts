import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle, Organization, Patient, Resource } from 'fhir/r4.js';
import { reRecordAtAdmission } from './duplicates.js';
import { hospitalPatient, organizationFor, ukFlavourPatient } from './patients.js';
import { keyOf, referencedKeys, relinkUrnReferences, replaceReference } from './references.js';
import { buildSocialCareCase, chooseSocialCare } from './social-care-data.js';
import type { SocialCareCase } from '../../adapters/social-care-api.js';
import { splitPatient } from './split.js';
import { HOSPITAL_TRUST, ODS_SYSTEM } from './uk.js';

/** Loads Synthea-format transaction Bundles (one patient each) into the three sandbox sources. See split.ts. */

export interface ManifestEntry {
  syntheaPatientId: string;
  nhsNumber: string;
  gpPatientId: string;
  hospitalPatientId?: string;
  socialCarePersonId?: string;
  socialCareHasNhsNumber?: boolean;
  /** How many hospital re-recorded copies (allergies + active medications) exist for this patient. */
  duplicates: number;
}

export interface SandboxData {
  gp: Resource[];
  hospital: Resource[];
  socialCare: SocialCareCase[];
  manifest: ManifestEntry[];
}

/** Reads every *.json Bundle in dir, in file-name order (so loading is deterministic). */
export function readBundleDir(dir: string): Bundle[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as Bundle);
}

export const loadBundleDir = (dir: string): SandboxData => loadBundles(readBundleDir(dir));

/** Adds the Organization/Practitioner resources that `resources` reference to `into` (deduplicated by key). */
function addReferencedShared(resources: Resource[], shared: Map<string, Resource>, into: Map<string, Resource>): void {
  for (const key of referencedKeys(resources)) {
    const r = shared.get(key);
    if (r && !into.has(key)) into.set(key, r);
  }
}

const odsCodeOf = (r: Resource): string | undefined =>
  r.resourceType === 'Organization' ? (r as Organization).identifier?.find((i) => i.system === ODS_SYSTEM)?.value : undefined;

export function loadBundles(bundles: Bundle[]): SandboxData {
  /** One Organization per ODS code across the whole load (the first seen, else made up), by code. */
  const odsOrgs = new Map<string, Resource>();
  const odsOrg = (code: string, name: string): Resource => {
    if (!odsOrgs.has(code)) odsOrgs.set(code, organizationFor(code, name));
    return odsOrgs.get(code)!;
  };
  const gpShared = new Map<string, Resource>();
  const hospitalShared = new Map<string, Resource>();
  const gp: Resource[] = [];
  const hospital: Resource[] = [];
  const socialCare: SocialCareCase[] = [];
  const manifest: ManifestEntry[] = [];
  const usedNhs = new Set<string>();
  let hospitalCount = 0;

  for (const bundle of bundles) {
    const entries = (bundle.entry ?? [])
      .filter((e) => e.resource)
      .map((e) => ({ fullUrl: e.fullUrl, resource: structuredClone(e.resource!) }));
    relinkUrnReferences(entries);
    const resources = entries.map((e) => e.resource);
    const input = resources.find((r): r is Patient => r.resourceType === 'Patient');
    if (!input?.id) continue;

    const { patient, flavour } = ukFlavourPatient(input, usedNhs);
    const split = splitPatient(resources);
    const shared = new Map(split.shared);
    for (const [key, r] of [...shared]) {
      const code = odsCodeOf(r);
      if (!code) continue;
      if (!odsOrgs.has(code)) odsOrgs.set(code, r);
      const canonical = keyOf(odsOrgs.get(code)!);
      if (canonical === key) continue; // else point this bundle at the one Organization for that ODS code
      shared.delete(key);
      shared.set(canonical, odsOrgs.get(code)!);
      for (const x of resources) replaceReference(x, key, canonical);
    }
    const practiceOrg = odsOrg(flavour.practice.odsCode, flavour.practice.name);
    shared.set(keyOf(practiceOrg), practiceOrg);
    patient.generalPractitioner![0].reference = keyOf(practiceOrg);
    const entry: ManifestEntry = { syntheaPatientId: input.id, nhsNumber: flavour.nhsNumber, gpPatientId: patient.id!, duplicates: 0 };

    const gpResources = [patient, ...split.gp];
    gp.push(...gpResources);
    addReferencedShared(gpResources, shared, gpShared);

    if (split.hospital.length > 0) {
      const trustOrg = odsOrg(HOSPITAL_TRUST.odsCode, HOSPITAL_TRUST.name);
      shared.set(keyOf(trustOrg), trustOrg);
      const hp = hospitalPatient(patient, ++hospitalCount, flavour.nhsNumber, keyOf(trustOrg));
      for (const r of split.hospital) replaceReference(r, `Patient/${patient.id}`, `Patient/${hp.id}`);
      const admission = split.hospitalEncounters.at(-1);
      const copies = admission ? reRecordAtAdmission(split.gp, hp.id!, admission) : [];
      const hospitalResources = [hp, ...split.hospital, ...copies];
      hospital.push(...hospitalResources);
      addReferencedShared(hospitalResources, shared, hospitalShared);
      entry.hospitalPatientId = hp.id;
      entry.duplicates = copies.length;
    }

    const choice = chooseSocialCare(patient, split.gp, flavour.socialCareHint);
    if (choice.included) {
      const scCase = buildSocialCareCase(patient, flavour, choice, 100_001 + socialCare.length);
      socialCare.push(scCase);
      entry.socialCarePersonId = scCase.person.personId;
      entry.socialCareHasNhsNumber = choice.hasNhsNumber;
    }
    manifest.push(entry);
  }

  return { gp: [...gpShared.values(), ...gp], hospital: [...hospitalShared.values(), ...hospital], socialCare, manifest };
}
