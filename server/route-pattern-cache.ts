import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * express-openapi-validator 5.6 matches a request to its OpenAPI route by compiling, on every request,
 * the path pattern of each documented route in turn with path-to-regexp's `pathToRegexp` until one
 * matches (`lookupRoute` in its openapi.metadata.js). Our spec has about 50 paths sorted
 * alphabetically, so a `/fhir/Patient/{id}/$summary` request compiled some 35 patterns: about 3 % of the
 * service's CPU under the benchmarks' load (README, performance).
 *
 * `pathToRegexp` is a pure function of its arguments, so the compiled result for a (pattern, options)
 * pair is cached on the path-to-regexp module the validator loads. The cache holds only string patterns
 * with the two options the validator passes (`sensitive`, `strict`), and at most MAX_PATTERNS of them
 * (the validator's patterns come from the spec; anything beyond is compiled as before). The returned
 * RegExps have no `g`/`y` flag, so sharing one between callers is safe.
 *
 * test/route-pattern-cache.test.ts fails if a validator upgrade stops loading the function from there.
 */
const MAX_PATTERNS = 1000;

type PathToRegexp = ((path: unknown, options?: Record<string, unknown>) => unknown) & { cachedPatterns?: Map<string, unknown> };

/** The path-to-regexp module exports that express-openapi-validator resolves. */
export function validatorPathToRegexpModule(): { pathToRegexp: PathToRegexp } {
  const require = createRequire(import.meta.url);
  const validatorDir = dirname(require.resolve('express-openapi-validator'));
  return require(require.resolve('path-to-regexp', { paths: [validatorDir] })) as { pathToRegexp: PathToRegexp };
}

/** Installs the cache (once per process; later calls do nothing). */
export function cacheValidatorRoutePatterns(): void {
  const mod = validatorPathToRegexpModule();
  if (mod.pathToRegexp.cachedPatterns) return;
  const original = mod.pathToRegexp;
  const cache = new Map<string, unknown>();
  const cached: PathToRegexp = (path, options) => {
    if (typeof path !== 'string' || !onlyMatchingFlags(options)) return original(path, options);
    const key = `${options?.sensitive ? 1 : 0}${options?.strict ? 1 : 0}${path}`;
    let compiled = cache.get(key);
    if (compiled === undefined) {
      compiled = original(path, options);
      if (cache.size < MAX_PATTERNS) cache.set(key, compiled);
    }
    return compiled;
  };
  cached.cachedPatterns = cache;
  mod.pathToRegexp = cached;
}

function onlyMatchingFlags(options: Record<string, unknown> | undefined): boolean {
  if (!options) return true;
  for (const k in options) if (k !== 'sensitive' && k !== 'strict') return false;
  return true;
}
