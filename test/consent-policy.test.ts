import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import type { Bundle, Coding, Consent, ConsentProvision, Resource } from 'fhir/r4.js';
import { SOURCE_TAG_SYSTEM } from '../adapters/merge.js';
import { OperationOutcomeError } from '../fhir/outcomes.js';
import type { Principal, Role } from '../identity/principal.js';
import { canSee, compileConsents, decideRequest, isOptedOutOfSecondaryUse, recorderOrganisation } from '../consent/policy.js';
import { CATEGORY_LABELS, SENSITIVE_CODES, SNOMED_SYSTEM, categoriesOf } from '../consent/sensitivity.js';
import {
  ACT_CODE_SYSTEM,
  ACT_REASON_SYSTEM,
  CONSENT_POLICY_URI,
  CONSENT_SCOPE_SYSTEM,
  ODS_SYSTEM,
  PARTICIPATION_SYSTEM,
  ROLE_SYSTEM,
  SOURCE_SYSTEM,
  type AccessContext,
  type EmergencyGrant,
} from '../consent/types.js';
import { classifyConsent, validateConsent } from '../consent/validate.js';
import { SHARED_DIR, expectValidFhir, requireShared } from './helpers/fhir-validator.js';

// ---------------------------------------------------------------------------------------------------
// Builders
// ---------------------------------------------------------------------------------------------------

const NOW = new Date('2025-06-01T12:00:00Z');
const PATIENT_ID = 'p-123';
const NHS = '9434765919';
const GP_ODS = 'A81001';
const HOSP_ODS = 'RR8';

const who = (role: Role, organisation?: string, extra: Partial<Principal> = {}): Principal => ({ sub: `${role}-1`, role, organisation, ...extra });
const clinician = (org = GP_ODS) => who('clinician', org);

function ctx(principal: Principal, over: Partial<AccessContext> = {}): AccessContext {
  return { principal, patientId: PATIENT_ID, patientNhsNumber: NHS, purpose: 'TREAT', now: NOW, legitimateRelationship: true, ...over };
}
const grant = (p: Principal, over: Partial<EmergencyGrant> = {}): EmergencyGrant =>
  ({ id: 'g1', sub: p.sub, patientId: PATIENT_ID, reason: 'unconscious in ED', expiresAt: new Date(NOW.getTime() + 3_600_000), ...over });
const emergencyCtx = (p: Principal, over: Partial<AccessContext> = {}) =>
  ctx(p, { legitimateRelationship: false, purpose: 'ETREAT', emergency: grant(p), ...over });

const role = (code: string) => ({ coding: [{ system: PARTICIPATION_SYSTEM, code }] });
const fromSource = (s: string) => ({ role: role('CST'), reference: { identifier: { system: SOURCE_SYSTEM, value: s } } });
const toRole = (r: string) => ({ role: role('IRCP'), reference: { identifier: { system: ROLE_SYSTEM, value: r } } });
const toOrg = (ods: string) => ({ role: role('IRCP'), reference: { identifier: { system: ODS_SYSTEM, value: ods } } });
const label = (code: string): Coding => ({ system: ACT_CODE_SYSTEM, code });
const purpose = (code: string): Coding => ({ system: ACT_REASON_SYSTEM, code });
const deny = (p: Omit<ConsentProvision, 'type'> = {}): ConsentProvision => ({ type: 'deny', ...p });

/** A patient-privacy Consent in the project's vocabulary: a base permit with nested deny provisions. */
function consent(denies: ConsentProvision[], over: Partial<Consent> = {}, root: ConsentProvision = {}): Consent {
  return {
    resourceType: 'Consent',
    id: `c${Math.random().toString(36).slice(2, 8)}`,
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${PATIENT_ID}` },
    policy: [{ uri: CONSENT_POLICY_URI }],
    provision: { type: 'permit', ...root, ...(denies.length ? { provision: denies } : {}) },
    ...over,
  };
}
const researchOptOut = (over: Partial<Consent> = {}): Consent => ({
  ...consent([], over, { type: 'deny' }),
  scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'research' }] },
  category: [{ coding: [{ system: 'http://loinc.org', code: '57016-8' }] }],
});

let seq = 0;
/** A merged-record resource recorded by `sources`, with an optional SNOMED code, labels, recorder ODS code. */
function res(sources: string[], opts: { code?: string; system?: string; security?: string[]; ods?: string; type?: string } = {}): Resource {
  const tag: Coding[] = sources.map((s) => ({ system: SOURCE_TAG_SYSTEM, code: s }));
  if (opts.ods) tag.push({ system: ODS_SYSTEM, code: opts.ods });
  return {
    resourceType: (opts.type ?? 'Condition') as 'Condition',
    id: `r${++seq}`,
    meta: { tag, ...(opts.security ? { security: opts.security.map(label) } : {}) },
    subject: { reference: `Patient/${PATIENT_ID}` },
    ...(opts.code ? { code: { coding: [{ system: opts.system ?? SNOMED_SYSTEM, code: opts.code }] } } : {}),
  } as Resource;
}
const DEPRESSION = '35489007';
const ASTHMA = '195967001';
const CHLAMYDIA = '105629000';
const SAFEGUARDING = '766561000000109';
const patientResource: Resource = { resourceType: 'Patient', id: PATIENT_ID, meta: { tag: [{ system: SOURCE_TAG_SYSTEM, code: 'gp' }] } };

const denied = (c: AccessContext, cs: Consent[]) => decideRequest(c, cs);

// ---------------------------------------------------------------------------------------------------
// decideRequest
// ---------------------------------------------------------------------------------------------------

describe('consent policy: decideRequest', () => {
  it('refuses analysts and privacy officers patient-level access', () => {
    for (const r of ['analyst', 'privacy-officer'] as const) {
      expect(decideRequest(ctx(who(r, 'X26')), [])).to.deep.include({ permit: false, code: 'role-not-permitted' });
      // even with an "emergency grant"
      expect(decideRequest(emergencyCtx(who(r, 'X26')), [])).to.deep.include({ permit: false, code: 'role-not-permitted' });
    }
  });

  it('lets a patient read only their own record, never blocked by their own consent', () => {
    const me = who('patient', undefined, { nhsNumber: NHS });
    const everything = consent([deny()]);
    expect(decideRequest(ctx(me, { legitimateRelationship: false }), [everything])).to.deep.equal({ permit: true, basis: 'self' });
    expect(canSee(ctx(me), [consent([deny({ securityLabel: [label('PSY')] }), deny({ actor: [fromSource('gp')] })])], res(['gp'], { code: DEPRESSION }))).to.equal(true);
    expect(decideRequest(ctx(who('patient', undefined, { nhsNumber: '9999999999' })), [])).to.deep.include({ code: 'not-own-record' });
    expect(decideRequest(ctx(who('patient')), [])).to.deep.include({ code: 'not-own-record' });
    expect(decideRequest(ctx(who('patient', undefined, { nhsNumber: NHS }), { patientNhsNumber: null }), [])).to.deep.include({ code: 'not-own-record' });
  });

  it('permits clinicians and crews on a legitimate relationship, else on a valid emergency grant only', () => {
    expect(decideRequest(ctx(clinician()), [])).to.deep.equal({ permit: true, basis: 'relationship' });
    expect(decideRequest(ctx(who('ambulance-crew', 'RX9')), [])).to.deep.equal({ permit: true, basis: 'relationship' });
    const c = clinician(HOSP_ODS);
    expect(decideRequest(ctx(c, { legitimateRelationship: false }), [])).to.deep.include({ permit: false, code: 'no-relationship' });
    expect(decideRequest(emergencyCtx(c), [])).to.deep.equal({ permit: true, basis: 'emergency' });
    // the grant must be unexpired, the same user's and for the same patient
    expect(decideRequest(emergencyCtx(c, { emergency: grant(c, { expiresAt: NOW }) }), [])).to.deep.include({ code: 'no-relationship' });
    expect(decideRequest(emergencyCtx(c, { emergency: grant(c, { sub: 'someone-else' }) }), [])).to.deep.include({ code: 'no-relationship' });
    expect(decideRequest(emergencyCtx(c, { emergency: grant(c, { patientId: 'other' }) }), [])).to.deep.include({ code: 'no-relationship' });
  });

  it('refuses a recipient the patient denied by role, by organisation, or everyone', () => {
    const noClinicians = consent([deny({ actor: [toRole('clinician')] })]);
    expect(denied(ctx(clinician()), [noClinicians])).to.deep.include({ permit: false, code: 'consent-denied' });
    expect(denied(ctx(who('ambulance-crew', 'RX9')), [noClinicians])).to.deep.include({ permit: true });

    const noHospital = consent([deny({ actor: [toOrg(HOSP_ODS)] })]);
    expect(denied(ctx(clinician(HOSP_ODS)), [noHospital])).to.deep.include({ code: 'consent-denied' });
    expect(denied(ctx(clinician('rr8')), [noHospital])).to.deep.include({ code: 'consent-denied' }); // ODS codes are case-insensitive
    expect(denied(ctx(clinician(GP_ODS)), [noHospital])).to.deep.include({ permit: true });

    expect(denied(ctx(clinician()), [consent([deny()])])).to.deep.include({ code: 'consent-denied' });
    expect(denied(ctx(clinician()), [consent([], {}, { type: 'deny' })])).to.deep.include({ code: 'consent-denied' });
  });

  it('does not refuse the request for a deny restricted to a source or a category (canSee withholds those)', () => {
    const cs = [consent([deny({ actor: [toRole('clinician'), fromSource('gp')] }), deny({ securityLabel: [label('PSY')] })])];
    expect(denied(ctx(clinician()), cs)).to.deep.equal({ permit: true, basis: 'relationship' });
  });

  it('deny overrides permit: one consent permitting and another denying → denied', () => {
    const permitAll = consent([]);
    const noClinicians = consent([deny({ actor: [toRole('clinician')] })]);
    expect(denied(ctx(clinician()), [permitAll, noClinicians])).to.deep.include({ code: 'consent-denied' });
    expect(denied(ctx(clinician()), [noClinicians, permitAll])).to.deep.include({ code: 'consent-denied' });
  });

  it('lets a valid emergency grant override a deny, unless the deny holds even in an emergency (ETREAT/BTG)', () => {
    const c = clinician(HOSP_ODS);
    const noHospital = consent([deny({ actor: [toOrg(HOSP_ODS)] })]);
    expect(denied(emergencyCtx(c), [noHospital])).to.deep.equal({ permit: true, basis: 'emergency' });
    // with a relationship too, the grant is what permits → basis emergency
    expect(denied(emergencyCtx(c, { legitimateRelationship: true }), [noHospital])).to.deep.equal({ permit: true, basis: 'emergency' });
    // an ETREAT purpose claimed without a grant overrides nothing
    expect(denied(ctx(c, { purpose: 'ETREAT' }), [noHospital])).to.deep.include({ code: 'consent-denied' });
    for (const code of ['ETREAT', 'BTG']) {
      const evenInEmergency = consent([deny({ actor: [toOrg(HOSP_ODS)], purpose: [purpose(code)] })]);
      expect(denied(emergencyCtx(c), [evenInEmergency]), code).to.deep.include({ code: 'consent-denied' });
      expect(denied(ctx(c), [evenInEmergency]), code).to.deep.include({ code: 'consent-denied' }); // and, of course, normally
    }
  });

  it('ignores consents that are withdrawn (inactive) or not active, and research-scope consents', () => {
    for (const status of ['inactive', 'rejected', 'draft', 'proposed', 'entered-in-error'] as const) {
      expect(denied(ctx(clinician()), [consent([deny()], { status })]), status).to.deep.include({ permit: true });
    }
    expect(denied(ctx(clinician()), [researchOptOut()])).to.deep.include({ permit: true });
  });

  it('applies a time-limited deny only within its period (nested period and consent period)', () => {
    const day = 86_400_000;
    const iso = (d: number) => new Date(NOW.getTime() + d * day).toISOString().slice(0, 10);
    const nested = (start: number, end: number) => consent([deny({ actor: [toRole('clinician')], period: { start: iso(start), end: iso(end) } })]);
    const rooted = (start: number, end: number) => consent([deny({ actor: [toRole('clinician')] })], {}, { period: { start: iso(start), end: iso(end) } });
    for (const make of [nested, rooted]) {
      expect(denied(ctx(clinician()), [make(-30, -2)]), 'before').to.deep.include({ permit: true }); // period over
      expect(denied(ctx(clinician()), [make(-2, 2)]), 'within').to.deep.include({ code: 'consent-denied' });
      expect(denied(ctx(clinician()), [make(2, 30)]), 'after').to.deep.include({ permit: true }); // not started
    }
    // date-only bounds are whole days: a deny ending today still applies today
    expect(denied(ctx(clinician()), [nested(-2, 0)])).to.deep.include({ code: 'consent-denied' });
    // open-ended
    expect(denied(ctx(clinician()), [consent([deny({ period: { start: '2025-01-01' } })])])).to.deep.include({ code: 'consent-denied' });
  });

  it('treats a deny whose purpose is only secondary use as an opt-out, not a direct-care refusal', () => {
    expect(denied(ctx(clinician()), [consent([deny({ purpose: [purpose('HRESCH')] })])])).to.deep.include({ permit: true });
  });
});

// ---------------------------------------------------------------------------------------------------
// canSee
// ---------------------------------------------------------------------------------------------------

describe('consent policy: canSee', () => {
  const see = (c: AccessContext, cs: Consent[], r: Resource) => canSee(c, compileConsents(cs, c.now), r);

  it('withholds data from a denied source; a fact also recorded by an allowed source stays visible', () => {
    const noGp = [consent([deny({ actor: [fromSource('gp')] })])];
    const c = ctx(clinician(HOSP_ODS));
    expect(see(c, noGp, res(['gp']))).to.equal(false);
    expect(see(c, noGp, res(['hospital']))).to.equal(true);
    expect(see(c, noGp, res(['gp', 'hospital']))).to.equal(true); // merged: the hospital recorded it too
    expect(see(c, [consent([deny({ actor: [fromSource('gp'), fromSource('social-care')] })])], res(['gp', 'social-care']))).to.equal(false);
    expect(see(c, [consent([deny({ actor: [fromSource('gp')] }), deny({ actor: [fromSource('hospital')] })])], res(['gp', 'hospital']))).to.equal(false);
    expect(see(c, noGp, res([]))).to.equal(false); // no source tag: fails closed
    expect(see(c, noGp, patientResource)).to.equal(true); // the Patient itself is always visible
  });

  it('combines recipient and data conditions: both must match', () => {
    const noGpToCrews = [consent([deny({ actor: [fromSource('gp'), toRole('ambulance-crew')] })])];
    expect(see(ctx(clinician()), noGpToCrews, res(['gp']))).to.equal(true);
    expect(see(ctx(who('ambulance-crew', 'RX9')), noGpToCrews, res(['gp']))).to.equal(false);
    const noPsyToHospital = [consent([deny({ actor: [toOrg(HOSP_ODS)], securityLabel: [label('PSY')] })])];
    expect(see(ctx(clinician(HOSP_ODS)), noPsyToHospital, res(['gp'], { code: DEPRESSION }))).to.equal(false);
    expect(see(ctx(clinician('B82002')), noPsyToHospital, res(['gp'], { code: DEPRESSION }))).to.equal(true);
  });

  it('withholds a sensitive category, recognised by code or by security label', () => {
    const c = ctx(clinician(HOSP_ODS));
    const noPsy = [consent([deny({ securityLabel: [label('PSY')] })])];
    expect(see(c, noPsy, res(['gp'], { code: DEPRESSION }))).to.equal(false);
    expect(see(c, noPsy, res(['gp'], { code: ASTHMA }))).to.equal(true);
    expect(see(c, noPsy, res(['gp'], { code: ASTHMA, security: ['BH'] }))).to.equal(false);
    expect(see(c, noPsy, res(['gp'], { code: CHLAMYDIA }))).to.equal(true);
    const noSex = [consent([deny({ securityLabel: [label('SEX')] })])];
    expect(see(c, noSex, res(['gp'], { code: CHLAMYDIA }))).to.equal(false);
    expect(see(c, noSex, res(['gp'], { code: '65200003', type: 'Procedure' }))).to.equal(false);
    expect(see(c, noSex, res(['gp'], { security: ['HIV'] }))).to.equal(false);
    const noSdv = [consent([deny({ securityLabel: [label('SDV')] })])];
    expect(see(c, noSdv, res(['social-care'], { code: SAFEGUARDING, type: 'Flag' }))).to.equal(false);
    expect(see(c, noSdv, res(['social-care'], { code: DEPRESSION }))).to.equal(true);
    const several = [consent([deny({ securityLabel: [label('PSY'), label('SEX')] })])];
    expect(see(c, several, res(['gp'], { code: DEPRESSION }))).to.equal(false);
    expect(see(c, several, res(['gp'], { code: CHLAMYDIA }))).to.equal(false);
    expect(see(c, several, patientResource)).to.equal(true);
  });

  it('lets the recording organisation see its own sensitive entries', () => {
    const noPsy = [consent([deny({ securityLabel: [label('PSY')] })])];
    const gpDepression = res(['gp'], { code: DEPRESSION, ods: GP_ODS });
    expect(recorderOrganisation(gpDepression)).to.equal(GP_ODS);
    expect(see(ctx(clinician(GP_ODS)), noPsy, gpDepression)).to.equal(true);
    expect(see(ctx(clinician('a81001')), noPsy, gpDepression)).to.equal(true);
    expect(see(ctx(clinician(HOSP_ODS)), noPsy, gpDepression)).to.equal(false);
    expect(see(ctx(clinician(GP_ODS)), noPsy, res(['hospital'], { code: DEPRESSION, ods: HOSP_ODS }))).to.equal(false);
    expect(see(ctx(clinician(GP_ODS)), noPsy, res(['gp'], { code: DEPRESSION }))).to.equal(false); // recorder unknown
  });

  it('scopes a category deny to a source when both are given', () => {
    const noHospitalPsy = [consent([deny({ actor: [fromSource('hospital')], securityLabel: [label('PSY')] })])];
    const c = ctx(clinician('B82002'));
    expect(see(c, noHospitalPsy, res(['hospital'], { code: DEPRESSION }))).to.equal(false);
    expect(see(c, noHospitalPsy, res(['gp'], { code: DEPRESSION }))).to.equal(true);
    expect(see(c, noHospitalPsy, res(['hospital'], { code: ASTHMA }))).to.equal(true);
  });

  it('applies emergency override and "even in an emergency" to per-resource rules', () => {
    const c = clinician(HOSP_ODS);
    const noPsy = [consent([deny({ securityLabel: [label('PSY')] })])];
    const noPsyEver = [consent([deny({ securityLabel: [label('PSY')], purpose: [purpose('ETREAT')] })])];
    const dep = res(['gp'], { code: DEPRESSION });
    expect(see(ctx(c), noPsy, dep)).to.equal(false);
    expect(see(emergencyCtx(c), noPsy, dep)).to.equal(true);
    expect(see(emergencyCtx(c), noPsyEver, dep)).to.equal(false);
  });

  it('applies time limits per resource rule', () => {
    const expired = [consent([deny({ actor: [fromSource('gp')], period: { start: '2024-01-01', end: '2024-12-31' } })])];
    const current = [consent([deny({ actor: [fromSource('gp')], period: { start: '2025-05-01T00:00:00Z', end: '2025-07-01T00:00:00Z' } })])];
    expect(see(ctx(clinician()), expired, res(['gp']))).to.equal(true);
    expect(see(ctx(clinician()), current, res(['gp']))).to.equal(false);
  });

  it('sees nothing when the request was refused, and accepts raw consents as well as compiled ones', () => {
    const cs = [consent([deny({ actor: [toRole('clinician')] })])];
    expect(canSee(ctx(clinician()), cs, res(['gp']))).to.equal(false);
    expect(canSee(ctx(clinician()), cs, patientResource)).to.equal(false);
    expect(canSee(ctx(who('analyst', 'X26')), [], res(['gp']))).to.equal(false);
    const noGp = [consent([deny({ actor: [fromSource('gp')] })])];
    expect(canSee(ctx(clinician()), noGp, res(['gp']))).to.equal(see(ctx(clinician()), noGp, res(['gp'])));
  });

  it('never changes the resource', () => {
    const r = res(['gp', 'hospital'], { code: DEPRESSION, ods: GP_ODS });
    const before = JSON.stringify(r);
    see(ctx(clinician(HOSP_ODS)), [consent([deny({ securityLabel: [label('PSY')] }), deny({ actor: [fromSource('gp')] })])], r);
    expect(JSON.stringify(r)).to.equal(before);
  });

  it('costs a few microseconds per resource over a 500-resource record', () => {
    const sources = [['gp'], ['hospital'], ['social-care'], ['gp', 'hospital']];
    const codes = [ASTHMA, DEPRESSION, CHLAMYDIA, '44054006', '38341003', SAFEGUARDING, undefined];
    const record = Array.from({ length: 500 }, (_, i) =>
      res(sources[i % 4]!, { code: codes[i % 7], ods: i % 3 ? GP_ODS : HOSP_ODS, type: ['Condition', 'Observation', 'Procedure'][i % 3] }));
    const cs = [
      consent([deny({ actor: [fromSource('social-care')] }), deny({ securityLabel: [label('PSY'), label('SEX')] })]),
      consent([deny({ actor: [fromSource('hospital'), toRole('ambulance-crew')] })]),
      consent([deny({ actor: [toOrg('X99')] })], {}, { period: { start: '2025-01-01' } }),
      researchOptOut(),
    ];
    const c = ctx(clinician(HOSP_ODS));
    let visible = 0;
    const run = () => {
      const compiled = compileConsents(cs, NOW); // once per request, included in the cost
      visible = 0;
      for (const r of record) if (canSee(c, compiled, r)) visible++;
    };
    for (let i = 0; i < 20; i++) run(); // warm up
    const rounds = 200;
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < rounds; i++) run();
    const micros = Number(process.hrtime.bigint() - t0) / 1000 / (rounds * record.length);
    console.log(`      canSee: ${micros.toFixed(3)} µs per resource (500-resource record, 4 consents, compile included); ${visible}/500 visible`);
    expect(visible).to.be.greaterThan(0).and.lessThan(500);
  });
});

// ---------------------------------------------------------------------------------------------------
// Secondary-use opt-out
// ---------------------------------------------------------------------------------------------------

describe('consent policy: isOptedOutOfSecondaryUse', () => {
  it('recognises a research-scope deny, or a deny with purpose HRESCH/HOPERAT, active and in period', () => {
    expect(isOptedOutOfSecondaryUse([], NOW)).to.equal(false);
    expect(isOptedOutOfSecondaryUse([researchOptOut()], NOW)).to.equal(true);
    expect(isOptedOutOfSecondaryUse([researchOptOut({ status: 'inactive' })], NOW)).to.equal(false);
    expect(isOptedOutOfSecondaryUse([{ ...researchOptOut(), provision: { type: 'deny', period: { end: '2025-01-01' } } }], NOW)).to.equal(false);
    expect(isOptedOutOfSecondaryUse([consent([deny({ purpose: [purpose('HRESCH')] })])], NOW)).to.equal(true);
    expect(isOptedOutOfSecondaryUse([consent([deny({ purpose: [purpose('HOPERAT')] })])], NOW)).to.equal(true);
    expect(isOptedOutOfSecondaryUse([consent([deny({ actor: [fromSource('gp')] })])], NOW)).to.equal(false);
    expect(isOptedOutOfSecondaryUse([{ ...researchOptOut(), provision: { type: 'permit' } }], NOW)).to.equal(false);
    expect(isOptedOutOfSecondaryUse(compileConsents([researchOptOut()], NOW), NOW)).to.equal(true);
  });
});

// ---------------------------------------------------------------------------------------------------
// Sensitivity
// ---------------------------------------------------------------------------------------------------

describe('consent sensitivity', () => {
  it('maps codes and labels to categories and categories to the provision label', () => {
    expect([...categoriesOf(res(['gp'], { code: DEPRESSION }))]).to.deep.equal(['mental-health']);
    expect([...categoriesOf(res(['gp'], { code: ASTHMA }))]).to.deep.equal([]);
    expect([...categoriesOf(res(['gp'], { code: '86406008', security: ['PSYTHPN'] }))].sort()).to.deep.equal(['mental-health', 'sexual-health']);
    expect([...categoriesOf(res(['gp'], { security: ['SDV'] }))]).to.deep.equal(['safeguarding']);
    const rx = { resourceType: 'MedicationRequest', medicationCodeableConcept: { coding: [{ system: 'http://www.nlm.nih.gov/research/umls/rxnorm', code: '389221' }] } } as Resource;
    expect([...categoriesOf(rx)]).to.deep.equal(['sexual-health']);
    const enc = { resourceType: 'Encounter', reasonCode: [{ coding: [{ system: SNOMED_SYSTEM, code: '58214004' }] }] } as Resource;
    expect([...categoriesOf(enc)]).to.deep.equal(['mental-health']);
    const claim = { resourceType: 'Claim', item: [{ productOrService: { coding: [{ system: SNOMED_SYSTEM, code: '714812005' }] } }] } as unknown as Resource;
    expect([...categoriesOf(claim)]).to.deep.equal(['sexual-health']);
    expect(CATEGORY_LABELS).to.deep.equal({ 'mental-health': 'PSY', 'sexual-health': 'SEX', safeguarding: 'SDV' });
  });
  // Coverage against the shared Synthea data: test/sensitive-value-sets.test.ts.
});

// ---------------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------------

function rejection(body: unknown, opts: { patientIdExpected?: string } = {}) {
  try {
    validateConsent(body, opts);
  } catch (e) {
    expect(e).to.be.instanceOf(OperationOutcomeError);
    const err = e as OperationOutcomeError;
    const issue = err.outcome.issue[0]!;
    return { status: err.status, code: issue.details?.coding?.[0]?.code, expression: issue.expression?.[0], text: issue.diagnostics };
  }
  throw new Error('expected validateConsent to reject');
}

describe('consent validation', () => {
  const every = consent([
    deny({ actor: [fromSource('social-care')] }),
    deny({ actor: [toRole('ambulance-crew')] }),
    deny({ actor: [toOrg(HOSP_ODS)], period: { start: '2025-01-01', end: '2025-12-31T23:59:59Z' } }),
    deny({ securityLabel: [label('PSY'), label('SEX'), label('SDV')] }),
    deny({ actor: [toRole('clinician')], purpose: [purpose('ETREAT')], action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'access' }] }] }),
    deny({ purpose: [purpose('HRESCH'), purpose('HOPERAT')] }),
  ]);

  it('accepts every wish of the vocabulary, research opt-outs and harmless elements; the result is valid R4', function () {
    expect(validateConsent(every, { patientIdExpected: PATIENT_ID })).to.equal(every);
    expect(validateConsent(researchOptOut())).to.be.an('object');
    const harmless = {
      ...every,
      text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">No mental health data to the hospital.</div>' },
      identifier: [{ system: 'urn:ietf:rfc:3986', value: 'urn:uuid:8b8a1b52-2b6a-4e5e-8f69-0d3e1e1c7a11' }],
      dateTime: '2025-05-30T10:00:00+01:00',
      organization: [{ reference: 'Organization/x' }],
      sourceAttachment: { title: 'Signed form' },
      policy: [{ uri: 'https://example.nhs.uk/policy' }],
      policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTOUT' }] },
      verification: [{ verified: true, verificationDate: '2025-05-30' }],
      performer: [{ reference: `Patient/${PATIENT_ID}` }],
      meta: { lastUpdated: '2025-05-30T10:00:00Z' },
    };
    expect(validateConsent(harmless)).to.equal(harmless);
    requireShared(this, 'R4 validation of the consent vocabulary');
    expectValidFhir(harmless, 'consent vocabulary');
    expectValidFhir(researchOptOut(), 'research opt-out');
  });

  it('rejects malformed consents with 400 naming the element', () => {
    const base = consent([deny({ actor: [fromSource('gp')] })]) as unknown as Record<string, unknown>;
    const cases: [string, unknown, string][] = [
      ['not an object', [], 'Consent'],
      ['wrong resourceType', { ...base, resourceType: 'Patient' }, 'Consent.resourceType'],
      ['missing status', { ...base, status: undefined }, 'Consent.status'],
      ['invalid status', { ...base, status: 'withdrawn' }, 'Consent.status'],
      ['missing scope', { ...base, scope: undefined }, 'Consent.scope'],
      ['scope not a CodeableConcept', { ...base, scope: 'patient-privacy' }, 'Consent.scope'],
      ['missing category', { ...base, category: [] }, 'Consent.category'],
      ['missing patient', { ...base, patient: undefined }, 'Consent.patient'],
      ['unknown element', { ...base, wishes: 'none' }, 'Consent.wishes'],
      ['bad dateTime', { ...base, dateTime: '30/05/2025' }, 'Consent.dateTime'],
      ['neither policy nor policyRule (ppc-1)', { ...base, policy: undefined }, 'Consent.policy'],
      ['policy not a list of uris', { ...base, policy: 'https://x' }, 'Consent.policy'],
      ['unknown provision.type', consent([{ type: 'maybe' as 'deny' }]), 'Consent.provision.provision[0].type'],
      ['nested provision without type', consent([{ actor: [fromSource('gp')] }]), 'Consent.provision.provision[0].type'],
      ['bad period date', consent([deny({ period: { start: '2025-02-30' } })]), 'Consent.provision.provision[0].period.start'],
      ['bad period end', consent([deny({ period: { end: 'tomorrow' } })]), 'Consent.provision.provision[0].period.end'],
      ['actor without reference', consent([deny({ actor: [{ role: role('CST') } as never] })]), 'Consent.provision.provision[0].actor[0]'],
      ['securityLabel not Codings', consent([deny({ securityLabel: 'PSY' as never })]), 'Consent.provision.provision[0].securityLabel'],
    ];
    for (const [what, body, expression] of cases) {
      const r = rejection(body);
      expect(r, what).to.deep.include({ status: 400, code: 'invalid-consent', expression });
    }
  });

  it('rejects self-contradictory or unenforceable consents with 422 naming the element', () => {
    const cases: [string, unknown, string, string][] = [
      ['period ends before it starts', consent([deny({ period: { start: '2025-06-01', end: '2025-05-01' } })]), 'Consent.provision.provision[0].period', 'consent-contradictory'],
      ['root period ends before it starts', consent([], {}, { period: { start: '2025-06-01', end: '2024-06-01' } }), 'Consent.provision.period', 'consent-contradictory'],
      ['deny nested under deny', consent([deny({ provision: [deny()] })]), 'Consent.provision.provision[0].provision[0].type', 'consent-contradictory'],
      ['deny under a root deny', consent([deny()], {}, { type: 'deny' }), 'Consent.provision.provision[0].type', 'consent-contradictory'],
      ['actor role PRCP', consent([deny({ actor: [{ role: role('PRCP'), reference: { reference: 'Practitioner/1' } }] })]), 'Consent.provision.provision[0].actor[0].role', 'consent-not-enforceable'],
      ['unknown source code', consent([deny({ actor: [fromSource('pharmacy')] })]), 'Consent.provision.provision[0].actor[0].reference.identifier.value', 'consent-not-enforceable'],
      ['source as an Organization reference', consent([deny({ actor: [{ role: role('CST'), reference: { reference: 'Organization/f001' } }] })]), 'Consent.provision.provision[0].actor[0].reference', 'consent-not-enforceable'],
      ['unknown role code', consent([deny({ actor: [toRole('receptionist')] })]), 'Consent.provision.provision[0].actor[0].reference.identifier.value', 'consent-not-enforceable'],
      ['bad ODS code', consent([deny({ actor: [toOrg('not an ods code')] })]), 'Consent.provision.provision[0].actor[0].reference.identifier.value', 'consent-not-enforceable'],
      ['security label we do not enforce', consent([deny({ securityLabel: [label('ETH')] })]), 'Consent.provision.provision[0].securityLabel[0]', 'consent-not-enforceable'],
      ['confidentiality label', consent([deny({ securityLabel: [label('PSY'), { system: 'http://terminology.hl7.org/CodeSystem/v3-Confidentiality', code: 'R' }] })]), 'Consent.provision.provision[0].securityLabel[1]', 'consent-not-enforceable'],
      ['unknown purpose', consent([deny({ purpose: [purpose('COVERAGE')] })]), 'Consent.provision.provision[0].purpose[0]', 'consent-not-enforceable'],
      ['action correct', consent([deny({ action: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentaction', code: 'correct' }] }] })]), 'Consent.provision.provision[0].action[0]', 'consent-not-enforceable'],
      ['class condition', consent([deny({ class: [{ system: 'http://hl7.org/fhir/resource-types', code: 'Observation' }] })]), 'Consent.provision.provision[0].class', 'consent-not-enforceable'],
      ['data condition', consent([deny({ data: [{ meaning: 'instance', reference: { reference: 'Observation/1' } }] })]), 'Consent.provision.provision[0].data', 'consent-not-enforceable'],
      ['nested permit', consent([{ type: 'permit', actor: [toRole('clinician')] }]), 'Consent.provision.provision[0].type', 'consent-not-enforceable'],
      ['conditions on the root permit', consent([], {}, { actor: [toRole('clinician')] }), 'Consent.provision.actor', 'consent-not-enforceable'],
      ['untyped root with conditions', { ...consent([]), provision: { period: { start: '2025-01-01' } } }, 'Consent.provision.type', 'consent-not-enforceable'],
      ['scope adr', consent([], { scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'adr' }] } }), 'Consent.scope', 'consent-not-enforceable'],
      ['no provision', { ...consent([]), provision: undefined }, 'Consent.provision', 'consent-not-enforceable'],
      ['absolute patient reference', consent([], { patient: { reference: 'https://example.org/fhir/Patient/p-123' } }), 'Consent.patient.reference', 'consent-not-enforceable'],
      ['modifierExtension', { ...consent([]), modifierExtension: [{ url: 'https://x', valueBoolean: true }] }, 'Consent.modifierExtension', 'consent-not-enforceable'],
    ];
    for (const [what, body, expression, code] of cases) {
      expect(rejection(body), what).to.deep.include({ status: 422, code, expression });
    }
    expect(rejection(consent([]), { patientIdExpected: 'someone-else' })).to.deep.include({ status: 422, code: 'consent-patient-mismatch', expression: 'Consent.patient.reference' });
    // structural problems are reported before semantic ones
    expect(rejection({ ...consent([deny({ actor: [fromSource('pharmacy')] })]), status: 'nope' })).to.deep.include({ status: 400, expression: 'Consent.status' });
  });

  it('accepts nothing it would silently ignore: every accepted consent has only enforced conditions', () => {
    // a permit-only consent records the default (everything shared for direct care) and is accepted
    const c = consent([]);
    expect(validateConsent(c)).to.equal(c);
    expect(decideRequest(ctx(clinician()), [c])).to.deep.equal({ permit: true, basis: 'relationship' });
  });
});

// ---------------------------------------------------------------------------------------------------
// HL7 R4 Consent examples
// ---------------------------------------------------------------------------------------------------

/**
 * Every HL7 R4 example Consent, with what validateConsent decides and why. None is enforceable as
 * written: they identify custodians and recipients by references to FHIR resources (Organization/f001,
 * Practitioner/f204) rather than our source/role/ODS identifiers, restrict by data/class (not
 * enforced), or leave the root provision untyped — which R4 resolves through policyRule, and the
 * examples do so inconsistently (consent-example-basic and consent-example-notTime have the same
 * structure, OPTIN + root period, yet one means "share" and the other "withhold").
 */
const HL7_EXPECTED: Record<string, { status: number; code: string; expression: string; reason: RegExp }> = {
  'Consent-consent-example-Out.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.actor[0].reference', reason: /source must be identified by reference\.identifier/ },
  'Consent-consent-example-basic.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.type', reason: /root provision has period but no type/ },
  'Consent-consent-example-grantor.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.actor[0].reference', reason: /source must be identified/ },
  'Consent-consent-example-notAuthor.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.actor[0].reference', reason: /source must be identified/ },
  'Consent-consent-example-notThem.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.actor[0].role', reason: /Only actor roles CST .* and IRCP/ },
  'Consent-consent-example-notThis.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.data', reason: /restricted by data are not enforced/ },
  'Consent-consent-example-notTime.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.type', reason: /root provision has period but no type/ },
  'Consent-consent-example-pkb.json': { status: 400, code: 'invalid-consent', expression: 'Consent.provision.provision[0].type', reason: /nested provision must state its type/ },
  'Consent-consent-example-signature.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.actor[0].role', reason: /Only actor roles CST/ },
  'Consent-consent-example-smartonfhir.json': { status: 422, code: 'consent-not-enforceable', expression: 'Consent.provision.provision[0].class', reason: /restricted by class are not enforced/ },
};

describe('consent validation: HL7 R4 Consent examples', () => {
  it('classifies every HL7 example as the table says, each refusal naming the element and why', function () {
    requireShared(this, 'the HL7 R4 Consent examples');
    const dir = path.join(SHARED_DIR, 'data', 'hl7-r4-examples');
    const files = readdirSync(dir).filter((f) => /^Consent-.*\.json$/.test(f)).sort();
    expect(files).to.deep.equal(Object.keys(HL7_EXPECTED).sort());
    for (const f of files) {
      const got = classifyConsent(JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
      const want = HL7_EXPECTED[f]!;
      expect(got.accepted, f).to.equal(false);
      if (got.accepted) continue;
      expect({ status: got.status, code: got.code, expression: got.expression }, f).to.deep.equal({ status: want.status, code: want.code, expression: want.expression });
      expect(got.reason, f).to.match(want.reason);
    }
  });

  it('re-expressed in our vocabulary, the enforceable examples behave as their text says', () => {
    // Out / notAuthor: "no data at the Good Health Psychiatric Hospital available" → deny the hospital source.
    const notAuthor = validateConsent(consent([deny({ actor: [fromSource('hospital')] })]));
    expect(canSee(ctx(clinician()), [notAuthor], res(['hospital']))).to.equal(false);
    expect(canSee(ctx(clinician()), [notAuthor], res(['gp']))).to.equal(true);
    // basic: "all of the PHI ... available for normal treatment use" → a base permit: everything visible.
    const basic = validateConsent(consent([], {}, { period: { start: '1964-01-01' } }));
    expect(canSee(ctx(clinician()), [basic], res(['hospital'], { code: DEPRESSION }))).to.equal(true);
    // pkb: no PSY / SEX information to Organization f001 → deny those labels to that organisation.
    const pkb = validateConsent(consent([deny({ actor: [toOrg('F001')], securityLabel: [label('PSY'), label('SEX')] })]));
    expect(canSee(ctx(clinician('F001')), [pkb], res(['gp'], { code: DEPRESSION }))).to.equal(false);
    expect(canSee(ctx(clinician('F001')), [pkb], res(['gp'], { code: ASTHMA }))).to.equal(true);
    expect(canSee(ctx(clinician(GP_ODS)), [pkb], res(['gp'], { code: DEPRESSION }))).to.equal(true);
    // notTime (withhold data from a timeframe) and notThem (one named nurse) have no equivalent here.
  });
});
