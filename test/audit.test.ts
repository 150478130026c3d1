import { execFile } from 'node:child_process';
import { normalizeError } from '../fhir/outcomes.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { expect } from 'chai';
import { buildAuditEvent } from '../audit/audit-event.js';
import { AuditLog } from '../audit/audit-log.js';
import { canonicalJson } from '../audit/canonical-json.js';
import type { AuditInput } from '../audit/types.js';
import type { Principal } from '../identity/principal.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { openTestDb, TEST_ENGINE } from './helpers/test-db.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const run = promisify(execFile);

const NHS_NUMBER = '9434765919';
const PATIENT = '3f2b8c1e-5d4a-4b7e-9c2d-1a2b3c4d5e6f';
const OTHER_PATIENT = '7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d';
const CLINICIAN: Principal = { sub: 'dr-jones', role: 'clinician', organisation: 'A81001', jti: 'tok-1' };
const PARAMEDIC: Principal = { sub: 'crew-7', role: 'ambulance-crew', organisation: 'RX9' };
const PATIENT_SELF: Principal = { sub: 'pat-1', role: 'patient', nhsNumber: NHS_NUMBER };

function input(over: Partial<AuditInput> = {}): AuditInput {
  return {
    action: 'patient-read',
    decision: 'permit',
    principal: CLINICIAN,
    patientId: PATIENT,
    purpose: 'TREAT',
    requestId: 'req-1',
    operation: 'GET /fhir/Patient/{id}/$everything',
    resourceTypes: ['Condition', 'Observation'],
    sources: ['gp', 'hospital'],
    ...over,
  };
}

/** Empties the table, temporarily lifting the append-only rules (as a superuser/owner could). */
async function resetAudit(db: Db): Promise<void> {
  await withoutRules(db, 'DELETE FROM audit_event');
}

/** Runs one statement with the append-only rules dropped, then puts them back. */
async function withoutRules(db: Db, sql: string, params: unknown[] = []): Promise<void> {
  await db.query('DROP RULE IF EXISTS audit_event_no_update ON audit_event');
  await db.query('DROP RULE IF EXISTS audit_event_no_delete ON audit_event');
  try {
    await db.query(sql, params);
  } finally {
    await db.query('CREATE RULE audit_event_no_update AS ON UPDATE TO audit_event DO INSTEAD NOTHING');
    await db.query('CREATE RULE audit_event_no_delete AS ON DELETE TO audit_event DO INSTEAD NOTHING');
  }
}

async function seqs(db: Db): Promise<number[]> {
  const r = await db.query<{ seq: number | string }>('SELECT seq FROM audit_event ORDER BY seq');
  return r.rows.map((x) => Number(x.seq));
}

describe(`audit trail on ${TEST_ENGINE}`, () => {
  let db: Db & { url?: string };
  let log: AuditLog;
  before(async () => {
    db = await openTestDb();
    log = new AuditLog(db);
  });
  after(async () => {
    await db?.close();
  });

  describe('the FHIR AuditEvent', () => {
    const recorded = new Date('2025-03-01T10:00:00.000Z');
    const cases: Array<[string, Partial<AuditInput>]> = [
      ['$everything permitted', {}],
      ['Patient read denied', { decision: 'deny', operation: 'GET /fhir/Patient/{id}', outcomeDescription: 'the patient has withheld consent' }],
      ['search by NHS number', { action: 'patient-query', operation: 'GET /fhir/Patient?identifier=…', resourceTypes: ['Patient'] }],
      ['consent created', { action: 'consent-change', operation: 'POST /fhir/Consent', principal: PATIENT_SELF, resourceTypes: ['Consent'] }],
      ['consent updated', { action: 'consent-change', operation: 'PUT /fhir/Consent/{id}' }],
      ['emergency access', { action: 'emergency-access', purpose: 'ETREAT', principal: PARAMEDIC, operation: 'POST /fhir/Patient/{id}/$emergency-access', reason: 'unconscious on arrival' }],
      ['emergency review', { action: 'emergency-review', purpose: 'HOPERAT', principal: { sub: 'po-1', role: 'privacy-officer', organisation: 'X26' }, operation: 'PUT /emergency-access/{id}/review' }],
      ['consent decision deny', { action: 'consent-decision', decision: 'deny', purpose: 'BTG', reason: 'break glass' }],
      ['no patient (bad id)', { patientId: 'not-a-uuid', decision: 'deny' }],
    ];
    for (const [label, over] of cases) {
      it(`is valid FHIR R4: ${label}`, () => {
        const event = buildAuditEvent(input(over), '0b7e1c2a-3d4f-4e5a-8b6c-7d8e9f0a1b2c', recorded);
        expectValidFhir(event, label);
      });
    }

    it('follows BALP: rest/read for a read, rest/search-type for a query, operation for $everything, R/E/C/U', () => {
      const read = buildAuditEvent(input({ operation: 'GET /fhir/Patient/{id}' }), 'a', recorded);
      expect(read.type).to.include({ system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest' });
      expect(read.subtype?.[0]).to.include({ system: 'http://hl7.org/fhir/restful-interaction', code: 'read' });
      expect(read.action).to.equal('R');
      expect(read.outcome).to.equal('0');
      const query = buildAuditEvent(input({ action: 'patient-query', operation: 'POST /fhir/Patient/_search' }), 'b', recorded);
      expect(query.subtype?.[0]?.code).to.equal('search-type');
      expect(query.action).to.equal('E');
      const queryEntity = query.entity?.find((e) => e.role?.code === '24');
      expect(Buffer.from(queryEntity!.query!, 'base64').toString()).to.equal('POST /fhir/Patient/_search');
      const everything = buildAuditEvent(input(), 'c', recorded);
      expect(everything.subtype?.[0]?.code).to.equal('operation');
      expect(everything.action).to.equal('E');
      expect(buildAuditEvent(input({ action: 'consent-change', operation: 'POST /fhir/Consent' }), 'd', recorded).action).to.equal('C');
      expect(buildAuditEvent(input({ action: 'consent-change', operation: 'PUT /fhir/Consent/{id}' }), 'e', recorded).action).to.equal('U');
      const authz = buildAuditEvent(input({ action: 'consent-decision' }), 'f', recorded);
      expect(authz.type).to.include({ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110113' });
      expect(authz.subtype?.[0]?.code).to.equal('AuthZ-Consent');
    });

    it('records outcome, purpose, requestor, organisation, patient, resource types and sources', () => {
      const e = buildAuditEvent(input({ decision: 'deny', outcomeDescription: 'consent withheld', requestId: 'req-xyz' }), 'g', recorded);
      expect(e.outcome).to.equal('4');
      expect(e.outcomeDesc).to.equal('consent withheld');
      expect(e.recorded).to.equal('2025-03-01T10:00:00.000Z');
      expect(e.purposeOfEvent?.[0]?.coding?.[0]).to.include({ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'TREAT' });
      const requestor = e.agent.find((a) => a.requestor)!;
      expect(requestor.who?.identifier?.value).to.equal('dr-jones');
      expect(requestor.role?.[0]?.coding?.[0]?.code).to.equal('clinician');
      expect(requestor.policy).to.deep.equal(['tok-1']);
      const org = e.agent.find((a) => a.who?.identifier?.system === 'https://fhir.nhs.uk/Id/ods-organization-code')!;
      expect(org.who?.identifier?.value).to.equal('A81001');
      expect(org.requestor).to.equal(false);
      const patient = e.entity?.find((x) => x.role?.code === '1')!;
      expect(patient.what?.reference).to.equal(`Patient/${PATIENT}`);
      expect(patient.type?.code).to.equal('1');
      const details = Object.fromEntries(e.entity!.flatMap((x) => x.detail ?? []).map((d) => [d.type, d.valueString]));
      expect(details).to.include({ resourceTypes: 'Condition,Observation', sources: 'gp,hospital', action: 'patient-read' });
      expect(e.entity?.find((x) => x.type?.code === 'XrequestId')?.what?.identifier?.value).to.equal('req-xyz');
      expect(e.source.observer.identifier?.value).to.be.a('string');
    });

    it('never contains an NHS number, even if one is passed in free text', () => {
      const e = buildAuditEvent(
        input({
          principal: PATIENT_SELF,
          operation: `GET /fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${NHS_NUMBER}`,
          reason: `patient 943 476 5919 collapsed`,
          outcomeDescription: `no record for ${NHS_NUMBER}`,
        }),
        'h',
        recorded,
      );
      const text = JSON.stringify(e);
      expect(text).not.to.include(NHS_NUMBER);
      expect(text).not.to.include('943 476 5919');
      expect(text).to.include('[redacted]');
      expect(text).not.to.match(/birthDate|"name":\s*\[/);
      expectValidFhir(e);
    });

    it('keeps a UUID whole in free text even where its digits look like an NHS number (a snapshot or integrated id)', () => {
      const id = '5a912424-3475-45a1-8074-cb1db5a093e5'; // "912424-3475" alone would read as 3-3-4 digits
      const e = buildAuditEvent(input({ outcomeDescription: `indicator snapshot ${id}; caller typed 943 476 5919` }), 'h', recorded);
      const text = JSON.stringify(e);
      expect(text).to.include(id);
      expect(text).not.to.include('943 476 5919');
      expect(text).to.include('[redacted]');
    });

    it('canonical JSON sorts keys at every level and is independent of insertion order', () => {
      expect(canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } })).to.equal('{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
      expect(canonicalJson({ a: 1, b: 2 })).to.equal(canonicalJson({ b: 2, a: 1 }));
    });

    it('canonical JSON: the exact text the stored chains were hashed with (edge cases, and real AuditEvents against an independent sort-then-stringify)', () => {
      expect(canonicalJson({ z: undefined, y: [undefined, null, 'é"\\'], '10': true, '2': false, Ä: {}, a: [] })).to.equal(
        '{"10":true,"2":false,"a":[],"y":[null,null,"é\\"\\\\"],"Ä":{}}',
      );
      expect(canonicalJson({ when: new Date('2026-01-02T03:04:05.000Z') })).to.equal('{"when":"2026-01-02T03:04:05.000Z"}');
      expect(canonicalJson([])).to.equal('[]');
      expect(canonicalJson('x')).to.equal('"x"');
      expect(() => canonicalJson({ n: Infinity })).to.throw(TypeError);
      // Oracle: sort keys recursively, then JSON.stringify (same text for plain JSON values).
      const sorted = (v: unknown): unknown =>
        Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v;
      for (const over of [{}, { action: 'patient-query', operation: 'POST /fhir/Patient/_search' }, { decision: 'deny', outcomeDescription: 'consent withheld' }] as Partial<AuditInput>[]) {
        const event = buildAuditEvent(input(over), 'e1', new Date('2026-05-01T10:00:00Z'));
        expect(canonicalJson(event)).to.equal(JSON.stringify(sorted(JSON.parse(JSON.stringify(event)))));
      }
    });
  });

  describe('the hash chain', () => {
    beforeEach(async () => {
      await resetAudit(db);
      for (let i = 0; i < 8; i += 1) await log.append(input({ requestId: `req-${i}` }));
    });

    it('appends seqs 1..N, each linked to the previous hash, and verifies', async () => {
      expect(await seqs(db)).to.deep.equal([1, 2, 3, 4, 5, 6, 7, 8]);
      const r = await db.query<{ prev_hash: string; hash: string }>('SELECT prev_hash, hash FROM audit_event ORDER BY seq');
      expect(r.rows[0]!.prev_hash).to.equal('0'.repeat(64));
      for (let i = 1; i < r.rows.length; i += 1) expect(r.rows[i]!.prev_hash).to.equal(r.rows[i - 1]!.hash);
      expect(await log.verify()).to.deep.equal({ ok: true, count: 8 });
    });

    it('returns the stored event from append, valid FHIR, and stores it unchanged', async () => {
      const e = await log.append(input({ requestId: 'req-stored' }));
      expectValidFhir(e);
      const r = await db.query<{ resource: unknown; request_id: string }>('SELECT resource, request_id FROM audit_event WHERE id = $1', [e.id]);
      expect(r.rows[0]!.resource).to.deep.equal(e);
      expect(r.rows[0]!.request_id).to.equal('req-stored');
    });

    it('ignores UPDATE and DELETE through normal SQL (append-only rules)', async () => {
      await db.query("UPDATE audit_event SET decision = 'deny'");
      await db.query('DELETE FROM audit_event WHERE seq = 3');
      const r = await db.query<{ n: number | string }>("SELECT count(*) AS n FROM audit_event WHERE decision = 'permit'");
      expect(Number(r.rows[0]!.n)).to.equal(8);
      expect(await log.verify()).to.deep.equal({ ok: true, count: 8 });
    });

    it('verifyRecent (the patient page): only new events between full checks, yet a change to a verified link, a new event or — at the next full check — an old one is caught', async () => {
      let clock = 0;
      const now = () => clock;
      const fresh = new AuditLog(db); // its own checkpoint
      expect(await fresh.verifyRecent(1000, now)).to.deep.equal({ ok: true, count: 8 }); // full
      for (let i = 0; i < 3; i += 1) await fresh.append(input({ requestId: `later-${i}` }));
      expect(await fresh.verifyRecent(1000, now)).to.deep.equal({ ok: true, count: 11 }); // 9..11 only
      // A new event tampered with: caught at once.
      await withoutRules(db, `UPDATE audit_event SET resource = jsonb_set(resource, '{outcome}', '"4"') WHERE seq = 11`);
      expect(await fresh.verifyRecent(1000, now)).to.include({ ok: false, firstBrokenSeq: 11 });
      await resetAudit(db);
      for (let i = 0; i < 8; i += 1) await log.append(input({ requestId: `req-${i}` }));
      const again = new AuditLog(db);
      expect(await again.verifyRecent(1000, now)).to.include({ ok: true });
      // The last verified link rewritten (hash and all): caught by the checkpoint check.
      await withoutRules(db, `UPDATE audit_event SET hash = repeat('a', 64) WHERE seq = 8`);
      expect(await again.verifyRecent(1000, now)).to.include({ ok: false, firstBrokenSeq: 8 });
      await resetAudit(db);
      for (let i = 0; i < 8; i += 1) await log.append(input({ requestId: `req-${i}` }));
      const third = new AuditLog(db);
      expect(await third.verifyRecent(1000, now)).to.include({ ok: true });
      // An old event changed: not re-read between full checks, caught at the next one.
      await withoutRules(db, `UPDATE audit_event SET resource = jsonb_set(resource, '{outcome}', '"4"') WHERE seq = 2`);
      expect(await third.verifyRecent(1000, now)).to.include({ ok: true });
      clock = 1001;
      expect(await third.verifyRecent(1000, now)).to.include({ ok: false, firstBrokenSeq: 2 });
      // Concurrent callers share one verification.
      const [a, b] = [third.verifyRecent(1000, now), third.verifyRecent(1000, now)];
      expect(a).to.equal(b);
      await a;
    });

    it('detects a modified resource', async () => {
      await withoutRules(db, `UPDATE audit_event SET resource = jsonb_set(resource, '{outcome}', '"4"') WHERE seq = 5`);
      const v = await log.verify();
      expect(v).to.include({ ok: false, firstBrokenSeq: 5 });
    });

    it('detects a modified searchable column (decision)', async () => {
      await withoutRules(db, `UPDATE audit_event SET decision = 'deny' WHERE seq = 3`);
      expect(await log.verify()).to.include({ ok: false, firstBrokenSeq: 3 });
    });

    it('detects a row deleted in the middle', async () => {
      await withoutRules(db, 'DELETE FROM audit_event WHERE seq = 4');
      const v = await log.verify();
      expect(v).to.include({ ok: false, firstBrokenSeq: 4 });
      if (!v.ok) expect(v.reason).to.match(/missing/);
    });

    it('detects a deleted first row', async () => {
      await withoutRules(db, 'DELETE FROM audit_event WHERE seq = 1');
      expect(await log.verify()).to.include({ ok: false, firstBrokenSeq: 1 });
    });

    it('detects a replaced hash', async () => {
      await withoutRules(db, `UPDATE audit_event SET hash = repeat('a', 64) WHERE seq = 6`);
      expect(await log.verify()).to.include({ ok: false, firstBrokenSeq: 6 });
    });

    it('detects a row whose content and hash were both rewritten (the next link breaks)', async () => {
      // Rewrite row 6 consistently with its own prev_hash, but not the rows after it.
      const row = (await db.query<Record<string, unknown>>('SELECT * FROM audit_event WHERE seq = 6')).rows[0]!;
      const { createHash } = await import('node:crypto');
      const content = {
        seq: 6, id: row.id, recorded: new Date(row.recorded as string).toISOString(), patient_id: row.patient_id,
        user_sub: row.user_sub, user_role: row.user_role, organisation: row.organisation, action: row.action,
        decision: 'deny', purpose: row.purpose, request_id: row.request_id, resource: row.resource,
      };
      const forged = createHash('sha256').update(row.prev_hash as string).update(canonicalJson(content)).digest('hex');
      await withoutRules(db, `UPDATE audit_event SET decision = 'deny', hash = $1 WHERE seq = 6`, [forged]);
      const v = await log.verify();
      expect(v).to.include({ ok: false, firstBrokenSeq: 7 });
      if (!v.ok) expect(v.reason).to.match(/prev_hash/);
    });

    it('detects reordered rows (two seqs swapped)', async () => {
      await withoutRules(db, 'UPDATE audit_event SET seq = 1000 WHERE seq = 3');
      await withoutRules(db, 'UPDATE audit_event SET seq = 3 WHERE seq = 4');
      await withoutRules(db, 'UPDATE audit_event SET seq = 4 WHERE seq = 1000');
      expect(await log.verify()).to.include({ ok: false, firstBrokenSeq: 3 });
    });

    it('detects an inserted row with a seq below 1', async () => {
      await db.query('ALTER TABLE audit_event DROP CONSTRAINT audit_event_seq_check');
      try {
        await db.query(
          `INSERT INTO audit_event SELECT 0, gen_random_uuid(), recorded, patient_id, user_sub, user_role, organisation,
                  action, decision, purpose, 'forged', resource, prev_hash, repeat('b', 64) FROM audit_event WHERE seq = 1`,
        );
        expect(await log.verify()).to.include({ ok: false, firstBrokenSeq: 1 });
      } finally {
        await withoutRules(db, 'DELETE FROM audit_event WHERE seq = 0');
        await db.query('ALTER TABLE audit_event ADD CONSTRAINT audit_event_seq_check CHECK (seq >= 1)');
      }
    });

    it('detects truncation of the newest rows given an anchor kept outside the database', async () => {
      const anchor = (await log.head())!;
      expect(anchor.seq).to.equal(8);
      expect(await log.verify(anchor)).to.deep.equal({ ok: true, count: 8 });
      await withoutRules(db, 'DELETE FROM audit_event WHERE seq >= 7');
      expect(await log.verify()).to.deep.equal({ ok: true, count: 6 }); // undetectable without the anchor
      expect(await log.verify(anchor)).to.include({ ok: false, firstBrokenSeq: 7 });
    });

    it('scripts/verify-audit.ts prints OK, or BROKEN with exit code 1', async function () {
      this.timeout(120_000);
      // Its own database, opened the way the script opens one.
      let env: NodeJS.ProcessEnv;
      let cleanup: () => Promise<void>;
      let target: Db;
      if (db.url) {
        target = db;
        env = { ...process.env, DATABASE_URL: db.url };
        cleanup = async () => undefined;
      } else {
        const dir = mkdtempSync(path.join(tmpdir(), 'audit-cli-'));
        target = await openDb({ dataDir: path.join(dir, 'pglite') });
        await migrate(target);
        for (let i = 0; i < 3; i += 1) await new AuditLog(target).append(input());
        env = { ...process.env, DATA_DIR: dir, DATABASE_URL: '' };
        cleanup = async () => rmSync(dir, { recursive: true, force: true });
      }
      const script = ['--import', 'tsx/esm', path.join(ROOT, 'scripts/verify-audit.ts')];
      try {
        if (!db.url) await target.close();
        const ok = await run(process.execPath, script, { cwd: ROOT, env });
        expect(ok.stdout).to.match(/^audit chain OK: \d+ events$/m);
        if (!db.url) target = await openDb({ dataDir: path.join(env.DATA_DIR!, 'pglite') });
        await withoutRules(target, `UPDATE audit_event SET decision = 'deny' WHERE seq = 2`);
        if (!db.url) await target.close();
        const broken = await run(process.execPath, script, { cwd: ROOT, env }).then(
          () => expect.fail('expected exit code 1'),
          (e: { code: number; stdout: string }) => e,
        );
        expect(broken.code).to.equal(1);
        expect(broken.stdout).to.match(/^audit chain BROKEN at seq 2: /m);
      } finally {
        await cleanup();
      }
    });
  });

  describe('concurrency', () => {
    beforeEach(async () => resetAudit(db));

    it(`200 parallel appends from two ${TEST_ENGINE === 'postgres' ? 'separate Db instances' : 'callers on one instance'} build one gapless chain`, async function () {
      this.timeout(120_000);
      const second = db.url ? await openDb({ databaseUrl: db.url }) : db;
      try {
        const logs = [new AuditLog(db), new AuditLog(second)];
        await Promise.all(Array.from({ length: 200 }, (_, i) => logs[i % 2]!.append(input({ requestId: `par-${i}` }))));
        expect(await log.verify()).to.deep.equal({ ok: true, count: 200 });
        expect(await seqs(db)).to.deep.equal(Array.from({ length: 200 }, (_, i) => i + 1));
        const r = await db.query<{ recorded: Date }>('SELECT recorded FROM audit_event ORDER BY seq');
        for (let i = 1; i < r.rows.length; i += 1) {
          expect(new Date(r.rows[i]!.recorded).getTime()).to.be.at.least(new Date(r.rows[i - 1]!.recorded).getTime());
        }
      } finally {
        if (second !== db) await second.close();
      }
    });

    it('appendMany writes a batch atomically and in order', async () => {
      const events = await log.appendMany([input({ requestId: 'b1' }), input({ requestId: 'b2' }), input({ requestId: 'b3' })]);
      expect(events).to.have.length(3);
      const r = await db.query<{ request_id: string }>('SELECT request_id FROM audit_event ORDER BY seq');
      expect(r.rows.map((x) => x.request_id)).to.deep.equal(['b1', 'b2', 'b3']);
      expect(await log.verify()).to.deep.equal({ ok: true, count: 3 });
    });

    it(`micro-benchmark: appends/s on ${TEST_ENGINE}`, async function () {
      this.timeout(300_000);
      const n = 500;
      let t = performance.now();
      for (let i = 0; i < n; i += 1) await log.append(input({ requestId: `seq-${i}` }));
      const sequential = n / ((performance.now() - t) / 1000);
      t = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => log.append(input({ requestId: `one-${i}` }))));
      const parallelOne = n / ((performance.now() - t) / 1000);
      const second = db.url ? await openDb({ databaseUrl: db.url }) : undefined;
      let parallelTwo: number | undefined;
      try {
        if (second) {
          const logs = [log, new AuditLog(second)];
          t = performance.now();
          await Promise.all(Array.from({ length: n }, (_, i) => logs[i % 2]!.append(input({ requestId: `two-${i}` }))));
          parallelTwo = n / ((performance.now() - t) / 1000);
        }
      } finally {
        await second?.close();
      }
      t = performance.now();
      const v = await log.verify();
      const verifyRate = (v.ok ? v.count : 0) / ((performance.now() - t) / 1000);
      expect(v.ok).to.equal(true);
      console.log(
        `      audit appends on ${TEST_ENGINE}: sequential ${sequential.toFixed(0)}/s, ` +
          `${n} parallel on one instance ${parallelOne.toFixed(0)}/s` +
          (parallelTwo === undefined ? '' : `, ${n} parallel over two instances ${parallelTwo.toFixed(0)}/s`) +
          `; verify ${verifyRate.toFixed(0)} events/s`,
      );
    });
  });

  describe('search and the patient access log', () => {
    let t0: Date;
    before(async () => {
      await resetAudit(db);
      t0 = new Date(Date.now() - 1000);
      await log.append(input({ requestId: 's1' }));
      await log.append(input({ requestId: 's2', action: 'patient-query', operation: 'GET /fhir/Patient?identifier=…', principal: PARAMEDIC }));
      await log.append(input({ requestId: 's3', decision: 'deny', operation: 'GET /fhir/Patient/{id}', outcomeDescription: 'the patient has asked not to share with this organisation' }));
      await log.append(input({ requestId: 's4', action: 'emergency-access', purpose: 'ETREAT', principal: PARAMEDIC, operation: 'POST /fhir/Patient/{id}/$emergency-access', reason: 'unconscious, suspected overdose' }));
      await log.append(input({ requestId: 's5', patientId: OTHER_PATIENT }));
      await log.append(input({ requestId: 's6', principal: PATIENT_SELF, operation: 'GET /fhir/Patient/{id}/$everything?_type=…', resourceTypes: ['MedicationRequest', 'Condition'] }));
    });

    const ids = (events: { entity?: Array<{ type?: { code?: string }; what?: { identifier?: { value?: string } } }> }[]) =>
      events.map((e) => e.entity?.find((x) => x.type?.code === 'XrequestId')?.what?.identifier?.value);

    it('filters by patient, user, organisation, decision, action and time, newest first, with paging', async () => {
      expect(ids(await log.search({ patientId: PATIENT }))).to.deep.equal(['s6', 's4', 's3', 's2', 's1']);
      expect(ids(await log.search({ patientId: OTHER_PATIENT }))).to.deep.equal(['s5']);
      expect(ids(await log.search({ userSub: 'crew-7' }))).to.deep.equal(['s4', 's2']);
      expect(ids(await log.search({ organisation: 'A81001' }))).to.deep.equal(['s5', 's3', 's1']);
      expect(ids(await log.search({ decision: 'deny' }))).to.deep.equal(['s3']);
      expect(ids(await log.search({ action: 'emergency-access' }))).to.deep.equal(['s4']);
      expect(ids(await log.search({ patientId: PATIENT, organisation: 'RX9', action: 'patient-query' }))).to.deep.equal(['s2']);
      expect(ids(await log.search({ count: 2, offset: 1 }))).to.deep.equal(['s5', 's4']);
      expect(await log.search({ from: new Date(Date.now() + 60_000) })).to.deep.equal([]);
      expect(await log.search({ to: t0 })).to.deep.equal([]);
      expect(ids(await log.search({ from: t0, to: new Date(Date.now() + 60_000) }))).to.have.length(6);
      expect(await log.search({ patientId: 'not-a-uuid' })).to.deep.equal([]);
      for (const e of await log.search({})) expectValidFhir(e);
    });

    it('tells the patient who looked at their record, when, why, and when access was refused, in plain words', async () => {
      const entries = await log.accessLog(PATIENT);
      expect(entries).to.have.length(5);
      const [own, emergency, refused, searched, viewed] = entries;
      expect(own).to.include({ who: 'you', what: 'viewed part of your record (medicines, conditions)', decision: 'access was allowed' });
      expect(emergency).to.include({
        who: 'an ambulance crew member at organisation RX9 (user id crew-7)',
        what: 'started emergency access to your record',
        why: 'an emergency: unconscious, suspected overdose',
        userId: 'crew-7',
        role: 'ambulance-crew',
        organisation: 'RX9',
      });
      expect(refused).to.include({
        what: 'viewed your personal details',
        decision: 'access was refused',
        refusalReason: 'the patient has asked not to share with this organisation',
      });
      expect(searched).to.include({ what: 'searched for you', why: 'your care' });
      expect(viewed).to.include({
        who: 'a clinician at organisation A81001 (user id dr-jones)',
        what: 'viewed your full record',
        why: 'your care',
        decision: 'access was allowed',
      });
      expect(new Date(viewed!.when).getTime()).to.be.at.least(t0.getTime());
      expect(await log.accessLog(OTHER_PATIENT)).to.have.length(1);
    });

    it('gives the recorded reason as the refusal reason when no outcome description was given', async () => {
      const third = '0c9d8e7f-6a5b-4c3d-8e2f-1a0b9c8d7e6f';
      await log.append(input({ patientId: third, decision: 'deny', operation: 'GET /fhir/Patient/{id}', reason: 'no care relationship with this patient' }));
      const [entry] = await log.accessLog(third);
      expect(entry).to.include({ why: 'your care', decision: 'access was refused', refusalReason: 'no care relationship with this patient' });
    });

    it('stores no NHS number anywhere in the audit table', async () => {
      await log.append(input({ principal: PATIENT_SELF, operation: `GET /fhir/Patient?identifier=x|${NHS_NUMBER}`, reason: NHS_NUMBER }));
      const r = await db.query<{ t: string }>('SELECT audit_event::text AS t FROM audit_event');
      for (const row of r.rows) expect(row.t).not.to.include(NHS_NUMBER);
    });
  });

  describe('deferred events (written while the sources are queried)', () => {
    it('share one commit: events deferred together are written by one INSERT, in order, chain intact', async () => {
      await resetAudit(db);
      const deferred = new AuditLog(db, 10_000);
      const events = [1, 2, 3, 4].map((i) => deferred.defer(input({ requestId: `deferred-${i}` })));
      // Nothing is written before someone needs it (the timer is far away).
      expect(await seqs(db)).to.deep.equal([]);
      await events[2]!.committed();
      const r = await db.query<{ request_id: string; xmin: string }>('SELECT request_id, xmin::text FROM audit_event ORDER BY seq');
      expect(r.rows.map((x) => x.request_id)).to.deep.equal(['deferred-1', 'deferred-2', 'deferred-3', 'deferred-4']);
      expect(new Set(r.rows.map((x) => x.xmin)).size, 'one transaction').to.equal(1);
      for (const e of events) await e.committed();
      expect(await deferred.verify()).to.deep.equal({ ok: true, count: 4 });
    });

    it('are written by the timer when nobody asks (none is left behind)', async () => {
      await resetAudit(db);
      const deferred = new AuditLog(db, 20);
      deferred.defer(input({ requestId: 'timer' }));
      for (let i = 0; i < 50 && (await seqs(db)).length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await seqs(db)).to.deep.equal([1]);
    });

    it('an urgent append carries the deferred ones with it', async () => {
      await resetAudit(db);
      const deferred = new AuditLog(db, 10_000);
      const d = deferred.defer(input({ requestId: 'deferred' }));
      await deferred.append(input({ requestId: 'urgent' }));
      expect(await seqs(db)).to.deep.equal([1, 2]);
      await d.committed();
    });

    it('committed() fails closed with a 503 OperationOutcome when the write fails', async () => {
      const broken = db.url ? await openDb({ databaseUrl: db.url }) : await openDb({ memory: true });
      if (!db.url) await migrate(broken);
      await broken.close();
      const d = new AuditLog(broken, 10_000).defer(input());
      let error: unknown;
      await d.committed().catch((e: unknown) => (error = e));
      // A closed database is an outage: the client sees 503 database-unavailable (with Retry-After).
      const seen = normalizeError(error);
      expect(seen.status).to.equal(503);
      expect(seen.outcome.issue[0]!.details!.coding![0]!.code).to.equal('database-unavailable');
    });
  });

  describe('fails closed', () => {
    it('append rejects when the database cannot be written (closed)', async () => {
      const broken = db.url ? await openDb({ databaseUrl: db.url }) : await openDb({ memory: true });
      if (!db.url) await migrate(broken);
      await broken.close();
      let error: unknown;
      await new AuditLog(broken).append(input()).catch((e: unknown) => (error = e));
      expect(error).to.be.instanceOf(Error);
    });

    it('append rejects when the insert fails, and writes nothing of a failed batch', async () => {
      await resetAudit(db);
      await log.append(input());
      await db.query('ALTER TABLE audit_event ADD CONSTRAINT audit_event_test_block CHECK (request_id <> $$blocked$$)');
      try {
        let error: unknown;
        await log.appendMany([input({ requestId: 'ok' }), input({ requestId: 'blocked' })]).catch((e: unknown) => (error = e));
        expect(error).to.be.instanceOf(Error);
      } finally {
        await db.query('ALTER TABLE audit_event DROP CONSTRAINT audit_event_test_block');
      }
      expect(await seqs(db)).to.deep.equal([1]);
      expect(await log.verify()).to.deep.equal({ ok: true, count: 1 });
    });

    it('rejects an input without a user, purpose or request id instead of writing a partial record', async () => {
      for (const bad of [
        input({ principal: { sub: '', role: 'clinician' } }),
        input({ purpose: 'NOPE' as never }),
        input({ requestId: '' }),
      ]) {
        let error: unknown;
        await log.append(bad).catch((e: unknown) => (error = e));
        expect(error).to.be.instanceOf(TypeError);
      }
    });
  });
});
