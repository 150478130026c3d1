import { expect } from 'chai';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Bundle, Coding, Resource } from 'fhir/r4.js';
import { CATEGORY_LABELS, SENSITIVE_VALUE_SETS, categoriesOf, type Category } from '../consent/sensitivity.js';
import { DRAWN_FROM, VALUE_SET_DIR, isLoincCode, isSnomedId, loadSensitiveValueSets } from '../consent/value-sets.js';
import { expectValidFhir, requireShared, SHARED_DIR } from './helpers/fhir-validator.js';

/**
 * Issue 15, item 4: the sensitive categories come from value sets kept as data files, loaded and validated
 * at start-up, and recognise what a clinician would call mental health, sexual health or safeguarding in the
 * shared Synthea data.
 */

const SCT = 'http://snomed.info/sct';
const LNC = 'http://loinc.org';
const RX = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const LABELS = new Set(Object.values(CATEGORY_LABELS));

/**
 * Every code in the shared Synthea data (main codes: Condition/Procedure/Observation/DiagnosticReport code,
 * MedicationRequest medication, reasonCode, Encounter type, CarePlan category and activity) that a clinician
 * would put in a category — reviewed by hand from the 335 distinct codes the 70 bundles hold.
 */
const EXPECTED: Record<Category, string[]> = {
  'mental-health': [`${SCT}|171207006`], // Depression screening (the only mental-health code in this data set)
  'sexual-health': [
    // contraception and sterilisation
    `${SCT}|65200003`, `${SCT}|46706006`, `${SCT}|169553002`, `${SCT}|301807007`, `${SCT}|287664005`,
    `${RX}|389221`, `${RX}|1000156`, `${RX}|1367439`, `${RX}|1605257`, `${RX}|748856`, `${RX}|748962`, `${RX}|749762`, `${RX}|751905`, `${RX}|831533`, `${RX}|978950`,
    // termination of pregnancy
    `${SCT}|10383002`, `${SCT}|714812005`, `${SCT}|386394001`, `${SCT}|5880005`,
    // sexual activity, HIV status, sexual orientation
    `${SCT}|243077000`, `${LNC}|55277-8`, `${LNC}|76690-7`,
  ],
  safeguarding: [`${LNC}|28245-9`], // Abuse status [OMAHA]
};

/**
 * Codes in the data reviewed and deliberately NOT sensitive (docs/consent-hardening.md): dementia and its
 * care (a neurocognitive disorder, needed for capacity and safety), benzodiazepines/anticonvulsants that
 * Synthea prescribes for seizures, and pregnancy/maternity care.
 */
const NOT_SENSITIVE = [
  `${SCT}|230265002`, `${SCT}|386257007`, `${SCT}|850261000000100`, `${SCT}|710125008`, `${LNC}|72106-8`, `${RX}|997223`, `${RX}|998582`,
  `${RX}|1153378`, `${RX}|563026`, `${RX}|308971`,
  `${SCT}|19169002`, `${SCT}|79586000`, `${SCT}|252160004`, `${SCT}|169230002`, `${SCT}|424441002`, `${SCT}|424619006`, `${SCT}|72892002`,
];

/** The main codings categoriesOf reads, per resource (the same positions as sensitivity.ts). */
function mainCodings(r: Resource): Coding[] {
  const a = r as unknown as Record<string, unknown>;
  const cc = (v: unknown): Coding[] => ((v as { coding?: Coding[] } | undefined)?.coding ?? []);
  const ccs = (v: unknown): Coding[] => (Array.isArray(v) ? v.flatMap(cc) : []);
  const out = [...cc(a.code), ...cc(a.medicationCodeableConcept), ...ccs(a.reasonCode)];
  if (r.resourceType === 'Encounter') out.push(...ccs(a.type));
  if (r.resourceType === 'CarePlan') {
    out.push(...ccs(a.category));
    for (const act of (a.activity as { detail?: { code?: unknown } }[] | undefined) ?? []) out.push(...cc(act.detail?.code));
  }
  return out.filter((c) => c.system && c.code);
}

const single = (c: Coding): Resource => ({ resourceType: 'Observation', status: 'final', code: { coding: [c] } }) as Resource;

describe('sensitive value sets (issue 15, item 4)', () => {
  it('are FHIR ValueSets, each include naming the published list it was drawn from, loaded at start-up', () => {
    const files = readdirSync(VALUE_SET_DIR).filter((f) => f.endsWith('.json'));
    expect(files.length).to.be.at.least(5);
    for (const f of files) {
      const vs = JSON.parse(readFileSync(path.join(VALUE_SET_DIR, f), 'utf8'));
      expectValidFhir(vs, f);
      for (const inc of vs.compose.include) expect(inc.extension.find((e: { url: string }) => e.url === DRAWN_FROM).valueString, f).to.be.a('string').with.length.greaterThan(20);
    }
    expect(SENSITIVE_VALUE_SETS.map((v) => v.label).sort()).to.include.members(['PSY', 'SEX', 'SDV']);
    const total = SENSITIVE_VALUE_SETS.reduce((n, v) => n + v.concepts.length, 0);
    expect(total, 'substantially more than the 42 hand-listed codes before').to.be.greaterThan(150);
  });

  it('recognise the issue’s examples: generalized anxiety disorder, a PHQ-9 score, GAD-7, sertraline, lithium', () => {
    const cat = (system: string, code: string) => [...categoriesOf(single({ system, code }))];
    expect(cat(SCT, '21897009')).to.deep.equal(['mental-health']);
    expect(cat(LNC, '44261-6')).to.deep.equal(['mental-health']);
    expect(cat(LNC, '55757-9')).to.deep.equal(['mental-health']);
    expect(cat(LNC, '70274-6')).to.deep.equal(['mental-health']);
    expect(cat(LNC, '69737-5')).to.deep.equal(['mental-health']);
    expect(cat(RX, '312938')).to.deep.equal(['mental-health']);
    expect(cat(RX, '6448')).to.deep.equal(['mental-health']);
    expect(cat(SCT, '86406008')).to.deep.equal(['sexual-health']);
    expect(cat(SCT, '706893006')).to.deep.equal(['safeguarding']);
    expect(cat(SCT, '195967001'), 'asthma').to.deep.equal([]);
  });

  it('refuse to load a file with a mistyped code, no named source, or an unknown label', () => {
    const good = JSON.parse(readFileSync(path.join(VALUE_SET_DIR, 'mental-health-conditions.json'), 'utf8'));
    const cases: [string, (vs: typeof good) => void, RegExp][] = [
      ['a SNOMED id with a wrong check digit', (vs) => (vs.compose.include[0].concept[0].code = '21897008'), /not a well-formed http:\/\/snomed.info\/sct code/],
      ['an include without its source', (vs) => delete vs.compose.include[0].extension, /drawn from/],
      ['an unknown label', (vs) => (vs.useContext[0].valueCodeableConcept.coding[0].code = 'XYZ'), /useContext focus/],
      ['a repeated code', (vs) => vs.compose.include[0].concept.push(vs.compose.include[0].concept[0]), /listed twice/],
    ];
    for (const [what, breakIt, message] of cases) {
      const dir = mkdtempSync(path.join(tmpdir(), 'vs-'));
      try {
        const vs = structuredClone(good);
        breakIt(vs);
        writeFileSync(path.join(dir, 'broken.json'), JSON.stringify(vs));
        expect(() => loadSensitiveValueSets(LABELS, dir), what).to.throw(/broken\.json/);
        expect(() => loadSensitiveValueSets(LABELS, dir), what).to.throw(message);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    expect(isSnomedId('21897009')).to.equal(true);
    expect(isLoincCode('44261-6')).to.equal(true);
    expect(isLoincCode('44261-5')).to.equal(false);
  });

  it('cover every reviewed mental-health, sexual-health and safeguarding code in the shared Synthea data, and nothing else', function () {
    requireShared(this, 'the Synthea coverage check');
    const dir = path.join(SHARED_DIR, 'data', 'synthea');
    const inData = new Map<string, Coding>();
    const resources: Record<string, number> = {};
    let scanned = 0;
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json'))) {
      for (const e of (JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as Bundle).entry ?? []) {
        const r = e.resource!;
        scanned++;
        for (const c of mainCodings(r)) inData.set(`${c.system}|${c.code}`, c);
        for (const cat of categoriesOf(r)) resources[cat] = (resources[cat] ?? 0) + 1;
      }
    }
    const recognised: Record<Category, string[]> = { 'mental-health': [], 'sexual-health': [], safeguarding: [] };
    for (const [key, c] of inData) for (const cat of categoriesOf(single(c))) recognised[cat].push(key);
    for (const cat of Object.keys(EXPECTED) as Category[]) {
      const expected = EXPECTED[cat];
      for (const key of expected) expect(inData.has(key), `${key} is in the data (the reviewed list is current)`).to.equal(true);
      expect(expected.filter((k) => !recognised[cat].includes(k)), `${cat}: expected but not recognised`).to.deep.equal([]);
      expect(recognised[cat].filter((k) => !expected.includes(k)), `${cat}: recognised but not on the reviewed list`).to.deep.equal([]);
    }
    for (const key of NOT_SENSITIVE) {
      expect(inData.has(key), `${key} is in the data`).to.equal(true);
      expect([...categoriesOf(single(inData.get(key)!))], `${key} is deliberately not sensitive`).to.deep.equal([]);
    }
    // Coverage figures, for the report: distinct codes recognised / expected, and resources per category.
    const figures = (Object.keys(EXPECTED) as Category[]).map((cat) => `${cat} ${recognised[cat].length}/${EXPECTED[cat].length} codes, ${resources[cat] ?? 0} resources`);
    console.log(`      Synthea coverage (${scanned} resources, ${inData.size} distinct main codes): ${figures.join('; ')}`);
    expect(resources['mental-health']).to.be.greaterThan(0);
    expect(resources['sexual-health']).to.be.greaterThan(0);
    expect(resources.safeguarding).to.be.greaterThan(0);
  });
});
