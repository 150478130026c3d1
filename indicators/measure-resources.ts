import type { Extension, Measure, MeasureGroupPopulation, MeasureReport, MeasureReportGroupPopulation } from 'fhir/r4.js';
import type { IndicatorMeta, OrganisationLevel, PublishedCount, PublishedIndicator, PublishedOrganisation, SnapshotMeta } from './types.js';
import { LA_SYSTEM, ODS_SYSTEM } from '../fhir/nhs-number.js';

/**
 * Transparency indicators as FHIR R4 Measure and MeasureReport (pure functions; no I/O).
 * https://hl7.org/fhir/R4/measure.html, https://hl7.org/fhir/R4/measurereport.html
 *
 *  - Measure: one per indicator (id = indicator id). scoring proportion (proportion), ratio (rate per N),
 *    continuous-variable (mean, e.g. length of stay); improvementNotation increase/decrease from the
 *    indicator's direction (omitted when no judgement is made); one group whose populations carry the
 *    plain-English numerator/denominator definitions. The criteria are declarative definitions held by
 *    this service (indicators/catalogue.ts), so each population's `criteria` names the population
 *    (`language text/cql`, expression "Numerator"/"Denominator") and describes it in words; no CQL
 *    library is published.
 *  - MeasureReport: type summary, one per indicator × organisation × snapshot; the organisation is the
 *    `reporter` (by identifier: ODS code, or ONS code for a local authority; R4 does not allow an
 *    Organization as `subject`). Population counts are present only when publishable; a suppressed
 *    count or score carries the data-absent-reason extension (`masked`) and the reason. Confidence
 *    interval, funnel limits and classification are extensions on the group. No rank anywhere.
 *    status `complete` only for a complete snapshot; a snapshot with a missing source is `error` and
 *    tagged `incomplete` with the missing sources.
 */

const EXT = 'https://integrated-record.example.nhs.uk/StructureDefinition';
export const INDICATOR_ID_SYSTEM = 'https://integrated-record.example.nhs.uk/Id/indicator';
export const SNAPSHOT_ID_SYSTEM = 'https://integrated-record.example.nhs.uk/Id/indicator-snapshot';
const AREA_SYSTEM = 'https://integrated-record.example.nhs.uk/CodeSystem/indicator-area';
const STATUS_TAG_SYSTEM = 'https://integrated-record.example.nhs.uk/CodeSystem/snapshot-status';
const DATA_ABSENT_REASON = 'http://hl7.org/fhir/StructureDefinition/data-absent-reason';
const MEASURE_SCORING = 'http://terminology.hl7.org/CodeSystem/measure-scoring';
const MEASURE_POPULATION = 'http://terminology.hl7.org/CodeSystem/measure-population';
const IMPROVEMENT = 'http://terminology.hl7.org/CodeSystem/measure-improvement-notation';
const PUBLISHER = 'Integrated patient record service (transparency indicators)';

export const AREA_DISPLAY: Record<IndicatorMeta['area'], string> = {
  'patient-safety': 'Patient safety',
  efficiency: 'Efficiency',
  quality: 'Quality',
  'public-health': 'Public health',
  'social-care-commissioning': 'Social care commissioning',
  'hospital-food-standards': 'Hospital food standards',
};

const LEVEL_DISPLAY: Record<OrganisationLevel, string> = {
  'gp-practice': 'GP practice',
  'hospital-trust': 'hospital trust',
  'local-authority': 'local authority',
};

/** The identifier system of an organisation code at a level (ODS for practices and trusts, ONS for councils). */
export const organisationSystem = (level: OrganisationLevel): string => (level === 'local-authority' ? LA_SYSTEM : ODS_SYSTEM);

/** `emergency-readmission-30d` → `EmergencyReadmission30d` (Measure.name must be computer-friendly). */
function computableName(id: string): string {
  const name = id
    .split(/[^A-Za-z0-9]+/)
    .filter(Boolean)
    .map((p) => p[0]!.toUpperCase() + p.slice(1))
    .join('');
  return /^[A-Z]/.test(name) ? name : `Indicator${name}`;
}

function scoring(def: IndicatorMeta): string {
  return def.measure.type === 'proportion' ? 'proportion' : def.measure.type === 'rate' ? 'ratio' : 'continuous-variable';
}

function improvement(def: IndicatorMeta) {
  if (def.direction === 'no-judgement') return undefined;
  const code = def.direction === 'higher-is-better' ? 'increase' : 'decrease';
  return { coding: [{ system: IMPROVEMENT, code, display: code === 'increase' ? 'Increased score indicates improvement' : 'Decreased score indicates improvement' }] };
}

/** The two populations of the single group: numerator/denominator, or for a mean the observation over the measure population. */
function populationCodes(def: IndicatorMeta): { numerator: string; denominator: string } {
  return def.measure.type === 'mean' ? { numerator: 'measure-observation', denominator: 'measure-population' } : { numerator: 'numerator', denominator: 'denominator' };
}

const unitOf = (def: IndicatorMeta): string =>
  def.measure.type === 'proportion' ? 'proportion' : def.measure.type === 'rate' ? `per ${def.measure.per}` : def.measure.unit;

/** The FHIR R4 Measure for one indicator definition. */
export function measureFor(def: IndicatorMeta, fhirBase: string): Measure {
  const codes = populationCodes(def);
  const pop = (code: string, name: string, description: string): MeasureGroupPopulation => ({
    code: { coding: [{ system: MEASURE_POPULATION, code }] },
    description,
    criteria: { language: 'text/cql', expression: name, description },
  });
  const notation = improvement(def);
  return {
    resourceType: 'Measure',
    id: def.id,
    url: `${fhirBase}/Measure/${def.id}`,
    identifier: [{ system: INDICATOR_ID_SYSTEM, value: def.id }],
    name: computableName(def.id),
    title: def.title,
    status: 'active',
    experimental: false,
    publisher: PUBLISHER,
    description: def.methodology,
    usage:
      `Reported per ${LEVEL_DISPLAY[def.level]} over the ${def.windowMonths} months ending at the period end, from ${def.sources.join(' and ')} data. ` +
      'Organisations are compared with funnel-plot control limits (95 % alert, 99.8 % alarm), never ranked. ' +
      'Counts from 1 to the disclosure threshold are suppressed and other counts rounded before publication.' +
      (def.standardise ? ' A directly age-sex standardised value is published as well.' : ''),
    disclaimer: def.limitations.map((l) => `- ${l}`).join('\n'),
    topic: [{ coding: [{ system: AREA_SYSTEM, code: def.area, display: AREA_DISPLAY[def.area] }], text: AREA_DISPLAY[def.area] }],
    scoring: { coding: [{ system: MEASURE_SCORING, code: scoring(def) }] },
    ...(def.measure.type === 'rate' ? { rateAggregation: `Events per ${def.measure.per} of the denominator` } : {}),
    ...(notation ? { improvementNotation: notation } : {}),
    group: [
      {
        description: `${def.title} (${unitOf(def)})`,
        population: [pop(codes.numerator, 'Numerator', def.numeratorText), pop(codes.denominator, 'Denominator', def.denominatorText)],
      },
    ],
  };
}

// ---- MeasureReport ----

/**
 * MeasureReport ids: `s<first 12 hex digits of the snapshot id>.<organisation code>.<indicator id>`, so a
 * report can be found again from its id alone (FHIR ids allow A-Z a-z 0-9 - . up to 64 characters).
 */
export function measureReportId(snapshotId: string, indicatorId: string, code: string): string {
  return `s${snapshotId.replace(/-/g, '').slice(0, 12)}.${code}.${indicatorId}`;
}

export function parseMeasureReportId(id: string): { snapshotPrefix: string; code: string; indicatorId: string } | null {
  const m = /^s([0-9a-f]{12})\.([A-Za-z0-9]{1,20})\.([A-Za-z0-9-]{1,40})$/.exec(id);
  return m ? { snapshotPrefix: m[1]!, code: m[2]!, indicatorId: m[3]! } : null;
}

const masked = (reason: string): Extension[] => [
  { url: DATA_ABSENT_REASON, valueCode: 'masked' },
  { url: `${EXT}/suppression-reason`, valueCode: reason },
];

function population(code: string, c: PublishedCount): MeasureReportGroupPopulation {
  const coding = { coding: [{ system: MEASURE_POPULATION, code }] };
  return c.suppressed ? { extension: masked(c.reason), code: coding } : { code: coding, count: c.value };
}

const interval = (url: string, lower: number, upper: number): Extension => ({
  url,
  extension: [
    { url: 'lower', valueDecimal: lower },
    { url: 'upper', valueDecimal: upper },
  ],
});

/** A summary MeasureReport for one organisation of one indicator in one snapshot. */
export function measureReportFor(
  def: IndicatorMeta,
  meta: Pick<SnapshotMeta, 'id' | 'computedAt' | 'complete' | 'unavailableSources'>,
  figures: PublishedIndicator,
  org: PublishedOrganisation,
  fhirBase: string,
): MeasureReport {
  const codes = populationCodes(def);
  const groupExt: Extension[] = [];
  if (org.ci95) groupExt.push(interval(`${EXT}/confidence-interval-95`, org.ci95.lower, org.ci95.upper));
  if (org.limits) {
    groupExt.push(interval(`${EXT}/funnel-limits-95`, org.limits.lower95, org.limits.upper95));
    groupExt.push(interval(`${EXT}/funnel-limits-99-8`, org.limits.lower998, org.limits.upper998));
  }
  if (figures.target !== null) groupExt.push({ url: `${EXT}/comparison-target`, valueDecimal: figures.target });
  if (org.classification) groupExt.push({ url: `${EXT}/funnel-classification`, valueCode: org.classification });
  if (org.standardised?.value != null) {
    groupExt.push({ url: `${EXT}/age-sex-standardised-value`, valueDecimal: org.standardised.value });
    if (org.standardised.ci95) groupExt.push(interval(`${EXT}/age-sex-standardised-confidence-interval-95`, org.standardised.ci95.lower, org.standardised.ci95.upper));
  }
  const complete = meta.complete && figures.complete;
  const missing = [...new Set([...meta.unavailableSources, ...figures.missingSources])];
  const notation = improvement(def);
  return {
    resourceType: 'MeasureReport',
    id: measureReportId(meta.id, def.id, org.code),
    meta: {
      tag: [
        complete
          ? { system: STATUS_TAG_SYSTEM, code: 'complete', display: 'Computed with every source available' }
          : { system: STATUS_TAG_SYSTEM, code: 'incomplete', display: `Incomplete: source(s) unavailable: ${missing.join(', ')}` },
      ],
    },
    identifier: [{ system: SNAPSHOT_ID_SYSTEM, value: meta.id }],
    status: complete ? 'complete' : 'error',
    type: 'summary',
    measure: `${fhirBase}/Measure/${def.id}`,
    date: meta.computedAt,
    reporter: { type: 'Organization', identifier: { system: organisationSystem(def.level), value: org.code } },
    period: { start: figures.period.start, end: figures.period.end },
    ...(notation ? { improvementNotation: notation } : {}),
    group: [
      {
        ...(groupExt.length ? { extension: groupExt } : {}),
        population: [population(codes.numerator, org.numerator), population(codes.denominator, org.denominator)],
        measureScore:
          org.value === null
            ? { extension: masked(org.withheld ?? 'not-publishable') }
            : { value: org.value, unit: unitOf(def) },
      },
    ],
  };
}
