import { expect } from 'chai';
import type { Consent } from 'fhir/r4.js';
import { ConsentStore } from '../consent/store.js';
import pino from 'pino';
import { loadConfig } from '../server/config.js';
import { createService } from '../server/compose.js';
import { openDb, type Db } from '../store/db.js';
import { readCache } from '../store/embedded-cache.js';
import { PatientIndex } from '../store/patient-index.js';
import { openTestDb, TEST_ENGINE } from './helpers/test-db.js';

const consent = (status: Consent['status']): Consent => ({
  resourceType: 'Consent',
  status,
  scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
  policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
});

/** The hot reads of every record request are cached on embedded PGlite only, and never stale. */
describe(`hot-read cache on ${TEST_ENGINE}`, () => {
  let db: Db & { url?: string };
  before(async () => {
    db = await openTestDb();
  });
  after(async () => {
    await db?.close();
  });

  it('a consent written through any store over the database is seen by the very next read', async () => {
    const reader = new ConsentStore(db);
    const writer = new ConsentStore(db); // e.g. another part of the service over the same database
    const index = new PatientIndex(db);
    const patientId = await index.link('9990002222', [{ source: 'gp', sourcePatientId: 'cache-g1', matchMethod: 'nhs-number' }]);
    expect(await reader.forPatient(patientId)).to.deep.equal([]);
    const created = await writer.create(consent('active'), patientId, 'test');
    expect((await reader.forPatient(patientId)).map((c) => c.resource.status)).to.deep.equal(['active']);
    await writer.update(created.resource.id!, 1, consent('inactive'), patientId, 'test');
    expect((await reader.forPatient(patientId)).map((c) => c.resource.status)).to.deep.equal(['inactive']);
  });

  it('a new link, a moved link and an unlink are seen by the very next index read', async () => {
    const index = new PatientIndex(db);
    const a = await index.link('9990003333', [{ source: 'gp', sourcePatientId: 'cache-g2', matchMethod: 'nhs-number' }]);
    const b = await index.link('9990004444', [{ source: 'gp', sourcePatientId: 'cache-g3', matchMethod: 'nhs-number' }]);
    expect((await index.get(a))!.links.map((l) => l.sourcePatientId)).to.deep.equal(['cache-g2']);
    await new PatientIndex(db).link('9990003333', [{ source: 'hospital', sourcePatientId: 'cache-h1', matchMethod: 'nhs-number' }]);
    expect((await index.get(a))!.links.map((l) => l.sourcePatientId)).to.deep.equal(['cache-g2', 'cache-h1']);
    expect((await index.get(b))!.links.map((l) => l.sourcePatientId)).to.deep.equal(['cache-g3']);
    // The hospital record turns out to be the other person's: the link moves, both entries change.
    await new PatientIndex(db).link('9990004444', [{ source: 'hospital', sourcePatientId: 'cache-h1', matchMethod: 'nhs-number' }]);
    expect((await index.get(a))!.links.map((l) => l.sourcePatientId)).to.deep.equal(['cache-g2']);
    expect((await index.get(b))!.links.map((l) => l.sourcePatientId)).to.deep.equal(['cache-g3', 'cache-h1']);
    await new PatientIndex(db).unlink('hospital', 'cache-h1');
    expect((await index.get(b))!.links.map((l) => l.sourcePatientId)).to.deep.equal(['cache-g3']);
  });

  it('values handed out cannot be changed by a caller (frozen when cached)', async function () {
    if (db.engine !== 'pglite') this.skip();
    const index = new PatientIndex(db);
    const id = await index.link('9990005555', [{ source: 'gp', sourcePatientId: 'cache-g4', matchMethod: 'nhs-number' }]);
    await index.get(id);
    const cached = (await index.get(id))!;
    expect(() => (cached.links as unknown[]).push({})).to.throw(TypeError);
  });

  it('a read that was in flight when a write invalidated its key is not cached', async function () {
    if (db.engine !== 'pglite') this.skip();
    const cache = readCache<string>(db, 'test-generation');
    let release!: () => void;
    const slow = cache.read('k', () => new Promise<string>((r) => (release = () => r('old'))));
    cache.invalidate('k'); // a write committed while the read was running
    release();
    expect(await slow).to.equal('old');
    expect(await cache.read('k', async () => 'new')).to.equal('new');
    expect(await cache.read('k', async () => 'newer'), 'now cached').to.equal('new');
    cache.invalidate();
    expect(await cache.read('k', async () => 'after clear')).to.equal('after clear');
  });

  it('on PostgreSQL nothing is cached (other instances write too)', async function () {
    if (db.engine !== 'postgres') this.skip();
    const cache = readCache<number>(db, 'test-none');
    let n = 0;
    await cache.read('k', async () => ++n);
    expect(await cache.read('k', async () => ++n)).to.equal(2);
  });

  it('on PostgreSQL a Db has no cache registry at all, and a second instance\'s writes are seen by the next read', async function () {
    if (db.engine !== 'postgres') this.skip();
    const other = await openDb({ databaseUrl: db.url! });
    try {
      expect(other.embeddedCaches).to.equal(undefined);
      const index = new PatientIndex(db);
      const consents = new ConsentStore(db);
      const patientId = await index.link('9990006666', [{ source: 'gp', sourcePatientId: 'cache-g5', matchMethod: 'nhs-number' }]);
      expect(await consents.forPatient(patientId)).to.deep.equal([]);
      expect((await index.get(patientId))!.links).to.have.length(1);
      // Another instance (its own pool) writes: this instance's very next reads see it.
      await new ConsentStore(other).create(consent('active'), patientId, 'test');
      await new PatientIndex(other).link('9990006666', [{ source: 'hospital', sourcePatientId: 'cache-h5', matchMethod: 'nhs-number' }]);
      expect((await consents.forPatient(patientId)).map((c) => c.resource.status)).to.deep.equal(['active']);
      expect((await index.get(patientId))!.links.map((l) => l.sourcePatientId)).to.deep.equal(['cache-g5', 'cache-h5']);
    } finally {
      await other.close();
    }
  });

  it('on PGlite the service keeps the caches (whatever wraps its Db)', async function () {
    if (db.engine !== 'pglite') this.skip();
    this.timeout(120_000);
    const config = loadConfig({ GP_FHIR_URL: 'http://gp.test', HOSPITAL_FHIR_URL: 'http://h.test', SOCIAL_CARE_URL: 'http://sc.test', INDICATOR_PSEUDONYM_SECRET: 'x'.repeat(32) });
    const service = await createService(config, pino({ level: 'silent' }), { db: await openDb({ memory: true }), verifier: async () => { throw new Error('no tokens here'); } });
    try {
      expect(service.db.embeddedCaches, 'the service would read the database on every request').to.not.equal(undefined);
    } finally {
      await service.close();
    }
  });
});
