/**
 * The service for `npm run bench:public-pages` (scripts/bench/public-pages.ts), in its own process: a fresh
 * embedded database, then two snapshots (two calendar years) of every GP-practice indicator over BENCH_PRACTICES
 * synthetic practices (default 6,500) — counts made up here, published through the real disclosure control
 * (indicators/publish.ts) and stored through the real SnapshotStore — then the real service (API and pages) on
 * BENCH_PORT. Prints `ready <port> <comma-separated practice codes>` when it listens.
 */
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { createService } from '../../server/compose.js';
import { loadConfig } from '../../server/config.js';
import { createLogger } from '../../server/logger.js';
import { CATALOGUE } from '../../indicators/catalogue.js';
import { publishRun } from '../../indicators/publish.js';
import { SnapshotStore } from '../../indicators/snapshots.js';
import type { ComputeRun, IndicatorComputation } from '../../indicators/types.js';
import { mulberry32 as rng } from '../sandbox/hash.js';

const PRACTICES = Number(process.env.BENCH_PRACTICES ?? 6500);
const PORT = Number(process.env.BENCH_PORT ?? 8660);

const codes = Array.from({ length: PRACTICES }, (_, i) => `${String.fromCharCode(65 + (i % 16))}${String(81000 + i).padStart(5, '0')}`).sort();
const defs = CATALOGUE.filter((d) => d.level === 'gp-practice');

function run(year: number): ComputeRun {
  const random = rng(year);
  const period = { start: `${year}-01-01`, end: `${year}-12-31` };
  const sizes = codes.map(() => 1500 + Math.floor(random() * 14000));
  const results: IndicatorComputation[] = defs.map((def, k) => {
    const rate = 0.05 + 0.6 * ((k * 37) % 11) / 11;
    return {
      indicatorId: def.id,
      period,
      missingSources: [],
      ...(def.sources.length > 1 ? { unlinkable: { gp: 40 + k, hospital: 120 + k } } : {}),
      organisations: codes.map((code, i) => {
        const denominator = Math.max(0, Math.round(sizes[i]! * (0.02 + 0.2 * random())));
        const p = Math.min(0.98, Math.max(0, rate * (0.8 + 0.4 * random())));
        return { code, denominator, numerator: Math.round(denominator * p) };
      }),
    };
  });
  return {
    period,
    startedAt: `${year + 1}-01-05T10:00:00.000Z`,
    finishedAt: `${year + 1}-01-05T10:01:00.000Z`,
    sources: [{ source: 'gp', status: 'ok' }, { source: 'hospital', status: 'ok' }, { source: 'social-care', status: 'ok' }],
    complete: true,
    optOutsApplied: 1234,
    results,
  };
}

const dataDir = mkdtempSync(join(tmpdir(), 'bench-public-pages-'));
const config = loadConfig({
  DATA_DIR: dataDir,
  PUBLIC_BASE_URL: `http://127.0.0.1:${PORT}`,
  LOG_LEVEL: 'warn',
  GP_FHIR_URL: 'http://127.0.0.1:9/gp',
  HOSPITAL_FHIR_URL: 'http://127.0.0.1:9/hospital',
  SOCIAL_CARE_URL: 'http://127.0.0.1:9/social-care',
});
const service = await createService(config, createLogger('warn', new Writable({ write: (_c, _e, cb) => cb() })));
const snapshots = new SnapshotStore(service.db);
const cellKey = new Uint8Array(32).fill(7);
for (const year of [2024, 2025]) {
  const published = publishRun(run(year), defs, config.disclosure, cellKey);
  await snapshots.save({ ...published.meta, requestedBy: 'bench' }, published.indicators);
}
const server = createServer(service.app);
server.listen(PORT, '127.0.0.1', () => process.stdout.write(`ready ${PORT} ${codes.join(',')}\n`));
const stop = () => server.close(() => void service.close().then(() => process.exit(0)));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
