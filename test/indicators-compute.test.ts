import { expect } from 'chai';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import type { AggregateClient } from '../adapters/aggregate-client.js';
import { createIndicatorComputer } from '../indicators/compute.js';
import { createAggregateClients } from '../server/compose.js';
import { createLogger } from '../server/logger.js';
import request from 'supertest';
import type { Consent } from 'fhir/r4.js';
import { ACT_REASON_SYSTEM, CONSENT_POLICY_URI, CONSENT_SCOPE_SYSTEM } from '../consent/types.js';
import { CATALOGUE } from '../indicators/catalogue.js';
import { epochKey, epochsToPrepare, keyedPseudonym, loadPseudonymSecret, pseudonymEpoch } from '../indicators/pseudonyms.js';
import { ConfigError, loadConfig } from '../server/config.js';
import type { ComputeRun, IndicatorComputation } from '../indicators/types.js';
import { generatePatients } from '../scripts/generate-patients.js';
import { loadBundles } from '../scripts/sandbox/loader.js';
import { EXPECTED, EXPECTED_AFTER_OPT_OUT, FIXTURE_PERIOD, fixtureNhsNumbers, indicatorFixture } from './helpers/indicator-fixture.js';
import { idForNhs } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

/**
 * The indicator computation end to end: the real service (createService) computing every catalogue
 * indicator from the real sandbox servers' aggregate endpoints over a hand-built population whose
 * answers are worked out by hand (test/helpers/indicator-fixture.ts).
 */

const SEED = 5;
const byOrg = (c: IndicatorComputation | undefined) => Object.fromEntries((c?.organisations ?? []).map((o) => [o.code, [o.numerator, o.denominator]]));
const result = (run: ComputeRun, id: string) => run.results.find((r) => r.indicatorId === id);

function expectAll(run: ComputeRun, expected: Record<string, Record<string, [number, number]>>): void {
  for (const def of CATALOGUE) {
    expect(byOrg(result(run, def.id)), def.id).to.deep.equal(expected[def.id]);
  }
}

describe('indicator computation through the sandbox aggregate endpoints', function () {
  this.timeout(180_000);
  let h: Harness;
  let firstNhs: string;
  const SECRET = 'test-secret-for-indicator-pseudonyms-0123456789';

  before(async () => {
    firstNhs = loadBundles(generatePatients({ count: 3, seed: SEED })).manifest[0]!.nhsNumber;
    h = await startHarness({
      sandbox: { generate: { count: 3, seed: SEED }, extract: { rows: indicatorFixture(firstNhs) } },
      env: { INDICATOR_PSEUDONYM_SECRET: SECRET, AGGREGATE_DEADLINE_MS: '5000' },
    });
    const generated = new Set(h.sandbox.data.manifest.map((m) => m.nhsNumber));
    const n = fixtureNhsNumbers(firstNhs);
    for (const x of [...n.gp.slice(1), n.h3, n.s1, n.s3, n.s5]) expect(generated.has(x ?? ''), 'fixture NHS numbers are not generated ones').to.equal(false);
  });
  after(async () => h?.close());
  afterEach(async () => {
    for (const f of Object.values(h.sandbox.faults)) f.reset();
  });

  it('computes every catalogue indicator with the hand-worked answer, per organisation', async () => {
    const run = await h.service.indicators.compute(FIXTURE_PERIOD);
    expect(run.complete).to.equal(true);
    expect(run.optOutsApplied).to.equal(0);
    expect(run.results.map((r) => r.indicatorId)).to.deep.equal(CATALOGUE.map((d) => d.id));
    expect(run.sources.map((s) => [s.source, s.status, s.version])).to.have.deep.members([
      ['gp', 'ok', 'fixture-gp-1'],
      ['hospital', 'ok', 'fixture-hospital-1'],
      ['social-care', 'ok', 'fixture-social-care-1'],
    ]);
    expectAll(run, EXPECTED);
  });

  it('stratifies person and episode counts by age band and sex; the strata add up to the organisation', async () => {
    const run = await h.service.indicators.compute(FIXTURE_PERIOD, ['flu-vaccination-65', 'emergency-readmission-30d', 'dementia-emergency-admission', 'long-term-support-per-100k']);
    const flu = result(run, 'flu-vaccination-65')!.organisations.find((o) => o.code === 'A81001')!;
    expect(flu.strata).to.have.deep.members([
      { ageBand: '80-89', sex: 'female', numerator: 1, denominator: 1 },
      { ageBand: '80-89', sex: 'male', numerator: 0, denominator: 1 },
    ]);
    for (const r of run.results) {
      for (const o of r.organisations) {
        if (!o.strata) continue;
        expect(o.strata.reduce((a, s) => a + s.numerator, 0), `${r.indicatorId} ${o.code}`).to.equal(o.numerator);
        expect(o.strata.reduce((a, s) => a + s.denominator, 0), `${r.indicatorId} ${o.code}`).to.equal(o.denominator);
      }
    }
    const dementia = result(run, 'dementia-emergency-admission')!.organisations[0]!;
    expect(dementia.strata, 'cross-source strata come from the population side').to.have.deep.members([
      { ageBand: '80-89', sex: 'female', numerator: 1, denominator: 1 },
      { ageBand: '80-89', sex: 'male', numerator: 0, denominator: 1 },
    ]);
    expect(result(run, 'long-term-support-per-100k')!.organisations.every((o) => o.strata === undefined), 'a rate over a population return is not stratified').to.equal(true);
  });

  it('computes only the indicators asked for, and rejects unknown ids and bad periods with an OperationOutcome error', async () => {
    const run = await h.service.indicators.compute(FIXTURE_PERIOD, ['food-standards-compliance']);
    expect(run.results.map((r) => r.indicatorId)).to.deep.equal(['food-standards-compliance']);
    expect(run.sources.map((s) => s.source)).to.deep.equal(['hospital']);
    const failed = async (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e as { status?: number; outcome?: { issue: { expression?: string[] }[] } });
    const unknown = await failed(h.service.indicators.compute(FIXTURE_PERIOD, ['no-such-indicator']));
    expect(unknown?.status).to.equal(400);
    const bad = await failed(h.service.indicators.compute({ start: '2025-04-01', end: '2025-02-30' }));
    expect(bad?.status).to.equal(400);
    expect(bad?.outcome?.issue[0]?.expression).to.deep.equal(['period.end']);
  });

  it('links two sources by keyed pseudonym: only people in both lists count', async () => {
    // A different period: GP person 1's emergency visit (2024-11-01) is outside a window ending 2024-10-31.
    const run = await h.service.indicators.compute({ start: '2023-11-01', end: '2024-10-31' }, ['dementia-emergency-admission', 'care-package-emergency-attendance']);
    expect(byOrg(result(run, 'dementia-emergency-admission'))).to.deep.equal({ A81001: [0, 2] });
    expect(byOrg(result(run, 'care-package-emergency-attendance'))).to.deep.equal({ E08000035: [1, 1] });
  });

  it('leaves people who opted out of secondary use out of every count, at every source', async () => {
    const patientId = await idForNhs(h.service.app, await h.token({ role: 'clinician', org: 'Z99999', sub: 'searcher' }), firstNhs);
    const optOut: Consent = {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'research' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '57016-8' }] }],
      patient: { reference: `Patient/${patientId}` },
      dateTime: '2025-01-01T10:00:00Z',
      policy: [{ uri: CONSENT_POLICY_URI }],
      provision: { type: 'deny' },
    };
    const token = await h.token({ role: 'patient', nhs_number: firstNhs, sub: 'patient-1' });
    const created = await request(h.service.app).post('/fhir/Consent').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify(optOut));
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    try {
      const run = await h.service.indicators.compute(FIXTURE_PERIOD);
      expect(run.complete).to.equal(true);
      expect(run.optOutsApplied).to.equal(1);
      expectAll(run, EXPECTED_AFTER_OPT_OUT);
    } finally {
      const withdrawn = await request(h.service.app)
        .put(`/fhir/Consent/${created.body.id}`)
        .set('Authorization', `Bearer ${token}`)
        .set('Content-Type', 'application/fhir+json')
        .set('If-Match', 'W/"1"')
        .send(JSON.stringify({ ...optOut, id: created.body.id, status: 'inactive' }));
      expect(withdrawn.status).to.equal(200);
    }
    const after = await h.service.indicators.compute(FIXTURE_PERIOD, ['diabetes-hba1c-recorded']);
    expect(byOrg(result(after, 'diabetes-hba1c-recorded')), 'a withdrawn opt-out no longer excludes').to.deep.equal(EXPECTED['diabetes-hba1c-recorded']);

    // A sharing consent with a deny for research purposes (HRESCH) is an opt-out too.
    const purposeDeny: Consent = {
      ...optOut,
      scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      provision: { type: 'permit', provision: [{ type: 'deny', purpose: [{ system: ACT_REASON_SYSTEM, code: 'HRESCH' }] }] },
    };
    const second = await request(h.service.app).post('/fhir/Consent').set('Authorization', `Bearer ${token}`).set('Content-Type', 'application/fhir+json').send(JSON.stringify(purposeDeny));
    expect(second.status, JSON.stringify(second.body)).to.equal(201);
    try {
      const run = await h.service.indicators.compute(FIXTURE_PERIOD, ['diabetes-hba1c-recorded', 'dementia-emergency-admission']);
      expect(run.optOutsApplied).to.equal(1);
      expect(byOrg(result(run, 'diabetes-hba1c-recorded'))).to.deep.equal(EXPECTED_AFTER_OPT_OUT['diabetes-hba1c-recorded']);
      expect(byOrg(result(run, 'dementia-emergency-admission'))).to.deep.equal(EXPECTED_AFTER_OPT_OUT['dementia-emergency-admission']);
    } finally {
      const withdrawn = await request(h.service.app)
        .put(`/fhir/Consent/${second.body.id}`)
        .set('Authorization', `Bearer ${token}`)
        .set('Content-Type', 'application/fhir+json')
        .set('If-Match', 'W/"1"')
        .send(JSON.stringify({ ...purposeDeny, id: second.body.id, status: 'inactive' }));
      expect(withdrawn.status).to.equal(200);
    }
  });

  it('a source that is down makes the run incomplete and names it on every indicator that needs it; the others are computed', async () => {
    h.sandbox.faults.hospital.set({ mode: 'error' });
    const run = await h.service.indicators.compute(FIXTURE_PERIOD);
    expect(run.complete).to.equal(false);
    const hospital = run.sources.find((s) => s.source === 'hospital')!;
    expect(hospital.status).to.equal('unavailable');
    expect(hospital.reason).to.match(/HTTP 500/);
    for (const def of CATALOGUE) {
      const r = result(run, def.id)!;
      if (def.sources.includes('hospital')) {
        expect(r.missingSources, def.id).to.deep.equal(['hospital']);
        expect(r.organisations, def.id).to.deep.equal([]);
      } else {
        expect(r.missingSources, def.id).to.deep.equal([]);
        expect(byOrg(r), def.id).to.deep.equal(EXPECTED[def.id]);
      }
    }
  });

  it('a source answering garbage (truncated JSON, an HTML page) is treated as down', async () => {
    for (const mode of ['truncated', 'html', 'wrong-type'] as const) {
      h.sandbox.faults.socialCare.set({ mode });
      const run = await h.service.indicators.compute(FIXTURE_PERIOD, ['care-packages-reviewed', 'diabetes-hba1c-recorded']);
      expect(run.complete, mode).to.equal(false);
      expect(result(run, 'care-packages-reviewed')!.missingSources, mode).to.deep.equal(['social-care']);
      expect(byOrg(result(run, 'diabetes-hba1c-recorded')), mode).to.deep.equal(EXPECTED['diabetes-hba1c-recorded']);
      h.sandbox.faults.socialCare.reset();
      await new Promise((r) => setTimeout(r, 450)); // let the circuit breaker (CIRCUIT_OPEN_MS 400) close again
    }
  });

  it('never puts an NHS number or a pseudonym in the ComputeRun or the logs', async () => {
    const n = fixtureNhsNumbers(firstNhs);
    const nhsNumbers = [...n.gp.filter((x): x is string => !!x), n.h3, n.s1, n.s3, n.s5];
    // Every pseudonym that crosses the wire in either direction, captured at the client.
    const seen = new Set<string>();
    const clients = createAggregateClients(h.config);
    const spy = (c: AggregateClient): AggregateClient => ({
      ...c,
      openSession: (key, optedOut, signal) => (optedOut.forEach((p) => seen.add(p)), c.openSession(key, optedOut, signal)),
      populationPseudonyms: async (req, signal) => {
        const r = await c.populationPseudonyms(req, signal);
        r.groups.forEach((g) => g.matching.forEach((p) => seen.add(p)));
        return r;
      },
      criterionPseudonyms: async (req, signal) => {
        const r = await c.criterionPseudonyms(req, signal);
        r.pseudonyms.forEach((p) => seen.add(p));
        return r;
      },
    });
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk, _e, cb) => (lines.push(String(chunk)), cb()) });
    const computer = createIndicatorComputer({
      sources: clients.map(spy),
      secret: Buffer.from(SECRET),
      optedOutNhsNumbers: async () => [n.gp[1]!],
      logger: createLogger('trace', sink),
    });
    const run = await computer.compute(FIXTURE_PERIOD);
    expect(run.optOutsApplied).to.equal(1);
    expect(seen.size, 'pseudonyms did travel').to.be.greaterThan(4);
    const logStart = h.logs.length;
    const serviceRun = await h.service.indicators.compute(FIXTURE_PERIOD);
    const text = JSON.stringify(run) + JSON.stringify(serviceRun) + lines.join('') + h.logs.slice(logStart).join('');
    expect(lines.join(''), 'the computation logs a summary').to.include('indicators computed');
    for (const nhs of nhsNumbers) expect(text).to.not.include(nhs);
    for (const p of seen) expect(text).to.not.include(p);
    // Pseudonyms differ per month: two months cannot be joined.
    const secret = Buffer.from(SECRET);
    expect(keyedPseudonym(epochKey(secret, '2026-11'), firstNhs)).to.not.equal(keyedPseudonym(epochKey(secret, '2026-12'), firstNhs));
  });

  it('uses one key per calendar month, prepared at every source ahead of the refreshes', async () => {
    expect(pseudonymEpoch(new Date('2026-12-31T23:59:59Z'))).to.equal('2026-12');
    expect(epochsToPrepare(new Date('2026-12-05T12:00:00Z'))).to.deep.equal(['2026-12']);
    expect(epochsToPrepare(new Date('2026-12-30T12:00:00Z')), 'next month\'s key two days ahead').to.deep.equal(['2026-12', '2027-01']);
    expect(() => epochKey(Buffer.from(SECRET), '2026-13')).to.throw(RangeError);
    const at = new Date();
    const computer = createIndicatorComputer({ sources: createAggregateClients(h.config), secret: randomBytes(32), optedOutNhsNumbers: async () => [], now: () => at });
    const first = await computer.prepareKeys();
    expect(first.map((r) => [r.source, r.status])).to.have.deep.members(epochsToPrepare(at).flatMap(() => [['gp', 'keyed'], ['hospital', 'keyed'], ['social-care', 'keyed']]));
    expect((await computer.prepareKeys()).every((r) => r.status === 'held'), 'a second call finds them held').to.equal(true);
    // The refresh's sessions find the key prepared (the sources did not key anyone while it waited).
    const opened: (boolean | undefined)[] = [];
    const spied = createAggregateClients(h.config).map((c): AggregateClient => ({ ...c, openSession: (k, o, sig) => c.openSession(k, o, sig).then((s) => (opened.push(s.keyPrepared), s)) }));
    const secretOf = randomBytes(32);
    const watched = createIndicatorComputer({ sources: spied, secret: secretOf, optedOutNhsNumbers: async () => [], now: () => at });
    await watched.prepareKeys();
    const run = await watched.compute(FIXTURE_PERIOD);
    expect(run.complete).to.equal(true);
    expect(opened.length).to.be.greaterThan(2);
    expect(opened.every((p) => p === true)).to.equal(true);
    // A source that is down is reported as failed; the others are prepared.
    h.sandbox.faults.hospital.set({ mode: 'error' });
    try {
      const down = await createIndicatorComputer({ sources: createAggregateClients(h.config), secret: randomBytes(32), optedOutNhsNumbers: async () => [], now: () => at }).prepareKeys();
      expect(down.filter((r) => r.source === 'hospital').every((r) => r.status === 'failed')).to.equal(true);
      expect(down.filter((r) => r.source === 'gp').every((r) => r.status === 'keyed')).to.equal(true);
    } finally {
      h.sandbox.faults.hospital.reset();
    }
  });
});

describe('indicator pseudonym secret and aggregate settings', () => {
  const base = { GP_FHIR_URL: 'http://127.0.0.1:1/fhir', HOSPITAL_FHIR_URL: 'http://127.0.0.1:2/fhir', SOCIAL_CARE_URL: 'http://127.0.0.1:3' };

  it('is required in production, must be long enough, and the aggregate roots default to the source servers', () => {
    expect(() => loadConfig({ ...base, NODE_ENV: 'production' })).to.throw(ConfigError, /INDICATOR_PSEUDONYM_SECRET/);
    expect(() => loadConfig({ ...base, INDICATOR_PSEUDONYM_SECRET: 'short' })).to.throw(ConfigError, /at least 32 characters/);
    expect(() => loadConfig({ ...base, AGGREGATE_DEADLINE_MS: 'long' })).to.throw(ConfigError, /AGGREGATE_DEADLINE_MS/);
    const c = loadConfig({ ...base, NODE_ENV: 'production', INDICATOR_PSEUDONYM_SECRET: 'p'.repeat(40) });
    expect(c.indicatorPseudonymSecret).to.equal('p'.repeat(40));
    expect(c.aggregateDeadlineMs).to.equal(30_000);
    expect(c.aggregateSources.map((a) => [a.name, a.baseUrl])).to.deep.equal([['gp', 'http://127.0.0.1:1'], ['hospital', 'http://127.0.0.1:2'], ['social-care', 'http://127.0.0.1:3']]);
  });

  it('in demo mode is generated once into the data folder (mode 0600) and then reused', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ipr-secret-'));
    try {
      await expectRejected(loadPseudonymSecret({ dataDir: dir, production: true }), /required in production/);
      const [a, b] = await Promise.all([loadPseudonymSecret({ dataDir: dir, production: false }), loadPseudonymSecret({ dataDir: dir, production: false })]);
      expect(a.length).to.equal(32);
      expect(Buffer.from(b).equals(Buffer.from(a))).to.equal(true);
      expect(Buffer.from(await loadPseudonymSecret({ dataDir: dir, production: false })).equals(Buffer.from(a))).to.equal(true);
      expect(statSync(join(dir, 'indicator-pseudonym-secret')).mode & 0o777).to.equal(0o600);
      expect(Buffer.from(await loadPseudonymSecret({ secret: 's'.repeat(32), dataDir: dir, production: true })).toString()).to.equal('s'.repeat(32));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

async function expectRejected(p: Promise<unknown>, message: RegExp): Promise<void> {
  const e = await p.then(() => undefined, (err: unknown) => err as Error);
  expect(e?.message).to.match(message);
}
