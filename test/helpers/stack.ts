/**
 * The full stack in-process for page tests: the sandbox sources, the service (API + pages + the embedded
 * demo OpenID provider) on a real loopback port chosen by the OS (port 0), and a fresh test database.
 * The service's public base URL must be known before it is built (the provider's issuer and the
 * callback URL are built on it), so the listener starts first and the app is attached once built.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { loadConfig, type Config } from '../../server/config.js';
import { createService, type Service } from '../../server/compose.js';
import { createLogger } from '../../server/logger.js';
import { startSandbox, type Sandbox, type SandboxOptions } from '../../scripts/sandbox/start.js';
import { registeredPracticeOf } from './sandbox-practice.js';
import { openTestDb } from './test-db.js';

export interface Stack {
  /** http://127.0.0.1:<port> — the service, its pages and the demo provider (/demo-oidc). */
  baseUrl: string;
  sandbox: Sandbox;
  service: Service;
  config: Config;
  /** Every log line the service wrote. */
  logs: string[];
  /** The registered practice's ODS code of a sandbox patient. */
  practiceOf(nhsNumber: string): string;
  close(): Promise<void>;
}

/**
 * Starts sandbox + service + demo provider; `env` overrides configuration (e.g. WEB_STAFF_IDLE_MINUTES),
 * or is built from the started sandbox (e.g. a SOURCES_FILE naming its URLs).
 */
export async function startStack(opts: { sandbox?: SandboxOptions; env?: Record<string, string> | ((sandbox: Sandbox) => Record<string, string>) } = {}): Promise<Stack> {
  const sandbox = await startSandbox({ useEnv: false, ...opts.sandbox });
  const db = await openTestDb();
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const baseUrl = `http://127.0.0.1:${port}`;
  const config = loadConfig({
    GP_FHIR_URL: sandbox.urls.gp,
    HOSPITAL_FHIR_URL: sandbox.urls.hospital,
    SOCIAL_CARE_URL: sandbox.urls.socialCare,
    PUBLIC_BASE_URL: baseUrl,
    SOURCE_DEADLINE_MS: '1500',
    CIRCUIT_OPEN_MS: '400',
    LOG_LEVEL: 'info',
    DATA_DIR: '.data/test-stack',
    ...(typeof opts.env === 'function' ? opts.env(sandbox) : opts.env),
  });
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(String(chunk));
      cb();
    },
  });
  const service = await createService(config, createLogger('info', sink), { db });
  handler = service.app;
  const practiceOf = (nhsNumber: string) => registeredPracticeOf(sandbox, nhsNumber);
  return {
    baseUrl,
    sandbox,
    service,
    config,
    logs,
    practiceOf,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await sandbox.close();
      await service.close();
    },
  };
}
