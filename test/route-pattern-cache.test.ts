import { expect } from 'chai';
import request from 'supertest';
import { cacheValidatorRoutePatterns, validatorPathToRegexpModule } from '../server/route-pattern-cache.js';
import { startHarness, type Harness } from './helpers/harness.js';

describe('OpenAPI route patterns compiled once (server/route-pattern-cache.ts)', function () {
  this.timeout(60_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ sandbox: { bundleDirs: [], generate: { count: 3, seed: 5 } } });
  });
  after(async () => {
    await h?.close();
  });

  it('the validator compiles each route pattern once, and still routes and validates as before', async () => {
    const mod = validatorPathToRegexpModule();
    const cache = mod.pathToRegexp.cachedPatterns;
    // If a validator upgrade loads pathToRegexp from elsewhere, this fails and the cache can go.
    expect(cache, 'cache installed on the module the validator uses').to.be.instanceOf(Map);
    const token = await h.token({ role: 'clinician' });
    const id = '00000000-0000-4000-8000-000000000000';
    const first = await request(h.service.app).get(`/fhir/Patient/${id}/$summary`).set('Authorization', `Bearer ${token}`);
    expect(first.status).to.equal(404); // matched the documented route, then not found in the index
    const size = cache!.size;
    expect(size).to.be.greaterThan(10);
    // Another request compiles nothing new, and the same compiled pattern comes back.
    const again = await request(h.service.app).get(`/fhir/Patient/${id}/$everything?_count=5`).set('Authorization', `Bearer ${token}`);
    expect(again.status).to.equal(404);
    expect(cache!.size).to.equal(size);
    expect(mod.pathToRegexp('/fhir/Patient/:id', { sensitive: false, strict: false })).to.equal(mod.pathToRegexp('/fhir/Patient/:id', { sensitive: false, strict: false }));
    // Validation still applies: an undocumented query parameter on a documented route is a 400 OperationOutcome.
    const bad = await request(h.service.app).get(`/fhir/Patient/${id}/$everything?_bogus=1`).set('Authorization', `Bearer ${token}`);
    expect(bad.status).to.equal(400);
    expect(bad.body.resourceType).to.equal('OperationOutcome');
    // Other options are compiled as before (not cached).
    expect(mod.pathToRegexp('/x/:y', { end: false })).not.to.equal(mod.pathToRegexp('/x/:y', { end: false }));
    cacheValidatorRoutePatterns(); // idempotent
    expect(validatorPathToRegexpModule().pathToRegexp.cachedPatterns).to.equal(cache);
  });
});
