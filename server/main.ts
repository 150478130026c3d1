import type { Server } from 'node:http';
import { ConfigError, loadConfig } from './config.js';
import { createService } from './compose.js';
import { createLogger } from './logger.js';

/** The listener: config → service → HTTP server, with graceful shutdown on SIGTERM/SIGINT. */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = createLogger(config.logLevel);
  const service = await createService(config, logger);
  const server: Server = service.app.listen(config.port, config.host);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  // Compile the OpenAPI validators now rather than on the first real request.
  await fetch(`http://${config.host}:${addressPort(server)}/fhir/metadata`).catch(() => undefined);
  logger.info({ url: config.publicBaseUrl, engine: service.db.engine, auth: config.auth.mode }, 'integrated record service listening');
  // Out of the box the public indicators are not empty: computed once for the periods the sources' data covers.
  if (config.indicatorsAtStartup) {
    service.computeIndicatorsAtStartup().catch((e) => logger.warn({ err: (e as Error).message }, 'indicators: start-up computation failed'));
  }

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: no new connections, finishing in-flight requests');
    const force = setTimeout(() => server.closeAllConnections(), config.shutdownGraceMs);
    force.unref();
    server.close(async () => {
      await service.close().catch(() => undefined);
      logger.info('stopped');
      process.exit(0);
    });
    server.closeIdleConnections();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

function addressPort(server: Server): number {
  const a = server.address();
  return typeof a === 'object' && a ? a.port : 0;
}

main().catch((e) => {
  process.stderr.write(`start-up failed: ${(e as Error).message}\n`);
  process.exit(1);
});
