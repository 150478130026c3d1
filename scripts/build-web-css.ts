/**
 * `npm run build:web-css`: compiles web/styles/nhsuk-subset.scss (the design system's components the
 * pages use) to web/static/nhsuk-subset.css. The output is committed, so the service never runs Sass.
 */
import { writeFileSync } from 'node:fs';
import { compileSubset, SUBSET_CSS_PATH } from '../web/css-build.js';

writeFileSync(SUBSET_CSS_PATH, compileSubset());
process.stdout.write(`wrote ${SUBSET_CSS_PATH}\n`);
