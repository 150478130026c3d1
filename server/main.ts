import { ConfigError, loadConfig } from './config.js';
import { createService } from './compose.js';
import { createHttpServer, drain, listen } from './http-server.js';
import { createLogger } from './logger.js';

/**
 * The listener: config → service → HTTP server (server/http-server.ts: timeouts, error answers), with
 * graceful shutdown on SIGTERM/SIGINT. A start-up failure is one line on stderr and a non-zero exit:
 * 2 for a configuration error (naming the setting), 1 otherwise (a busy port names PORT).
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) fail(e.message, 2);
    throw e;
  }
  const logger = createLogger(config.logLevel);
  const service = await createService(config, logger);
  const server = createHttpServer(service.app, config.http);
  try {
    await listen(server, config.port, config.host, 'PORT');
  } catch (e) {
    await service.close().catch(() => undefined);
    throw e;
  }
  const port = addressPort(server);
  // Compile the OpenAPI validators now rather than on the first real request.
  await fetch(`http://${config.host}:${port}/fhir/metadata`).catch(() => undefined);
  logger.info({ url: config.publicBaseUrl, port, engine: service.db.engine, auth: config.auth.mode }, 'integrated record service listening');
  // The sources key their people under this month's pseudonym key now (and next month's before the turn), so
  // that no refresh waits for it (indicators/key-preparation.ts); checked again every hour.
  const prepareKeys = () => void service.indicators.prepareKeys().catch((e) => logger.warn({ err: (e as Error).message }, 'indicators: preparing pseudonym keys failed'));
  prepareKeys();
  const keyTimer = setInterval(prepareKeys, 3_600_000).unref();
  // Out of the box the public indicators are not empty: computed once for the periods the sources' data covers.
  if (config.indicatorsAtStartup) {
    service.computeIndicatorsAtStartup().catch((e) => logger.warn({ err: (e as Error).message }, 'indicators: start-up computation failed'));
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    clearInterval(keyTimer);
    logger.info({ signal }, 'shutting down: no new connections or requests, finishing those in flight');
    await drain(server, config.shutdownGraceMs);
    await service.close().catch(() => undefined);
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

function addressPort(server: ReturnType<typeof createHttpServer>): number {
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

function fail(message: string, code: number): never {
  process.stderr.write(`${message}\n`);
  process.exit(code);
}

main().catch((e) => {
  fail(`start-up failed: ${(e as Error).message}`, 1);
});
