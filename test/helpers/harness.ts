import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { existsSync } from 'node:fs';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { createTokenVerifier } from '../../server/auth.js';
import { loadConfig, type Config } from '../../server/config.js';
import { createService, type Service } from '../../server/compose.js';
import { openDb } from '../../store/db.js';
import { mintToken, type TokenClaims, type MintOptions } from '../../server/demo-keys.js';
import { createLogger } from '../../server/logger.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../scripts/sandbox/start.js';
import { registeredPracticeOf } from './sandbox-practice.js';
import { openTestDb } from './test-db.js';
import type { Db } from '../../store/db.js';

export const SYNTHEA_DIR = fileURLToPath(new URL('../../../shared/data/synthea/', import.meta.url));
export const syntheaAvailable = () => existsSync(SYNTHEA_DIR);
export const ISSUER = 'https://test.issuer.local';
export const AUDIENCE = 'https://test.audience.local/fhir';

export interface Harness {
  sandbox: Sandbox;
  service: Service;
  config: Config;
  /** Every log line the service wrote, as text. */
  logs: string[];
  token(claims: Partial<TokenClaims> & { role: TokenClaims['role'] }, opts?: MintOptions): Promise<string>;
  /** A clinician at the patient's registered GP practice (a legitimate relationship). */
  clinicianFor(nhsNumber: string, role?: 'clinician' | 'ambulance-crew'): Promise<string>;
  /** The registered practice's ODS code of a sandbox patient. */
  practiceOf(nhsNumber: string): string;
  /**
   * Another service instance over the same PostgreSQL database and sandbox, with the same configuration and
   * keys but its own connection pool (test/scale-out.test.ts). The caller closes it.
   */
  anotherInstance(): Promise<Service>;
  close(): Promise<void>;
}

/**
 * The service wired to a real sandbox on loopback (real HTTP), a fresh test database and test
 * signing keys (or the `db` given). One per test file: PGlite start-up and sandbox loading take a few seconds.
 */
export async function startHarness(opts: { sandbox?: SandboxOptions; env?: Record<string, string>; db?: Db } = {}): Promise<Harness> {
  const sandbox = await startSandbox({ useEnv: false, ...opts.sandbox });
  const db: Db & { url?: string } = opts.db ?? (await openTestDb());
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const pub = { ...(await exportJWK(publicKey)), kid: 'test-key', alg: 'ES256', use: 'sig' };
  const priv: JWK = await exportJWK(privateKey);
  const config = loadConfig({
    GP_FHIR_URL: sandbox.urls.gp,
    HOSPITAL_FHIR_URL: sandbox.urls.hospital,
    SOCIAL_CARE_URL: sandbox.urls.socialCare,
    PUBLIC_BASE_URL: 'http://facade.test',
    SOURCE_DEADLINE_MS: '1500',
    CIRCUIT_OPEN_MS: '400',
    LOG_LEVEL: 'info',
    // Every response a test sees is checked against openapi.yaml (off by default in production: README).
    VALIDATE_RESPONSES: 'true',
    ...opts.env,
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const verifier = () => createTokenVerifier({ issuer: ISSUER, audience: AUDIENCE, jwks: { keys: [pub] } });
  const service = await createService(config, createLogger('info', sink), { db, verifier: verifier() });
  const token: Harness['token'] = (claims, mintOpts) =>
    mintToken(priv, 'test-key', { sub: 'user-1', ...(claims.role === 'patient' ? {} : { org: 'A81001' }), ...claims }, {
      issuer: ISSUER,
      audience: AUDIENCE,
      ...mintOpts,
    });
  const practiceOf = (nhsNumber: string) => registeredPracticeOf(sandbox, nhsNumber);
  return {
    sandbox,
    service,
    config,
    logs,
    token,
    practiceOf,
    async anotherInstance() {
      if (!db.url) throw new Error('several instances need PostgreSQL (DATABASE_URL)');
      const own = await openDb({ databaseUrl: db.url, poolSize: config.databasePoolSize });
      return createService(config, createLogger('info', sink), { db: own, verifier: verifier() });
    },
    clinicianFor: (nhsNumber, role = 'clinician') => token({ role, org: practiceOf(nhsNumber), sub: `gp-${practiceOf(nhsNumber)}` }),
    async close() {
      await sandbox.close();
      await service.close();
    },
  };
}
