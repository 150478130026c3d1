import { randomBytes } from 'node:crypto';
import { expect } from 'chai';
import pg from 'pg';
import { isValidNhsNumber } from '../fhir/nhs-number.js';
import { yearsBefore } from '../indicators/spec.js';
import { openDb, type Db, type Queryable } from '../store/db.js';
import { generatePopulation, nhsNumberLateral, populationExists, quarterEndsBefore, type PopulationSummary } from '../scripts/population/generate.js';
import { populationOrganisations } from '../scripts/population/organisations.js';

/**
 * The bulk population generator (scripts/generate-population.ts) on a small population: on the PostgreSQL
 * named by DATABASE_URL (a throwaway database) or, without it, on in-memory PGlite.
 */
describe('bulk population generator (indicator benchmark data)', function () {
  this.timeout(60_000);
  const SEED = 7;
  const COUNT = 2000;
  let q: Queryable;
  let close: () => Promise<void>;
  let first: PopulationSummary;

  before(async () => {
    const url = process.env.DATABASE_URL;
    if (url) {
      const name = `ipr_popgen_${randomBytes(5).toString('hex')}`;
      const admin = new pg.Client({ connectionString: url });
      await admin.connect();
      await admin.query(`CREATE DATABASE ${name}`);
      await admin.end();
      const u = new URL(url);
      u.pathname = `/${name}`;
      const client = new pg.Client({ connectionString: u.toString() });
      await client.connect();
      q = client;
      close = async () => {
        await client.end();
        const c = new pg.Client({ connectionString: url });
        await c.connect();
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
        await c.end();
      };
    } else {
      const db: Db = await openDb({ memory: true });
      q = db;
      close = () => db.close();
    }
    first = await generatePopulation(q, { count: COUNT, seed: SEED, schemaPrefix: 'pa_' });
  });
  after(async () => close?.());

  const rows = async <T>(sql: string, params?: unknown[]): Promise<T[]> => (await q.query<T>(sql, params)).rows;

  it('puts everyone at a GP practice and subsets of them in hospital and social care, linked by NHS number', async () => {
    expect(first.persons.gp).to.equal(COUNT);
    const [gp] = await rows<{ n: number; practices: number }>(`SELECT count(*)::int AS n, count(DISTINCT org_code)::int AS practices FROM pa_gp.person`);
    expect(gp!.n).to.equal(COUNT);
    expect(gp!.practices).to.be.within(150, 200);
    for (const [schema, pattern] of [['pa_gp', /^[A-Z]\d{5}$/], ['pa_hospital', /^R[A-Z]\d$/], ['pa_social_care', /^E0[689]\d{6}$/]] as const) {
      const codes = await rows<{ org_code: string }>(`SELECT DISTINCT org_code FROM ${schema}.person`);
      for (const c of codes) expect(c.org_code, schema).to.match(pattern);
    }
    expect((await rows(`SELECT DISTINCT org_code FROM pa_hospital.person`)).length).to.be.within(15, 20);
    expect((await rows(`SELECT DISTINCT org_code FROM pa_social_care.person`)).length).to.be.within(20, 30);
    // Hospital and social care hold fractions of the people, under their own ids, only known by NHS number.
    expect(first.persons.hospital).to.be.within(COUNT * 0.08, COUNT * 0.25);
    expect(first.persons.socialCare).to.be.within(COUNT * 0.005, COUNT * 0.04);
    for (const schema of ['pa_hospital', 'pa_social_care']) {
      const [x] = await rows<{ unlinked: number; same_id: number; other: number }>(
        `SELECT count(*) FILTER (WHERE s.nhs_number IS NOT NULL AND g.person_id IS NULL)::int AS unlinked,
                count(*) FILTER (WHERE s.person_id = g.person_id)::int AS same_id,
                count(*) FILTER (WHERE g.person_id IS NOT NULL AND (g.sex <> s.sex OR g.birth_date <> s.birth_date))::int AS other
         FROM ${schema}.person s LEFT JOIN pa_gp.person g ON g.nhs_number = s.nhs_number`,
      );
      expect(x, schema).to.deep.equal({ unlinked: 0, same_id: 0, other: 0 });
    }
    const [sc] = await rows<{ with_nhs: number; n: number; adults: number }>(
      `SELECT count(nhs_number)::int AS with_nhs, count(*)::int AS n, count(*) FILTER (WHERE birth_date <= DATE '2008-03-31')::int AS adults FROM pa_social_care.person`,
    );
    expect(sc!.with_nhs / sc!.n).to.be.within(0.5, 0.8);
    expect(sc!.adults).to.equal(sc!.n);
  });

  it('gives every person a distinct valid NHS number that is never issued (starts 99)', async () => {
    const all = (await rows<{ nhs_number: string }>(`SELECT nhs_number FROM pa_gp.person`)).map((r) => r.nhs_number);
    expect(new Set(all).size).to.equal(COUNT);
    for (const n of all) {
      expect(isValidNhsNumber(n), n).to.equal(true);
      expect(n.startsWith('999')).to.equal(true);
    }
    // Past 900,000 people the 999 range is exhausted: numbers continue in 998, still valid and distinct.
    const ids = [...Array.from({ length: 3000 }, (_, i) => 898_500 + i), ...Array.from({ length: 1000 }, (_, i) => 999_001 + i)];
    const big = await rows<{ id: number; nhs: string }>(`SELECT id::int AS id, nn.nhs FROM unnest($1::int[]) id ${nhsNumberLateral('id')}`, [ids]);
    expect(new Set(big.map((r) => r.nhs)).size).to.equal(ids.length);
    for (const r of big) {
      expect(isValidNhsNumber(r.nhs), r.nhs).to.equal(true);
      expect(r.nhs.slice(0, 3)).to.equal(r.id <= 900_000 ? '999' : '998');
    }
  });

  it('publishes each local authority’s adult population equal to its generated residents aged 18+ and alive', async () => {
    const orgs = populationOrganisations(SEED);
    const laOfPractice = new Map(orgs.practices.map((p) => [p.code, orgs.localAuthorities[p.la]!]));
    const people = await rows<{ org_code: string; birth_date: string; deceased_date: string | null }>(
      `SELECT org_code, to_char(birth_date, 'YYYY-MM-DD') AS birth_date, to_char(deceased_date, 'YYYY-MM-DD') AS deceased_date FROM pa_gp.person`,
    );
    const returns = await rows<{ org_code: string; period_end: string; value: number }>(
      `SELECT org_code, to_char(period_end, 'YYYY-MM-DD') AS period_end, value FROM pa_social_care.org_return WHERE item = 'population:18+'`,
    );
    const ends = quarterEndsBefore('2026-03-31', 12);
    expect(new Set(returns.map((r) => r.period_end))).to.deep.equal(new Set(ends));
    expect(returns.length).to.equal(ends.length * orgs.localAuthorities.filter((la) => people.some((p) => laOfPractice.get(p.org_code) === la)).length);
    for (const r of returns) {
      const expected = people.filter(
        (p) => laOfPractice.get(p.org_code) === r.org_code && p.birth_date <= yearsBefore(r.period_end, 18) && (!p.deceased_date || p.deceased_date > r.period_end),
      ).length;
      expect(r.value, `${r.org_code} ${r.period_end}`).to.equal(expected);
    }
    // Food-standards returns: every trust, every quarter end, 0/1 per standard; survey: positive ≤ responses.
    const food = await rows<{ trusts: number; bad: number }>(
      `SELECT count(DISTINCT org_code)::int AS trusts, count(*) FILTER (WHERE value NOT IN (0, 1))::int AS bad FROM pa_hospital.org_return WHERE item LIKE 'food:%'`,
    );
    expect(food[0]).to.deep.equal({ trusts: 20, bad: 0 });
    const survey = await rows<{ n: number; bad: number }>(
      `SELECT count(*)::int AS n, count(*) FILTER (WHERE p.value > r.value OR r.value < 1)::int AS bad
       FROM pa_hospital.org_return r JOIN pa_hospital.org_return p USING (org_code, period_end)
       WHERE r.item = 'food-survey:responses' AND p.item = 'food-survey:positive'`,
    );
    expect(survey[0]).to.deep.equal({ n: 20 * ends.length, bad: 0 });
  });

  it('dates every fact within the person’s life and before the extract date, with the facts the indicators count', async () => {
    for (const schema of ['pa_gp', 'pa_hospital', 'pa_social_care']) {
      const [x] = await rows<{ bad: number }>(
        `SELECT count(*)::int AS bad FROM ${schema}.fact f JOIN ${schema}.person p USING (person_id)
         WHERE f.start_date > DATE '2026-03-31' OR f.start_date < p.birth_date OR f.start_date > coalesce(p.deceased_date, DATE '2026-03-31')
            OR (f.end_date IS NOT NULL AND f.end_date < f.start_date)`,
      );
      expect(x!.bad, schema).to.equal(0);
    }
    const kinds = await rows<{ kind: string; code: string }>(`SELECT DISTINCT kind, code FROM pa_gp.fact`);
    const has = (kind: string, code: string) => kinds.some((k) => k.kind === kind && k.code === code);
    for (const [kind, code] of [['condition', '44054006'], ['observation', '39156-5'], ['observation', '4548-4'], ['observation', '72166-2'], ['immunization', '140'], ['procedure', '314530002'], ['condition', '59621000'], ['observation', '85354-9']]) {
      expect(has(kind!, code!), `${kind} ${code}`).to.equal(true);
    }
    const enc = await rows<{ class: string; n: number }>(`SELECT class, count(*)::int AS n FROM pa_hospital.fact WHERE kind = 'encounter' GROUP BY class ORDER BY class`);
    expect(enc.map((e) => e.class)).to.deep.equal(['EMER', 'IMP']);
    const [readmit] = await rows<{ n: number }>(
      `SELECT count(*)::int AS n FROM pa_hospital.fact a JOIN pa_hospital.fact b ON b.person_id = a.person_id AND b.kind = 'encounter'
       WHERE a.class = 'IMP' AND a.end_date IS NOT NULL AND b.start_date > a.end_date AND b.start_date <= a.end_date + 30`,
    );
    expect(readmit!.n).to.be.greaterThan(0);
  });

  it('is deterministic for a seed, different for another, and records what it generated', async () => {
    const digest = async (prefix: string) =>
      rows<{ p: string; f: string }>(
        `SELECT (SELECT md5(string_agg(concat_ws('|', person_id, nhs_number, sex, birth_date, org_code, deceased_date), ',' ORDER BY person_id)) FROM ${prefix}gp.person) AS p,
                (SELECT md5(string_agg(concat_ws('|', person_id, kind, code, start_date, end_date, value, value_code, class, org_code), ',' ORDER BY person_id, kind, code, start_date, end_date, value, value_code, class, org_code))
                 FROM ${prefix}hospital.fact) AS f`,
      );
    const again = await generatePopulation(q, { count: COUNT, seed: SEED, schemaPrefix: 'pb_' });
    expect(again.facts).to.deep.equal(first.facts);
    expect(await digest('pb_')).to.deep.equal(await digest('pa_'));
    await generatePopulation(q, { count: COUNT, seed: SEED + 1, schemaPrefix: 'pb_' });
    expect((await digest('pb_'))[0]!.p).to.not.equal((await digest('pa_'))[0]!.p);
    expect(await populationExists(q, { count: COUNT, seed: SEED, schemaPrefix: 'pa_' })).to.equal(true);
    expect(await populationExists(q, { count: COUNT, seed: SEED + 1, schemaPrefix: 'pa_' })).to.equal(false);
    expect(await populationExists(q, { count: COUNT + 1, seed: SEED, schemaPrefix: 'pa_' })).to.equal(false);
  });
});
