import { expect } from 'chai';
import request from 'supertest';
import type { AuditEvent, Bundle, MeasureReport } from 'fhir/r4.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { csvRecords, parseCsv } from './helpers/csv.js';
import { startHarness, type Harness } from './helpers/harness.js';

/**
 * The published indicators end to end over HTTP: the real sandbox sources (aggregate API), the real
 * indicator computer, disclosure control, snapshots in the test database, JSON / CSV / FHIR outputs,
 * the analyst-only audited refresh and public feedback.
 */
describe('indicators API: refresh, snapshots, JSON / CSV / FHIR publishing, feedback', function () {
  this.timeout(180_000);
  let h: Harness;
  let analyst: string;
  let clinician: string;
  let officer: string;
  const PERIOD = { start: '2025-01-01', end: '2025-12-31' };
  const PERIOD_PARAM = `${PERIOD.start}/${PERIOD.end}`;
  const FEEDBACK_LIMIT = 8;

  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 80, seed: 11 } }, env: { FEEDBACK_RATE_PER_MINUTE: String(FEEDBACK_LIMIT) } });
    // the sources' extracts load on first use: load them now, so a busy machine does not time out the first refresh
    await h.sandbox.extract.db();
    analyst = await h.token({ role: 'analyst', org: 'X26', sub: 'analyst-7' });
    clinician = await h.token({ role: 'clinician', sub: 'dr-9' });
    officer = await h.token({ role: 'privacy-officer', org: 'X26', sub: 'po-1' });
  });
  after(async () => {
    await h?.close();
  });

  const app = () => h.service.app;
  const refresh = (token: string | undefined, body: unknown) => {
    const r = request(app()).post('/indicators/$refresh').send(body as object);
    return token ? r.set('Authorization', `Bearer ${token}`) : r;
  };
  const expectOutcome = (r: request.Response, status: number, code?: string) => {
    expect(r.status, r.text.slice(0, 500)).to.equal(status);
    expect(r.body.resourceType).to.equal('OperationOutcome');
    if (code) expect(r.body.issue.map((i: { details?: { coding?: { code: string }[] } }) => i.details?.coding?.[0]?.code)).to.include(code);
    return r.body;
  };
  /** Every {value, suppressed} count object anywhere in a JSON value. */
  const counts = (v: unknown, out: { value: number | null; suppressed: boolean }[] = []) => {
    if (Array.isArray(v)) v.forEach((x) => counts(x, out));
    else if (v && typeof v === 'object') {
      const o = v as Record<string, unknown>;
      if ('suppressed' in o && 'value' in o && Object.keys(o).every((k) => ['value', 'suppressed', 'reason'].includes(k))) out.push(o as never);
      Object.values(o).forEach((x) => counts(x, out));
    }
    return out;
  };
  const expectNoSmallCounts = (v: unknown) => {
    for (const c of counts(v)) {
      if (c.suppressed) expect(c.value).to.equal(null);
      else expect(c.value === 0 || (c.value! > 7 && c.value! % 5 === 0), `published count ${c.value}`).to.equal(true);
    }
  };
  const auditFor = async (user: string): Promise<AuditEvent[]> => {
    const r = await request(app()).get(`/audit?user=${user}`).set('Authorization', `Bearer ${officer}`);
    expect(r.status, r.text.slice(0, 300)).to.equal(200);
    return (r.body as Bundle).entry!.map((e) => e.resource as AuditEvent);
  };
  const actionOf = (e: AuditEvent) => e.entity?.flatMap((x) => x.detail ?? []).find((d) => d.type === 'action')?.valueString;

  let firstSnapshot: string;
  let firstFigures: unknown;

  describe('before any refresh', () => {
    it('the catalogue is public: six areas, at least two indicators each, methodology and limitations, no snapshot yet', async () => {
      const r = await request(app()).get('/indicators');
      expect(r.status).to.equal(200);
      const areas = new Map<string, number>();
      for (const i of r.body.indicators) {
        areas.set(i.area, (areas.get(i.area) ?? 0) + 1);
        expect(i.methodology).to.be.a('string').and.not.equal('');
        expect(i.numeratorText).to.be.a('string').and.not.equal('');
        expect(i.limitations).to.be.an('array').that.is.not.empty;
        expect(i.latestSnapshot).to.equal(null);
      }
      expect([...areas.keys()].sort()).to.deep.equal(['efficiency', 'hospital-food-standards', 'patient-safety', 'public-health', 'quality', 'social-care-commissioning']);
      expect([...areas.values()].every((n) => n >= 2)).to.equal(true);
      expect(r.body.disclosure).to.include({ threshold: 7, rounding: 5 });
    });

    it('an indicator with no snapshot yet → 404 OperationOutcome; an unknown one → 404', async () => {
      expectOutcome(await request(app()).get('/indicators/diabetes-hba1c-recorded'), 404, 'no-snapshot');
      expectOutcome(await request(app()).get('/indicators/no-such-thing'), 404, 'unknown-indicator');
    });
  });

  describe('refresh: analysts only, audited', () => {
    it('without a token → 401; as a clinician → 403 OperationOutcome, and the refusal is audited', async () => {
      expectOutcome(await refresh(undefined, { period: PERIOD }), 401);
      const body = expectOutcome(await refresh(clinician, { period: PERIOD }), 403, 'role-not-permitted');
      expect(body.issue[0].diagnostics).to.match(/analyst/);
      const events = await auditFor('dr-9');
      const denied = events.find((e) => actionOf(e) === 'indicator-refresh');
      expect(denied, 'audit event for the refused refresh').to.not.equal(undefined);
      expect(denied!.outcome).to.equal('4');
    });

    it('a malformed period → 400 naming the element; start after end → 422; unknown indicator → 422', async () => {
      expect(expectOutcome(await refresh(analyst, { period: { start: '2025-13-01', end: '2025-12-31' } }), 400).issue[0].expression).to.deep.equal(['period.start']);
      expectOutcome(await refresh(analyst, { period: { start: '2025-12-31', end: '2025-01-01' } }), 422, 'invalid-period');
      expect(expectOutcome(await refresh(analyst, { period: PERIOD, indicators: ['current-smokers', 'nope'] }), 422, 'unknown-indicator').issue[0].expression).to.deep.equal(['indicators[1]']);
      expectOutcome(await refresh(analyst, {}), 400);
    });

    it('as an analyst → 201 with a complete snapshot stored, and the refresh is audited', async () => {
      const r = await refresh(analyst, { period: PERIOD });
      expect(r.status, r.text.slice(0, 500)).to.equal(201);
      expect(r.body.snapshot.complete, JSON.stringify(r.body.snapshot.sources)).to.equal(true);
      expect(r.body.snapshot.period).to.deep.equal(PERIOD);
      expect(r.body.snapshot.unavailableSources).to.deep.equal([]);
      expect(r.body.snapshot.sources.map((s: { source: string; status: string; version?: string }) => [s.source, s.status, typeof s.version]).sort()).to.deep.equal([
        ['gp', 'ok', 'string'],
        ['hospital', 'ok', 'string'],
        ['social-care', 'ok', 'string'],
      ]);
      expect(r.body.indicators.length).to.be.greaterThanOrEqual(12);
      firstSnapshot = r.body.snapshot.id;
      const events = await auditFor('analyst-7');
      const ok = events.find((e) => actionOf(e) === 'indicator-refresh' && e.outcome === '0');
      expect(ok!.outcomeDesc).to.include(firstSnapshot);
    });

    it('when the audit write fails → 503 and no snapshot is stored (the snapshot and its event commit together)', async () => {
      const snapshots = async () => Number((await h.service.db.query<{ n: number | string }>('SELECT count(*) AS n FROM indicator_snapshot')).rows[0]!.n);
      const before = await snapshots();
      await h.service.db.query(`CREATE OR REPLACE FUNCTION test_audit_fails() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit storage unavailable (test)'; END $$`);
      await h.service.db.query('CREATE TRIGGER test_audit_fails BEFORE INSERT ON audit_event FOR EACH ROW EXECUTE FUNCTION test_audit_fails()');
      try {
        expectOutcome(await refresh(analyst, { period: PERIOD }), 503, 'audit-unavailable');
      } finally {
        await h.service.db.query('DROP TRIGGER IF EXISTS test_audit_fails ON audit_event');
      }
      expect(await snapshots()).to.equal(before);
      expect((await request(app()).get('/audit/verify').set('Authorization', `Bearer ${officer}`)).body.ok).to.equal(true);
    });
  });

  describe('published JSON (no token)', () => {
    it('GET /indicators shows each indicator\'s latest snapshot, complete', async () => {
      const r = await request(app()).get('/indicators');
      for (const i of r.body.indicators) {
        expect(i.latestSnapshot.id).to.equal(firstSnapshot);
        expect(i.latestSnapshot.complete).to.equal(true);
        expect(i.latestSnapshot).not.to.have.property('requestedBy');
      }
    });

    it('GET /indicators/{id}: every organisation with limits, class and suppression flags; by code, never ranked; no small count', async () => {
      const r = await request(app()).get(`/indicators/flu-vaccination-65?period=${PERIOD_PARAM}`);
      expect(r.status, r.text.slice(0, 500)).to.equal(200);
      expect(r.body.snapshot).to.include({ id: firstSnapshot, complete: true, status: 'complete' });
      expect(r.body.published).to.equal('complete');
      expect(r.body.indicator.polarity).to.deep.equal({ code: 'higher-is-better', text: 'Higher is better' });
      const orgs = r.body.figures.organisations as { code: string; value: number | null; limits: unknown; classification: string | null; suppressed: boolean; withheld: string | null }[];
      expect(orgs.length).to.be.greaterThan(0);
      expect(orgs.map((o) => o.code)).to.deep.equal([...orgs.map((o) => o.code)].sort());
      for (const o of orgs) {
        expect(o).to.have.all.keys('code', 'numerator', 'denominator', 'value', 'ci95', 'limits', 'classification', 'comparison', 'standardised', 'suppressed', 'withheld');
        // the comparison in words and codes, following the polarity (higher is better for flu vaccination)
        const cmp = (o as unknown as { comparison: { code: string; text: string } }).comparison;
        const expected: Record<string, string> = {
          'within-expected': 'no-evidence-of-difference', 'above-alert': 'better', 'above-alarm': 'better', 'below-alert': 'worse', 'below-alarm': 'worse',
        };
        expect(cmp.code).to.equal(o.classification ? expected[o.classification] : 'not-compared');
        expect(cmp.text).to.be.a('string').and.not.equal('');
        if (o.value === null) expect(o.withheld).to.be.a('string');
        if (o.classification) expect(['within-expected', 'above-alert', 'above-alarm', 'below-alert', 'below-alarm']).to.include(o.classification);
      }
      expect(r.text).not.to.match(/"rank"|"position"/i);
      expectNoSmallCounts(r.body);
      firstFigures = r.body.figures;
    });

    it('a small population gets its small counts suppressed (published as suppressed with the reason)', async () => {
      const r = await request(app()).get('/indicators/dementia-emergency-admission');
      expect(r.status).to.equal(200);
      // a cross-source indicator says how many people could not be linked between the systems, per source
      expect(r.body.figures.linkage.unlinkable.map((u: { source: string }) => u.source)).to.deep.equal(['gp', 'hospital']);
      expect(r.body.figures.linkage.text).to.match(/cannot be linked/);
      const all = counts(r.body.figures);
      const suppressed = all.filter((c) => c.suppressed);
      expect(suppressed.length, 'an 80-person sandbox has small cells').to.be.greaterThan(0);
      for (const c of suppressed) expect(['small-count', 'secondary']).to.include((c as unknown as { reason: string }).reason);
      expectNoSmallCounts(r.body);
    });

    it('GET /indicators/{id}/organisations/{code}: one organisation over time', async () => {
      const fig = firstFigures as { organisations: { code: string }[] };
      const code = fig.organisations[0]!.code;
      const r = await request(app()).get(`/indicators/flu-vaccination-65/organisations/${code}`);
      expect(r.status).to.equal(200);
      expect(r.body.organisation.code).to.equal(code);
      expect(r.body.series).to.have.length(1);
      expect(r.body.series[0].period).to.deep.equal(PERIOD);
      expect(r.body.series[0].figures).to.deep.equal(fig.organisations[0]);
      expectOutcome(await request(app()).get('/indicators/flu-vaccination-65/organisations/ZZZ999'), 404, 'unknown-organisation');
    });

    it('CSV downloads (?_format=csv or Accept: text/csv), RFC 4180, one row per organisation, suppressed shown as such', async () => {
      const a = await request(app()).get('/indicators/dementia-emergency-admission?_format=csv');
      expect(a.status).to.equal(200);
      expect(a.headers['content-type']).to.match(/^text\/csv/);
      const lines = a.text.split('\r\n').filter(Boolean);
      const header = lines[0]!.split(',');
      expect(header).to.include.members(['organisation_code', 'numerator', 'numerator_suppression_reason', 'classification']);
      expect(header.join()).not.to.match(/rank|position/);
      const json = await request(app()).get('/indicators/dementia-emergency-admission');
      expect(lines.length - 1).to.equal(json.body.figures.organisations.length);
      const num = header.indexOf('numerator');
      for (const l of lines.slice(1)) {
        const v = l.split(',')[num]!;
        expect(v === 'suppressed' || v === '0' || (Number(v) > 7 && Number(v) % 5 === 0), v).to.equal(true);
      }
      const b = await request(app()).get('/indicators').set('Accept', 'text/csv');
      expect(b.headers['content-type']).to.match(/^text\/csv/);
      expect(b.text.split('\r\n')[0]).to.match(/^id,title,area/);
      const code = json.body.figures.organisations[0].code;
      const c = await request(app()).get(`/indicators/dementia-emergency-admission/organisations/${code}?_format=csv`);
      expect(c.status).to.equal(200);
      expect(c.text.split('\r\n').filter(Boolean)).to.have.length(2);
    });
  });

  describe('FHIR Measure and MeasureReport (no token)', () => {
    it('GET /fhir/Measure and /fhir/Measure/{id}: valid R4, scoring and improvement notation, numerator/denominator groups', async () => {
      const r = await request(app()).get('/fhir/Measure');
      expect(r.status).to.equal(200);
      expectValidFhir(r.body, 'Measure bundle');
      const m = await request(app()).get('/fhir/Measure/diabetes-hba1c-recorded');
      expectValidFhir(m.body, 'Measure');
      expect(m.body.scoring.coding[0].code).to.equal('proportion');
      expect(m.body.improvementNotation.coding[0].code).to.equal('increase');
      expect(m.body.group[0].population.map((p: { code: { coding: { code: string }[] } }) => p.code.coding[0]!.code)).to.deep.equal(['numerator', 'denominator']);
      expect((await request(app()).get('/fhir/Measure/long-term-support-per-100k')).body.scoring.coding[0].code).to.equal('ratio');
      expect((await request(app()).get('/fhir/Measure/mean-length-of-stay')).body.scoring.coding[0].code).to.equal('continuous-variable');
      expectOutcome(await request(app()).get('/fhir/Measure/nope'), 404);
    });

    it('GET /fhir/MeasureReport?measure=&period=&subject=: valid summary reports per organisation; each readable by id; no small count', async () => {
      const r = await request(app()).get(`/fhir/MeasureReport?measure=dementia-emergency-admission&period=${PERIOD.end}`);
      expect(r.status).to.equal(200);
      expectValidFhir(r.body, 'MeasureReport bundle');
      const reports = (r.body as Bundle).entry!.map((e) => e.resource as MeasureReport);
      expect(reports.length).to.be.greaterThan(0);
      let masked = 0;
      for (const mr of reports) {
        expect(mr.type).to.equal('summary');
        expect(mr.status).to.equal('complete');
        expect(mr.reporter!.identifier!.value).to.be.a('string');
        for (const p of mr.group![0]!.population!) {
          if (p.count === undefined) masked++;
          else expect(p.count === 0 || (p.count > 7 && p.count % 5 === 0), `count ${p.count}`).to.equal(true);
        }
      }
      expect(masked, 'suppressed populations carry data-absent-reason instead of a count').to.be.greaterThan(0);
      const one = reports[0]!;
      const byId = await request(app()).get(`/fhir/MeasureReport/${one.id}`);
      expect(byId.status).to.equal(200);
      expect(byId.body).to.deep.equal(one);
      const bySubject = await request(app()).get(`/fhir/MeasureReport?subject=${one.reporter!.identifier!.value}`);
      expect(bySubject.body.entry.every((e: { resource: MeasureReport }) => e.resource.reporter!.identifier!.value === one.reporter!.identifier!.value)).to.equal(true);
      expectValidFhir(bySubject.body);
      expect((await request(app()).get('/fhir/MeasureReport?measure=dementia-emergency-admission&period=2024-06-01')).body.entry ?? []).to.have.length(0);
      expectOutcome(await request(app()).get('/fhir/MeasureReport'), 400, 'missing-parameter');
      expectOutcome(await request(app()).get('/fhir/MeasureReport/s000000000000.X1.current-smokers'), 404);
    });

    it('the CapabilityStatement lists Measure and MeasureReport', async () => {
      const cs = await request(app()).get('/fhir/metadata');
      const types = cs.body.rest[0].resource.map((r: { type: string }) => r.type);
      expect(types).to.include.members(['Measure', 'MeasureReport']);
    });
  });

  describe('snapshots never change silently', () => {
    it('recomputing makes a NEW snapshot; the old one stays readable unchanged; the newest complete one is published', async () => {
      const r = await refresh(analyst, { period: PERIOD, indicators: ['flu-vaccination-65'] });
      expect(r.status).to.equal(201);
      const second = r.body.snapshot.id;
      expect(second).not.to.equal(firstSnapshot);
      const old = await request(app()).get(`/indicators/flu-vaccination-65?snapshot=${firstSnapshot}`);
      expect(old.status).to.equal(200);
      expect(old.body.figures).to.deep.equal(firstFigures);
      const now = await request(app()).get(`/indicators/flu-vaccination-65?period=${PERIOD_PARAM}`);
      expect(now.body.snapshot.id).to.equal(second);
      expect(now.body.snapshotsOfThisPeriod.map((s: { id: string }) => s.id)).to.include.members([firstSnapshot, second]);
      // The stored rows cannot be changed or removed (append-only rules).
      await h.service.db.query('UPDATE indicator_snapshot SET complete = false');
      await h.service.db.query('DELETE FROM indicator_snapshot_figures');
      const again = await request(app()).get(`/indicators/flu-vaccination-65?snapshot=${firstSnapshot}`);
      expect(again.body.figures).to.deep.equal(firstFigures);
      expect(again.body.snapshot.complete).to.equal(true);
    });
  });

  describe('a source down', () => {
    const DOWN_PERIOD = { start: '2024-01-01', end: '2024-12-31' };
    after(async () => {
      h.sandbox.faults.socialCare.reset();
      await new Promise((r) => setTimeout(r, 500)); // let the circuit breaker close
    });

    it('the snapshot is stored INCOMPLETE, naming the source, and is shown as incomplete everywhere', async () => {
      h.sandbox.faults.socialCare.set({ mode: 'error' });
      const r = await refresh(analyst, { period: DOWN_PERIOD });
      expect(r.status, r.text.slice(0, 500)).to.equal(201);
      expect(r.body.snapshot.complete).to.equal(false);
      expect(r.body.snapshot.unavailableSources).to.include('social-care');
      const affected = r.body.indicators.find((i: { id: string }) => i.id === 'care-packages-reviewed');
      expect(affected.complete).to.equal(false);
      expect(affected.missingSources).to.include('social-care');

      const j = await request(app()).get(`/indicators/care-packages-reviewed?period=${DOWN_PERIOD.start}/${DOWN_PERIOD.end}`);
      expect(j.status).to.equal(200);
      expect(j.body.snapshot.complete).to.equal(false);
      expect(j.body.snapshot.status).to.equal('incomplete');
      expect(j.body.snapshot.notice).to.match(/social-care/);
      expect(j.body.published).to.equal('incomplete');
      // A GP-only indicator of the same snapshot: its own figures are complete, the snapshot still says incomplete.
      const gp = await request(app()).get(`/indicators/flu-vaccination-65?period=${DOWN_PERIOD.start}/${DOWN_PERIOD.end}`);
      expect(gp.body.snapshot.complete).to.equal(false);
      expect(gp.body.published).to.equal('incomplete');
      const fr = await request(app()).get(`/fhir/MeasureReport?measure=flu-vaccination-65&period=${DOWN_PERIOD.end}`);
      expectValidFhir(fr.body);
      for (const e of fr.body.entry as { resource: MeasureReport }[]) {
        expect(e.resource.status).to.equal('error');
        expect(e.resource.meta!.tag![0]!.code).to.equal('incomplete');
      }
      const csv = await request(app()).get(`/indicators/flu-vaccination-65?period=${DOWN_PERIOD.start}/${DOWN_PERIOD.end}&_format=csv`);
      const [header, row] = csv.text.split('\r\n');
      expect(row!.split(',')[header!.split(',').indexOf('snapshot_complete')]).to.equal('false');

      // The CSV of the indicator whose source was down is not a bare header: it says why there are no figures,
      // and every row links the metadata CSV (definition, method, limitations, polarity, completeness, opt-outs).
      const care = await request(app()).get(`/indicators/care-packages-reviewed?period=${DOWN_PERIOD.start}/${DOWN_PERIOD.end}&_format=csv`);
      expect(care.status).to.equal(200);
      const rows = csvRecords(care.text);
      expect(rows.length).to.be.at.least(1);
      for (const x of rows) {
        expect(x).to.include({ snapshot_complete: 'false' });
        expect(x.unavailable_sources.split(' ')).to.include('social-care');
      }
      const link = /^<([^>]+)>; rel="describedby"; type="text\/csv"$/.exec(care.headers.link ?? '');
      expect(link, care.headers.link).not.to.equal(null);
      expect(rows[0]!.metadata_url).to.equal(link![1]);
      const md = await request(app()).get(new URL(link![1]!).pathname + new URL(link![1]!).search);
      expect(md.status, md.text.slice(0, 300)).to.equal(200);
      expect(md.headers['content-type']).to.match(/^text\/csv/);
      const field = (f: string) => parseCsv(md.text).filter((r) => r[0] === f).map((r) => r[1]);
      expect(field('completeness')[0]).to.match(/^incomplete: .*social-care/);
      expect(field('limitation').length).to.be.greaterThan(0);
      expect(field('polarity')).to.have.length(1);
      expect(field('methodology')[0]).to.be.a('string').and.not.equal('');
      expect(field('opt_outs_applied')[0]).to.match(/^(suppressed|0|\d*[05])$/);
    });

    it('an incomplete snapshot does not displace the complete one already published for a period', async () => {
      h.sandbox.faults.socialCare.set({ mode: 'error' });
      const r = await refresh(analyst, { period: PERIOD, indicators: ['care-packages-reviewed'] });
      expect(r.body.snapshot.complete).to.equal(false);
      const j = await request(app()).get(`/indicators/care-packages-reviewed?period=${PERIOD_PARAM}`);
      expect(j.body.snapshot.id).to.equal(firstSnapshot);
      expect(j.body.snapshot.complete).to.equal(true);
      const listed = j.body.snapshotsOfThisPeriod.find((s: { id: string }) => s.id === r.body.snapshot.id);
      expect(listed).to.include({ complete: false, published: false });
    });
  });

  describe('feedback', () => {
    it('is stored without a token; the answer holds no text back', async () => {
      const r = await request(app()).post('/indicators/current-smokers/feedback').send({ text: 'Please show the trend, not just one year.', rating: 4 });
      expect(r.status, r.text).to.equal(201);
      expect(r.body).to.include({ indicatorId: 'current-smokers', rating: 4 });
    });

    it('is validated: too long, bad rating, empty, unknown field → 400 naming the element; personal data → 422; unknown indicator → 404', async () => {
      const post = (body: object, id = 'current-smokers') => request(app()).post(`/indicators/${id}/feedback`).send(body);
      expect(expectOutcome(await post({ text: 'x'.repeat(2001) }), 400).issue[0].expression).to.deep.equal(['text']);
      expect(expectOutcome(await post({ text: 'ok', rating: 6 }), 400).issue[0].expression).to.deep.equal(['rating']);
      expectOutcome(await post({ text: '' }), 400);
      expectOutcome(await post({ text: 'ok', email: 'a@b.c' }), 400);
      expect(expectOutcome(await post({ text: 'My NHS number is 943 476 5919, please check' }), 422, 'personal-data').issue[0].expression).to.deep.equal(['text']);
      expectOutcome(await post({ text: 'ok' }, 'no-such-indicator'), 404);
    });

    it('listing needs an analyst: no token → 401, clinician → 403, analyst → the stored feedback', async () => {
      expectOutcome(await request(app()).get('/indicators/current-smokers/feedback'), 401);
      expectOutcome(await request(app()).get('/indicators/current-smokers/feedback').set('Authorization', `Bearer ${clinician}`), 403);
      const r = await request(app()).get('/indicators/current-smokers/feedback').set('Authorization', `Bearer ${analyst}`);
      expect(r.status).to.equal(200);
      expect(r.body.feedback).to.have.length(1);
      expect(r.body.feedback[0]).to.include({ text: 'Please show the trend, not just one year.', rating: 4 });
    });

    it(`is rate-limited per client address (${FEEDBACK_LIMIT} a minute) → 429 OperationOutcome with Retry-After`, async () => {
      const statuses: number[] = [];
      let last: request.Response | undefined;
      for (let i = 0; i < FEEDBACK_LIMIT + 2; i++) {
        last = await request(app()).post('/indicators/obesity-bmi-30/feedback').send({ text: `note ${i}` });
        statuses.push(last.status);
      }
      expect(statuses).to.include(429);
      expect(statuses.filter((s) => s === 201).length).to.be.lessThan(FEEDBACK_LIMIT);
      expectOutcome(last!, 429, 'rate-limited');
      expect(Number(last!.headers['retry-after'])).to.be.within(1, 60);
    });
  });
});
