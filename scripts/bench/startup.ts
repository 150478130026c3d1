/**
 * `npm run bench:startup`: start-up time (process start → first `/readyz` 200) and peak RSS (VmHWM) of the
 * service, run from source under tsx and compiled from dist/ (run `npm run build` first), on a new PGlite
 * data directory (first start: creates the cluster), on an existing one (restart) and on PostgreSQL when
 * BENCH_DATABASE_URL is set (a new database is created beside it for each run and dropped afterwards).
 * Also the sandbox process: ready (URLs printed), and after its first aggregate request (the extract store).
 *
 *   BENCH_DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres npm run bench:startup
 *   BENCH_RUNS=3 (runs per row; the median time and the highest peak are printed)
 *   BENCH_RUNTIMES=tsx,compiled (which to run)
 *
 * Peaks are per process. "initdb child" is the short-lived process that creates a new PGlite cluster
 * (store/pglite-init.ts); its peak is sampled every 50 ms while it runs, so it may read a little low.
 * On a shared machine start-up times swing with the load; the RSS figures do not.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import pg from 'pg';
import { packageFile } from '../../store/package-files.js';
import { SERVICE_NODE_FLAGS } from '../../server/runtime-flags.js';
import { processTree } from './lib.js';

type Runtime = 'tsx' | 'compiled';
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const PG_URL = process.env.BENCH_DATABASE_URL;
const SYNTHEA = packageFile('..', 'shared', 'data', 'synthea');

const entry = (runtime: Runtime, path: string): string[] =>
  runtime === 'tsx' ? ['--import', 'tsx/esm', packageFile(`${path}.ts`)] : [packageFile('dist', `${path}.js`)];

/** VmHWM and VmRSS of one process, in MiB (0 once it has exited). */
function status(pid: number): { hwm: number; rss: number } {
  try {
    const s = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (f: string) => Number(new RegExp(`${f}:\\s+(\\d+) kB`).exec(s)?.[1] ?? 0);
    return { hwm: kb('VmHWM') / 1024, rss: kb('VmRSS') / 1024 };
  } catch {
    return { hwm: 0, rss: 0 };
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

function stop(proc: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
    proc.once('exit', () => resolve());
    proc.kill('SIGTERM');
    setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
  });
}

interface Sandbox {
  proc: ChildProcess;
  urls: { gp: string; hospital: string; socialCare: string; admin: { gp: string } };
  readyMs: number;
}

async function startSandbox(runtime: Runtime): Promise<Sandbox> {
  const t0 = performance.now();
  const proc = spawn(process.execPath, entry(runtime, 'scripts/sandbox/main'), {
    env: { ...process.env, SANDBOX_BUNDLE_DIRS: existsSync(SYNTHEA) ? SYNTHEA : '', SANDBOX_GP_PORT: '0', SANDBOX_HOSPITAL_PORT: '0', SANDBOX_SOCIAL_CARE_PORT: '0' },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  for await (const line of createInterface({ input: proc.stdout! })) {
    if (line.startsWith('{"sandbox"')) {
      proc.stdout!.resume();
      return { proc, urls: JSON.parse(line).sandbox, readyMs: performance.now() - t0 };
    }
  }
  throw new Error('sandbox exited before it was ready');
}

interface Sample {
  readyMs: number;
  peakMiB: number;
  rssMiB: number;
  initdbChildMiB: number;
}

/**
 * Starts the service, waits for its "listening" log line and then the first /readyz 200, waits 1 s (warm-up
 * requests settle), reads its peak, stops it. Waiting for the log line first matters on a shared machine: a
 * first start can take minutes there, and another process may take the free port meanwhile and answer.
 */
async function startService(runtime: Runtime, sandbox: Sandbox, env: Record<string, string>): Promise<Sample> {
  const port = await freePort();
  const t0 = performance.now();
  const proc = spawn(process.execPath, [...SERVICE_NODE_FLAGS, ...entry(runtime, 'server/main')], {
    env: {
      ...process.env,
      PORT: String(port),
      AUTH_MODE: 'demo',
      LOG_LEVEL: 'info',
      DATABASE_URL: '',
      GP_FHIR_URL: sandbox.urls.gp,
      HOSPITAL_FHIR_URL: sandbox.urls.hospital,
      SOCIAL_CARE_URL: sandbox.urls.socialCare,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let listening = false;
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    if (l.includes('integrated record service listening')) listening = true;
  });
  let initdbChildMiB = 0;
  const sampler = setInterval(() => {
    for (const pid of processTree(proc.pid!).slice(1)) initdbChildMiB = Math.max(initdbChildMiB, status(pid).hwm);
  }, 50);
  try {
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`service exited with ${proc.exitCode}`);
      if (performance.now() - t0 > 600_000) throw new Error('service not ready within 600 s');
      const ok = listening && (await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.ok, () => false));
      if (ok) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    const readyMs = performance.now() - t0;
    await new Promise((r) => setTimeout(r, 1000));
    const s = status(proc.pid!);
    return { readyMs, peakMiB: s.hwm, rssMiB: s.rss, initdbChildMiB };
  } finally {
    clearInterval(sampler);
    await stop(proc);
  }
}

async function withDatabase<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const admin = new pg.Client({ connectionString: PG_URL });
  await admin.connect();
  const name = `bench_startup_${process.pid}_${Date.now()}`;
  await admin.query(`CREATE DATABASE ${name}`);
  try {
    const url = new URL(PG_URL!);
    url.pathname = `/${name}`;
    return await fn(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const row = (label: string, samples: Sample[]) => {
  const child = Math.max(...samples.map((s) => s.initdbChildMiB));
  return `${label.padEnd(34)} ready ${median(samples.map((s) => s.readyMs)).toFixed(0).padStart(6)} ms   peak ${Math.max(...samples.map((s) => s.peakMiB)).toFixed(0).padStart(4)} MiB   RSS after ready ${median(samples.map((s) => s.rssMiB)).toFixed(0).padStart(4)} MiB${child ? `   initdb child peak ${child.toFixed(0)} MiB` : ''}`;
};

if (!process.env.BENCH_RUNTIMES?.match(/^tsx$/) && !existsSync(packageFile('dist', 'server', 'main.js'))) {
  process.stderr.write('dist/ is missing: run `npm run build` first\n');
  process.exit(2);
}
process.stdout.write(`node ${process.version}, ${RUNS} run(s) per row, load average ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}\n`);

for (const runtime of (process.env.BENCH_RUNTIMES ?? 'tsx,compiled').split(',') as Runtime[]) {
  const sandbox = await startSandbox(runtime);
  try {
    const first: Sample[] = [];
    const restart: Sample[] = [];
    const onPg: Sample[] = [];
    for (let i = 0; i < RUNS; i += 1) {
      const dataDir = mkdtempSync(join(tmpdir(), 'bench-startup-'));
      try {
        first.push(await startService(runtime, sandbox, { DATA_DIR: dataDir }));
        restart.push(await startService(runtime, sandbox, { DATA_DIR: dataDir }));
        if (PG_URL) onPg.push(await withDatabase((url) => startService(runtime, sandbox, { DATA_DIR: dataDir, DATABASE_URL: url })));
      } finally {
        rmSync(dataDir, { recursive: true, force: true });
      }
    }
    process.stdout.write(`${row(`service ${runtime}, PGlite new data dir`, first)}\n`);
    process.stdout.write(`${row(`service ${runtime}, PGlite existing`, restart)}\n`);
    if (PG_URL) process.stdout.write(`${row(`service ${runtime}, PostgreSQL`, onPg)}\n`);
    const atReady = status(sandbox.proc.pid!);
    const aggregate = await fetch(`${sandbox.urls.admin.gp}/aggregate/v1/version`);
    await aggregate.arrayBuffer();
    await new Promise((r) => setTimeout(r, 500));
    const afterAggregate = status(sandbox.proc.pid!);
    process.stdout.write(
      `${`sandbox ${runtime}`.padEnd(34)} ready ${sandbox.readyMs.toFixed(0).padStart(6)} ms   peak ${atReady.hwm.toFixed(0).padStart(4)} MiB at ready, ${afterAggregate.hwm.toFixed(0)} MiB after the first aggregate request (${aggregate.status}), RSS then ${afterAggregate.rss.toFixed(0)} MiB\n`,
    );
  } finally {
    await stop(sandbox.proc);
  }
}
