import type { CodeableConcept, Coding, Resource } from 'fhir/r4.js';
import { ACT_CODE_SYSTEM } from './types.js';
import { loadSensitiveValueSets, type SensitiveValueSet } from './value-sets.js';

/**
 * Sensitive categories a patient may withhold (Consent.provision.securityLabel, see types.ts).
 *
 * A resource is in a category when either
 *  (a) it carries a security label in `meta.security` (system v3-ActCode) listed in SECURITY_LABELS, or
 *  (b) one of its main codes is in SENSITIVE_CODES: Condition/Observation/Procedure/DiagnosticReport/
 *      Flag/AllergyIntolerance `code`, MedicationRequest `medicationCodeableConcept`, `reasonCode`,
 *      Encounter `type`, CarePlan `category` and `activity.detail.code`, Goal `description`, and
 *      Claim/ExplanationOfBenefit `item.productOrService` and `diagnosis.diagnosisCodeableConcept`
 *      (a claim line for a sensitive procedure reveals the procedure).
 * References are not followed (a MedicationRequest whose only link to a depression diagnosis is
 * `reasonReference` is not recognised): label the resource in the source system when that matters.
 * Codes are exact matches (no SNOMED subsumption), from the value sets in consent/value-sets/ (each
 * naming its published source; docs/consent-hardening.md lists them and what is left out on purpose).
 * See https://hl7.org/fhir/R4/security-labels.html.
 */
export type Category = 'mental-health' | 'sexual-health' | 'safeguarding';
export const CATEGORIES: readonly Category[] = ['mental-health', 'sexual-health', 'safeguarding'];

/** The v3-ActCode security label that names each category in a Consent provision. */
export const CATEGORY_LABELS: Readonly<Record<Category, string>> = {
  'mental-health': 'PSY',
  'sexual-health': 'SEX',
  safeguarding: 'SDV',
};

/** meta.security labels (v3-ActCode) recognised on a resource, per category. */
export const SECURITY_LABELS: Readonly<Record<Category, readonly string[]>> = {
  // PSY psychiatry disorder information, PSYTHPN psychotherapy note, BH behavioural health
  'mental-health': ['PSY', 'PSYTHPN', 'BH'],
  // SEX sexuality and reproductive health, STD sexually transmitted disease, HIV
  'sexual-health': ['SEX', 'STD', 'HIV'],
  // SDV sexual assault, abuse or domestic violence (v3-ActCode has no child-protection label)
  safeguarding: ['SDV'],
};

export const SNOMED_SYSTEM = 'http://snomed.info/sct';
export const LOINC_SYSTEM = 'http://loinc.org';
export const RXNORM_SYSTEM = 'http://www.nlm.nih.gov/research/umls/rxnorm';

export interface SensitiveCode {
  system: string;
  code: string;
  display: string;
}

/**
 * Main codes that put a resource in a category, loaded (and validated) at start-up from the value sets
 * in consent/value-sets/*.json (see value-sets.ts; each names the published list it was drawn from).
 */
export const SENSITIVE_VALUE_SETS: readonly SensitiveValueSet[] = loadSensitiveValueSets(new Set(Object.values(CATEGORY_LABELS)));
const LABEL_CATEGORY = new Map(CATEGORIES.map((c) => [CATEGORY_LABELS[c], c] as const));

/** The codes of each category, from SENSITIVE_VALUE_SETS. */
export const SENSITIVE_CODES: Readonly<Record<Category, readonly SensitiveCode[]>> = (() => {
  const out: Record<Category, SensitiveCode[]> = { 'mental-health': [], 'sexual-health': [], safeguarding: [] };
  for (const vs of SENSITIVE_VALUE_SETS) {
    for (const c of vs.concepts) out[LABEL_CATEGORY.get(vs.label)!].push({ system: c.system, code: c.code, display: c.display });
  }
  return out;
})();

/** Bit per category, for the hot path (policy.ts compares masks, not sets). */
export const CATEGORY_BIT: Readonly<Record<Category, number>> = { 'mental-health': 1, 'sexual-health': 2, safeguarding: 4 };

// system → code → mask; label code → mask. Built once at module load.
const CODE_INDEX = new Map<string, Map<string, number>>();
for (const cat of CATEGORIES) {
  for (const c of SENSITIVE_CODES[cat]) {
    let bySystem = CODE_INDEX.get(c.system);
    if (!bySystem) CODE_INDEX.set(c.system, (bySystem = new Map()));
    bySystem.set(c.code, (bySystem.get(c.code) ?? 0) | CATEGORY_BIT[cat]);
  }
}
const LABEL_INDEX = new Map<string, number>();
for (const cat of CATEGORIES) for (const l of SECURITY_LABELS[cat]) LABEL_INDEX.set(l, (LABEL_INDEX.get(l) ?? 0) | CATEGORY_BIT[cat]);

/** Mask of the category named by a Consent provision security label (PSY/SEX/SDV), 0 if not one of ours. */
export function labelCategoryBit(system: string | undefined, code: string | undefined): number {
  if (system !== ACT_CODE_SYSTEM || !code) return 0;
  for (const cat of CATEGORIES) if (CATEGORY_LABELS[cat] === code) return CATEGORY_BIT[cat];
  return 0;
}

function codingMask(codings: Coding[] | undefined): number {
  if (!codings) return 0;
  let m = 0;
  for (const c of codings) {
    if (c.system && c.code) m |= CODE_INDEX.get(c.system)?.get(c.code) ?? 0;
  }
  return m;
}
const ccMask = (cc: CodeableConcept | undefined) => (cc ? codingMask(cc.coding) : 0);
function ccsMask(ccs: CodeableConcept[] | undefined): number {
  if (!ccs) return 0;
  let m = 0;
  for (const cc of ccs) m |= codingMask(cc.coding);
  return m;
}

type Loose = Record<string, unknown> & {
  code?: CodeableConcept;
  medicationCodeableConcept?: CodeableConcept;
  reasonCode?: CodeableConcept[];
  type?: CodeableConcept[] | CodeableConcept;
  category?: CodeableConcept[] | CodeableConcept;
  description?: CodeableConcept | string;
  activity?: { detail?: { code?: CodeableConcept } }[];
  item?: { productOrService?: CodeableConcept }[];
  diagnosis?: { diagnosisCodeableConcept?: CodeableConcept }[];
};

/** The categories of one resource as a bit mask (see CATEGORY_BIT). Allocation-free. */
export function categoryMask(resource: Resource): number {
  let m = 0;
  const sec = resource.meta?.security;
  if (sec) for (const s of sec) if (s.system === ACT_CODE_SYSTEM && s.code) m |= LABEL_INDEX.get(s.code) ?? 0;
  const r = resource as unknown as Loose;
  m |= ccMask(r.code) | ccMask(r.medicationCodeableConcept) | ccsMask(r.reasonCode);
  switch (resource.resourceType) {
    case 'Encounter':
      m |= ccsMask(r.type as CodeableConcept[] | undefined);
      break;
    case 'CarePlan':
      m |= ccsMask(r.category as CodeableConcept[] | undefined);
      if (r.activity) for (const a of r.activity) m |= ccMask(a.detail?.code);
      break;
    case 'Goal':
      m |= ccMask(r.description as CodeableConcept | undefined);
      break;
    case 'Claim':
    case 'ExplanationOfBenefit':
      if (r.item) for (const i of r.item) m |= ccMask(i.productOrService);
      if (r.diagnosis) for (const d of r.diagnosis) m |= ccMask(d.diagnosisCodeableConcept);
      break;
    default:
  }
  return m;
}

/** Whether a resource is of one sensitive category (allocation-free; for per-resource checks on hot paths). */
export function hasCategory(resource: Resource, category: Category): boolean {
  return (categoryMask(resource) & CATEGORY_BIT[category]) !== 0;
}

/** The sensitive categories a resource falls into (empty set = none). */
export function categoriesOf(resource: Resource): Set<Category> {
  const m = categoryMask(resource);
  const out = new Set<Category>();
  for (const cat of CATEGORIES) if (m & CATEGORY_BIT[cat]) out.add(cat);
  return out;
}
