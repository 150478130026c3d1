import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { startSandbox, type Sandbox } from '../scripts/sandbox/start.js';
import { PACKAGE_ROOT } from '../store/package-files.js';

/**
 * The production build (`npm run build` → compiled JavaScript, run without tsx): it compiles, the compiled
 * service finds the files the build does not copy (SQL migrations, openapi.yaml), starts within its memory
 * budget, and nothing production runs needs a development dependency.
 */
const pkg = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'package.json'), 'utf8')) as { devDependencies: Record<string, string>; scripts: Record<string, string> };

/** Every .ts file under `dir` (relative to the package root). */
function sources(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (p.endsWith('.ts')) out.push(p);
    }
  };
  if (existsSync(join(PACKAGE_ROOT, dir))) walk(join(PACKAGE_ROOT, dir));
  return out;
}

/** Package names a module loads at run time (type-only imports are erased by the compiler). */
function runtimeImports(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const names: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\s+(?!type\s)(?:[^'"]*?\sfrom\s+)?['"]([^'"]+)['"]/gm)) names.push(m[1]!);
  for (const m of text.matchAll(/(?<!typeof\s+)\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) names.push(m[1]!); // not `typeof import('x')` (a type)
  return names
    .filter((s) => !s.startsWith('.') && !s.startsWith('node:'))
    .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!));
}

describe('production build', function () {
  it('production modules load no development dependency (ajv, tsx, … are for tests and development only)', () => {
    const tsconfig = JSON.parse(readFileSync(join(PACKAGE_ROOT, 'tsconfig.build.json'), 'utf8').replace(/^\s*\/\/.*$/gm, '')) as { include: string[] };
    // The benchmarks and the population generator are development tools run under tsx.
    const devOnly = ['scripts/bench/', 'scripts/generate-population.ts', 'scripts/population/'];
    const files = tsconfig.include.flatMap(sources).filter((f) => !devOnly.some((d) => relative(PACKAGE_ROOT, f).startsWith(d)));
    expect(files.length).to.be.greaterThan(50);
    const offending = files.flatMap((f) => runtimeImports(f).filter((n) => n in pkg.devDependencies).map((n) => `${relative(PACKAGE_ROOT, f)} → ${n}`));
    expect(offending).to.deep.equal([]);
  });

  it('npm start and npm run serve run compiled JavaScript, not tsx', () => {
    expect(pkg.scripts.start).to.match(/^node dist\//);
    expect(pkg.scripts.serve).to.match(/^node .*dist\/server\/main\.js$/);
    expect(pkg.scripts.prestart).to.equal('npm run build');
    expect(`${pkg.scripts.start} ${pkg.scripts.serve}`).not.to.include('tsx');
  });

  describe('the compiled service', function () {
    this.timeout(600_000); // minutes only on a heavily shared machine: initdb alone took 220 s at load average 30
    // Compiled into a folder inside the package (gitignored tmp/), as dist/ is: the package root is found the same way.
    const outDir = join(PACKAGE_ROOT, 'tmp', `build-test-${process.pid}`);
    const dataDir = mkdtempSync(join(tmpdir(), 'ipr-build-'));
    let sandbox: Sandbox;
    let proc: ChildProcess | undefined;
    let base = '';

    before(async () => {
      const tsc = spawnSync(join(PACKAGE_ROOT, 'node_modules', '.bin', 'tsc'), ['-p', 'tsconfig.build.json', '--outDir', outDir], { cwd: PACKAGE_ROOT, encoding: 'utf8' });
      expect(tsc.status, `${tsc.stdout}${tsc.stderr}`).to.equal(0);
      sandbox = await startSandbox({ useEnv: false, generate: { count: 3, seed: 4 } });
      const port = await new Promise<number>((resolve) => {
        const s = createServer().listen(0, '127.0.0.1', () => {
          const p = (s.address() as { port: number }).port;
          s.close(() => resolve(p));
        });
      });
      base = `http://127.0.0.1:${port}`;
      // From another working directory: nothing may depend on being started from the package root.
      proc = spawn(process.execPath, [join(outDir, 'server', 'main.js')], {
        cwd: tmpdir(),
        env: {
          ...process.env,
          // On a new PGlite data directory: the costly first start (initdb), whichever engine the suite runs on.
          DATABASE_URL: '',
          DATA_DIR: dataDir,
          PORT: String(port),
          AUTH_MODE: 'demo',
          LOG_LEVEL: 'warn',
          GP_FHIR_URL: sandbox.urls.gp,
          HOSPITAL_FHIR_URL: sandbox.urls.hospital,
          SOCIAL_CARE_URL: sandbox.urls.socialCare,
        },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let stderr = '';
      proc.stderr!.on('data', (d) => (stderr += d));
      const until = Date.now() + 500_000;
      for (;;) {
        if (proc.exitCode !== null) throw new Error(`compiled service exited ${proc.exitCode}: ${stderr}`);
        if (Date.now() > until) throw new Error('compiled service not ready');
        if (await fetch(`${base}/readyz`).then((r) => r.ok, () => false)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
    });
    after(async () => {
      if (proc && proc.exitCode === null) {
        const exited = new Promise((r) => proc!.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      await sandbox?.close();
      rmSync(outDir, { recursive: true, force: true });
      rmSync(dataDir, { recursive: true, force: true });
    });

    it('is ready: its database is migrated from store/migrations and every source answers', async () => {
      const res = await fetch(`${base}/readyz`);
      expect(res.status).to.equal(200);
      const body = (await res.json()) as { checks: { name: string; ok: boolean }[] };
      expect(body.checks.find((c) => c.name === 'database')?.ok).to.equal(true);
      expect(existsSync(join(outDir, 'store', 'migrations'))).to.equal(false); // read from the package root, not copied
    });

    it('serves openapi.yaml from the package root and validates requests against it', async () => {
      const spec = await fetch(`${base}/openapi.yaml`);
      expect(spec.status).to.equal(200);
      expect(await spec.text()).to.equal(readFileSync(join(PACKAGE_ROOT, 'openapi.yaml'), 'utf8'));
      const undeclared = await fetch(`${base}/fhir/NoSuchResource`, { headers: { accept: 'application/fhir+json' } });
      expect(undeclared.status).to.equal(404);
      expect(((await undeclared.json()) as { resourceType: string }).resourceType).to.equal('OperationOutcome');
    });

    it('peaks at no more than 512 MiB resident, starting on a new PGlite data directory', () => {
      const status = readFileSync(`/proc/${proc!.pid}/status`, 'utf8');
      const peakMiB = Number(/VmHWM:\s+(\d+) kB/.exec(status)![1]) / 1024;
      expect(peakMiB).to.be.lessThan(512);
    });
  });
});
