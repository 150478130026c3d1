import { expect } from 'chai';
import { faultsFromEnv, type FaultConfig } from '../scripts/sandbox/faults.js';
import { startSandbox, type Sandbox, type SandboxSource } from '../scripts/sandbox/start.js';

async function setFault(sb: Sandbox, source: SandboxSource, body: unknown): Promise<Response> {
  return fetch(`${sb.admin[source]}/__admin/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
}
const resetAll = (sb: Sandbox) => Promise.all((['gp', 'hospital', 'socialCare'] as const).map((s) => fetch(`${sb.admin[s]}/__admin/faults`, { method: 'DELETE' })));

describe('sandbox fault injection', function () {
  let sb: Sandbox;
  let search: string; // a FHIR search URL (Bundle expected)
  let read: string; // a FHIR read URL (Patient expected)
  let person: string; // a social-care URL (object expected)

  before(async () => {
    sb = await startSandbox({ generate: { count: 20, seed: 3 }, useEnv: false });
    const m = sb.data.manifest.find((e) => e.socialCarePersonId)!;
    search = `${sb.urls.gp}/Patient/${m.gpPatientId}/$everything`;
    read = `${sb.urls.gp}/Patient/${m.gpPatientId}`;
    person = `${sb.urls.socialCare}/api/v1/people/${m.socialCarePersonId}/case`;
  });
  afterEach(() => resetAll(sb));
  after(async () => {
    await sb?.close();
  });

  it('reports, merges, validates and resets the setting through /__admin/faults', async () => {
    expect(await (await fetch(`${sb.admin.gp}/__admin/faults`)).json()).to.deep.equal({ mode: 'none', latencyMs: 0, jitterMs: 0 });
    await setFault(sb, 'gp', { latencyMs: 5 });
    const merged = (await (await setFault(sb, 'gp', { mode: 'error' })).json()) as FaultConfig;
    expect(merged).to.deep.equal({ mode: 'error', latencyMs: 5, jitterMs: 0 });
    expect((await setFault(sb, 'gp', { mode: 'explode' })).status).to.equal(400);
    expect((await setFault(sb, 'gp', { latency: 5 })).status).to.equal(400);
    const bad = await fetch(`${sb.admin.gp}/__admin/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{' });
    expect(bad.status).to.equal(400);
    expect(await (await fetch(`${sb.admin.gp}/__admin/faults`, { method: 'DELETE' })).json()).to.deep.equal({ mode: 'none', latencyMs: 0, jitterMs: 0 });
  });

  it('a repeated $everything is served from the serialised-answer cache, but never once a fault is set', async () => {
    const first = await (await fetch(search)).text();
    const second = await (await fetch(search)).text();
    expect(second).to.equal(first);
    expect((JSON.parse(first) as { resourceType: string }).resourceType).to.equal('Bundle');
    const narrowed = (await (await fetch(`${search}?_type=Patient`)).json()) as { entry: { resource: { resourceType: string } }[] };
    expect(narrowed.entry.map((e) => e.resource.resourceType)).to.deep.equal(['Patient']); // a different answer, not the cached one
    await setFault(sb, 'gp', { mode: 'wrong-type' });
    expect(((await (await fetch(search)).json()) as { resourceType: string }).resourceType).to.equal('Patient');
    await setFault(sb, 'gp', { mode: 'truncated' });
    const truncated = await (await fetch(search)).text();
    expect(truncated.length).to.be.below(first.length);
  });

  it('error: 500 with an OperationOutcome (FHIR) or {error} (social care), also on /health', async () => {
    await setFault(sb, 'gp', { mode: 'error' });
    await setFault(sb, 'socialCare', { mode: 'error' });
    const fhir = await fetch(search);
    expect(fhir.status).to.equal(500);
    expect(fhir.headers.get('content-type')).to.match(/^application\/fhir\+json/);
    expect(((await fhir.json()) as { resourceType: string }).resourceType).to.equal('OperationOutcome');
    expect((await fetch(`${sb.admin.gp}/health`)).status).to.equal(500);
    const sc = await fetch(person);
    expect(sc.status).to.equal(500);
    expect(await sc.json()).to.have.property('error');
    expect((await fetch(`${sb.urls.hospital}/metadata`)).status).to.equal(200); // other sources unaffected
  });

  it('hang: never answers (the client times out), admin still answers', async () => {
    await setFault(sb, 'hospital', { mode: 'hang' });
    const started = Date.now();
    const err = await fetch(`${sb.urls.hospital}/metadata`, { signal: AbortSignal.timeout(300) }).then(
      () => undefined,
      (e: Error) => e,
    );
    expect(err?.name).to.equal('TimeoutError');
    expect(Date.now() - started).to.be.lessThan(2000);
    expect((await fetch(`${sb.admin.hospital}/__admin/faults`)).status).to.equal(200);
  });

  it('html: 200 with a text/html page', async () => {
    await setFault(sb, 'socialCare', { mode: 'html' });
    const res = await fetch(person);
    expect(res.status).to.equal(200);
    expect(res.headers.get('content-type')).to.match(/^text\/html/);
    expect(await res.text()).to.match(/^<!DOCTYPE html>/);
  });

  it('truncated: 200 with the right content type but JSON cut in half', async () => {
    await setFault(sb, 'gp', { mode: 'truncated' });
    await setFault(sb, 'socialCare', { mode: 'truncated' });
    for (const [url, type] of [[search, /^application\/fhir\+json/], [person, /^application\/json/]] as const) {
      const res = await fetch(url);
      expect(res.status).to.equal(200);
      expect(res.headers.get('content-type')).to.match(type);
      const text = await res.text();
      expect(() => JSON.parse(text)).to.throw();
    }
  });

  it('wrong-type: a Patient where a Bundle is expected, an OperationOutcome for a read, an array for social care', async () => {
    await setFault(sb, 'gp', { mode: 'wrong-type' });
    await setFault(sb, 'socialCare', { mode: 'wrong-type' });
    const bundle = await fetch(search);
    expect(bundle.status).to.equal(200);
    expect(((await bundle.json()) as { resourceType: string }).resourceType).to.equal('Patient');
    expect(((await (await fetch(read)).json()) as { resourceType: string }).resourceType).to.equal('OperationOutcome');
    const sc = await fetch(person);
    expect(sc.status).to.equal(200);
    expect(await sc.json()).to.be.an('array');
  });

  it('latency (± jitter) delays every non-admin request', async () => {
    await setFault(sb, 'socialCare', { latencyMs: 150, jitterMs: 20 });
    let started = Date.now();
    expect((await fetch(person)).status).to.equal(200);
    expect(Date.now() - started).to.be.at.least(125);
    started = Date.now();
    await fetch(`${sb.admin.socialCare}/__admin/faults`);
    expect(Date.now() - started).to.be.lessThan(100);
  });

  it('reads the initial setting from env and rejects bad values', () => {
    expect(faultsFromEnv('HOSPITAL', { SANDBOX_HOSPITAL_FAULT: 'html', SANDBOX_HOSPITAL_LATENCY_MS: '80' })).to.deep.equal({ mode: 'html', latencyMs: 80 });
    expect(() => faultsFromEnv('GP', { SANDBOX_GP_FAULT: 'broken' })).to.throw(/SANDBOX_GP/);
    expect(() => faultsFromEnv('SOCIAL_CARE', { SANDBOX_SOCIAL_CARE_LATENCY_MS: 'slow' })).to.throw();
  });

  it('close() ends hanging requests instead of waiting for them', async () => {
    const small = await startSandbox({ generate: { count: 2, seed: 1 }, useEnv: false, faults: { gp: { mode: 'hang' } } });
    const pending = fetch(`${small.urls.gp}/metadata`, { signal: AbortSignal.timeout(10_000) }).then(
      () => 'answered',
      (e: Error) => e.name,
    );
    await new Promise((r) => setTimeout(r, 100));
    const started = Date.now();
    await small.close();
    expect(Date.now() - started).to.be.lessThan(1000);
    expect(await pending).to.not.equal('answered');
    expect(await pending).to.not.equal('TimeoutError');
  });
});
