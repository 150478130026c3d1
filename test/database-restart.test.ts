/**
 * A REAL PostgreSQL server stopped and started again under a running service (issue 15, item 8): a
 * throwaway cluster of our own (initdb into a temporary directory, its own port, run as the `postgres`
 * user as .ci/run does), so stopping it disturbs nothing else. While it is down every read answers 503
 * `database-unavailable` with Retry-After, readiness says so and liveness does not; once it is back the
 * same service — not restarted — answers again, and nothing written before the outage is lost.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'chai';
import request from 'supertest';
import { openDb } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { idForNhs, issueCodes } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

const PG_ROOT = '/usr/lib/postgresql';
const pgBin = existsSync(PG_ROOT) ? readdirSync(PG_ROOT).sort((a, b) => Number(a) - Number(b)).map((v) => join(PG_ROOT, v, 'bin')).filter((d) => existsSync(join(d, 'initdb'))).at(-1) : undefined;
const asPostgres = (() => {
  try {
    execFileSync('id', ['postgres'], { stdio: 'ignore' });
    return process.getuid?.() === 0;
  } catch {
    return false;
  }
})();
const SKIP_REASON = !pgBin
  ? ' — skipped: no PostgreSQL server binaries (initdb) under /usr/lib/postgresql'
  : !asPostgres
    ? ' — skipped: starting a throwaway cluster needs root and a postgres user (as in .ci/run)'
    : '';

describe(`a real PostgreSQL stopped and restarted under the running service${SKIP_REASON}`, function () {
  this.timeout(180_000);
  let dir: string;
  let port: number;
  let h: Harness;
  const pgCtl = (...args: string[]) =>
    execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', [join(pgBin!, 'pg_ctl'), '-D', join(dir, 'data'), ...args].join(' ')], { stdio: 'ignore' });
  const start = () => pgCtl('-l', join(dir, 'log'), '-o', `"-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off"`, '-w', 'start');

  before(async function () {
    if (SKIP_REASON) this.skip();
    dir = mkdtempSync(join(tmpdir(), 'ipr-pg-restart-'));
    chownSync(dir, Number(execFileSync('id', ['-u', 'postgres']).toString()), Number(execFileSync('id', ['-g', 'postgres']).toString()));
    port = await freePort();
    execFileSync('su', ['postgres', '-s', '/bin/sh', '-c', `${join(pgBin!, 'initdb')} -D ${join(dir, 'data')} -A trust -U postgres`], { stdio: 'ignore' });
    start();
    const db = await openDb({ databaseUrl: `postgres://postgres@127.0.0.1:${port}/postgres`, connectTimeoutMs: 1000 });
    await migrate(db);
    h = await startHarness({ db, sandbox: { generate: { count: 5, seed: 41 } } });
  });
  after(async () => {
    await h?.close().catch(() => undefined);
    if (dir) {
      try {
        pgCtl('-m', 'immediate', 'stop');
      } catch {
        /* already stopped */
      }
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('answers 503 database-unavailable while the server is stopped, and serves again when it is back, without a restart', async () => {
    const entry = h.sandbox.data.manifest[0]!;
    const token = await h.clinicianFor(entry.nhsNumber);
    const patientId = await idForNhs(h.service.app, token, entry.nhsNumber);
    const read = () => request(h.service.app).get(`/fhir/Patient/${patientId}`).set('Authorization', `Bearer ${token}`).set('Accept', 'application/fhir+json');
    expect((await read()).status).to.equal(200);
    const auditBefore = await h.service.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_event');

    pgCtl('-m', 'fast', '-w', 'stop');
    const down = await read();
    expect(down.status, down.text.slice(0, 200)).to.equal(503);
    expect(issueCodes(down.body)).to.include('database-unavailable');
    expect(Number(down.headers['retry-after'])).to.be.greaterThan(0);
    expect(down.text).not.to.include(entry.nhsNumber);
    const ready = await request(h.service.app).get('/readyz');
    expect(ready.status).to.equal(503);
    expect((await request(h.service.app).get('/healthz')).status).to.equal(200);

    start();
    let back = await read();
    for (let i = 0; i < 20 && back.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 250));
      back = await read();
    }
    expect(back.status).to.equal(200);
    expect((await request(h.service.app).get('/readyz')).status).to.equal(200);
    // The reads before the outage were audited and are still there; the read after it is audited too.
    const auditAfter = await h.service.db.query<{ n: string }>('SELECT count(*)::text AS n FROM audit_event');
    expect(Number(auditAfter.rows[0]!.n)).to.be.greaterThan(Number(auditBefore.rows[0]!.n));
  });
});

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as { port: number };
  await new Promise((r) => srv.close(r));
  return port;
}
