import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * PGlite 0.5 runs initdb the first time it opens an empty data directory, inside the opening process: it
 * starts a second PostgreSQL WASM instance (128 MiB minimum heap), snapshots that whole heap and restores it
 * before each of initdb's PostgreSQL runs (every page touched), then copies the new cluster over as a tarball.
 * That took the service's peak RSS from ~0.4 to ~0.93 GiB, and the WASM memory stayed resident after start-up.
 * So a new data directory is created by a short-lived child process instead; the service then opens it like
 * any existing one (docs/operations-build.md has the figures).
 */
const CHILD = fileURLToPath(new URL(`./pglite-initdb-child${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/** True when `dataDir` already holds a PostgreSQL cluster (PGlite would open it without initdb). */
export function hasCluster(dataDir: string): boolean {
  return existsSync(join(dataDir, 'PG_VERSION'));
}

/** Creates a PGlite cluster in the empty folder `dataDir` in a child process; rejects with its stderr on failure. */
export function initPgliteDataDir(dataDir: string): Promise<void> {
  const loader = CHILD.endsWith('.ts') ? ['--import', import.meta.resolve('tsx/esm')] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...loader, CHILD, dataDir], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-2000)));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`creating the PGlite data directory failed (${signal ?? `exit ${code}`}): ${stderr.trim()}`));
    });
  });
}
