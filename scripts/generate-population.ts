/**
 * Generates the bulk synthetic population for the indicator benchmark (issue #5) straight into the source
 * extract schemas (src_gp, src_hospital, src_social_care) of a PostgreSQL database, set-based in SQL.
 *
 *   npm run generate:population -- --count 1000000 --seed 1 --database-url postgres://postgres@127.0.0.1:5432/ipr_bench_indicators
 *
 * Options: --as-of YYYY-MM-DD (extract date, default 2026-03-31), --schema-prefix (default src_),
 * --if-changed (skip when the schemas already hold this count/seed/as-of, as recorded in extract_info).
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import { DEFAULT_AS_OF, generatePopulation, populationExists, type PopulationOptions } from './population/generate.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '1000000' },
    seed: { type: 'string', default: '1' },
    'as-of': { type: 'string', default: DEFAULT_AS_OF },
    'schema-prefix': { type: 'string', default: 'src_' },
    'database-url': { type: 'string', default: process.env.DATABASE_URL },
    'if-changed': { type: 'boolean', default: false },
  },
});
if (!values['database-url']) {
  console.error('--database-url (or DATABASE_URL) is required');
  process.exit(2);
}
const opts: PopulationOptions = {
  count: Number(values.count),
  seed: Number(values.seed),
  asOf: values['as-of'],
  schemaPrefix: values['schema-prefix'],
  log: (m) => console.log(`  ${m}`),
};
const client = new pg.Client({ connectionString: values['database-url'] });
await client.connect();
try {
  if (values['if-changed'] && (await populationExists(client, opts))) {
    console.log(`population already generated (count ${opts.count}, seed ${opts.seed}); nothing to do`);
  } else {
    await client.query(`SET synchronous_commit = off`);
    await client.query(`SET maintenance_work_mem = '512MB'`);
    await client.query(`SET work_mem = '256MB'`);
    console.log(`generating ${opts.count} people (seed ${opts.seed}, as of ${opts.asOf})`);
    const r = await generatePopulation(client, opts);
    const rows = r.persons.gp + r.persons.hospital + r.persons.socialCare + r.facts.gp + r.facts.hospital + r.facts.socialCare + r.orgReturns;
    console.log(JSON.stringify({ population: r }));
    console.log(`${rows} rows in ${r.seconds.toFixed(1)} s: ${Math.round(rows / r.seconds)} rows/s, ${Math.round(opts.count / r.seconds)} people/s`);
  }
} finally {
  await client.end();
}
