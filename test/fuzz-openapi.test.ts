import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import request from 'supertest';
import { parse as parseYaml } from 'yaml';
import type { Bundle, Patient } from 'fhir/r4.js';
import { OPENAPI_PATH } from '../server/app.js';
import { startHarness, type Harness } from './helpers/harness.js';

/**
 * An input fuzzer generated from openapi.yaml (issue 15): every documented operation × each of its
 * parameters (path, query, header `Prefer`, form and JSON body fields) × malformed values (control
 * characters, huge and odd numbers, unicode, very long strings, wrong types, injection strings), sent
 * with a valid token of a role that may use the operation. Every answer must come within
 * REQUEST_TIMEOUT_MS and be below 500; a 4xx must be an OperationOutcome that does not echo an
 * identifier the caller typed.
 *
 * Two passes: a fixed sweep (every operation × parameter × control characters, a huge number and two
 * values of NASTY taken in turn, so each operation meets all of NASTY across its parameters; a repeated
 * parameter), then fast-check combinations of several malformed parameters drawn from all of NASTY. FUZZ_SEED=<n> replays a run (the seed is printed
 * on failure), FUZZ_RUNS sets the number of fast-check runs (default 150).
 */
const REQUEST_TIMEOUT_MS = 15_000;
const SEED = process.env.FUZZ_SEED ? Number(process.env.FUZZ_SEED) : Date.now() % 2 ** 31;
const RUNS = process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) : 150;
/** Identifier-like values: they must never appear in an error answer. */
const MARKERS = ['9994242423', 'Zebedee-Marker'];

const NASTY: readonly unknown[] = [
  '',
  '\u0000',
  'a\r\nSet-Cookie: x=1',
  '2020-01-01\n',
  '\t\u0007\u001b[31m',
  '9223372036854775807',
  '-9223372036854775809',
  '1e21',
  'Infinity',
  'NaN',
  '-0',
  '0x1F',
  '3.14',
  '\u202e\u0645\u0631\u062d\u0628\u0627 \ud83d\udc89 \u00e9\u0301',
  '\ud800',
  'x'.repeat(5000),
  "' OR '1'='1' --",
  '"; DROP TABLE audit_event; --',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '%00%2e%2e%2f',
  '${jndi:ldap://x/a}',
  '{{7*7}}',
  'http://example.org|',
  '|',
  'Patient/',
  'eq',
  'ge2020-13-45',
  '__proto__',
  ...MARKERS,
];
/** encodeURIComponent, with lone surrogates (which it refuses) replaced. */
const enc = (s: string) => {
  try {
    return encodeURIComponent(s);
  } catch {
    return encodeURIComponent(s.replace(/[\ud800-\udfff]/g, '\ufffd'));
  }
};

/** Wrong types, for JSON bodies. */
const WRONG_TYPES: readonly unknown[] = [null, 0, -1, 1e308, true, [], [null], {}, { __proto__: { polluted: 1 } }, 'x'.repeat(3000)];

interface Param {
  name: string;
  in: 'path' | 'query' | 'header' | 'form' | 'json';
}
interface Operation {
  method: 'get' | 'post' | 'put';
  path: string;
  params: Param[];
}

describe('input fuzzer generated from openapi.yaml (issue 15)', function () {
  this.timeout(240_000);
  let h: Harness;
  const tokens: Record<string, string> = {};
  let patientId: string;
  let consentId: string;
  let indicatorId: string;
  const spec = parseYaml(readFileSync(OPENAPI_PATH, 'utf8')) as {
    paths: Record<string, Record<string, { parameters?: ({ $ref: string } | Param)[]; requestBody?: { content: Record<string, { schema?: { properties?: Record<string, unknown>; $ref?: string } }> } }>>;
    components: { parameters: Record<string, Param> };
  };
  const operations = operationsOf(spec);

  before(async () => {
    // Generous source deadlines: a 503 here must mean a fault of the service, not a slow shared machine.
    h = await startHarness({ sandbox: { generate: { count: 4, seed: 21 } }, env: { SOURCE_DEADLINE_MS: '10000', FEEDBACK_RATE_PER_MINUTE: '10000' } });
    const gp = h.sandbox.data.gp.find((r): r is Patient => r.resourceType === 'Patient')!;
    const nhs = gp.identifier!.find((i) => i.system === 'https://fhir.nhs.uk/Id/nhs-number')!.value!;
    tokens.clinician = await h.clinicianFor(nhs);
    tokens.patient = await h.token({ role: 'patient', nhs_number: nhs, sub: 'patient-fuzz' });
    tokens['privacy-officer'] = await h.token({ role: 'privacy-officer', org: 'X26' });
    tokens['ambulance-crew'] = await h.token({ role: 'ambulance-crew', org: 'RX9' });
    tokens.analyst = await h.token({ role: 'analyst' });
    const found = await request(h.service.app).get(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${nhs}`).set('Authorization', `Bearer ${tokens.clinician}`);
    patientId = (found.body as Bundle).entry!.find((e) => e.search?.mode === 'match')!.resource!.id!;
    const consent = await request(h.service.app)
      .post('/fhir/Consent')
      .set('Authorization', `Bearer ${tokens.patient}`)
      .type('application/fhir+json')
      .send(JSON.stringify(validConsent(patientId)));
    consentId = (consent.body as { id?: string }).id ?? '00000000-0000-4000-8000-000000000000';
    indicatorId = ((await request(h.service.app).get('/indicators')).body as { indicators: { id: string }[] }).indicators[0]!.id;
  });
  after(async () => {
    await h?.close();
  });

  /** The role whose token may use the operation (so the fuzzed values reach the code behind the checks). */
  const roleFor = (op: Operation): string => {
    if (op.path.startsWith('/audit') || op.path.startsWith('/review')) return 'privacy-officer';
    if (op.path === '/access-log' || (op.path.startsWith('/fhir/Consent') && op.method !== 'get')) return 'patient';
    if (op.path === '/emergency-access') return 'ambulance-crew';
    if (op.path.startsWith('/indicators') || op.path.startsWith('/fhir/Measure')) return 'analyst';
    return 'clinician';
  };

  /** A valid value for a parameter not being fuzzed (so the request gets past the required ones). */
  const validValue = (op: Operation, p: Param): unknown => {
    if (p.in === 'path') {
      if (op.path.startsWith('/fhir/Patient')) return patientId;
      if (op.path.startsWith('/fhir/Consent')) return consentId;
      if (op.path.startsWith('/indicators')) return p.name === 'code' ? 'A81001' : indicatorId;
      return '00000000-0000-4000-8000-000000000000';
    }
    if (p.name === 'patient') return `Patient/${patientId}`;
    // Valid JSON body fields, so a fuzzed neighbour reaches storage (emergency access, review, feedback).
    if (p.in === 'json' && !op.path.startsWith('/fhir/Consent')) {
      return { reason: 'unconscious', note: 'fuzz', outcome: 'appropriate', text: 'fuzz feedback', rating: 3 }[p.name];
    }
    return undefined;
  };

  /** Sends the operation with `fuzzed` values (by parameter name) and valid values elsewhere; checks the answer. */
  const probe = async (op: Operation, fuzzed: Map<string, unknown>): Promise<string | undefined> => {
    const value = (p: Param) => (fuzzed.has(p.name) ? fuzzed.get(p.name) : validValue(op, p));
    let path = op.path;
    const query: string[] = [];
    const form: string[] = [];
    const json: Record<string, unknown> = {};
    const headers: Record<string, string> = {};
    for (const p of op.params) {
      const v = value(p);
      if (v === undefined) continue;
      const texts = (Array.isArray(v) ? v : [v]).map((x) => (typeof x === 'string' ? x : JSON.stringify(x)));
      if (p.in === 'path') path = path.replace(`{${p.name}}`, enc(texts.join(',')) || '%20');
      else if (p.in === 'query') for (const t of texts) query.push(`${enc(p.name)}=${enc(t)}`);
      else if (p.in === 'form') for (const t of texts) form.push(`${enc(p.name)}=${enc(t)}`);
      else if (p.in === 'header') headers[p.name] = texts.join(',').replace(/[\r\n\u0000-\u001f\u007f-\uffff]/g, '?');
      else json[p.name] = v;
    }
    const url = `${path}${query.length ? `?${query.join('&')}` : ''}`;
    let req = request(h.service.app)[op.method](url).set('Authorization', `Bearer ${tokens[roleFor(op)]}`).timeout(REQUEST_TIMEOUT_MS);
    for (const [k, v] of Object.entries(headers)) req = req.set(k, v);
    if (op.method === 'put') req = req.set('If-Match', 'W/"1"');
    const hasForm = op.params.some((p) => p.in === 'form');
    const hasJson = op.params.some((p) => p.in === 'json');
    const what = `${op.method.toUpperCase()} ${op.path} with ${JSON.stringify([...fuzzed].map(([k, v]) => [k, typeof v === 'string' && v.length > 60 ? `${v.slice(0, 60)}…(${v.length})` : v]))}`;
    let res: request.Response;
    try {
      res = hasForm ? await req.type('form').send(form.join('&')) : hasJson ? await req.type('application/json').send(JSON.stringify(json)) : await req;
    } catch (e) {
      return `${what}: no answer (${(e as Error).message})`;
    }
    if (res.status >= 500) return `${what}: ${res.status} ${res.text.slice(0, 200)}`;
    if (res.status >= 400) {
      if (!/json/.test(String(res.headers['content-type'])) || (res.body as { resourceType?: string }).resourceType !== 'OperationOutcome') {
        return `${what}: ${res.status} without an OperationOutcome`;
      }
      for (const m of MARKERS) if ([...fuzzed.values()].some((v) => JSON.stringify(v ?? '').includes(m)) && res.text.includes(m)) return `${what}: ${res.status} echoes ${m}`;
    }
    return undefined;
  };

  it('covers every documented operation and parameter', () => {
    expect(operations.length).to.be.greaterThan(40);
    const names = new Set(operations.flatMap((o) => o.params.map((p) => `${o.path} ${p.in}:${p.name}`)));
    for (const expected of ['/fhir/Condition query:onset-date', '/audit query:_offset', '/fhir/Patient/{id} path:id', '/fhir/Patient/_search form:identifier', '/emergency-access json:patient']) {
      expect(names, expected).to.include(expected);
    }
  });

  it('sweep: every operation × parameter × malformed values → < 500, in time', async () => {
    const failures: string[] = [];
    for (const [o, op] of operations.entries()) {
      for (const [i, p] of op.params.entries()) {
        // Each parameter: control characters and a huge number, plus values taken in turn from the rest
        // of the list (so each operation meets all of them across its parameters).
        const pool = p.in === 'json' ? [...NASTY, ...WRONG_TYPES] : NASTY;
        const turn = (k: number) => pool[(o * 7 + i * 3 + k) % pool.length];
        const values = ['a\r\n\u0000b', '9223372036854775807', turn(0), turn(1)];
        for (const v of values) {
          const failure = await probe(op, new Map([[p.name, v]]));
          if (failure) failures.push(failure);
        }
        // A repeated parameter (an array where one value is expected).
        if (p.in === 'query' || p.in === 'form') {
          const failure = await probe(op, new Map([[p.name, ['1', '\u0000', 'x'.repeat(300)]]]));
          if (failure) failures.push(failure);
        }
      }
    }
    expect(failures, failures.slice(0, 20).join('\n')).to.deep.equal([]);
  });

  it(`fast-check: several malformed parameters at once → < 500, in time (seed ${SEED}, ${RUNS} runs)`, async () => {
    const withParams = operations.filter((o) => o.params.length > 0);
    const value = fc.oneof(
      fc.constantFrom(...NASTY),
      fc.string({ unit: 'binary', maxLength: 40 }),
      fc.string({ unit: fc.constantFrom('\u0000', '\n', '\r', '%', '|', ',', '$', ':', '/', '\\', '"', "'", 'é', '\u202e', '9', '-', 'T', 'Z'), maxLength: 30 }),
      fc.bigInt({ min: -(2n ** 80n), max: 2n ** 80n }).map(String),
      fc.double().map(String),
      fc.date({ noInvalidDate: true }).map((d) => d.toISOString().replace(/T.*/, (t) => (t.length % 2 ? t : ''))),
    );
    const scenario = fc
      .constantFrom(...withParams)
      .chain((op) => fc.tuple(fc.constant(op), fc.uniqueArray(fc.constantFrom(...op.params.map((p) => p.name)), { minLength: 1, maxLength: 3 }), fc.array(value, { minLength: 3, maxLength: 3 })));
    try {
      await fc.assert(
        fc.asyncProperty(scenario, async ([op, names, values]) => {
          const failure = await probe(op, new Map(names.map((n, i) => [n, values[i]])));
          if (failure) throw new Error(failure);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    } catch (e) {
      throw new Error(`fuzzer failed; replay with FUZZ_SEED=${SEED}\n${(e as Error).message}`);
    }
  });
});

/** Every operation with its parameters (resolved `$ref`s, form and JSON body fields). */
function operationsOf(spec: {
  paths: Record<string, Record<string, { parameters?: ({ $ref: string } | Param)[]; requestBody?: { content: Record<string, { schema?: { properties?: Record<string, unknown>; $ref?: string } }> } }>>;
  components: { parameters: Record<string, Param> };
}): Operation[] {
  const ops: Operation[] = [];
  for (const [path, item] of Object.entries(spec.paths)) {
    if (path === '/docs' || path === '/openapi.yaml') continue;
    for (const method of ['get', 'post', 'put'] as const) {
      const op = item[method];
      if (!op) continue;
      const params: Param[] = (op.parameters ?? []).map((p) => ('$ref' in p ? spec.components.parameters[p.$ref.split('/').pop()!]! : p)).map((p) => ({ name: p.name, in: p.in }));
      const content = op.requestBody?.content ?? {};
      const form = content['application/x-www-form-urlencoded']?.schema?.properties;
      if (form) params.push(...Object.keys(form).map((name) => ({ name, in: 'form' as const })));
      const json = content['application/json']?.schema?.properties;
      if (json) params.push(...Object.keys(json).map((name) => ({ name, in: 'json' as const })));
      else if (content['application/json'] || content['application/fhir+json']) {
        // A FHIR resource body (Consent): fuzz its main elements.
        params.push(...['resourceType', 'status', 'scope', 'category', 'patient', 'provision', 'policyRule', 'id'].map((name) => ({ name, in: 'json' as const })));
      }
      ops.push({ method, path, params: params.filter((p) => p.in === 'path' || p.in === 'query' || p.in === 'form' || p.in === 'json' || (p.in === 'header' && /^[A-Za-z-]+$/.test(p.name))) });
    }
  }
  return ops;
}

function validConsent(patientId: string) {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/consentscope', code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    policyRule: { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'OPTIN' }] },
    provision: { type: 'permit' },
  };
}
