import { expect } from 'chai';
import { createHash, randomBytes } from 'node:crypto';
import pg from 'pg';
import { keyedPseudonym } from '../adapters/aggregate-api.js';
import { CATALOGUE, indicatorById } from '../indicators/catalogue.js';
import type { IndicatorSpec } from '../indicators/spec.js';
import type { Db } from '../store/db.js';
import { generatePatients } from '../scripts/generate-patients.js';
import { buildExtracts } from '../scripts/sandbox/extract/build.js';
import { compileCounts, compileCriterionMembers, compilePopulationMembers } from '../scripts/sandbox/extract/compile.js';
import { sqlHmac } from '../scripts/sandbox/extract/pseudonym-tables.js';
import { loadExtractRows, openExtractDb, type ExtractRows } from '../scripts/sandbox/extract/store.js';
import { loadBundles } from '../scripts/sandbox/loader.js';
import { startSandbox, type Sandbox } from '../scripts/sandbox/start.js';
import { EXPECTED, FIXTURE_PERIOD, fixtureNhsNumbers, indicatorFixture } from './helpers/indicator-fixture.js';

/** The sandbox sources' aggregate query API (scripts/sandbox/extract/routes.ts) over real HTTP, and its SQL compiler. */

const FIRST_NHS = '9990001112';

describe('sandbox aggregate API', function () {
  this.timeout(120_000);
  let sb: Sandbox;
  const key = randomBytes(32);
  const call = async (base: string, path: string, body?: unknown) => {
    const r = await fetch(`${base}/aggregate/v1${path}`, body === undefined ? {} : { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
    const text = await r.text();
    return { status: r.status, text, body: JSON.parse(text) as Record<string, any> };
  };
  const session = async (base: string, optedOut: string[] = []) => {
    const r = await call(base, '/sessions', { key: key.toString('base64url'), optedOut });
    expect(r.status, r.text).to.equal(201);
    return r.body.session as string;
  };
  const counts = async (base: string, s: string, spec: IndicatorSpec, windowMonths = 12) => call(base, '/counts', { session: s, period: FIXTURE_PERIOD, windowMonths, spec });
  const totals = (rows: { org: string; numerator: number; denominator: number }[]) => {
    const out: Record<string, [number, number]> = {};
    for (const r of rows) out[r.org] = [(out[r.org]?.[0] ?? 0) + r.numerator, (out[r.org]?.[1] ?? 0) + r.denominator];
    return out;
  };

  before(async () => {
    sb = await startSandbox({ useEnv: false, extract: { rows: indicatorFixture(FIRST_NHS) } });
  });
  after(async () => sb?.close());
  afterEach(() => {
    for (const f of Object.values(sb.faults)) f.reset();
  });

  it('reports each source\'s extract version', async () => {
    expect((await call(sb.admin.gp, '/version')).body).to.include({ source: 'gp', version: 'fixture-gp-1' });
    expect((await call(sb.admin.socialCare, '/version')).body).to.include({ source: 'social-care', version: 'fixture-social-care-1' });
  });

  it('answers counts only: rows per organisation, age band and sex, with the hand-worked totals', async () => {
    const s = await session(sb.admin.gp);
    const def = indicatorById('flu-vaccination-65')!;
    const r = await counts(sb.admin.gp, s, def.spec);
    expect(r.status, r.text).to.equal(200);
    expect(r.body.version).to.equal('fixture-gp-1');
    expect(r.body.rows).to.deep.equal([
      { org: 'A81001', ageBand: '80-89', sex: 'female', numerator: 1, denominator: 1 },
      { org: 'A81001', ageBand: '80-89', sex: 'male', numerator: 0, denominator: 1 },
      { org: 'A81002', ageBand: '60-69', sex: 'female', numerator: 1, denominator: 1 },
      { org: 'A81002', ageBand: '70-79', sex: 'female', numerator: 0, denominator: 1 },
    ]);
    for (const id of ['diabetes-hba1c-recorded', 'current-smokers', 'obesity-bmi-30', 'polypharmacy-75-no-review']) {
      const x = await counts(sb.admin.gp, s, indicatorById(id)!.spec, indicatorById(id)!.windowMonths);
      expect(totals(x.body.rows as never), id).to.deep.equal(EXPECTED[id]);
    }
    const hs = await session(sb.admin.hospital);
    const los = await counts(sb.admin.hospital, hs, indicatorById('mean-length-of-stay')!.spec);
    expect(totals(los.body.rows as never)).to.deep.equal(EXPECTED['mean-length-of-stay']);
  });

  it('answers a new indicator of a known shape with no new code (sex, age range, any / not)', async () => {
    const s = await session(sb.admin.gp);
    // Women aged 60-80 at 2025-03-31: GP5 (75, hypertension, no flu) and GP8 (69, flu); GP1 is 84.
    const population = { source: 'gp' as const, sex: 'female' as const, age: { min: 60, max: 80 } };
    const flu = await counts(sb.admin.gp, s, { shape: 'person-proportion', population, numerator: [{ kind: 'immunization', codes: ['140'] }] });
    expect(totals(flu.body.rows as never)).to.deep.equal({ A81002: [1, 2] });
    const either = await counts(sb.admin.gp, s, {
      shape: 'person-proportion',
      population,
      numerator: [{ kind: 'any', criteria: [{ kind: 'immunization', codes: ['140'] }, { kind: 'condition', codes: ['59621000'], timing: 'active-at-end' }] }],
    });
    expect(totals(either.body.rows as never)).to.deep.equal({ A81002: [2, 2] });
    const neither = await counts(sb.admin.gp, s, {
      shape: 'person-proportion',
      population: { source: 'gp', age: { max: 40 } },
      numerator: [{ kind: 'not', criterion: { kind: 'observation', codes: ['39156-5'], value: { op: '<', value: 30 } } }],
    }, 24);
    // Under 41, BMI over 24 months: GP3 (latest BMI 32: counts), GP4 (latest BMI 28: does not), GP6 (no BMI: counts).
    expect(totals(neither.body.rows as never)).to.deep.equal({ A81001: [1, 2], A81002: [1, 1] });
    // Over 12 months neither BMI of GP3 or GP4 is in the window, so both count.
    const shortWindow = await counts(sb.admin.gp, s, {
      shape: 'person-proportion',
      population: { source: 'gp', age: { max: 40 } },
      numerator: [{ kind: 'not', criterion: { kind: 'observation', codes: ['39156-5'], value: { op: '<', value: 30 } } }],
    });
    expect(totals(shortWindow.body.rows as never)).to.deep.equal({ A81001: [2, 2], A81002: [1, 1] });
  });

  it('leaves out the people whose keyed pseudonyms the session names, for that session only', async () => {
    const excluded = await session(sb.admin.gp, [keyedPseudonym(key, FIRST_NHS)]);
    const plain = await session(sb.admin.gp);
    const spec = indicatorById('diabetes-hba1c-recorded')!.spec;
    expect(totals((await counts(sb.admin.gp, excluded, spec)).body.rows as never)).to.deep.equal({ A81001: [0, 1] });
    expect(totals((await counts(sb.admin.gp, plain, spec)).body.rows as never)).to.deep.equal({ A81001: [1, 2] });
    // Ending the session drops it (and its exclusions).
    const db = await sb.extract.db();
    const excludedRows = () => db.query(`SELECT count(*)::int AS n FROM "${sb.extract.schemas.gp}".excluded_person WHERE session_id = $1`, [excluded]).then((r) => r.rows[0]);
    expect(await excludedRows()).to.deep.equal({ n: 1 });
    const ended = await fetch(`${sb.admin.gp}/aggregate/v1/sessions/${excluded}`, { method: 'DELETE' });
    expect(ended.status).to.equal(204);
    expect((await counts(sb.admin.gp, excluded, spec)).status).to.equal(404);
    expect(await excludedRows()).to.deep.equal({ n: 0 });
    // A pseudonym made with another key matches no one.
    const otherKey = await session(sb.admin.gp, [keyedPseudonym(randomBytes(32), FIRST_NHS)]);
    expect(totals((await counts(sb.admin.gp, otherKey, spec)).body.rows as never)).to.deep.equal({ A81001: [1, 2] });
  });

  it('keys its people once per key, ahead of the sessions when asked, and keeps only the recent keys', async () => {
    const db = await sb.extract.db();
    /** Whether the source holds a pseudonym table for the key (named by a hash of it; the key is never stored). */
    const holds = (k: Buffer) =>
      db
        .query(`SELECT 1 FROM pg_tables WHERE schemaname = $1 AND tablename LIKE $2`, [sb.extract.schemas.gp, `pseudonym\\_${createHash('sha256').update(k).digest('hex').slice(0, 16)}\\_%`])
        .then((r) => r.rows.length === 1);
    const monthKey = randomBytes(32);
    const prepare = (k: Buffer) => call(sb.admin.gp, '/keys', { key: k.toString('base64url') });
    const first = await prepare(monthKey);
    expect(first.status, first.text).to.equal(201);
    // The fixture's GP holds 8 people, 7 of them with an NHS number (the keyed ones).
    expect(first.body).to.deep.equal({ people: 7, keyed: true, version: 'fixture-gp-1' });
    expect((await prepare(monthKey)).status, 'already held').to.equal(200);
    // A session with a prepared key says so, and still leaves out whom it names.
    const opened = await call(sb.admin.gp, '/sessions', { key: monthKey.toString('base64url'), optedOut: [keyedPseudonym(monthKey, FIRST_NHS)] });
    expect(opened.body.keyPrepared).to.equal(true);
    const spec = indicatorById('diabetes-hba1c-recorded')!.spec;
    expect(totals((await counts(sb.admin.gp, opened.body.session, spec)).body.rows as never)).to.deep.equal({ A81001: [0, 1] });
    // A session with a key nobody prepared keys the people itself.
    const fresh = randomBytes(32);
    const unprepared = await call(sb.admin.gp, '/sessions', { key: fresh.toString('base64url'), optedOut: [keyedPseudonym(fresh, FIRST_NHS)] });
    expect(unprepared.body.keyPrepared).to.equal(false);
    expect(totals((await counts(sb.admin.gp, unprepared.body.session, spec)).body.rows as never)).to.deep.equal({ A81001: [0, 1] });
    // Newer keys push old ones out, but not while an open session uses one.
    const newer = [randomBytes(32), randomBytes(32), randomBytes(32)];
    for (const k of newer) expect((await prepare(k)).status).to.equal(201);
    expect([await holds(monthKey), await holds(fresh)], 'held by open sessions').to.deep.equal([true, true]);
    expect(await holds(newer[0]!), 'the oldest of the newer keys, not in use, is dropped').to.equal(false);
    const stillOpen = await call(sb.admin.gp, '/pseudonyms', { session: opened.body.session, period: FIXTURE_PERIOD, windowMonths: 12, criteria: [{ kind: 'immunization', codes: ['140'] }] });
    expect(stillOpen.status, stillOpen.text).to.equal(200);
    for (const s of [opened.body.session, unprepared.body.session]) expect((await fetch(`${sb.admin.gp}/aggregate/v1/sessions/${s}`, { method: 'DELETE' })).status).to.equal(204);
    expect([await holds(monthKey), await holds(fresh), await holds(newer[1]!), await holds(newer[2]!)], 'the sessions ended: only the two recent keys are held').to.deep.equal([false, false, true, true]);
    expect((await prepare(monthKey)).status, 'a dropped key is keyed again').to.equal(201);
    const bad = await call(sb.admin.gp, '/keys', { key: 'short' });
    expect(bad.status).to.equal(400);
    expect(bad.body.error).to.match(/key must be at least 32 bytes/);
  });

  it('keys a new extract version afresh: a person added after the key was prepared is still left out when opted out', async () => {
    const db = await sb.extract.db();
    const original = indicatorFixture(FIRST_NHS).gp;
    const monthKey = randomBytes(32);
    expect((await call(sb.admin.gp, '/keys', { key: monthKey.toString('base64url') })).status).to.equal(201);
    const added = '9990099995';
    const spec = indicatorById('diabetes-hba1c-recorded')!.spec;
    try {
      await loadExtractRows(db, sb.extract.schemas.gp, {
        persons: [...original.persons, { personId: 99, nhsNumber: added, sex: 'female', birthDate: '1960-01-01', orgCode: 'A81001' }],
        facts: [
          ...original.facts,
          { personId: 99, kind: 'condition', system: 'http://snomed.info/sct', code: '44054006', startDate: '2015-01-01' },
          { personId: 99, kind: 'observation', system: 'http://loinc.org', code: '4548-4', startDate: '2024-08-01', value: 50 },
        ],
        orgReturns: original.orgReturns,
        version: 'fixture-gp-2',
      });
      const plain = await call(sb.admin.gp, '/sessions', { key: monthKey.toString('base64url'), optedOut: [] });
      expect(plain.body.keyPrepared, 'the new version is keyed when the session opens').to.equal(false);
      expect(totals((await counts(sb.admin.gp, plain.body.session, spec)).body.rows as never)).to.deep.equal({ A81001: [2, 3] });
      const optedOut = await call(sb.admin.gp, '/sessions', { key: monthKey.toString('base64url'), optedOut: [keyedPseudonym(monthKey, added)] });
      expect(optedOut.body.keyPrepared).to.equal(true);
      expect(totals((await counts(sb.admin.gp, optedOut.body.session, spec)).body.rows as never)).to.deep.equal({ A81001: [1, 2] });
    } finally {
      await loadExtractRows(db, sb.extract.schemas.gp, original);
    }
  });

  it('returns keyed pseudonyms (never NHS numbers) for cross-source linking', async () => {
    const n = fixtureNhsNumbers(FIRST_NHS);
    const hs = await session(sb.admin.hospital);
    const crit = await call(sb.admin.hospital, '/pseudonyms', { session: hs, period: FIXTURE_PERIOD, windowMonths: 12, criteria: [{ kind: 'encounter', classes: ['EMER'] }] });
    expect(crit.status, crit.text).to.equal(200);
    expect(crit.body.pseudonyms).to.have.members([FIRST_NHS, n.gp[2]!, n.s1].map((x) => keyedPseudonym(key, x)));
    const gs = await session(sb.admin.gp);
    const pop = await call(sb.admin.gp, '/pseudonyms', {
      session: gs,
      period: FIXTURE_PERIOD,
      windowMonths: 12,
      population: { source: 'gp', age: { min: 65 } },
      criteria: [{ kind: 'immunization', codes: ['140'] }],
    });
    expect(pop.status, pop.text).to.equal(200);
    const groups = pop.body.groups as { org: string; ageBand: string; sex: string; denominator: number; matching: string[] }[];
    // GP person 8 (no NHS number) cannot be linked, so the population side leaves them out.
    expect(groups.map((g) => [g.org, g.ageBand, g.sex, g.denominator, g.matching.length])).to.have.deep.members([
      ['A81001', '80-89', 'female', 1, 1],
      ['A81001', '80-89', 'male', 1, 0],
      ['A81002', '70-79', 'female', 1, 0],
    ]);
    expect(groups.find((g) => g.sex === 'female' && g.org === 'A81001')!.matching).to.deep.equal([keyedPseudonym(key, FIRST_NHS)]);
    for (const text of [crit.text, pop.text]) for (const nhs of [FIRST_NHS, ...n.gp.filter(Boolean), n.s1]) expect(text).to.not.include(nhs as string);
  });

  it('rejects malformed requests with a message naming what is wrong', async () => {
    const s = await session(sb.admin.gp);
    const bad = await counts(sb.admin.gp, s, { shape: 'person-proportion', population: { source: 'gp' }, numerator: [{ kind: 'observation', codes: [] }] } as never);
    expect(bad.status).to.equal(400);
    expect(bad.body.error).to.include('spec.numerator[0].codes');
    const elsewhere = await counts(sb.admin.gp, s, indicatorById('dementia-emergency-admission')!.spec);
    expect(elsewhere.status).to.equal(400);
    expect(elsewhere.body.error).to.match(/gp \+ hospital/);
    const unknown = await call(sb.admin.gp, '/counts', { session: 'nope', period: FIXTURE_PERIOD, windowMonths: 12, spec: indicatorById('flu-vaccination-65')!.spec });
    expect(unknown.status).to.equal(404);
    const period = await call(sb.admin.gp, '/counts', { session: s, period: { end: '31/03/2025' }, windowMonths: 12, spec: indicatorById('flu-vaccination-65')!.spec });
    expect(period.status).to.equal(400);
    expect(period.body.error).to.include('period.end');
    const key16 = await call(sb.admin.gp, '/sessions', { key: randomBytes(16).toString('base64url'), optedOut: [] });
    expect(key16.status).to.equal(400);
    const notJson = await fetch(`${sb.admin.gp}/aggregate/v1/counts`, { method: 'POST', body: '{', headers: { 'content-type': 'application/json' } });
    expect(notJson.status).to.equal(400);
  });

  it('is subject to the source\'s fault modes', async () => {
    const s = await session(sb.admin.socialCare);
    sb.faults.socialCare.set({ mode: 'error' });
    const down = await fetch(`${sb.admin.socialCare}/aggregate/v1/counts`, { method: 'POST', body: JSON.stringify({ session: s }), headers: { 'content-type': 'application/json' } });
    expect(down.status).to.equal(500);
    sb.faults.socialCare.set({ mode: 'truncated' });
    const cut = await fetch(`${sb.admin.socialCare}/aggregate/v1/version`);
    expect(cut.status).to.equal(200);
    const text = await cut.text();
    expect(() => JSON.parse(text), 'a truncated body').to.throw();
    sb.faults.socialCare.reset();
    expect((await call(sb.admin.socialCare, '/version')).status).to.equal(200);
  });
});

/** The compiler's SQL on both engines gives identical rows. */
describe('aggregate SQL compiler on PGlite and PostgreSQL', function () {
  this.timeout(180_000);
  const url = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
  const prefix = `agg_${randomBytes(4).toString('hex')}_`;
  let lite: Db;
  let pgDb: Db | undefined;
  const sets: Record<string, Record<'gp' | 'hospital' | 'socialCare', ExtractRows>> = {};

  before(async function () {
    try {
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.end();
    } catch {
      console.log(`    (skipped: no PostgreSQL at ${url.replace(/\/\/[^@]*@/, '//')})`);
      this.skip();
    }
    sets.fixture = indicatorFixture(FIRST_NHS);
    sets.generated = buildExtracts(loadBundles(generatePatients({ count: 400, seed: 9 })));
    lite = await openExtractDb();
    pgDb = await openExtractDb(url);
    for (const [name, rows] of Object.entries(sets)) {
      for (const src of ['gp', 'hospital', 'socialCare'] as const) {
        await loadExtractRows(lite, `${prefix}${name}_${src.toLowerCase()}`, rows[src]);
        await loadExtractRows(pgDb, `${prefix}${name}_${src.toLowerCase()}`, rows[src]);
      }
    }
  });
  after(async () => {
    if (pgDb) {
      for (const name of Object.keys(sets)) for (const src of ['gp', 'hospital', 'socialcare']) await pgDb.query(`DROP SCHEMA IF EXISTS "${prefix}${name}_${src}" CASCADE`);
      await pgDb.close();
    }
    await lite?.close();
  });

  const schemaFor = (set: string, source: string) => `${prefix}${set}_${source === 'social-care' ? 'socialcare' : source}`;
  /** Rows of both engines; comma-separated lists (aggregated in no order) are sorted for comparison. */
  const both = async (sql: string, params: unknown[]) => {
    const norm = (rows: Record<string, unknown>[]) =>
      rows.map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, k === 'matching' || k === 'nhs_numbers' ? String(v).split(',').sort().join(',') : v])));
    const a = (await lite.query(sql, params)).rows;
    const b = (await pgDb!.query(sql, params)).rows;
    return [JSON.parse(JSON.stringify(norm(a))), JSON.parse(JSON.stringify(norm(b)))];
  };

  for (const end of ['2025-03-31', '2020-12-31', '2019-06-30']) {
    it(`every single-source indicator gives the same rows on both engines (period end ${end})`, async () => {
      let nonEmpty = 0;
      for (const set of Object.keys(sets)) {
        for (const def of CATALOGUE.filter((d) => d.sources.length === 1)) {
          const { sql, params } = compileCounts(def.spec, { periodEnd: end, windowMonths: def.windowMonths, schema: schemaFor(set, def.sources[0]!) });
          const [a, b] = await both(sql, params);
          expect(a, `${set} ${def.id}`).to.deep.equal(b);
          if (a.length) nonEmpty++;
        }
      }
      expect(nonEmpty, 'the comparison covers non-empty results').to.be.greaterThan(5);
    });
  }

  it('a sandbox on PostgreSQL keys NHS numbers in SQL (pgcrypto) exactly as the service does', async () => {
    const sbPrefix = `${prefix}sb_`;
    const sb = await startSandbox({ useEnv: false, extract: { databaseUrl: url, schemaPrefix: sbPrefix, rows: indicatorFixture(FIRST_NHS) } });
    try {
      const key = randomBytes(32);
      const post = async (base: string, path: string, body: unknown) =>
        (await fetch(`${base}/aggregate/v1${path}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })).json() as Promise<Record<string, any>>;
      const n = fixtureNhsNumbers(FIRST_NHS);
      const hs = (await post(sb.admin.hospital, '/sessions', { key: key.toString('base64url'), optedOut: [keyedPseudonym(key, n.s1)] })).session;
      const crit = await post(sb.admin.hospital, '/pseudonyms', { session: hs, period: FIXTURE_PERIOD, windowMonths: 12, criteria: [{ kind: 'encounter', classes: ['EMER'] }] });
      // S1 opted out: excluded at the hospital too (exclusion materialised in SQL).
      expect(crit.pseudonyms).to.have.members([FIRST_NHS, n.gp[2]!].map((x) => keyedPseudonym(key, x)));
      const gs = (await post(sb.admin.gp, '/sessions', { key: key.toString('base64url'), optedOut: [] })).session;
      const pop = await post(sb.admin.gp, '/pseudonyms', { session: gs, period: FIXTURE_PERIOD, windowMonths: 12, population: { source: 'gp', age: { min: 65 } }, criteria: [{ kind: 'immunization', codes: ['140'] }] });
      expect(pop.groups.flatMap((g: { matching: string[] }) => g.matching)).to.deep.equal([keyedPseudonym(key, FIRST_NHS)]);
      const counts = await post(sb.admin.gp, '/counts', { session: gs, period: FIXTURE_PERIOD, windowMonths: 12, spec: indicatorById('flu-vaccination-65')!.spec });
      expect(counts.rows.length).to.equal(4);
      const available = (await pgDb!.query(`SELECT count(*)::int AS n FROM pg_available_extensions WHERE name = 'pgcrypto'`)).rows[0] as { n: number };
      expect(await sqlHmac(await sb.extract.db()), 'keys computed in SQL when pgcrypto is available').to.equal(available.n === 1);
    } finally {
      await sb.close();
      for (const src of ['gp', 'hospital', 'social_care']) await pgDb!.query(`DROP SCHEMA IF EXISTS "${sbPrefix}${src}" CASCADE`);
    }
  });

  it('a sandbox loading its own data into PostgreSQL refuses to overwrite an extract built by someone else', async () => {
    const guard = `${prefix}guard_`;
    await loadExtractRows(pgDb!, `${guard}gp`, { ...sets.fixture!.gp, version: 'population:v2;count=8' });
    try {
      const failed = await startSandbox({ useEnv: false, extract: { databaseUrl: url, schemaPrefix: guard } }).then(
        async (sb) => (await sb.close(), undefined),
        (e: Error) => e,
      );
      expect(failed?.message).to.match(/holds another extract .*SANDBOX_EXTRACT_PREBUILT=1/);
      expect((await pgDb!.query(`SELECT count(*)::int AS n FROM "${guard}gp".person`)).rows[0]).to.deep.equal({ n: 8 });
      // With prebuilt the same schema is used as it is.
      const sb = await startSandbox({ useEnv: false, extract: { databaseUrl: url, schemaPrefix: guard, prebuilt: true } });
      try {
        expect((await (await fetch(`${sb.admin.gp}/aggregate/v1/version`)).json()).version).to.equal('population:v2;count=8');
      } finally {
        await sb.close();
      }
    } finally {
      for (const src of ['gp', 'hospital', 'social_care']) await pgDb!.query(`DROP SCHEMA IF EXISTS "${guard}${src}" CASCADE`);
    }
  });

  it('the cross-source member queries give the same people on both engines', async () => {
    for (const set of Object.keys(sets)) {
      for (const def of CATALOGUE.filter((d) => d.sources.length > 1)) {
        if (def.spec.shape !== 'person-proportion') continue;
        const pop = def.spec.population;
        const ctx = (source: string) => ({ periodEnd: set === 'fixture' ? '2025-03-31' : '2020-12-31', windowMonths: def.windowMonths, schema: schemaFor(set, source) });
        const p = compilePopulationMembers(pop, [], ctx(pop.source));
        const [a, b] = await both(p.sql, p.params);
        expect(a.length, `${set} ${def.id} population`).to.be.greaterThan(0);
        expect(a, `${set} ${def.id} population`).to.deep.equal(b);
        const c = compileCriterionMembers(def.spec.numerator, ctx('hospital'));
        const [x, y] = await both(c.sql, c.params);
        expect(x, `${set} ${def.id} criterion`).to.deep.equal(y);
      }
    }
  });
});
