import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Files shipped with the package that are not TypeScript (SQL migrations, openapi.yaml, the sandbox's
 * extract schema) are read from the package root, not from beside the module that reads them: under tsx
 * a module runs from its source folder (store/migrate.ts), compiled it runs from dist/ (dist/store/migrate.js),
 * and the build copies nothing. The root is the nearest folder above this module holding package.json
 * (dist/ has none, so both resolve to the same root).
 */
export const PACKAGE_ROOT = findPackageRoot(dirname(fileURLToPath(import.meta.url)));

/** The absolute path of a file or folder shipped with the package, e.g. `packageFile('openapi.yaml')`. */
export function packageFile(...segments: string[]): string {
  return join(PACKAGE_ROOT, ...segments);
}

function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}
