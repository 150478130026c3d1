import { existsSync } from 'node:fs';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { packageFile } from '../../store/package-files.js';
import { faultsFromEnv } from './faults.js';
import { startRegion } from './region.js';
import { startSandbox } from './start.js';

/**
 * CLI: starts the sandbox from env and prints one JSON line
 *   {"sandbox":{"gp":<FHIR base>,"hospital":<FHIR base>,"socialCare":<API root>,"admin":{…server roots},"counts":{…}}}
 * and runs until SIGTERM/SIGINT. Never logs patient data.
 *   SANDBOX_BUNDLE_DIRS  colon-separated Synthea-format dirs (default ../shared/data/synthea if present)
 *   SANDBOX_GENERATE     number of generated patients (default 50; 0 = none)
 *   SANDBOX_SEED         generator seed (default 1)
 *   SANDBOX_GP_PORT / SANDBOX_HOSPITAL_PORT / SANDBOX_SOCIAL_CARE_PORT  (7001 / 7002 / 7003)
 *   SANDBOX_HOST         (default 127.0.0.1)
 *   SANDBOX_<GP|HOSPITAL|SOCIAL_CARE>_FAULT / _LATENCY_MS / _JITTER_MS  (see faults.ts)
 *   SANDBOX_EXTRACT_DATABASE_URL    PostgreSQL for the aggregate extracts (default: in-memory PGlite)
 *   SANDBOX_EXTRACT_SCHEMA_PREFIX   extract schemas <prefix>gp / hospital / social_care (default src_)
 *   SANDBOX_EXTRACT_PREBUILT        1 = use those schemas as loaded (e.g. by the population generator)
 *   SANDBOX_GP_COUNT / SANDBOX_HOSPITAL_COUNT / SANDBOX_SOCIAL_CARE_COUNT  more than one source of a kind
 *        (e.g. 3 / 2 / 2): a region (region.ts) on ephemeral ports, patients distributed, some known to two
 *        trusts; the registry for the service is written to SANDBOX_REGISTRY_FILE (default .data/sources.json)
 *        and printed as {"region":{"registry":<path>,"sources":[…]}}. Each source serves its aggregate API over
 *        its own share of the people (its aggregateUrl in the registry).
 *        SANDBOX_REGION_BASE_PORT: the region's servers listen on consecutive ports from it (default ephemeral).
 */

const env = process.env;
const intEnv = (name: string, fallback: number): number => {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    process.stderr.write(`Invalid configuration: ${name} must be a non-negative integer\n`);
    process.exit(2);
  }
  return n;
};

const defaultDir = packageFile('..', 'shared', 'data', 'synthea');
const bundleDirs = env.SANDBOX_BUNDLE_DIRS !== undefined
  ? env.SANDBOX_BUNDLE_DIRS.split(':').filter(Boolean)
  : existsSync(defaultDir) ? [defaultDir] : [];
const count = intEnv('SANDBOX_GENERATE', 50);

const counts3 = ['SANDBOX_GP_COUNT', 'SANDBOX_HOSPITAL_COUNT', 'SANDBOX_SOCIAL_CARE_COUNT'].map((n) => intEnv(n, 1));
// Region mode when any count is given (even 1 / 1 / 1: a region with its registry file).
if (['SANDBOX_GP_COUNT', 'SANDBOX_HOSPITAL_COUNT', 'SANDBOX_SOCIAL_CARE_COUNT'].some((n) => env[n])) {
  const region = await startRegion({
    gp: Math.max(1, counts3[0]!), hospital: Math.max(1, counts3[1]!), socialCare: Math.max(1, counts3[2]!),
    bundleDirs, generate: count > 0 ? { count, seed: intEnv('SANDBOX_SEED', 1) } : undefined, host: env.SANDBOX_HOST || '127.0.0.1',
    latency: { gp: faultsFromEnv('GP'), hospital: faultsFromEnv('HOSPITAL'), socialCare: faultsFromEnv('SOCIAL_CARE') },
    ...(env.SANDBOX_MAX_PAGE_SIZE ? { maxPageSize: intEnv('SANDBOX_MAX_PAGE_SIZE', 1000) } : {}),
    ...(env.SANDBOX_REGION_BASE_PORT ? { basePort: intEnv('SANDBOX_REGION_BASE_PORT', 0) } : {}),
  });
  const file = env.SANDBOX_REGISTRY_FILE || '.data/sources.json';
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(region.registry(), null, 2));
  // Which sources hold each (synthetic) person and under which ids: the benchmark's patient list.
  const patients = region.data.manifest.map((m) => ({ nhsNumber: m.nhsNumber, gpPatientId: m.gpPatientId, hospitalPatientId: m.hospitalPatientId, socialCarePersonId: m.socialCarePersonId, ...region.placement.get(m.nhsNumber) }));
  console.log(JSON.stringify({ region: { registry: file, sources: region.registry().sources.map((s) => ({ id: s.id, kind: s.kind, baseUrl: s.baseUrl })), patients } }));
  const stopRegion = (): void => void region.close().then(() => process.exit(0), () => process.exit(1));
  process.on('SIGTERM', stopRegion);
  process.on('SIGINT', stopRegion);
  await new Promise(() => undefined); // runs until stopped
}

const sandbox = await startSandbox({
  bundleDirs,
  generate: count > 0 ? { count, seed: intEnv('SANDBOX_SEED', 1) } : undefined,
  host: env.SANDBOX_HOST || '127.0.0.1',
  extract: {
    ...(env.SANDBOX_EXTRACT_DATABASE_URL ? { databaseUrl: env.SANDBOX_EXTRACT_DATABASE_URL } : {}),
    ...(env.SANDBOX_EXTRACT_SCHEMA_PREFIX ? { schemaPrefix: env.SANDBOX_EXTRACT_SCHEMA_PREFIX } : {}),
    prebuilt: env.SANDBOX_EXTRACT_PREBUILT === '1' || env.SANDBOX_EXTRACT_PREBUILT === 'true',
  },
  ports: { gp: intEnv('SANDBOX_GP_PORT', 7001), hospital: intEnv('SANDBOX_HOSPITAL_PORT', 7002), socialCare: intEnv('SANDBOX_SOCIAL_CARE_PORT', 7003) },
}).catch((e: Error) => {
  // One line, no stack trace: a busy port names the variable to change (PortUnavailableError).
  process.stderr.write(`sandbox start-up failed: ${e.message}\n`);
  process.exit(1);
});
const counts = { patients: sandbox.data.manifest.length, gp: sandbox.data.gp.length, hospital: sandbox.data.hospital.length, socialCare: sandbox.data.socialCare.length };
console.log(JSON.stringify({ sandbox: { ...sandbox.urls, admin: sandbox.admin, counts } }));

let stopping = false;
const stop = (): void => {
  if (stopping) return;
  stopping = true;
  sandbox.close().then(() => process.exit(0), () => process.exit(1));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
