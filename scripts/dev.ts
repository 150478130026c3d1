/**
 * `npm start`: starts the sandbox source systems (GP, hospital, social care) and the service on the
 * embedded default (PGlite in DATA_DIR, demo tokens), each in its own process, and prints the URLs and
 * how to mint a demo token. Ctrl-C stops both.
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

function stopAll(code: number): void {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  setTimeout(() => process.exit(code), 500).unref();
}
process.on('SIGINT', () => stopAll(0));
process.on('SIGTERM', () => stopAll(0));

async function startSandbox(): Promise<{ gp: string; hospital: string; socialCare: string }> {
  const child = spawn(process.execPath, [...loader, entry('./sandbox/main')], { stdio: ['ignore', 'pipe', 'inherit'], env: process.env });
  children.push(child);
  child.on('exit', (code) => {
    process.stderr.write(`sandbox exited (${code})\n`);
    stopAll(1);
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

const urls = await startSandbox();
const port = process.env.PORT ?? '8080';
const service = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...loader, entry('../server/main')], {
  stdio: 'inherit',
  env: {
    ...process.env,
    PORT: port,
    AUTH_MODE: 'demo',
    // Development checks every response against openapi.yaml (production default: off, see README).
    VALIDATE_RESPONSES: process.env.VALIDATE_RESPONSES ?? 'true',
    GP_FHIR_URL: urls.gp,
    HOSPITAL_FHIR_URL: urls.hospital,
    SOCIAL_CARE_URL: urls.socialCare,
  },
});
children.push(service);
service.on('exit', (code) => stopAll(code ?? 1));

const base = `http://127.0.0.1:${port}`;
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
