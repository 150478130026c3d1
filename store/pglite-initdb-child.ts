import { PGlite } from '@electric-sql/pglite';

/**
 * Child-process entry (spawned by store/pglite-init.ts, never imported): creates an empty PGlite data
 * directory at argv[2] (PGlite runs initdb on first open), closes it and exits, handing the memory
 * initdb used back to the operating system.
 */
const dataDir = process.argv[2];
if (!dataDir) throw new Error('usage: pglite-initdb-child <dataDir>');
const db = new PGlite(dataDir);
await db.waitReady;
await db.close();
