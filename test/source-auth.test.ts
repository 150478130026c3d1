import { expect } from 'chai';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import Provider from 'oidc-provider';
import { exportJWK, exportPKCS8, generateKeyPair, type JWK } from 'jose';
import { createTokenVerifier } from '../server/auth.js';
import { loadConfig } from '../server/config.js';
import { createService, type Service } from '../server/compose.js';
import { mintToken } from '../server/demo-keys.js';
import { createLogger } from '../server/logger.js';
import { PatientIndex } from '../store/patient-index.js';
import { openTestDb } from './helpers/test-db.js';

/**
 * Outbound SMART Backend Services to a source (issue 14), against a real OAuth authorisation server
 * (oidc-provider) started here: the GP stand-in accepts only access tokens that server issued (looked up
 * in the provider itself), so a wrong key, an unknown client or a revoked token really fails.
 */
const NHS = '9990000069';
const listen = (server: Server) => new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
const close = (server?: Server) => new Promise<void>((resolve) => (server ? (server.close(() => resolve()), server.closeAllConnections()) : resolve()));

describe('outbound SMART Backend Services to a source (real oidc-provider)', function () {
  this.timeout(60_000);
  let asServer: Server;
  let gpServer: Server;
  let provider: Provider;
  let service: Service;
  let userKey: JWK;
  let patientId: string;
  const tokenRequests: string[] = [];
  const gpCalls: { path: string; status: number }[] = [];
  let lastToken: string | undefined;

  async function startService(privateKeyPem: string, tokenUrl: string, gpUrl: string): Promise<Service> {
    const dir = mkdtempSync(join(tmpdir(), 'auth-'));
    writeFileSync(join(dir, 'client.pem'), privateKeyPem);
    writeFileSync(join(dir, 'sources.json'), JSON.stringify({
      sources: [
        { id: 'gp', kind: 'fhir', displayName: 'GP practice system', organisations: [{ ods: 'A81001', type: 'gp-practice' }], baseUrl: gpUrl,
          auth: { type: 'smart-backend', tokenUrl, clientId: 'record-service', privateKeyFile: join(dir, 'client.pem'), keyId: 'client-key-1', algorithm: 'ES384', scope: 'system/Patient.read' } },
      ],
    }));
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    userKey = await exportJWK(privateKey);
    const db = await openTestDb();
    const svc = await createService(loadConfig({ SOURCES_FILE: join(dir, 'sources.json'), SOURCE_RETRIES: '0', SOURCE_DEADLINE_MS: '5000' }), createLogger('silent'), {
      db,
      verifier: createTokenVerifier({ issuer: 'iss', audience: 'aud', jwks: { keys: [{ ...(await exportJWK(publicKey)), kid: 'k', alg: 'ES256' }] } }),
    });
    patientId = await new PatientIndex(db).link(NHS, [{ source: 'gp', sourcePatientId: 'g1', matchMethod: 'nhs-number' }], 'A81001');
    return svc;
  }

  before(async () => {
    const clientKeys = await generateKeyPair('ES384', { extractable: true });
    const serverKeys = await generateKeyPair('ES256', { extractable: true });
    asServer = createServer();
    const asPort = await listen(asServer);
    const issuer = `http://127.0.0.1:${asPort}`;
    provider = new Provider(issuer, {
      clients: [{
        client_id: 'record-service',
        token_endpoint_auth_method: 'private_key_jwt',
        token_endpoint_auth_signing_alg: 'ES384',
        id_token_signed_response_alg: 'ES256', // the provider signs with ES256 only
        jwks: { keys: [{ ...(await exportJWK(clientKeys.publicKey)), kid: 'client-key-1', alg: 'ES384', use: 'sig' }] },
        grant_types: ['client_credentials'],
        redirect_uris: [],
        response_types: [],
        scope: 'system/Patient.read',
      }],
      scopes: ['system/Patient.read'],
      features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
      jwks: { keys: [{ ...(await exportJWK(serverKeys.privateKey)), kid: 'as-1', alg: 'ES256', use: 'sig' }] },
      ttl: { ClientCredentials: 600 },
      clientAuthMethods: ['private_key_jwt'],
      enabledJWA: { clientAuthSigningAlgValues: ['ES384', 'RS384'] },
    } as never);
    provider.on('grant.success', () => tokenRequests.push('ok'));
    provider.on('grant.error', () => tokenRequests.push('error'));
    const callback = provider.callback();
    asServer.on('request', callback);

    // The GP stand-in: every request needs a bearer token the authorisation server issued and still holds.
    gpServer = createServer((req, res) => {
      void (async () => {
        const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
        const grant = token ? await provider.ClientCredentials.find(token) : undefined;
        lastToken = token;
        const path = (req.url ?? '').split('?')[0]!;
        const status = grant && !grant.isExpired && grant.clientId === 'record-service' ? 200 : 401;
        gpCalls.push({ path, status });
        res.writeHead(status, { 'content-type': 'application/fhir+json' });
        if (status === 401) return void res.end(JSON.stringify({ resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'login' }] }));
        if (path.endsWith('/metadata')) {
          return void res.end(JSON.stringify({ resourceType: 'CapabilityStatement', status: 'active', date: '2026-01-01', kind: 'instance', fhirVersion: '4.0.1', format: ['json'], rest: [{ mode: 'server', resource: [{ type: 'Patient', operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] }] }] }));
        }
        if (path.endsWith('/$everything')) {
          return void res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [{ resource: { resourceType: 'Patient', id: 'g1', identifier: [{ system: 'https://fhir.nhs.uk/Id/nhs-number', value: NHS }] } }] }));
        }
        res.end(JSON.stringify({ resourceType: 'Bundle', type: 'searchset', entry: [] }));
      })();
    });
    const gpPort = await listen(gpServer);
    service = await startService(await exportPKCS8(clientKeys.privateKey), `${issuer}/token`, `http://127.0.0.1:${gpPort}/fhir`);
  });
  after(async () => {
    await service?.close();
    await close(gpServer);
    await close(asServer);
  });

  const everything = async (svc: Service, id: string) =>
    request(svc.app).get(`/fhir/Patient/${id}/$everything`).set('Authorization', `Bearer ${await mintToken(userKey, 'k', { sub: 'u', role: 'clinician', org: 'A81001' }, { issuer: 'iss', audience: 'aud' })}`);

  it('gets a token with a private_key_jwt assertion (ES384), uses it, and reuses it until shortly before it expires', async () => {
    const first = await everything(service, patientId);
    expect(first.status, JSON.stringify(first.body)).to.equal(200);
    expect(first.headers['x-incomplete-sources']).to.equal(undefined);
    const second = await everything(service, patientId);
    expect(second.status).to.equal(200);
    expect(tokenRequests).to.deep.equal(['ok']); // one token for both requests
    expect(gpCalls.every((c) => c.status === 200)).to.equal(true);
  });

  it('a token the server no longer honours (revoked) → 401 → a new token, once, and the request succeeds', async () => {
    gpCalls.splice(0);
    // The authorisation server forgets the token the service holds (revoked).
    await (await provider.ClientCredentials.find(lastToken!))!.destroy();
    const issued = tokenRequests.length;
    const r = await everything(service, patientId);
    expect(r.status).to.equal(200);
    expect(gpCalls.map((c) => c.status)).to.include(401);
    expect(tokenRequests.length).to.equal(issued + 1);
  });

  it('a client key the authorisation server does not know: the GP is reported as not queried, never a silent 200', async () => {
    const stranger = await generateKeyPair('ES384', { extractable: true });
    const gpPort = (gpServer.address() as AddressInfo).port;
    const other = await startService(await exportPKCS8(stranger.privateKey), `${provider.issuer}/token`, `http://127.0.0.1:${gpPort}/fhir`);
    try {
      const r = await everything(other, patientId);
      expect(r.status).to.equal(503);
      expect(JSON.stringify(r.body)).to.include('outbound authentication failed (token request refused (invalid_client))');
      expect(tokenRequests).to.include('error');
    } finally {
      await other.close();
    }
  });
});
