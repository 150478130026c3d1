import { expect } from 'chai';
import type { Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { PatientIndex } from '../store/patient-index.js';
import { openTestDb, TEST_ENGINE } from './helpers/test-db.js';

describe(`store on ${TEST_ENGINE}`, () => {
  let db: Db;
  before(async () => {
    db = await openTestDb();
  });
  after(async () => {
    await db?.close();
  });

  it('applies migrations once: running them again changes nothing', async () => {
    const again = await migrate(db);
    expect(again).to.deep.equal([]);
    const applied = await db.query<{ name: string }>('SELECT name FROM schema_migration ORDER BY name');
    expect(applied.rows.map((r) => r.name)).to.include('001_patient_index.sql');
  });

  it('rolls back a failed transaction completely', async () => {
    await db
      .tx(async (q) => {
        await q.query("INSERT INTO patient (id, nhs_number) VALUES ('00000000-0000-4000-8000-000000000001', '9990000018')");
        throw new Error('boom');
      })
      .catch(() => undefined);
    const r = await db.query("SELECT 1 FROM patient WHERE id = '00000000-0000-4000-8000-000000000001'");
    expect(r.rows).to.have.length(0);
  });

  it('links source records to one integrated patient keyed by NHS number, stable across calls', async () => {
    const index = new PatientIndex(db);
    const a = await index.link('9990001234', [{ source: 'gp', sourcePatientId: 'g1', matchMethod: 'nhs-number' }]);
    const b = await index.link('9990001234', [{ source: 'hospital', sourcePatientId: 'h1', matchMethod: 'nhs-number' }]);
    expect(b).to.equal(a);
    const got = await index.get(a);
    expect(got?.nhsNumber).to.equal('9990001234');
    expect(got?.links.map((l) => `${l.source}/${l.sourcePatientId}`)).to.deep.equal(['gp/g1', 'hospital/h1']);
  });

  it('gives concurrent first sightings of the same NHS number one integrated id', async () => {
    const index = new PatientIndex(db);
    const ids = await Promise.all(
      ['gp', 'hospital', 'social-care', 'gp', 'hospital'].map((s, i) =>
        index.link('9990002249', [{ source: s, sourcePatientId: `c${i}`, matchMethod: 'nhs-number' }]),
      ),
    );
    expect(new Set(ids).size).to.equal(1);
  });

  it('links a record without NHS number through its existing link, and unlinks it on request', async () => {
    const index = new PatientIndex(db);
    const id = await index.link(null, [{ source: 'social-care', sourcePatientId: 'SC000001', matchMethod: 'demographics', matchScore: 9 }]);
    const again = await index.link(null, [{ source: 'social-care', sourcePatientId: 'SC000001', matchMethod: 'demographics', matchScore: 9 }]);
    expect(again).to.equal(id);
    expect((await index.get(id))?.links[0]?.matchScore).to.equal(9);
    await index.unlink('social-care', 'SC000001');
    expect((await index.get(id))?.links).to.deep.equal([]);
  });

  it('answers unknown and malformed ids with undefined, not an error', async () => {
    const index = new PatientIndex(db);
    expect(await index.get('not-a-uuid')).to.equal(undefined);
    expect(await index.get('00000000-0000-4000-8000-00000000ffff')).to.equal(undefined);
  });
});
