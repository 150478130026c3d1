import { expect } from 'chai';
import { loadConfig, ConfigError } from '../server/config.js';
import { openDb, type Db } from '../store/db.js';
import { sharedRateLimiter } from '../store/rate-limits.js';
import { openTestDb, TEST_ENGINE } from './helpers/test-db.js';

const SECRET = new TextEncoder().encode('rate-limit-test-secret-0123456789abcdef');

/** Rate limits kept in the database, so every service instance over it spends from one allowance. */
describe(`shared rate limits on ${TEST_ENGINE}`, () => {
  let db: Db & { url?: string };
  let other: Db | undefined;
  before(async () => {
    db = await openTestDb();
    // On PostgreSQL a second pool, as a second service instance would have; PGlite is one process's database.
    other = db.url ? await openDb({ databaseUrl: db.url }) : undefined;
  });
  after(async () => {
    await other?.close();
    await db?.close();
  });

  it(`40 simultaneous requests from one client${TEST_ENGINE === 'postgres' ? ' over two instances' : ''}: exactly the limit (8) is allowed`, async () => {
    const limiters = [db, other ?? db].map((d) => sharedRateLimiter(d, { bucket: 'test-parallel', limit: 8, windowMs: 60_000, secret: SECRET }));
    const decisions = await Promise.all(Array.from({ length: 40 }, (_, i) => limiters[i % 2]!.take('198.51.100.1')));
    expect(decisions.filter((d) => d.allowed)).to.have.length(8);
    const refused = decisions.find((d) => !d.allowed) as { retryAfterSeconds: number };
    expect(refused.retryAfterSeconds).to.be.within(1, 60);
    expect((await limiters[0]!.take('198.51.100.2')).allowed, 'another client has its own allowance').to.equal(true);
    expect((await sharedRateLimiter(db, { bucket: 'test-other', limit: 8, windowMs: 60_000, secret: SECRET }).take('198.51.100.1')).allowed, 'another limit too').to.equal(true);
  });

  it('a new window starts once the old one has passed', async () => {
    const limiter = sharedRateLimiter(db, { bucket: 'test-window', limit: 2, windowMs: 400, secret: SECRET });
    expect((await Promise.all([1, 2, 3].map(() => limiter.take('198.51.100.3')))).map((d) => d.allowed).sort()).to.deep.equal([false, true, true]);
    await new Promise((r) => setTimeout(r, 500));
    expect((await limiter.take('198.51.100.3')).allowed).to.equal(true);
  });

  it('stores no client address, only a keyed hash, and deletes windows two windows old', async () => {
    const limiter = sharedRateLimiter(db, { bucket: 'test-privacy', limit: 5, windowMs: 200, secret: SECRET });
    await limiter.take('203.0.113.99');
    const rows = await db.query<{ client_key: string }>(`SELECT client_key FROM rate_limit WHERE bucket = 'test-privacy'`);
    expect(rows.rows).to.have.length(1);
    expect(rows.rows[0]!.client_key).to.match(/^[0-9a-f]{64}$/).and.not.include('203.0.113.99');
    await new Promise((r) => setTimeout(r, 500));
    await limiter.take('203.0.113.100');
    const left = await db.query(`SELECT 1 FROM rate_limit WHERE bucket = 'test-privacy'`);
    expect(left.rows, 'only the new client\'s window is left').to.have.length(1);
  });

  it('TRUST_PROXY takes a hop count or a list of addresses, never "true"; DATABASE_POOL_SIZE is bounded', () => {
    const base = { GP_FHIR_URL: 'http://gp.test', HOSPITAL_FHIR_URL: 'http://h.test', SOCIAL_CARE_URL: 'http://sc.test' };
    expect(loadConfig({ ...base, TRUST_PROXY: '1' }).trustProxy).to.equal(1);
    expect(loadConfig({ ...base, TRUST_PROXY: 'loopback, 10.0.0.0/8' }).trustProxy).to.deep.equal(['loopback', '10.0.0.0/8']);
    expect(loadConfig(base).trustProxy).to.equal(undefined);
    expect(() => loadConfig({ ...base, TRUST_PROXY: 'true' })).to.throw(ConfigError, /TRUST_PROXY/);
    expect(loadConfig({ ...base, DATABASE_POOL_SIZE: '25' }).databasePoolSize).to.equal(25);
    expect(() => loadConfig({ ...base, DATABASE_POOL_SIZE: '0' })).to.throw(ConfigError, /DATABASE_POOL_SIZE/);
  });
});
