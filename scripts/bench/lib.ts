/** Small helpers shared by the benchmarks: child processes, a closed-loop load generator, percentiles. */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { createInterface } from 'node:readline';

export interface Child {
  proc: ChildProcess;
  stop(): Promise<void>;
}

/** A child process with a stop() that sends SIGTERM (SIGKILL after 5 s) and waits for the exit. */
function childOf(proc: ChildProcess): Child {
  return {
    proc,
    stop: () =>
      new Promise((resolve) => {
        if (proc.exitCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGTERM');
        setTimeout(() => proc.kill('SIGKILL'), 5000).unref();
      }),
  };
}

/** Starts `node [nodeArgs] --import tsx/esm <script>` and resolves once a stdout line satisfies `ready`. */
export async function startChild<T>(script: string, env: Record<string, string>, ready: (line: string) => T | undefined, nodeArgs: string[] = []): Promise<{ child: Child; value: T }> {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx/esm', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const child = childOf(proc);
  const lines = createInterface({ input: proc.stdout! });
  for await (const line of lines) {
    const v = ready(line);
    if (v !== undefined) {
      lines.on('line', () => undefined); // keep draining
      return { child, value: v };
    }
  }
  throw new Error(`${script} exited before it was ready`);
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export interface LoadResult {
  requests: number;
  statuses: Record<number, number>;
  errors: number;
  seconds: number;
  rps: number;
  p50: number;
  p95: number;
  p99: number;
}

/**
 * `concurrency` workers each issue requests back to back for `seconds`; latencies in ms, from sending the
 * request to the last byte of the body. Like wrk or autocannon, the generator asks for gzip (as the apps
 * do) but does not decode the body: decoding is the client device's work, and on this shared 2-core machine
 * it would take CPU from the service being measured. Keep-alive connections, one per worker.
 */
export async function load(makeRequest: () => { url: string; headers?: Record<string, string> }, concurrency: number, seconds: number): Promise<LoadResult> {
  const latencies: number[] = [];
  const statuses: Record<number, number> = {};
  let errors = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const end = Date.now() + seconds * 1000;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < end) {
        const { url, headers } = makeRequest();
        const t = performance.now();
        try {
          const status = await get(url, { 'accept-encoding': 'gzip, deflate, br', ...headers }, agent);
          statuses[status] = (statuses[status] ?? 0) + 1;
        } catch {
          errors++;
        }
        latencies.push(performance.now() - t);
      }
    }),
  );
  agent.destroy();
  const elapsed = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    statuses,
    errors,
    seconds: elapsed,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p95: percentile(latencies, 95),
    p99: percentile(latencies, 99),
  };
}

/** One GET read to its last byte (not decoded); resolves with the status. */
function get(url: string, headers: Record<string, string>, agent: http.Agent): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { headers, agent }, (res) => {
      res.on('data', () => undefined);
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(30_000, () => req.destroy(new Error('timeout')));
  });
}

/** Starts a child process that is ready when `url` answers 200 (polled). */
export async function startPolled(script: string, env: Record<string, string>, url: string, nodeArgs: string[] = [], timeoutMs = 60_000): Promise<Child> {
  const proc = spawn(process.execPath, [...nodeArgs, '--import', 'tsx/esm', script], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'inherit'] });
  const child = childOf(proc);
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (proc.exitCode !== null) throw new Error(`${script} exited with ${proc.exitCode}`);
    const ok = await fetch(url).then((r) => r.ok, () => false);
    if (ok) return child;
    await new Promise((r) => setTimeout(r, 200));
  }
  await child.stop();
  throw new Error(`${script} not ready within ${timeoutMs} ms`);
}

/** Sum over a process and its descendants of a /proc status field in kB, in MiB. */
function statusMiB(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  let kb = 0;
  for (const p of processTree(pid)) {
    try {
      const m = new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${p}/status`, 'utf8'));
      kb += m ? Number(m[1]) : 0;
    } catch {
      // exited meanwhile
    }
  }
  return kb / 1024;
}

/** Peak resident set size (VmHWM) of a process, with its descendants (summed peaks), in MiB. */
export function peakRssMiB(pid: number): number {
  return statusMiB(pid, 'VmHWM');
}

/** Current resident set size (VmRSS) of a process with its descendants, in MiB. */
export function rssMiB(pid: number): number {
  return statusMiB(pid, 'VmRSS');
}

/** Samples a process's RSS every 250 ms while `work` runs; returns the work's result and the maximum seen. */
export async function withRssSampling<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; maxRssMiB: number }> {
  let max = rssMiB(pid);
  const timer = setInterval(() => {
    max = Math.max(max, rssMiB(pid));
  }, 250);
  try {
    return { result: await work(), maxRssMiB: max };
  } finally {
    clearInterval(timer);
  }
}

export const fmt = (n: number) => n.toFixed(1);
export function line(label: string, r: LoadResult): string {
  return `${label.padEnd(34)} p50 ${fmt(r.p50).padStart(7)} ms  p95 ${fmt(r.p95).padStart(7)} ms  p99 ${fmt(r.p99).padStart(7)} ms  ${fmt(r.rps).padStart(7)} req/s  n=${r.requests}  statuses=${JSON.stringify(r.statuses)} errors=${r.errors}`;
}

/** A process and its descendants (e.g. a WEB_CONCURRENCY primary and its HTTP workers), from /proc. */
export function processTree(pid: number): number[] {
  const children = (p: number): number[] => {
    try {
      return readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      return [];
    }
  };
  const out = [pid];
  for (let i = 0; i < out.length; i += 1) out.push(...children(out[i]!));
  return out;
}

/** CPU seconds (user + system) a process and its descendants have used so far (/proc/<pid>/stat, 1/100 s ticks). */
export function cpuSeconds(pid: number): number {
  let ticks = 0;
  for (const p of processTree(pid)) {
    try {
      const stat = readFileSync(`/proc/${p}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / 100;
}
