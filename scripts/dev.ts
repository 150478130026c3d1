/**
 * `npm start`: starts the sandbox source systems (GP, hospital, social care) and the service on the
 * embedded default (PGlite in DATA_DIR, demo tokens), each in its own process, and once the service
 * says it is listening prints the URLs and how to mint a demo token. Ctrl-C stops both (exit 0). If either
 * fails to start or stops by itself (e.g. a busy port: its one-line reason is on stderr), the other is
 * stopped and this exits non-zero, without the banner.
 *
 * Run compiled (`npm start`: dist/scripts/dev.js) it starts the compiled sandbox and service beside it in
 * dist/; run from source (`npm run dev`: tsx) it starts their sources under tsx.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import { SERVICE_NODE_FLAGS } from '../server/runtime-flags.js';

const compiled = import.meta.url.endsWith('.js');
const loader = compiled ? [] : ['--import', 'tsx/esm'];
const entry = (path: string): string => fileURLToPath(new URL(`${path}${compiled ? '.js' : '.ts'}`, import.meta.url));
const children: ChildProcess[] = [];
let stopping = false;

/** Stops the children and exits with `code` (the first reason to stop wins). */
function stopAll(code: number): void {
  if (stopping) return;
  stopping = true;
  process.exitCode = code;
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  // Exit once the children are gone, or after 5 s at most (the timer keeps the process alive until then).
  const done = () => children.every((c) => c.exitCode !== null || c.signalCode !== null) && process.exit(code);
  for (const c of children) c.once('exit', done);
  done();
  setTimeout(() => process.exit(code), 5000);
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

async function startSandbox(): Promise<{ gp: string; hospital: string; socialCare: string }> {
  const child = spawn(process.execPath, [...loader, entry('./sandbox/main')], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  children.push(child);
  child.on('exit', (code) => {
    if (!stopping) process.stderr.write(`sandbox stopped (exit code ${code}); stopping\n`);
    stopAll(code || 1);
  });
  const lines = createInterface({ input: child.stdout! });
  for await (const line of lines) {
    try {
      const msg = JSON.parse(line) as { sandbox?: { gp: string; hospital: string; socialCare: string } };
      if (msg.sandbox) return msg.sandbox;
    } catch {
      process.stdout.write(`${line}\n`);
    }
  }
  throw new Error('sandbox ended before printing its URLs');
}

const urls = await startSandbox().catch((e: Error) => {
  process.stderr.write(`${e.message}\n`);
  stopAll(1);
  return new Promise<never>(() => undefined); // exiting
});
const port = process.env.PORT ?? '8080';
const service = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...loader, entry('../server/main')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: {
    ...process.env,
    PORT: port,
    AUTH_MODE: 'demo',
    // Development checks every response against openapi.yaml (production default: off, see README).
    VALIDATE_RESPONSES: process.env.VALIDATE_RESPONSES ?? 'true',
    // Out of the box the public indicators are not empty: computed once for the periods the demo data covers.
    INDICATORS_AT_STARTUP: process.env.INDICATORS_AT_STARTUP ?? 'true',
    GP_FHIR_URL: urls.gp,
    HOSPITAL_FHIR_URL: urls.hospital,
    SOCIAL_CARE_URL: urls.socialCare,
  },
});
children.push(service);
service.on('exit', (code) => {
  if (!stopping) process.stderr.write(`service stopped (exit code ${code}); stopping\n`);
  stopAll(code || 1);
});

const base = `http://127.0.0.1:${port}`;
// The banner only once this service says it is listening (not whatever else may answer on the port);
// a service that fails to start prints its one-line reason instead. Its log lines are passed through.
await new Promise<void>((resolve) => {
  createInterface({ input: service.stdout! }).on('line', (line) => {
    process.stdout.write(`${line}\n`);
    if (line.includes('"integrated record service listening"')) resolve();
  });
  // If the service stops first, stopAll is exiting and this never resolves: no banner.
});
process.stdout.write(
  [
    '',
    'Integrated patient record service (demo mode, embedded PGlite)',
    `  service      ${base}   (docs ${base}/docs, FHIR ${base}/fhir/metadata)`,
    `  GP system    ${urls.gp}`,
    `  hospital     ${urls.hospital}`,
    `  social care  ${urls.socialCare}`,
    'Pick a patient and their registered practice, mint a demo token for a clinician there, and search:',
    `  curl -s ${urls.gp.replace(/\/fhir$/, '')}/__admin/manifest | head -c 400`,
    '  TOKEN=$(npm run -s token -- --role clinician --org <registeredPractice>)',
    `  curl -H "Authorization: Bearer $TOKEN" '${base}/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|<NHS number>'`,
    '',
  ].join('\n'),
);
