import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { createAggregateClient } from '../adapters/aggregate-client.js';
import { Transport } from '../adapters/transport.js';
import { createIndicatorComputer } from '../indicators/compute.js';
import type { ComputeRun, OrganisationCount, ReportingPeriod } from '../indicators/types.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { ensureDemoKeys, mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { startRegion, type Region } from '../scripts/sandbox/region.js';
import { startSandbox, type Sandbox } from '../scripts/sandbox/start.js';
import { openTestDb } from './helpers/test-db.js';

/**
 * Indicators over a region of several aggregate sources (issue 14): the registry's `aggregateUrl`s, counts
 * per organisation unioned across the sources of a kind, cross-source indicators linking across every
 * source of the other kind, a missing source named by its display name, and an organisation two sources
 * of one kind report refused (never summed).
 */
describe('indicators over a region: 2 GP systems, 2 trusts, 1 council', function () {
  this.timeout(300_000);
  const GENERATE = { count: 80, seed: 17 };
  let single: Sandbox;
  let region: Region;
  let singleService: Service;
  let regionService: Service;
  let period: ReportingPeriod;
  let dir: string;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'indicators-region-'));
    single = await startSandbox({ useEnv: false, generate: GENERATE });
    // No patient known to two trusts here, so hospital counts add up exactly across the trusts.
    region = await startRegion({ gp: 2, hospital: 2, socialCare: 1, generate: GENERATE, twoTrustsEvery: 0 });
    writeFileSync(join(dir, 'sources.json'), JSON.stringify(region.registry()));
    const common = { SOURCE_RETRIES: '0', CIRCUIT_FAILURE_THRESHOLD: '100', INDICATOR_PSEUDONYM_SECRET: 's'.repeat(40) };
    singleService = await createService(
      loadConfig({ ...common, GP_FHIR_URL: single.urls.gp, HOSPITAL_FHIR_URL: single.urls.hospital, SOCIAL_CARE_URL: single.urls.socialCare, DATA_DIR: join(dir, 'single') }),
      createLogger('silent'),
      { db: await openTestDb() },
    );
    regionService = await createService(loadConfig({ ...common, SOURCES_FILE: join(dir, 'sources.json'), DATA_DIR: join(dir, 'region') }), createLogger('silent'), { db: await openTestDb() });
    // The calendar year with the most emergency attendances, so the cross-source indicators have numerators.
    const years = new Map<string, number>();
    for (const r of single.data.hospital) {
      const e = r as { resourceType: string; class?: { code?: string }; period?: { start?: string } };
      if (e.resourceType === 'Encounter' && e.class?.code === 'EMER' && e.period?.start) years.set(e.period.start.slice(0, 4), (years.get(e.period.start.slice(0, 4)) ?? 0) + 1);
    }
    const year = [...years].sort((a, b) => b[1] - a[1])[0]![0];
    period = { start: `${year}-01-01`, end: `${year}-12-31` };
  });
  after(async () => {
    await regionService?.close();
    await singleService?.close();
    await region?.close();
    await single?.close();
  });

  const byId = (run: ComputeRun, id: string) => run.results.find((r) => r.indicatorId === id)!;
  const sum = (orgs: OrganisationCount[]) => orgs.reduce((t, o) => ({ numerator: t.numerator + o.numerator, denominator: t.denominator + o.denominator }), { numerator: 0, denominator: 0 });

  it('the registry the region writes names each source’s aggregate API; a bad aggregateUrl stops start-up naming the entry', () => {
    const sources = regionService.federation.adapters.map((a) => a.id);
    expect(sources).to.deep.equal(['gp-1', 'gp-2', 'trust-1', 'trust-2', 'council-1']);
    for (const s of region.registry().sources) expect(s.aggregateUrl, s.id).to.match(/^http:\/\/127\.0\.0\.1:\d+$/);
    // The two GP systems serve distinct practices.
    const [a, b] = region.registry().sources.slice(0, 2).map((s) => new Set(s.organisations.map((o) => o.ods)));
    expect([...a!].filter((x) => b!.has(x))).to.deep.equal([]);
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ sources: [{ ...region.registry().sources[0], aggregateUrl: 'ftp://x' }] }));
    expect(() => loadConfig({ SOURCES_FILE: bad })).to.throw(ConfigError, /sources\[0\] \(gp-1\)\.aggregateUrl: must be an http\(s\) URL/);
  });

  it('computes the same counts per organisation as the single-source sandbox over the same people', async () => {
    const [s, r] = await Promise.all([singleService.indicators.compute(period), regionService.indicators.compute(period)]);
    expect(s.complete, JSON.stringify(s.sources)).to.equal(true);
    expect(r.complete, JSON.stringify(r.sources)).to.equal(true);
    expect(r.sources.map((x) => x.source).sort()).to.deep.equal(['GP system 1', 'GP system 2', 'Hospital system (trust 1)', 'Hospital system (trust 2)', 'Social care (council 1)']);
    let compared = 0;
    for (const def of regionService.indicators.catalogue) {
      const one = byId(s, def.id);
      const many = byId(r, def.id);
      expect(many.missingSources, def.id).to.deep.equal([]);
      if (def.level === 'hospital-trust') {
        if (def.spec.shape.startsWith('org-return')) {
          // Organisation returns: the sandbox trust's own (RR8) are the same; trust 2 (RR9) makes its own.
          expect(many.organisations.find((o) => o.code === 'RR8'), def.id).to.deep.equal(one.organisations.find((o) => o.code === 'RR8'));
          expect(many.organisations.map((o) => o.code), def.id).to.deep.equal(['RR8', 'RR9']);
        } else {
          // The single sandbox's one trust holds everyone the region's two trusts hold between them.
          expect(sum(many.organisations), def.id).to.deep.equal(sum(one.organisations));
        }
      } else {
        expect(many.organisations, def.id).to.deep.equal(one.organisations);
      }
      if (one.organisations.some((o) => o.denominator > 0)) compared++;
    }
    expect(compared, 'indicators with data').to.be.greaterThan(5);
    // Cross-source: linked across both trusts (people of each GP system found at either trust).
    const cross = regionService.indicators.catalogue.filter((d) => d.sources.length > 1);
    expect(cross.length).to.be.greaterThan(0);
    expect(cross.some((d) => byId(r, d.id).organisations.some((o) => o.numerator > 0)), 'a cross-source numerator').to.equal(true);
  });

  it('with one GP system down the snapshot is incomplete, naming it; the other kinds’ indicators are complete', async () => {
    const gp2 = region.sources.find((x) => x.id === 'gp-2')!;
    gp2.faults.set({ mode: 'error' });
    try {
      const run = await regionService.indicators.compute(period);
      expect(run.complete).to.equal(false);
      for (const def of regionService.indicators.catalogue) {
        const missing = byId(run, def.id).missingSources;
        expect(missing, def.id).to.deep.equal(def.sources.includes('gp') ? ['GP system 2'] : []);
      }
      const keys = await ensureDemoKeys(join(dir, 'region'));
      const analyst = await mintToken(keys.privateJwk, keys.kid, { sub: 'analyst-1', role: 'analyst', org: 'X26' });
      const refreshed = await request(regionService.app).post('/indicators/$refresh').set('Authorization', `Bearer ${analyst}`).send({ period, indicators: ['diabetes-hba1c-recorded', 'care-packages-reviewed'] });
      expect(refreshed.status, refreshed.text.slice(0, 300)).to.equal(201);
      expect(refreshed.body.snapshot.complete).to.equal(false);
      expect(refreshed.body.snapshot.unavailableSources).to.deep.equal(['GP system 2']);
      const page = await request(regionService.app).get(`/indicators/diabetes-hba1c-recorded?period=${period.start}/${period.end}`);
      expect(page.body.snapshot.notice).to.include('GP system 2');
      expect(page.body.figures.missingSources).to.deep.equal(['GP system 2']);
    } finally {
      gp2.faults.reset();
    }
  });

  it('two sources of one kind reporting the same organisation: refused, never summed; both named', async () => {
    // The same GP system registered twice (a misconfiguration, or a practice mid-migration): every practice twice.
    const root = region.sources.find((x) => x.id === 'gp-1')!.aggregateUrl;
    const client = (id: string, name: string) =>
      createAggregateClient({ source: 'gp', id, name, baseUrl: root, deadlineMs: 30_000, transport: new Transport(id, { deadlineMs: 30_000, retries: 0, retryBaseMs: 25, breaker: { failureThreshold: 100, openMs: 1000 } }) });
    const secret = Buffer.from('s'.repeat(40));
    const gpOnly = regionService.indicators.catalogue.filter((d) => d.sources.length === 1 && d.sources[0] === 'gp').map((d) => d.id);
    // One of them alone computes normally.
    const alone = await createIndicatorComputer({ sources: [client('gp-a', 'GP system A')], secret, optedOutNhsNumbers: async () => [] }).compute(period, gpOnly);
    expect(alone.complete).to.equal(true);
    const withData = alone.results.filter((r) => r.organisations.length > 0).map((r) => r.indicatorId);
    expect(withData.length).to.be.greaterThan(0);
    const run = await createIndicatorComputer({ sources: [client('gp-a', 'GP system A'), client('gp-b', 'GP system B')], secret, optedOutNhsNumbers: async () => [] }).compute(period, withData);
    expect(run.complete).to.equal(false);
    for (const id of withData) {
      expect(byId(run, id).organisations, id).to.deep.equal([]);
      expect(byId(run, id).missingSources, id).to.deep.equal(['GP system A', 'GP system B']);
    }
  });
});
