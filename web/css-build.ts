import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { packageFile } from '../store/package-files.js';

const require = createRequire(import.meta.url);
// From the package root, not beside this module: the same from source and from dist/ (store/package-files.ts).
export const SUBSET_SCSS_PATH = packageFile('web', 'styles', 'nhsuk-subset.scss');
export const SUBSET_CSS_PATH = packageFile('web', 'static', 'nhsuk-subset.css');

/** Compiles the design-system subset (Sass is a devDependency: build and test time only). */
export function compileSubset(): string {
  const sass = require('sass') as typeof import('sass');
  const root = join(dirname(require.resolve('nhsuk-frontend/package.json')), 'dist', 'nhsuk');
  return `${sass.compile(SUBSET_SCSS_PATH, { loadPaths: [root], style: 'compressed', quietDeps: true }).css}\n`;
}
