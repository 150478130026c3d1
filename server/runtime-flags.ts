/**
 * Node/V8 flags the service process runs with (`npm start`, `npm run serve`, the benchmarks). A 64 MiB
 * young generation (Node 20's default is 16 MiB): every record request holds its parsed source bundles
 * while it waits for the slowest source, so with a small young generation each scavenge copies the records
 * of every request in flight, often. Measured under the $everything benchmark: about half the GC time,
 * ~1 ms less CPU per request (README, performance).
 */
export const SERVICE_NODE_FLAGS = ['--max-semi-space-size=64'];
