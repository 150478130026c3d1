import { expect } from 'chai';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import {
  SignJWT,
  base64url,
  calculateJwkThumbprint,
  exportJWK,
  exportSPKI,
  generateKeyPair,
  importJWK,
  type CryptoKey,
  type JSONWebKeySet,
  type JWK,
} from 'jose';
import { createTokenVerifier, requireRole, type AuthConfig, type TokenVerifier } from '../server/auth.js';
import { DEMO_AUDIENCE, DEMO_ISSUER, ensureDemoKeys, mintToken, type TokenClaims } from '../server/demo-keys.js';
import { OperationOutcomeError } from '../fhir/outcomes.js';
import type { Principal } from '../identity/principal.js';

const ISS = 'https://issuer.test/';
const AUD = 'https://fhir.test/';
const NHS = '9990000018'; // valid test-range NHS number
const BAD_NHS = '9990000019'; // fails the modulus-11 check
const CLINICIAN: TokenClaims = { sub: 'dr-jones', role: 'clinician', org: 'A81001', scope: 'user/*.read', jti: 'jti-1' };
const PATIENT: TokenClaims = { sub: 'pat-1', role: 'patient', nhs_number: NHS };

interface KeyPair {
  privateJwk: JWK;
  publicJwk: JWK;
  kid: string;
}

async function makeKeys(alg: 'ES256' | 'RS256'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const pub = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(pub);
  return {
    privateJwk: { ...(await exportJWK(privateKey)), kid },
    publicJwk: { ...pub, kid, alg, use: 'sig' },
    kid,
  };
}

/** Runs the verifier and returns the 401/403/503 error it throws (fails if it resolves). */
async function rejection(p: Promise<unknown>): Promise<OperationOutcomeError> {
  try {
    await p;
  } catch (e) {
    expect(e).to.be.instanceOf(OperationOutcomeError);
    return e as OperationOutcomeError;
  }
  throw new Error('expected the token to be rejected');
}

function codeOf(e: OperationOutcomeError): string | undefined {
  return e.outcome.issue[0]?.details?.coding?.[0]?.code;
}

async function expect401(p: Promise<unknown>, code: string, forbidden: string[] = []): Promise<OperationOutcomeError> {
  const e = await rejection(p);
  expect(e.status, e.message).to.equal(401);
  expect(codeOf(e), e.message).to.equal(code);
  expect(e.headers['WWW-Authenticate']).to.match(/^Bearer /);
  const text = JSON.stringify(e.outcome) + e.message + JSON.stringify(e.headers);
  for (const s of [NHS, BAD_NHS, ...forbidden]) expect(text).not.to.include(s);
  return e;
}

const bearer = (t: string) => `Bearer ${t}`;

describe('server/auth', () => {
  let es: KeyPair;
  let rsa: KeyPair;
  let other: KeyPair;
  let verify: TokenVerifier;
  let jwks: JSONWebKeySet;

  const mint = (claims: TokenClaims, opts: Parameters<typeof mintToken>[3] = {}, keys: KeyPair = es) =>
    mintToken(keys.privateJwk, keys.kid, claims, { issuer: ISS, audience: AUD, ...opts });

  before(async () => {
    [es, rsa, other] = await Promise.all([makeKeys('ES256'), makeKeys('RS256'), makeKeys('ES256')]);
    jwks = { keys: [es.publicJwk, rsa.publicJwk] };
    verify = createTokenVerifier({ issuer: ISS, audience: AUD, jwks });
  });

  describe('config', () => {
    const base = () => ({ issuer: ISS, audience: AUD, jwks });
    for (const algs of [['HS256'], ['ES256', 'HS512'], ['none'], ['RS256', 'bogus']]) {
      it(`rejects algorithms ${JSON.stringify(algs)}`, () => {
        expect(() => createTokenVerifier({ ...base(), algorithms: algs })).to.throw(/asymmetric/);
      });
    }
    it('needs exactly one key source', () => {
      expect(() => createTokenVerifier({ issuer: ISS, audience: AUD })).to.throw(/exactly one/);
      expect(() => createTokenVerifier({ ...base(), jwksUrl: 'https://x.test/jwks' })).to.throw(/exactly one/);
    });
    it('refuses a plain-http remote JWKS on a non-loopback host', () => {
      expect(() => createTokenVerifier({ issuer: ISS, audience: AUD, jwksUrl: 'http://keys.example/jwks' })).to.throw(/https/);
    });
  });

  describe('accepts', () => {
    it('a good ES256 clinician token', async () => {
      const p = await verify(bearer(await mint(CLINICIAN)));
      expect(p).to.deep.equal({ sub: 'dr-jones', role: 'clinician', organisation: 'A81001', scope: 'user/*.read', jti: 'jti-1' });
    });
    it('a good RS256 token, scheme matched case-insensitively', async () => {
      const p = await verify(`bEaReR ${await mint({ sub: 'crew-7', role: 'ambulance-crew', org: 'RX6' }, { alg: 'RS256' }, rsa)}`);
      expect(p.role).to.equal('ambulance-crew');
      expect(p.organisation).to.equal('RX6');
      expect(p.sub).to.equal('crew-7');
      expect(p.jti).to.be.a('string'); // minted default
    });
    it('a good patient token (no organisation)', async () => {
      const p = await verify(bearer(await mint(PATIENT)));
      expect(p).to.include({ sub: 'pat-1', role: 'patient', nhsNumber: NHS });
      expect(p.organisation).to.equal(undefined);
    });
    it('a token expired within the clock tolerance', async () => {
      const now = new Date(Date.now() - 80_000);
      await verify(bearer(await mint(CLINICIAN, { now, ttlSec: 60 }))); // exp 20s ago, tolerance 30s
    });
  });

  describe('rejects', () => {
    it('no header', async () => {
      await expect401(verify(undefined), 'token-missing');
      await expect401(verify('   '), 'token-missing');
    });
    it('a non-Bearer scheme', async () => {
      await expect401(verify(`Basic ${Buffer.from('u:p').toString('base64')}`), 'token-missing');
      await expect401(verify(`Token ${await mint(CLINICIAN)}`), 'token-missing');
      await expect401(verify('Bearer'), 'token-missing');
    });
    it('garbage', async () => {
      await expect401(verify(bearer('not-a-jwt')), 'token-malformed', ['not-a-jwt']);
      await expect401(verify(bearer('aaa.bbb.ccc')), 'token-malformed');
      await expect401(verify(bearer('a b')), 'token-malformed');
      const good = await mint(CLINICIAN);
      const [h, , s] = good.split('.');
      await expect401(verify(bearer(`${h}.${base64url.encode('[1,2]')}.${s}`)), 'token-signature');
      await expect401(verify(bearer(`${h}.${base64url.encode('{"sub":"x"')}.${s}`)), 'token-signature');
      await expect401(verify(bearer(`${h}.e30.`)), 'token-malformed');
    });
    it('alg none (hand-crafted unsigned token)', async () => {
      const header = base64url.encode(JSON.stringify({ alg: 'none', typ: 'JWT' }));
      const now = Math.floor(Date.now() / 1000);
      const payload = base64url.encode(JSON.stringify({ ...CLINICIAN, iss: ISS, aud: AUD, exp: now + 600 }));
      await expect401(verify(bearer(`${header}.${payload}.`)), 'token-algorithm');
      await expect401(verify(bearer(`${header}.${payload}.c2ln`)), 'token-algorithm');
      const noneCaps = base64url.encode(JSON.stringify({ alg: 'NONE' }));
      await expect401(verify(bearer(`${noneCaps}.${payload}.`)), 'token-algorithm');
    });
    it('HS256 signed with the public key as HMAC secret (algorithm confusion)', async () => {
      const rsaPem = await exportSPKI((await importJWK(rsa.publicJwk, 'RS256')) as CryptoKey);
      const secrets = [
        new TextEncoder().encode(rsaPem),
        new TextEncoder().encode(JSON.stringify(es.publicJwk)),
        new TextEncoder().encode(JSON.stringify(rsa.publicJwk)),
      ];
      for (const secret of secrets) {
        for (const kid of [rsa.kid, es.kid]) {
          const t = await new SignJWT({ role: 'clinician', org: 'A81001' })
            .setProtectedHeader({ alg: 'HS256', kid })
            .setIssuer(ISS).setAudience(AUD).setSubject('attacker').setIssuedAt().setExpirationTime('10m')
            .sign(secret);
          await expect401(verify(bearer(t)), 'token-algorithm');
        }
      }
    });
    it('a token signed by another key (same kid and no kid)', async () => {
      await expect401(verify(bearer(await mintToken(other.privateJwk, es.kid, CLINICIAN, { issuer: ISS, audience: AUD }))), 'token-signature');
      await expect401(verify(bearer(await mintToken(other.privateJwk, other.kid, CLINICIAN, { issuer: ISS, audience: AUD }))), 'token-signature');
    });
    it('an RSA-signed token whose header claims ES256 / PS256 mismatch', async () => {
      const t = await mint(CLINICIAN, { alg: 'PS256' }, rsa); // key's JWK says alg RS256 → no matching key
      await expect401(verify(bearer(t)), 'token-signature');
    });
    it('expired', async () => {
      const e = await expect401(verify(bearer(await mint(CLINICIAN, { now: new Date(Date.now() - 7_200_000), ttlSec: 600 }))), 'token-expired');
      expect(e.message).to.match(/expired/);
    });
    it('nbf in the future', async () => {
      const e = await expect401(verify(bearer(await mint(CLINICIAN, { notBeforeOffsetSec: 600, ttlSec: 3600 }))), 'token-not-yet-valid');
      expect(e.message).to.match(/not yet valid/);
    });
    it('wrong issuer / audience (without echoing them)', async () => {
      const evil = 'https://evil.example/issuer';
      await expect401(verify(bearer(await mint(CLINICIAN, { issuer: evil }))), 'token-issuer', [evil]);
      await expect401(verify(bearer(await mint(CLINICIAN, { audience: evil }))), 'token-audience', [evil]);
    });
    it('no exp', async () => {
      const t = await new SignJWT({ role: 'clinician', org: 'A81001' })
        .setProtectedHeader({ alg: 'ES256', kid: es.kid })
        .setIssuer(ISS).setAudience(AUD).setSubject('dr-jones').setIssuedAt()
        .sign(await importPriv(es.privateJwk));
      const e = await expect401(verify(bearer(t)), 'token-claims');
      expect(e.message).to.include('exp');
    });
    it('no sub', async () => {
      const t = await new SignJWT({ role: 'clinician', org: 'A81001' })
        .setProtectedHeader({ alg: 'ES256', kid: es.kid })
        .setIssuer(ISS).setAudience(AUD).setIssuedAt().setExpirationTime('5m')
        .sign(await importPriv(es.privateJwk));
      await expect401(verify(bearer(t)), 'token-claims');
    });
    it('unknown or missing role', async () => {
      await expect401(verify(bearer(await mint({ ...CLINICIAN, role: 'superuser' }))), 'token-claims', ['superuser']);
      await expect401(verify(bearer(await mint({ sub: 'x', role: undefined as unknown as string, org: 'A81001' }))), 'token-claims');
    });
    it('patient without nhs_number', async () => {
      const e = await expect401(verify(bearer(await mint({ sub: 'pat-1', role: 'patient' }))), 'token-claims');
      expect(e.message).to.include('nhs_number');
    });
    it('patient with an invalid NHS number', async () => {
      const e = await expect401(verify(bearer(await mint({ ...PATIENT, nhs_number: BAD_NHS }))), 'token-claims');
      expect(e.message).to.include('not a valid NHS number');
      await expect401(verify(bearer(await mint({ ...PATIENT, nhs_number: '12345' }))), 'token-claims', ['12345']);
    });
    it('staff without org, or with an invalid org', async () => {
      for (const role of ['clinician', 'ambulance-crew', 'analyst', 'privacy-officer']) {
        const e = await expect401(verify(bearer(await mint({ sub: 'u', role }))), 'token-claims');
        expect(e.message).to.include('org');
      }
      await expect401(verify(bearer(await mint({ ...CLINICIAN, org: 'a81001; drop' }))), 'token-claims', ['drop']);
    });
    it('staff token carrying an nhs_number', async () => {
      await expect401(verify(bearer(await mint({ ...CLINICIAN, nhs_number: NHS }))), 'token-claims');
    });
  });

  describe('remote JWKS (jwksUrl)', () => {
    let server: http.Server;
    let url: string;
    let hits = 0;
    let body = '';

    before(async () => {
      body = JSON.stringify({ keys: [es.publicJwk] });
      server = http.createServer((req, res) => {
        hits++;
        if (req.url !== '/.well-known/jwks.json') {
          res.writeHead(404).end();
          return;
        }
        res.writeHead(200, { 'content-type': 'application/json' }).end(body);
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    after(async () => {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    });

    it('verifies via the served JWKS and caches it', async () => {
      const v = createTokenVerifier({ issuer: ISS, audience: AUD, jwksUrl: `${url}/.well-known/jwks.json` });
      hits = 0;
      expect(await v(bearer(await mint(CLINICIAN)))).to.include({ sub: 'dr-jones', organisation: 'A81001' });
      expect(await v(bearer(await mint(PATIENT)))).to.include({ nhsNumber: NHS });
      expect(hits).to.equal(1);
      await expect401(v(bearer(await mint(CLINICIAN, {}, other))), 'token-signature');
      await expect401(v(bearer(await mint(CLINICIAN, { alg: 'RS256' }, rsa))), 'token-signature');
    });

    it('reports an unreachable key set as 503, not 401', async () => {
      const v = createTokenVerifier({ issuer: ISS, audience: AUD, jwksUrl: `${url}/missing` });
      const e = await rejection(v(bearer(await mint(CLINICIAN))));
      expect(e.status).to.equal(503);
      expect(codeOf(e)).to.equal('auth-keys-unavailable');
    });
  });

  describe('requireRole', () => {
    const p: Principal = { sub: 'a', role: 'analyst', organisation: 'A81001' };
    it('allows listed roles', () => {
      expect(() => requireRole(p, ['clinician', 'analyst'])).not.to.throw();
    });
    it('forbids others with role-not-permitted', () => {
      try {
        requireRole(p, ['clinician']);
        expect.fail('should throw');
      } catch (e) {
        expect(e).to.be.instanceOf(OperationOutcomeError);
        expect((e as OperationOutcomeError).status).to.equal(403);
        expect(codeOf(e as OperationOutcomeError)).to.equal('role-not-permitted');
      }
    });
  });

  describe('demo keys', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'demo-keys-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    it('creates an ES256 key once (0600), reuses it, and its tokens verify with the demo constants', async () => {
      const a = await ensureDemoKeys(dir);
      const b = await ensureDemoKeys(dir);
      expect(b.kid).to.equal(a.kid);
      expect(b.privateJwk).to.deep.equal(a.privateJwk);
      expect(a.publicJwks.keys[0]).to.not.have.property('d');
      expect(a.publicJwks.keys[0]).to.include({ kid: a.kid, alg: 'ES256', kty: 'EC', crv: 'P-256' });
      const st = await stat(path.join(dir, 'demo-keys', 'private-key.jwk.json'));
      expect(st.mode & 0o777).to.equal(0o600);

      const cfg: AuthConfig = { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE, jwks: a.publicJwks };
      const v = createTokenVerifier(cfg);
      const t = await mintToken(a.privateJwk, a.kid, CLINICIAN);
      expect(await v(bearer(t))).to.include({ sub: 'dr-jones', role: 'clinician' });
    });
  });
});

function importPriv(jwk: JWK) {
  return importJWK(jwk, 'ES256');
}
