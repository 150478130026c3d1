import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Resource } from 'fhir/r4.js';
import type { Express } from 'express';
import { generatePatients } from '../generate-patients.js';
import { Faults, type FaultConfig } from './faults.js';
import { createFhirSourceApp } from './fhir-server.js';
import { loadBundles, readBundleDir, type SandboxData } from './loader.js';
import { createSocialCareApp } from './social-care-server.js';
import type { SocialCareCase } from '../../adapters/social-care-api.js';

/**
 * A sandbox region: N GP systems, N trusts and N councils (e.g. 3 / 2 / 2), each its own server, with the
 * loaded people distributed across them — GP records by patient round-robin over the GP systems, hospital
 * records over the trusts with every fifth patient known to two trusts, social-care cases over the councils.
 * Also writes the registry (adapters/source-registry.ts format) the service needs to federate them.
 */
export interface RegionOptions {
  gp: number;
  hospital: number;
  socialCare: number;
  bundleDirs?: string[];
  generate?: { count: number; seed: number };
  host?: string;
  /** Latency/jitter per kind of source (ms). */
  latency?: Partial<Record<'gp' | 'hospital' | 'socialCare', Partial<FaultConfig>>>;
  maxPageSize?: number;
  /** First port of the region's servers (then one each, in order); default 0 = ephemeral ports. */
  basePort?: number;
}

export interface RegionSource {
  id: string;
  kind: 'fhir' | 'social-care-api';
  displayName: string;
  organisations: { ods: string; type: 'gp-practice' | 'trust' | 'council' }[];
  baseUrl: string;
  /** Server root (for /__admin/faults). */
  admin: string;
  faults: Faults;
}

export interface Region {
  sources: RegionSource[];
  data: SandboxData;
  /** Which GP system / trusts / council hold each manifest entry (by NHS number). */
  placement: Map<string, { gp: string; hospitals: string[]; council?: string }>;
  /** The registry document for SOURCES_FILE. */
  registry(): { sources: Omit<RegionSource, 'admin' | 'faults'>[] };
  close(): Promise<void>;
}

const patientOf = (r: Resource): string | undefined => {
  if (r.resourceType === 'Patient') return r.id;
  return /"reference":"Patient\/([^"]+)"/.exec(JSON.stringify(r))?.[1];
};

function split<T>(items: T[], n: number, placeOf: (item: T) => number[] | 'all'): T[][] {
  const out: T[][] = Array.from({ length: n }, () => []);
  for (const item of items) {
    const where = placeOf(item);
    for (const i of where === 'all' ? out.keys() : where) out[i]!.push(item);
  }
  return out;
}

/** Starts the region's servers on loopback (ephemeral ports). */
export async function startRegion(opts: RegionOptions): Promise<Region> {
  const host = opts.host ?? '127.0.0.1';
  const bundles: Bundle[] = [];
  for (const dir of opts.bundleDirs ?? []) bundles.push(...readBundleDir(dir));
  if (opts.generate) bundles.push(...generatePatients(opts.generate));
  const data = loadBundles(bundles);
  const placement: Region['placement'] = new Map();
  const gpIndex = new Map<string, number>();
  const hospitalIndex = new Map<string, number[]>();
  data.manifest.forEach((m, i) => {
    gpIndex.set(m.gpPatientId, i % opts.gp);
    const trusts = m.hospitalPatientId ? (i % 5 === 0 && opts.hospital > 1 ? [i % opts.hospital, (i + 1) % opts.hospital] : [i % opts.hospital]) : [];
    if (m.hospitalPatientId) hospitalIndex.set(m.hospitalPatientId, trusts);
    placement.set(m.nhsNumber, { gp: `gp-${(i % opts.gp) + 1}`, hospitals: trusts.map((t) => `trust-${t + 1}`), ...(m.socialCarePersonId ? { council: `council-${(i % opts.socialCare) + 1}` } : {}) });
  });
  const councilOf = new Map(data.manifest.map((m, i) => [m.socialCarePersonId, i % opts.socialCare]));
  const gpParts = split(data.gp, opts.gp, (r) => {
    const p = patientOf(r);
    return p !== undefined && gpIndex.has(p) ? [gpIndex.get(p)!] : 'all';
  });
  const hospitalParts = split(data.hospital, opts.hospital, (r) => {
    const p = patientOf(r);
    return p !== undefined && hospitalIndex.has(p) ? hospitalIndex.get(p)! : 'all';
  });
  const councilParts = split<SocialCareCase>(data.socialCare, opts.socialCare, (c) => [councilOf.get(c.person.personId) ?? 0]);

  const servers: Server[] = [];
  const sources: RegionSource[] = [];
  const start = async (app: Express): Promise<string> => {
    const server = createServer(app);
    const port = opts.basePort ? opts.basePort + servers.length : 0;
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    servers.push(server);
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  };
  let seed = 1;
  for (const [i, part] of gpParts.entries()) {
    const faults = new Faults(opts.latency?.gp, seed++);
    const admin = await start(createFhirSourceApp(`Sandbox GP system ${i + 1}`, part, faults, undefined, opts.maxPageSize));
    // The practices this GP system serves: those its patients are registered with.
    const practices = new Set(part.flatMap((r) => (r.resourceType === 'Patient' ? ((r as { generalPractitioner?: { identifier?: { value?: string } }[] }).generalPractitioner ?? []) : []).map((g) => g.identifier?.value).filter((v): v is string => !!v)));
    const organisations = [...(practices.size ? practices : new Set([`A8${1000 + i}`]))].sort().map((ods) => ({ ods, type: 'gp-practice' as const }));
    sources.push({ id: `gp-${i + 1}`, kind: 'fhir', displayName: `GP system ${i + 1}`, organisations, baseUrl: `${admin}/fhir`, admin, faults });
  }
  for (const [i, part] of hospitalParts.entries()) {
    const faults = new Faults(opts.latency?.hospital, seed++);
    const admin = await start(createFhirSourceApp(`Sandbox trust ${i + 1}`, part, faults, undefined, opts.maxPageSize));
    sources.push({ id: `trust-${i + 1}`, kind: 'fhir', displayName: `Hospital system (trust ${i + 1})`, organisations: [{ ods: `RR${8 + i}`, type: 'trust' }], baseUrl: `${admin}/fhir`, admin, faults });
  }
  for (const [i, part] of councilParts.entries()) {
    const faults = new Faults(opts.latency?.socialCare, seed++);
    const admin = await start(createSocialCareApp(part, faults));
    sources.push({ id: `council-${i + 1}`, kind: 'social-care-api', displayName: `Social care (council ${i + 1})`, organisations: [{ ods: `E0800003${5 + i}`, type: 'council' }], baseUrl: admin, admin, faults });
  }
  return {
    sources,
    data,
    placement,
    registry: () => ({ sources: sources.map(({ admin: _a, faults: _f, ...s }) => s) }),
    close: () =>
      Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      ).then(() => undefined),
  };
}
