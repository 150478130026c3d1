import { existsSync } from 'node:fs';
import { packageFile } from '../../store/package-files.js';
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
