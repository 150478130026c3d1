import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
export const SUBSET_SCSS_PATH = fileURLToPath(new URL('./styles/nhsuk-subset.scss', import.meta.url));
export const SUBSET_CSS_PATH = fileURLToPath(new URL('./static/nhsuk-subset.css', import.meta.url));

/** Compiles the design-system subset (Sass is a devDependency: build and test time only). */
export function compileSubset(): string {
  const sass = require('sass') as typeof import('sass');
  const root = join(dirname(require.resolve('nhsuk-frontend/package.json')), 'dist', 'nhsuk');
  return `${sass.compile(SUBSET_SCSS_PATH, { loadPaths: [root], style: 'compressed', quietDeps: true }).css}\n`;
}
