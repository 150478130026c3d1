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
import { ODS_SYSTEM } from '../../fhir/nhs-number.js';
import type { Db } from '../../store/db.js';
import { buildExtracts } from './extract/build.js';
import { createAggregateRouter } from './extract/routes.js';
import { loadExtractRows, openExtractDb } from './extract/store.js';
import type { SandboxSource } from './start.js';
import { UK_PLACES } from './uk.js';

/**
 * A sandbox region: N GP systems, N trusts and N councils (e.g. 3 / 2 / 2), each its own server, with the
 * loaded people distributed across them — GP records by registered practice (each GP system serves its own
 * practices, round-robin over the sorted practice codes), hospital
 * records over the trusts with every fifth patient known to two trusts (`twoTrustsEvery`), social-care
 * cases over the councils by local authority (each council serves its own local authorities).
 * Each source also serves its aggregate query API (/aggregate/v1, indicators) over its own share of the
 * people only: one extract schema per source in one in-memory PGlite, loaded on the first aggregate call.
 * Also writes the registry (adapters/source-registry.ts format, with each source's `aggregateUrl`) the
 * service needs to federate them.
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
  /** Every n-th hospital patient is known to two trusts (default 5; 0 = none). */
  twoTrustsEvery?: number;
  /**
   * Spread the GP patients over this many practices (ODS-style codes P00001, P00002 …, patient k at practice
   * k mod n) instead of the sandbox's five: a GP system serving hundreds of practices.
   */
  practices?: number;
}

export interface RegionSource {
  id: string;
  kind: 'fhir' | 'social-care-api';
  displayName: string;
  organisations: { ods: string; type: 'gp-practice' | 'trust' | 'council' }[];
  baseUrl: string;
  /** Root of its aggregate query API (the server root). */
  aggregateUrl: string;
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
  if (opts.practices) {
    let k = 0;
    for (const r of data.gp) {
      if (r.resourceType !== 'Patient') continue;
      const ods = `P${String((k++ % opts.practices) + 1).padStart(5, '0')}`;
      (r as { generalPractitioner?: unknown }).generalPractitioner = [{ identifier: { system: ODS_SYSTEM, value: ods }, display: `Practice ${ods}` }];
    }
  }
  const placement: Region['placement'] = new Map();
  const gpIndex = new Map<string, number>();
  const hospitalIndex = new Map<string, number[]>();
  const twoEvery = opts.twoTrustsEvery ?? 5;
  // Local authorities, each served by one council (round-robin over the sorted codes).
  const las = [...new Set([...UK_PLACES.map((p) => p.localAuthority.code), ...data.socialCare.map((c) => c.person.localAuthority.code)])].sort();
  const councilOfLa = new Map(las.map((code, i) => [code, i % opts.socialCare]));
  const councilOf = new Map(data.socialCare.map((c) => [c.person.personId, councilOfLa.get(c.person.localAuthority.code)!]));
  // GP practices, each served by one GP system (round-robin over the sorted codes): a GP system holds the
  // records of its own practices' patients.
  const practiceOf = new Map(data.gp.filter((r) => r.resourceType === 'Patient').map((r) => [r.id, (r as { generalPractitioner?: { identifier?: { value?: string } }[] }).generalPractitioner?.[0]?.identifier?.value ?? '']));
  const practices = [...new Set(practiceOf.values())].sort();
  const gpOfPractice = new Map(practices.map((code, i) => [code, i % opts.gp]));
  data.manifest.forEach((m, i) => {
    const gp = gpOfPractice.get(practiceOf.get(m.gpPatientId) ?? '') ?? i % opts.gp;
    gpIndex.set(m.gpPatientId, gp);
    const trusts = m.hospitalPatientId ? (twoEvery > 0 && i % twoEvery === 0 && opts.hospital > 1 ? [i % opts.hospital, (i + 1) % opts.hospital] : [i % opts.hospital]) : [];
    if (m.hospitalPatientId) hospitalIndex.set(m.hospitalPatientId, trusts);
    const council = m.socialCarePersonId ? councilOf.get(m.socialCarePersonId) : undefined;
    placement.set(m.nhsNumber, { gp: `gp-${gp + 1}`, hospitals: trusts.map((t) => `trust-${t + 1}`), ...(council !== undefined ? { council: `council-${council + 1}` } : {}) });
  });
  const gpParts = split(data.gp, opts.gp, (r) => {
    const p = patientOf(r);
    return p !== undefined && gpIndex.has(p) ? [gpIndex.get(p)!] : 'all';
  });
  const hospitalParts = split(data.hospital, opts.hospital, (r) => {
    const p = patientOf(r);
    return p !== undefined && hospitalIndex.has(p) ? hospitalIndex.get(p)! : 'all';
  });
  const councilParts = split<SocialCareCase>(data.socialCare, opts.socialCare, (c) => [councilOf.get(c.person.personId)!]);

  const servers: Server[] = [];
  const sources: RegionSource[] = [];
  const start = async (app: Express): Promise<string> => {
    const server = createServer(app);
    const port = opts.basePort ? opts.basePort + servers.length : 0;
    await new Promise<void>((resolve) => server.listen(port, host, resolve));
    servers.push(server);
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  };
  // Each source's aggregate API over its own share: one schema per source, loaded on first use.
  const shares: { schema: string; rows: () => ReturnType<typeof buildExtracts>[SandboxSource] }[] = [];
  let extractDb: Promise<Db> | undefined;
  const openExtract = async (): Promise<Db> => {
    const db = await openExtractDb();
    for (const share of shares) await loadExtractRows(db, share.schema, share.rows());
    return db;
  };
  const aggregate = (schema: string, source: 'gp' | 'hospital' | 'social-care', rows: () => ReturnType<typeof buildExtracts>[SandboxSource]) => {
    shares.push({ schema, rows });
    return createAggregateRouter({ db: () => (extractDb ??= openExtract()), schema, source });
  };
  const share = (d: Partial<SandboxData>): SandboxData => ({ gp: [], hospital: [], socialCare: [], manifest: [], ...d });

  let seed = 1;
  for (const [i, part] of gpParts.entries()) {
    const faults = new Faults(opts.latency?.gp, seed++);
    const agg = aggregate(`region_gp_${i + 1}`, 'gp', () => buildExtracts(share({ gp: part })).gp);
    const admin = await start(createFhirSourceApp(`Sandbox GP system ${i + 1}`, part, faults, agg, opts.maxPageSize));
    // The practices this GP system serves: those its patients are registered with.
    const practices = new Set(part.flatMap((r) => (r.resourceType === 'Patient' ? ((r as { generalPractitioner?: { identifier?: { value?: string } }[] }).generalPractitioner ?? []) : []).map((g) => g.identifier?.value).filter((v): v is string => !!v)));
    const organisations = [...(practices.size ? practices : new Set([`A8${1000 + i}`]))].sort().map((ods) => ({ ods, type: 'gp-practice' as const }));
    sources.push({ id: `gp-${i + 1}`, kind: 'fhir', displayName: `GP system ${i + 1}`, organisations, baseUrl: `${admin}/fhir`, aggregateUrl: admin, admin, faults });
  }
  for (const [i, part] of hospitalParts.entries()) {
    const faults = new Faults(opts.latency?.hospital, seed++);
    const trust = `RR${8 + i}`;
    const agg = aggregate(`region_trust_${i + 1}`, 'hospital', () => buildExtracts(share({ hospital: part }), { trust }).hospital);
    const admin = await start(createFhirSourceApp(`Sandbox trust ${i + 1}`, part, faults, agg, opts.maxPageSize));
    sources.push({ id: `trust-${i + 1}`, kind: 'fhir', displayName: `Hospital system (trust ${i + 1})`, organisations: [{ ods: trust, type: 'trust' }], baseUrl: `${admin}/fhir`, aggregateUrl: admin, admin, faults });
  }
  for (const [i, part] of councilParts.entries()) {
    const faults = new Faults(opts.latency?.socialCare, seed++);
    // The local authorities this council serves (at least one).
    const own = las.filter((code) => councilOfLa.get(code) === i);
    const agg = aggregate(`region_council_${i + 1}`, 'social-care', () => buildExtracts(share({ socialCare: part }), { localAuthorities: own }).socialCare);
    const admin = await start(createSocialCareApp(part, faults, agg));
    const organisations = (own.length ? own : [`E0800003${5 + i}`]).map((ods) => ({ ods, type: 'council' as const }));
    sources.push({ id: `council-${i + 1}`, kind: 'social-care-api', displayName: `Social care (council ${i + 1})`, organisations, baseUrl: admin, aggregateUrl: admin, admin, faults });
  }
  return {
    sources,
    data,
    placement,
    registry: () => ({ sources: sources.map(({ admin: _a, faults: _f, ...s }) => s) }),
    close: async () => {
      await Promise.all(
        servers.map(
          (s) =>
            new Promise<void>((resolve) => {
              s.close(() => resolve());
              s.closeAllConnections();
            }),
        ),
      );
      const db = await extractDb?.catch(() => undefined);
      await db?.close();
    },
  };
}
