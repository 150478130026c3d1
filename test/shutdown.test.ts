import { expect } from 'chai';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox, type Sandbox } from '../scripts/sandbox/start.js';

/** The real listener (server/main.ts) in its own process: start-up, readiness, graceful SIGTERM. */
describe('server process: start-up and graceful shutdown', function () {
  this.timeout(60_000);
  let sandbox: Sandbox;
  let dataDir: string;
  let proc: ChildProcess | undefined;
  const port = 19_000 + Math.floor(Math.random() * 500);
  const base = `http://127.0.0.1:${port}`;

  before(async () => {
    sandbox = await startSandbox({ useEnv: false, generate: { count: 5, seed: 2 } });
    dataDir = mkdtempSync(join(tmpdir(), 'ipr-shutdown-'));
  });
  after(async () => {
    if (proc && proc.exitCode === null) proc.kill('SIGKILL');
    await sandbox?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const start = (env: Record<string, string>) => {
    const child = spawn(process.execPath, ['--import', 'tsx/esm', 'server/main.ts'], {
      env: { ...process.env, DATABASE_URL: '', DATA_DIR: dataDir, PORT: String(port), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    return { child, stderr: () => stderr };
  };

  it('refuses to start when a setting is missing, naming it', async () => {
    const { child, stderr } = start({ GP_FHIR_URL: '', HOSPITAL_FHIR_URL: sandbox.urls.hospital, SOCIAL_CARE_URL: sandbox.urls.socialCare });
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).to.equal(2);
    expect(stderr()).to.include('GP_FHIR_URL');
  });

  it('finishes an in-flight request on SIGTERM, then exits 0 and accepts no new connections', async () => {
    const { child } = start({ GP_FHIR_URL: sandbox.urls.gp, HOSPITAL_FHIR_URL: sandbox.urls.hospital, SOCIAL_CARE_URL: sandbox.urls.socialCare });
    proc = child;
    // Up to 50 s: PGlite start-up is slow on a loaded machine.
    for (let i = 0; i < 500 && !(await fetch(`${base}/healthz`).then((r) => r.ok, () => false)); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    sandbox.faults.gp.set({ latencyMs: 800 });
    const inFlight = fetch(`${base}/readyz`); // waits on the slow GP health check
    await new Promise((r) => setTimeout(r, 200));
    child.kill('SIGTERM');
    const res = await inFlight;
    expect(res.status).to.equal(200);
    const code = await new Promise((r) => child.on('exit', r));
    expect(code).to.equal(0);
    const after = await fetch(`${base}/healthz`).then(() => 'connected', () => 'refused');
    expect(after).to.equal('refused');
    sandbox.faults.gp.reset();
  });
});
