import { expect } from 'chai';
import { CATALOGUE, indicatorById, validateCatalogue } from '../indicators/catalogue.js';
import { sourcesOfSpec, validateSpec, windowStart, yearsBefore, type Criterion, type IndicatorDefinition } from '../indicators/spec.js';
import { INDICATOR_AREAS } from '../indicators/types.js';
import { generatePatients } from '../scripts/generate-patients.js';
import { buildExtracts } from '../scripts/sandbox/extract/build.js';
import { loadBundleDir, loadBundles } from '../scripts/sandbox/loader.js';
import { requireShared } from './helpers/fhir-validator.js';
import { SYNTHEA_DIR } from './helpers/harness.js';

/** The indicator catalogue is data: validated at load time, covering the six areas, using codes the sandbox data holds. */

const clone = (d: IndicatorDefinition): IndicatorDefinition => structuredClone(d);
const rejects = (defs: IndicatorDefinition[], message: RegExp) => expect(() => validateCatalogue(defs)).to.throw(message);

function leafCriteria(c: Criterion): Criterion[] {
  return c.kind === 'not' ? leafCriteria(c.criterion) : c.kind === 'any' ? c.criteria.flatMap(leafCriteria) : [c];
}
function allCriteria(d: IndicatorDefinition): Criterion[] {
  const s = d.spec;
  if (s.shape !== 'person-proportion' && s.shape !== 'person-rate') return [];
  return [...(s.population.criteria ?? []), ...(s.shape === 'person-proportion' ? s.numerator : [])].flatMap(leafCriteria);
}

describe('indicator catalogue', () => {
  it('has at least two indicators in each of the six areas, with unique ids and plain-English text', () => {
    expect(CATALOGUE.length).to.be.at.least(12);
    for (const area of INDICATOR_AREAS) expect(CATALOGUE.filter((d) => d.area === area).length, area).to.be.at.least(2);
    expect(new Set(CATALOGUE.map((d) => d.id)).size).to.equal(CATALOGUE.length);
    for (const d of CATALOGUE) {
      expect(d.methodology.length, d.id).to.be.greaterThan(40);
      expect(d.limitations.length, d.id).to.be.at.least(1);
      expect(indicatorById(d.id)).to.equal(d);
    }
  });

  it('has at least two indicators that need two sources at once, and they say so', () => {
    const cross = CATALOGUE.filter((d) => d.sources.length > 1);
    expect(cross.map((d) => d.id)).to.include.members(['dementia-emergency-admission', 'care-package-emergency-attendance']);
    for (const d of cross) {
      expect(sourcesOfSpec(d.spec), d.id).to.have.lengthOf(2);
      expect(d.methodology, d.id).to.match(/pseudonym/);
    }
  });

  it('includes the indicators the issue names', () => {
    for (const id of [
      'emergency-readmission-30d', 'polypharmacy-75-no-review', 'mean-length-of-stay', 'diabetes-hba1c-recorded', 'current-smokers',
      'obesity-bmi-30', 'flu-vaccination-65', 'long-term-support-per-100k', 'care-packages-reviewed', 'food-standards-compliance',
    ]) expect(indicatorById(id), id).to.not.equal(undefined);
    expect(indicatorById('long-term-support-per-100k')!.measure).to.deep.equal({ type: 'rate', per: 100_000 });
    expect(indicatorById('mean-length-of-stay')!.measure).to.deep.equal({ type: 'mean', unit: 'days' });
  });

  it('rejects a malformed catalogue, naming the entry and the problem', () => {
    const base = CATALOGUE.map(clone);
    rejects([...base, clone(base[0]!)], /emergency-readmission-30d\): id is not unique/);
    rejects([{ ...clone(base[0]!), area: 'league-tables' as never }], /area must be one of/);
    rejects([{ ...clone(base[0]!), level: 'gp-practice' }], /must be organised by the gp source/);
    rejects([{ ...clone(base[0]!), sources: ['gp'] }], /sources must be hospital/);
    rejects([{ ...clone(base[0]!), limitations: [] }], /limitations must list at least one/);
    const flu = clone(indicatorById('flu-vaccination-65')!);
    (flu.spec as { numerator: unknown[] }).numerator = [{ kind: 'immunisation', codes: ['140'] }];
    rejects([flu], /spec\.numerator\[0\]\.kind must be one of/);
    const obesity = clone(indicatorById('obesity-bmi-30')!);
    (obesity.spec as { numerator: unknown[] }).numerator = [{ kind: 'observation', codes: ['39156-5'], value: { op: '=>', value: 30 } }];
    rejects([obesity], /value must be \{op/);
    const pop = clone(indicatorById('diabetes-hba1c-recorded')!);
    (pop.spec as { population: { criteria: Criterion[] } }).population.criteria = [{ kind: 'encounter', source: 'hospital', classes: ['EMER'] }];
    rejects([pop], /must be held by the population's source/);
  });

  it('validates specs independently of the catalogue (as the sources do)', () => {
    expect(validateSpec({ shape: 'org-return', source: 'hospital', itemPrefix: 'food:' })).to.deep.equal([]);
    expect(validateSpec({ shape: 'org-return', source: 'hospital', itemPrefix: "food:'; DROP TABLE person; --" })).to.have.lengthOf(1);
    expect(validateSpec({ shape: 'person-rate', population: { source: 'social-care' }, denominatorItem: 'population:18+' })).to.deep.equal([]);
    expect(validateSpec({ shape: 'person-proportion', population: { source: 'gp', age: { min: 80, max: 70 } }, numerator: [{ kind: 'care-review' }] })).to.deep.equal([
      'spec.population.age.min must not exceed age.max',
    ]);
    expect(validateSpec({ shape: 'nope' })[0]).to.match(/^spec\.shape must be one of/);
  });

  it('computes windows and ages at the period end on the calendar', () => {
    expect(windowStart('2025-03-31', 12)).to.equal('2024-04-01');
    expect(windowStart('2024-02-29', 12)).to.equal('2023-03-01');
    expect(windowStart('2025-03-31', 24)).to.equal('2023-04-01');
    expect(windowStart('2024-12-31', 1)).to.equal('2024-12-01');
    expect(yearsBefore('2025-03-31', 75)).to.equal('1950-03-31');
    expect(yearsBefore('2024-02-29', 1)).to.equal('2023-02-28');
  });

  it('uses codes that occur in the sandbox data (generated population and Synthea bundles)', function () {
    this.timeout(60_000);
    const seen = new Set<string>();
    const add = (rows: ReturnType<typeof buildExtracts>) => {
      for (const src of Object.values(rows)) for (const f of src.facts) {
        seen.add(`${f.kind}|${f.code}`);
        if (f.valueCode) seen.add(`value|${f.valueCode}`);
        if (f.class) seen.add(`class|${f.class}`);
      }
    };
    requireShared(this, 'the catalogue code check (Synthea bundles)');
    add(buildExtracts(loadBundles(generatePatients({ count: 300, seed: 1 }))));
    add(buildExtracts(loadBundleDir(SYNTHEA_DIR)));
    const missing: string[] = [];
    for (const d of CATALOGUE) {
      for (const c of allCriteria(d)) {
        if ('codes' in c && !c.codes.some((code) => seen.has(`${c.kind}|${code}`))) missing.push(`${d.id}: ${c.kind} ${c.codes.join(',')}`);
        if (c.kind === 'observation' && c.valueCodes && !c.valueCodes.some((v) => seen.has(`value|${v}`))) missing.push(`${d.id}: value ${c.valueCodes.join(',')}`);
        if (c.kind === 'encounter' && !c.classes.some((k) => seen.has(`class|${k}`))) missing.push(`${d.id}: class ${c.classes.join(',')}`);
      }
    }
    expect(missing).to.deep.equal([]);
  });
});
