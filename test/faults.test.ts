import { expect } from 'chai';
import type { OperationOutcome } from 'fhir/r4.js';
import type { FaultMode } from '../scripts/sandbox/faults.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { get, idForNhs, issueCodes, matches, outcomes, sourcesOf } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

const OPEN_MS = 400;

describe('source faults injected with the sandbox’s own controls', function () {
  this.timeout(60_000);
  let h: Harness;
  let token: string;
  let id: string;

  before(async () => {
    h = await startHarness({
      sandbox: { generate: { count: 30, seed: 3 } },
      env: { SOURCE_DEADLINE_MS: '500', CIRCUIT_FAILURE_THRESHOLD: '4', CIRCUIT_OPEN_MS: String(OPEN_MS) },
    });
    token = await h.token({ role: 'clinician' });
    const entry = h.sandbox.data.manifest.find((m) => m.hospitalPatientId && m.socialCareHasNhsNumber)!;
    id = await idForNhs(h.service.app, token, entry.nhsNumber);
    token = await h.clinicianFor(entry.nhsNumber);
  });
  afterEach(async () => {
    for (const f of Object.values(h.sandbox.faults)) f.reset();
    await new Promise((r) => setTimeout(r, OPEN_MS + 50)); // let any open circuit go half-open
    await get(h.service.app, `/fhir/Patient/${id}/$everything`, token); // trial call closes it
  });
  after(async () => {
    await h?.close();
  });

  const everything = () => get(h.service.app, `/fhir/Patient/${id}/$everything?_count=1000`, token);

  const cases: [FaultMode, string][] = [
    ['error', 'source-error'],
    ['hang', 'source-timeout'],
    ['html', 'source-invalid-response'],
    ['truncated', 'source-invalid-response'],
    ['wrong-type', 'source-invalid-response'],
  ];
  for (const [mode, code] of cases) {
    it(`hospital ${mode} → 200 with the other sources' data and an OperationOutcome naming the hospital (${code})`, async () => {
      h.sandbox.faults.hospital.set({ mode });
      const started = Date.now();
      const r = await everything();
      expect(r.status).to.equal(200);
      expect(Date.now() - started, 'bounded by the deadline').to.be.below(1500);
      const [oo] = outcomes(r.body);
      expect(issueCodes(oo)).to.deep.equal([code]);
      expect(oo!.issue[0]!.severity).to.equal('warning');
      expect(oo!.issue[0]!.diagnostics).to.match(/^Hospital system could not be queried/);
      const sources = new Set(matches(r.body).flatMap(sourcesOf));
      expect(sources.has('gp')).to.equal(true);
      expect(sources.has('social-care')).to.equal(true);
      expect(matches(r.body).some((x) => sourcesOf(x).length === 1 && sourcesOf(x)[0] === 'hospital')).to.equal(false);
      expectValidFhir(r.body, `partial bundle (${mode})`);
    });
  }

  it('social care returning the wrong JSON shape is reported, not mapped', async () => {
    h.sandbox.faults.socialCare.set({ mode: 'wrong-type' });
    const r = await everything();
    expect(r.status).to.equal(200);
    expect(issueCodes(outcomes(r.body)[0])).to.deep.equal(['source-invalid-response']);
    expect(outcomes(r.body)[0]!.issue[0]!.diagnostics).to.match(/^Social care system/);
  });

  it('all sources down → 503 OperationOutcome naming each source', async () => {
    for (const f of Object.values(h.sandbox.faults)) f.set({ mode: 'error' });
    const r = await everything();
    expect(r.status).to.equal(503);
    const oo = r.body as OperationOutcome;
    expect(oo.resourceType).to.equal('OperationOutcome');
    expect(issueCodes(oo)[0]).to.equal('all-sources-unavailable');
    const text = oo.issue.map((i) => i.diagnostics).join('\n');
    for (const name of ['GP practice system', 'Hospital system', 'Social care system']) expect(text).to.include(name);
  });

  it('opens the hospital circuit after repeated failures (fails fast), then closes it when the source recovers', async () => {
    h.sandbox.faults.hospital.set({ mode: 'hang' });
    // A hanging call uses up its whole deadline, so it is not retried: one failure per request.
    for (let i = 0; i < 4; i++) await everything();
    const started = Date.now();
    const r = await everything();
    expect(Date.now() - started, 'fails fast while open').to.be.below(250);
    expect(issueCodes(outcomes(r.body)[0])).to.deep.equal(['source-circuit-open']);
    h.sandbox.faults.hospital.reset();
    await new Promise((res) => setTimeout(res, OPEN_MS + 50));
    const healed = await everything();
    expect(outcomes(healed.body)).to.have.length(0);
    expect(matches(healed.body).some((x) => sourcesOf(x).includes('hospital'))).to.equal(true);
  });

  it('readiness: one source down is 200 degraded naming it (instances stay in rotation); every source down is 503; it recovers', async () => {
    const ok = await get(h.service.app, '/readyz', token);
    expect(ok.status).to.equal(200);
    expect(ok.body.status).to.equal('ready');
    h.sandbox.faults.gp.set({ mode: 'error' });
    const degraded = await get(h.service.app, '/readyz', token);
    expect(degraded.status).to.equal(200);
    expect(degraded.body.status).to.equal('degraded');
    expect(degraded.body.checks.find((c: { name: string }) => c.name === 'gp').ok).to.equal(false);
    expect(degraded.body.checks.find((c: { name: string }) => c.name === 'database').ok).to.equal(true);
    h.sandbox.faults.hospital.set({ mode: 'error' });
    h.sandbox.faults.socialCare.set({ mode: 'error' });
    const none = await get(h.service.app, '/readyz', token);
    expect(none.status).to.equal(503);
    expect(none.body.status).to.equal('unavailable');
    for (const f of [h.sandbox.faults.gp, h.sandbox.faults.hospital, h.sandbox.faults.socialCare]) f.reset();
    await new Promise((res) => setTimeout(res, OPEN_MS + 50)); // the circuits half-open again
    const back = await get(h.service.app, '/readyz', token);
    expect(back.status).to.equal(200);
    expect(back.body.status).to.equal('ready');
  });
});
