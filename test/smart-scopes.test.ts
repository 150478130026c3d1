import { expect } from 'chai';
import request from 'supertest';
import type { Bundle, OperationOutcome } from 'fhir/r4.js';
import { AuditLog } from '../audit/audit-log.js';
import { parseScopes, requireScope, scopeAllows, defaultScopes, InsufficientScope, ScopeSyntaxError } from '../identity/scopes.js';
import { scopeRuleFor } from '../server/scope-rules.js';
import type { Principal } from '../identity/principal.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { get, idForNhs, issueCodes, matches, outcomes } from './helpers/fhir-http.js';
import { startHarness, type Harness } from './helpers/harness.js';

const patient = (scope?: string): Principal => ({ sub: 'p', role: 'patient', nhsNumber: '9990000018', ...(scope !== undefined ? { scope } : {}) });
const clinician = (scope?: string): Principal => ({ sub: 'c', role: 'clinician', organisation: 'A81001', ...(scope !== undefined ? { scope } : {}) });

describe('SMART scopes: parsing and checks (pure)', () => {
  it('parses v2 scopes into context, type and permissions', () => {
    const p = parseScopes('patient/*.rs user/Observation.cruds system/Consent.r openid fhirUser');
    expect(p.resources.map((s) => [s.context, s.resourceType, [...s.permissions].join('')])).to.deep.equal([
      ['patient', '*', 'rs'],
      ['user', 'Observation', 'cruds'],
      ['system', 'Consent', 'r'],
    ]);
    expect(p.ignored).to.deep.equal(['openid', 'fhirUser']);
  });

  it('maps v1 read/write/* to v2 permissions', () => {
    const perms = (s: string) => [...parseScopes(s).resources[0]!.permissions].sort().join('');
    expect(perms('user/*.read')).to.equal('rs');
    expect(perms('user/*.write')).to.equal('cdu');
    expect(perms('user/*.*')).to.equal('cdrsu');
  });

  it('rejects malformed scopes strictly, naming the position but not echoing the value', () => {
    for (const bad of ['patient/*.sr', 'patient/*.rr', 'patient/*.x', 'patient/*.', 'doctor/*.rs', 'patient/observation.rs', 'Patient.read', 'patient/*rs']) {
      expect(() => parseScopes(`openid ${bad}`), bad).to.throw(ScopeSyntaxError, /Scope 2/);
    }
  });

  it('understands granular (query) scopes but grants nothing with them', () => {
    const p = parseScopes('patient/Observation.rs?category=laboratory');
    expect(p.resources).to.have.length(0);
    expect(scopeAllows(patient('patient/Observation.rs?category=laboratory'), 'Observation', 'r')).to.equal(false);
  });

  it('grants only the named type and permission; * covers every type', () => {
    const p = patient('patient/Observation.r patient/Condition.s');
    expect(scopeAllows(p, 'Observation', 'r')).to.equal(true);
    expect(scopeAllows(p, 'Observation', 's')).to.equal(false);
    expect(scopeAllows(p, 'Condition', 's')).to.equal(true);
    expect(scopeAllows(p, 'Condition', 'r')).to.equal(false);
    expect(scopeAllows(patient('patient/*.rs'), 'CarePlan', 's')).to.equal(true);
  });

  it('patient/ scopes reach only a token with a patient identity; user/ and system/ work for staff', () => {
    expect(scopeAllows(clinician('patient/*.rs'), 'Patient', 'r')).to.equal(false);
    expect(scopeAllows(clinician('user/*.rs'), 'Patient', 'r')).to.equal(true);
    expect(scopeAllows(clinician('system/Patient.r'), 'Patient', 'r')).to.equal(true);
    expect(scopeAllows(patient('patient/*.rs'), 'Patient', 'r')).to.equal(true);
  });

  it('a principal without a scope claim is granted nothing', () => {
    expect(scopeAllows(clinician(), 'Patient', 'r')).to.equal(false);
    expect(() => requireScope(clinician(), 'Patient', 's')).to.throw(InsufficientScope, /search Patient: it needs user\/Patient\.s or system\/Patient\.s/);
  });

  it('defaults are role-appropriate and parse', () => {
    expect(defaultScopes('patient')).to.equal('patient/*.rs patient/Consent.cu');
    expect(scopeAllows(clinician(defaultScopes('clinician')), 'Observation', 's')).to.equal(true);
    expect(scopeAllows(clinician(defaultScopes('clinician')), 'Consent', 'c')).to.equal(false);
  });

  it('maps routes (OpenAPI templates) to the access they need', () => {
    const needs = (m: string, r: string, params?: Record<string, string>) => {
      const rule = scopeRuleFor(m, r, params);
      return rule?.kind === 'require' ? rule.needs.map((n) => `${n.resourceType}.${n.permission}`) : rule?.kind;
    };
    expect(needs('GET', '/fhir/Patient')).to.deep.equal(['Patient.s']);
    expect(needs('POST', '/fhir/Patient/_search')).to.deep.equal(['Patient.s']);
    expect(needs('GET', '/fhir/Patient/{id}')).to.deep.equal(['Patient.r']);
    expect(needs('GET', '/fhir/Patient/{id}/$everything')).to.deep.equal(['Patient.r']);
    expect(needs('GET', '/fhir/Patient/{id}/$summary')).to.include.members(['Patient.r', 'Condition.r', 'AllergyIntolerance.r', 'MedicationStatement.r']);
    expect(needs('GET', '/fhir/Observation')).to.deep.equal(['Observation.s']);
    expect(needs('GET', '/fhir/{type}', { type: 'CarePlan' })).to.deep.equal(['CarePlan.s']);
    expect(needs('POST', '/fhir/Consent')).to.deep.equal(['Consent.c']);
    expect(needs('PUT', '/fhir/Consent/{id}')).to.deep.equal(['Consent.u']);
    expect(needs('GET', '/fhir/Consent/{id}/_history')).to.deep.equal(['Consent.r']);
    expect(needs('GET', '/fhir/metadata')).to.equal('none');
    expect(needs('GET', '/audit')).to.deep.equal(['AuditEvent.s']);
    expect(needs('PATCH', '/fhir/Patient/{id}/$weird')).to.equal(undefined);
  });
});

describe('SMART scopes enforced through the HTTP interface', function () {
  this.timeout(120_000);
  let h: Harness;
  let nhs: string;
  let patientId: string;
  const app = () => h.service.app;

  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 20, seed: 4 } } });
    nhs = h.sandbox.data.manifest.find((m) => m.hospitalPatientId)!.nhsNumber;
    patientId = await idForNhs(app(), await h.clinicianFor(nhs), nhs);
  });
  after(async () => {
    await h?.close();
  });

  const expect403Scope = (r: request.Response, scope: RegExp) => {
    expect(r.status, JSON.stringify(r.body)).to.equal(403);
    expectValidFhir(r.body);
    const oo = r.body as OperationOutcome;
    expect(oo.issue[0]!.code).to.equal('forbidden');
    expect(issueCodes(oo)).to.deep.equal(['insufficient-scope']);
    expect(oo.issue[0]!.diagnostics).to.match(scope);
    expect(r.headers['www-authenticate']).to.match(/insufficient_scope/);
    expect(JSON.stringify(r.body)).to.not.include(nhs);
  };

  it('publishes /.well-known/smart-configuration without a token', async () => {
    const r = await request(app()).get('/.well-known/smart-configuration');
    expect(r.status).to.equal(200);
    expect(r.body.capabilities).to.include.members(['permission-v2', 'permission-v1', 'permission-patient', 'permission-user']);
    expect(r.body.capabilities).to.not.include('launch-standalone'); // no authorisation server configured
    expect(r.body.scopes_supported).to.include.members(['patient/*.rs', 'user/*.rs', 'system/*.rs']);
    expect(r.body.grant_types_supported).to.deep.equal([]);
    expect(r.body).to.not.have.property('token_endpoint');
  });

  it('lists configured authorisation-server endpoints and capabilities, and rejects unknown ones', async () => {
    const { loadConfig } = await import('../server/config.js');
    const { smartConfiguration } = await import('../server/smart-routes.js');
    const base = { GP_FHIR_URL: 'http://a', HOSPITAL_FHIR_URL: 'http://b', SOCIAL_CARE_URL: 'http://c' };
    const doc = smartConfiguration(loadConfig({
      ...base,
      SMART_AUTHORIZATION_ENDPOINT: 'https://login.example/authorize',
      SMART_TOKEN_ENDPOINT: 'https://login.example/token',
      SMART_CAPABILITIES: 'launch-standalone,client-confidential-asymmetric',
    }));
    expect(doc.authorization_endpoint).to.equal('https://login.example/authorize');
    expect(doc.token_endpoint).to.equal('https://login.example/token');
    expect(doc.grant_types_supported).to.deep.equal(['authorization_code']);
    expect(doc.code_challenge_methods_supported).to.deep.equal(['S256']);
    expect(doc.capabilities).to.include.members(['launch-standalone', 'client-confidential-asymmetric', 'permission-v2']);
    expect(() => loadConfig({ ...base, SMART_CAPABILITIES: 'permission-everything' })).to.throw(/SMART_CAPABILITIES/);
  });

  it('the CapabilityStatement advertises SMART in rest.security', async () => {
    const r = await request(app()).get('/fhir/metadata');
    const security = r.body.rest[0].security;
    expect(security.service.flatMap((s: { coding: { code: string }[] }) => s.coding.map((c) => c.code))).to.include('SMART-on-FHIR');
    const ext = security.extension.find((e: { url: string }) => e.url === 'http://fhir-registry.smarthealthit.org/StructureDefinition/capabilities');
    expect(security.extension.map((e: { valueCode: string }) => e.valueCode)).to.include.members(['permission-v2', 'permission-patient']);
    expect(ext, 'SMART capabilities extension').to.not.equal(undefined);
    expectValidFhir(r.body);
  });

  it('a token without .s cannot search; a token with it can', async () => {
    const readOnly = await h.token({ role: 'clinician', org: h.practiceOf(nhs), scope: 'user/*.r' });
    expect403Scope(await get(app(), `/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`, readOnly), /search Patient: it needs user\/Patient\.s/);
    const searcher = await h.token({ role: 'clinician', org: h.practiceOf(nhs), scope: 'user/Patient.s' });
    const ok = await get(app(), `/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`, searcher);
    expect(ok.status).to.equal(200);
    expect(matches(ok.body)).to.have.length(1);
  });

  it('a token without read on the type cannot read it, and the denial is audited', async () => {
    const tok = await h.token({ role: 'clinician', org: h.practiceOf(nhs), sub: 'scope-test-1', scope: 'user/Observation.rs' });
    const r = await get(app(), `/fhir/Patient/${patientId}`, tok);
    expect403Scope(r, /read Patient: it needs user\/Patient\.r or system\/Patient\.r/);
    const events = await new AuditLog(h.service.db).search({ userSub: 'scope-test-1' });
    expect(events).to.have.length(1);
    expect(events[0]!.outcome).to.not.equal('0');
    expect(JSON.stringify(events[0])).to.include(patientId).and.include('token scope does not include Patient.r');
  });

  it('a token with no scope claim is refused (deny by default)', async () => {
    const tok = await h.token({ role: 'clinician', org: h.practiceOf(nhs), scope: undefined });
    expect403Scope(await get(app(), `/fhir/Patient/${patientId}`, tok), /read Patient/);
  });

  it('a malformed scope claim makes the token invalid (401)', async () => {
    const tok = await h.token({ role: 'clinician', org: h.practiceOf(nhs), scope: 'user/*.everything' });
    const r = await get(app(), `/fhir/Patient/${patientId}`, tok);
    expect(r.status).to.equal(401);
    expect(issueCodes(r.body)).to.deep.equal(['token-scope']);
  });

  it('patient/ scopes give a staff token nothing', async () => {
    const tok = await h.token({ role: 'clinician', org: h.practiceOf(nhs), scope: 'patient/*.rs' });
    expect403Scope(await get(app(), `/fhir/Patient/${patientId}`, tok), /user\/Patient\.r/);
  });

  it('$everything leaves out types the token cannot read, and says so', async () => {
    const full = await get(app(), `/fhir/Patient/${patientId}/$everything`, await h.clinicianFor(nhs));
    const narrow = await get(app(), `/fhir/Patient/${patientId}/$everything`, await h.token({ role: 'clinician', org: h.practiceOf(nhs), scope: 'user/Patient.r user/Condition.r' }));
    expect(full.status).to.equal(200);
    expect(narrow.status).to.equal(200);
    expectValidFhir(narrow.body);
    const types = (b: Bundle) => new Set(matches(b).map((r) => r.resourceType));
    expect([...types(full.body)].length).to.be.greaterThan(2);
    expect([...types(narrow.body)].sort()).to.deep.equal([...types(full.body)].filter((t) => t === 'Patient' || t === 'Condition').sort());
    const warning = outcomes(narrow.body).flatMap((o) => o.issue).find((i) => /scopes do not allow reading/.test(i.diagnostics ?? ''));
    expect(warning, 'scope warning').to.not.equal(undefined);
    expect(warning!.diagnostics).to.include('Observation');
  });

  it('Consent routes need the Consent scopes: a patient with read-only scopes cannot record consent', async () => {
    const tok = await h.token({ role: 'patient', nhs_number: nhs, scope: 'patient/*.rs' });
    const r = await request(app())
      .post('/fhir/Consent')
      .set('Authorization', `Bearer ${tok}`)
      .set('Content-Type', 'application/fhir+json')
      .send({ resourceType: 'Consent', status: 'active', patient: { reference: `Patient/${patientId}` } });
    expect403Scope(r, /create Consent: it needs patient\/Consent\.c/);
    const read = await get(app(), `/fhir/Consent?patient=${patientId}`, tok);
    expect(read.status).to.equal(200);
    const noConsent = await h.token({ role: 'patient', nhs_number: nhs, scope: 'patient/Patient.rs' });
    expect403Scope(await get(app(), `/fhir/Consent?patient=${patientId}`, noConsent), /search Consent/);
  });

  it('oversight routes need AuditEvent scopes', async () => {
    const officer = await h.token({ role: 'privacy-officer', org: 'X26', scope: 'user/Patient.rs' });
    expect403Scope(await get(app(), '/audit', officer), /search AuditEvent/);
    const ok = await get(app(), '/audit', await h.token({ role: 'privacy-officer', org: 'X26' }));
    expect(ok.status).to.equal(200);
  });
});
