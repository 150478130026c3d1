/**
 * Audit write throughput (issue 3): two service instances (two processes, each with its own pool and 16
 * concurrent requests) appending to one PostgreSQL audit chain. Needs BENCH_DATABASE_URL (a server URL;
 * a scratch database is created and dropped). Prints events/s and verifies the chain afterwards.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { AuditLog } from '../../audit/audit-log.js';
import { openDb } from '../../store/db.js';
import { migrate } from '../../store/migrate.js';

const server = process.env.BENCH_DATABASE_URL;
if (!server) {
  console.error('set BENCH_DATABASE_URL=postgres://… (a PostgreSQL server; a scratch database is created there)');
  process.exit(2);
}
const seconds = Number(process.env.BENCH_SECONDS ?? 15);
const name = `ipr_audit_bench_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: server });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = new URL(server);
url.pathname = `/${name}`;
try {
  const db = await openDb({ databaseUrl: url.toString() });
  await migrate(db);
  const run = (instances: number) =>
    Promise.all(
      Array.from({ length: instances }, () =>
        new Promise<number>((resolve, reject) => {
          const p = spawn(process.execPath, ['--import', 'tsx/esm', 'scripts/bench/audit-writer.ts'], {
            env: { ...process.env, DATABASE_URL: url.toString(), BENCH_SECONDS: String(seconds) },
            stdio: ['ignore', 'pipe', 'inherit'],
          });
          let out = '';
          p.stdout.on('data', (d) => (out += d));
          p.on('exit', (code) => (code === 0 ? resolve(JSON.parse(out).appended as number) : reject(new Error(`writer exited ${code}`))));
        }),
      ),
    );
  for (const instances of [1, 2]) {
    const counts = await run(instances);
    const total = counts.reduce((a, b) => a + b, 0);
    console.log(`${instances} instance(s) × 16 concurrent writers, ${seconds} s: ${total} events, ${(total / seconds).toFixed(0)} events/s`);
  }
  const t = performance.now();
  const v = await new AuditLog(db).verify();
  console.log(`chain verification: ${JSON.stringify(v)} in ${((performance.now() - t) / 1000).toFixed(1)} s`);
  await db.close();
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}
