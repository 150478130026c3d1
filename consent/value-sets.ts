import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { ValueSet } from 'fhir/r4.js';
import { packageFile } from '../store/package-files.js';

/**
 * The sensitive-category value sets (consent/value-sets/*.json): FHIR R4 ValueSets, one per topic, each
 * naming the v3-ActCode label it feeds (useContext `focus`) and, on every `compose.include`, the published
 * list it was drawn from (extension DRAWN_FROM). Loaded and validated once at start-up (module load): a
 * malformed file stops the service rather than silently shrinking what a patient can withhold.
 *
 * Checks: resourceType, id, url, status `active`; a known label; every include names its source and a
 * supported system; every code is well formed — SNOMED CT ids pass their Verhoeff check digit, LOINC codes
 * their mod-10 check digit, RxNorm CUIs are digits — and no code is listed twice in a file.
 */

// From the package root, not beside this module: compiled, it runs from dist/ (store/package-files.ts).
export const VALUE_SET_DIR = packageFile('consent', 'value-sets');
export const DRAWN_FROM = 'https://integrated-record.example.nhs.uk/StructureDefinition/drawn-from';
const SNOMED = 'http://snomed.info/sct';
const LOINC = 'http://loinc.org';
const RXNORM = 'http://www.nlm.nih.gov/research/umls/rxnorm';
const ACT_CODE = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';

export interface SensitiveConcept {
  system: string;
  code: string;
  display: string;
  /** The published list this concept was drawn from. */
  source: string;
}

export interface SensitiveValueSet {
  id: string;
  url: string;
  /** v3-ActCode label (PSY, SEX, SDV) a Consent provision uses for this topic. */
  label: string;
  concepts: SensitiveConcept[];
}

// Verhoeff tables (SNOMED CT identifiers end in a Verhoeff check digit).
const D = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 2, 3, 4, 0, 6, 7, 8, 9, 5], [2, 3, 4, 0, 1, 7, 8, 9, 5, 6], [3, 4, 0, 1, 2, 8, 9, 5, 6, 7], [4, 0, 1, 2, 3, 9, 5, 6, 7, 8],
  [5, 9, 8, 7, 6, 0, 4, 3, 2, 1], [6, 5, 9, 8, 7, 1, 0, 4, 3, 2], [7, 6, 5, 9, 8, 2, 1, 0, 4, 3], [8, 7, 6, 5, 9, 3, 2, 1, 0, 4], [9, 8, 7, 6, 5, 4, 3, 2, 1, 0],
];
const P = [
  [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], [1, 5, 7, 6, 2, 8, 3, 0, 9, 4], [5, 8, 0, 3, 7, 9, 6, 1, 4, 2], [8, 9, 1, 6, 0, 4, 3, 5, 2, 7],
  [9, 4, 5, 3, 1, 2, 6, 8, 7, 0], [4, 2, 8, 6, 5, 7, 3, 9, 0, 1], [2, 7, 9, 3, 8, 0, 6, 4, 1, 5], [7, 0, 4, 6, 9, 1, 3, 2, 5, 8],
];

/** A SNOMED CT concept id: 6–18 digits, no leading zero, valid Verhoeff check digit. */
export function isSnomedId(code: string): boolean {
  if (!/^[1-9][0-9]{5,17}$/.test(code)) return false;
  let c = 0;
  const digits = [...code].reverse();
  for (let i = 0; i < digits.length; i++) c = D[c]![P[i % 8]![Number(digits[i])]!]!;
  return c === 0;
}

/** A LOINC code: digits, '-', mod-10 check digit. */
export function isLoincCode(code: string): boolean {
  const m = /^([0-9]{1,7})-([0-9])$/.exec(code);
  if (!m) return false;
  let total = 0;
  [...m[1]!].reverse().forEach((ch, i) => {
    const x = Number(ch);
    if (i % 2 === 0) {
      const y = x * 2;
      total += Math.floor(y / 10) + (y % 10);
    } else total += x;
  });
  return (10 - (total % 10)) % 10 === Number(m[2]);
}

const CODE_CHECK: Record<string, (code: string) => boolean> = {
  [SNOMED]: isSnomedId,
  [LOINC]: isLoincCode,
  [RXNORM]: (c) => /^[1-9][0-9]{0,9}$/.test(c),
};

/** Validates one parsed file; throws an Error naming the file and the fault. */
export function parseSensitiveValueSet(file: string, json: unknown, knownLabels: ReadonlySet<string>): SensitiveValueSet {
  const fail = (why: string): never => {
    throw new Error(`Sensitive value set ${file}: ${why}`);
  };
  const vs = json as ValueSet;
  if (!vs || typeof vs !== 'object' || vs.resourceType !== 'ValueSet') fail('not a FHIR ValueSet');
  if (!vs.id || !vs.url) fail('needs id and url');
  if (vs.status !== 'active') fail("status must be 'active'");
  const labels = (vs.useContext ?? [])
    .filter((u) => u.code?.code === 'focus')
    .flatMap((u) => u.valueCodeableConcept?.coding ?? [])
    .filter((c) => c.system === ACT_CODE && c.code);
  if (labels.length !== 1 || !knownLabels.has(labels[0]!.code!)) fail(`useContext focus must name exactly one of ${[...knownLabels].join(', ')} (v3-ActCode)`);
  const includes = vs.compose?.include ?? [];
  if (includes.length === 0) fail('compose.include is empty');
  const concepts: SensitiveConcept[] = [];
  const seen = new Set<string>();
  includes.forEach((inc, i) => {
    const source = inc.extension?.find((e) => e.url === DRAWN_FROM)?.valueString?.trim();
    if (!source) fail(`compose.include[${i}] does not name the list it was drawn from (extension ${DRAWN_FROM})`);
    const check = inc.system ? CODE_CHECK[inc.system] : undefined;
    if (!check) fail(`compose.include[${i}].system must be one of ${Object.keys(CODE_CHECK).join(', ')}`);
    if (!inc.concept?.length) fail(`compose.include[${i}] lists no concept`);
    for (const c of inc.concept ?? []) {
      if (!c.code || !check!(c.code)) fail(`compose.include[${i}]: '${String(c.code)}' is not a well-formed ${inc.system} code`);
      if (!c.display) fail(`compose.include[${i}]: code ${c.code} has no display`);
      const key = `${inc.system}|${c.code}`;
      if (seen.has(key)) fail(`code ${key} is listed twice`);
      seen.add(key);
      concepts.push({ system: inc.system!, code: c.code, display: c.display!, source: source! });
    }
  });
  return { id: vs.id!, url: vs.url!, label: labels[0]!.code!, concepts };
}

/** Loads and validates every value set in `dir` (default: consent/value-sets). Throws on the first fault. */
export function loadSensitiveValueSets(knownLabels: ReadonlySet<string>, dir = VALUE_SET_DIR): SensitiveValueSet[] {
  const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();
  if (files.length === 0) throw new Error(`No sensitive value sets found in ${dir}`);
  return files.map((f) => {
    let json: unknown;
    try {
      json = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
    } catch (e) {
      throw new Error(`Sensitive value set ${f}: not valid JSON (${(e as Error).message})`);
    }
    return parseSensitiveValueSet(f, json, knownLabels);
  });
}
