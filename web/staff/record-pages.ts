/**
 * The clinician's integrated record in GP Connect's sections, one section a page: Summary (alerts and
 * emergency codes first), Problems, Allergies, Medications, Encounters, Results (category and date-range
 * filter, trends with their values in tables), Immunisations, Care plans, Social care, Documents. Each
 * section is the API's own type search (or $summary) with the signed-in Principal; each has banners for
 * a source that did not answer, data withheld by consent and the date range applied; long sections page.
 */
import { Router, type Request, type Response } from 'express';
import type { Resource } from 'fhir/r4.js';
import { badRequest, OperationOutcomeError } from '../../fhir/outcomes.js';
import type { PageKit } from '../page-kit.js';
import { breakGlassRoutes } from './break-glass.js';
import { refused } from './crew-pages.js';
import { handleFind } from './find-patient.js';
import { operationsFor, parseTypeSearch, SEARCH_TYPE_NAMES, SOURCE_LABELS, type Operations, type PatientRef, type StaffDeps } from './operations.js';
import { summaryView } from './summary-view.js';
import { trendsOf } from './trend.js';
import { bannersOf, bannersOfBundle, byDateDesc, matchesOf, rowOf, sourcesOf, type Banners } from './view-model.js';

const BASE = '/record';
export const PAGE_SIZE = 20;

interface SectionDef {
  key: string;
  title: string;
  /** Type searches whose matches make the section. */
  types?: string[];
  /** Or: these types of the record, from one source only. */
  recordTypes?: { types: string[]; source: string };
}

export const RECORD_SECTIONS: SectionDef[] = [
  { key: 'summary', title: 'Summary' },
  { key: 'problems', title: 'Problems', types: ['Condition'] },
  { key: 'allergies', title: 'Allergies', types: ['AllergyIntolerance'] },
  { key: 'medications', title: 'Medications', types: ['MedicationRequest', 'MedicationStatement'] },
  { key: 'encounters', title: 'Encounters', types: ['Encounter'] },
  { key: 'results', title: 'Results and observations', types: ['Observation'] },
  { key: 'immunisations', title: 'Immunisations', types: ['Immunization'] },
  { key: 'care-plans', title: 'Care plans', types: ['CarePlan'] },
  { key: 'social-care', title: 'Social care', recordTypes: { types: ['CarePlan', 'Procedure', 'RelatedPerson', 'CareTeam'], source: 'social-care' } },
  { key: 'documents', title: 'Documents', types: ['DocumentReference'] },
];

const CATEGORIES = ['laboratory', 'vital-signs', 'social-history', 'survey', 'imaging', 'procedure', 'exam'];
const isDate = (v: unknown): v is string => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v));

export function recordPages(kit: PageKit, deps: StaffDeps & { grantMinutes: number }): Router {
  const router = Router();
  const clinician = kit.requireRole('clinician');
  const emptyFind = { values: {}, errors: [], errorFor: {} };

  router.get(BASE, clinician, (_req, res) => kit.render(res, 'find', { title: 'Find a patient', action: `${BASE}/find`, ...emptyFind }));
  router.post(`${BASE}/find`, clinician, (req, res) => handleFind(req, res, kit.render, operationsFor(deps, res, 'POST /fhir/Patient/_search'), BASE, 'find'));
  router.get(`${BASE}/patient/:id`, clinician, (req: Request<{ id: string }>, res) => res.redirect(303, `${BASE}/patient/${req.params.id}/summary`));

  router.get(`${BASE}/patient/:id/:section`, clinician, async (req: Request<{ id: string; section: string }>, res: Response, next) => {
    const section = RECORD_SECTIONS.find((s) => s.key === req.params.section);
    if (!section) return next();
    const ops = operationsFor(deps, res, section.key === 'summary' ? 'GET /fhir/Patient/{id}/$summary' : `GET /fhir/{type} (${section.key})`);
    const ref = await ops.resolve(req.params.id);
    const nav = RECORD_SECTIONS.map((s) => ({ href: `${BASE}/patient/${ref.id}/${s.key}`, text: s.title, current: s.key === section.key }));
    const common = { title: section.title, nav, patientHref: `${BASE}/patient/${ref.id}`, searchHref: `${BASE}/patient/${ref.id}/search`, findHref: BASE };
    try {
      if (section.key === 'summary') {
        const { bundle, warnings } = await ops.summary(ref);
        const grant = await ops.activeGrant(ref);
        return kit.render(res, 'record-summary', { ...common, ...summaryView(bundle), banners: bannersOf(warnings, ops.sourceNames()), grantExpires: grant?.expiresAt.toISOString().slice(11, 16) });
      }
      const q = req.query as Record<string, unknown>;
      const page = Math.max(1, Math.min(10_000, Number.parseInt(String(q.page ?? '1'), 10) || 1));
      const content = await sectionContent(ops, ref, section, q);
      const pages = Math.max(1, Math.ceil(content.rows.length / PAGE_SIZE));
      const shown = content.rows.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
      const pageHref = (n: number) => `${BASE}/patient/${ref.id}/${section.key}?${new URLSearchParams({ ...content.filterParams, page: String(n) })}`;
      kit.render(res, 'record-section', {
        ...common,
        section: section.key,
        rows: shown.map(rowOf),
        showValue: section.key === 'results',
        banners: content.banners,
        dateRange: content.dateRange,
        filter: content.filter,
        categories: CATEGORIES,
        trends: content.trends,
        paging: { page, pages, previous: page > 1 ? pageHref(page - 1) : undefined, next: page < pages ? pageHref(page + 1) : undefined },
      });
    } catch (e) {
      if (e instanceof OperationOutcomeError && e.status === 403) return refused(kit, res, e, `${BASE}/patient/${ref.id}/emergency-access`, BASE);
      throw e;
    }
  });

  // The clinician's own search (type-level search) behind a form.
  router.get(`${BASE}/patient/:id/search`, clinician, async (req: Request<{ id: string }>, res: Response) => {
    const ops = operationsFor(deps, res, 'GET /record/patient/{id}/search');
    const ref = await ops.resolve(req.params.id);
    kit.render(res, 'record-search', { title: 'Search this record', action: `${BASE}/patient/${ref.id}/search`, types: SEARCH_TYPE_NAMES, values: {}, patientHref: `${BASE}/patient/${ref.id}`, rows: undefined });
  });
  router.post(`${BASE}/patient/:id/search`, clinician, async (req: Request<{ id: string }>, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const type = typeof body.type === 'string' ? body.type : '';
    const ops = operationsFor(deps, res, `POST /fhir/${SEARCH_TYPE_NAMES.includes(type) ? type : '{type}'}/_search`);
    const ref = await ops.resolve(req.params.id);
    const values = { type, from: typeof body.from === 'string' ? body.from : '', to: typeof body.to === 'string' ? body.to : '' };
    const errors: { href: string; text: string; field: string }[] = [];
    if (!SEARCH_TYPE_NAMES.includes(type)) errors.push({ href: '#type', text: 'Choose what to search for', field: 'type' });
    if (values.from && !isDate(values.from)) errors.push({ href: '#from', text: 'Enter the “from” date as YYYY-MM-DD', field: 'from' });
    if (values.to && !isDate(values.to)) errors.push({ href: '#to', text: 'Enter the “to” date as YYYY-MM-DD', field: 'to' });
    const base = { title: 'Search this record', action: `${BASE}/patient/${ref.id}/search`, types: SEARCH_TYPE_NAMES, values, patientHref: `${BASE}/patient/${ref.id}`, errors, errorFor: Object.fromEntries(errors.map((e) => [e.field, e.text])) };
    if (errors.length) return kit.render(res, 'record-search', { ...base, rows: undefined }, 400);
    const dates = [values.from ? `ge${values.from}` : '', values.to ? `le${values.to}` : ''].filter(Boolean);
    try {
      const bundle = await ops.search(ref, parseTypeSearch(type, { patient: ref.id, _count: '100', _sort: '-date', ...(dates.length ? { date: dates } : {}) }, { strict: false }));
      const matches = matchesOf(bundle);
      kit.render(res, 'record-search', { ...base, rows: matches.map(rowOf), banners: bannersOfBundle(bundle), more: bundle.link?.some((l) => l.relation === 'next') });
    } catch (e) {
      if (e instanceof OperationOutcomeError && e.status === 403) return refused(kit, res, e, `${BASE}/patient/${ref.id}/emergency-access`, BASE);
      throw e;
    }
  });

  router.use(breakGlassRoutes(kit, deps, BASE, ['clinician']));
  return router;
}

interface SectionContent {
  rows: Resource[];
  banners: Banners;
  dateRange?: string;
  filter: { category: string; from: string; to: string };
  filterParams: Record<string, string>;
  trends: ReturnType<typeof trendsOf>;
}

/** A section's resources (newest first), the banners, and for Results the filter and trends. */
async function sectionContent(ops: Operations, ref: PatientRef, section: SectionDef, q: Record<string, unknown>): Promise<SectionContent> {
  const filter = { category: '', from: '', to: '' };
  const filterParams: Record<string, string> = {};
  if (section.key === 'results') {
    if (typeof q.category === 'string' && q.category) {
      if (!CATEGORIES.includes(q.category)) throw badRequest('invalid-category', 'Choose a category from the list.', ['category']);
      filter.category = filterParams.category = q.category;
    }
    for (const k of ['from', 'to'] as const) {
      const v = q[k];
      if (typeof v === 'string' && v) {
        if (!isDate(v)) throw badRequest('invalid-date', `The “${k}” date must be a date like 2024-03-27.`, [k]);
        filter[k] = filterParams[k] = v;
      }
    }
  }
  if (section.recordTypes) {
    const { resources, warnings } = await ops.record(ref, { types: section.recordTypes.types });
    const source = SOURCE_LABELS[section.recordTypes.source]!;
    const rows = resources.filter((r) => section.recordTypes!.types.includes(r.resourceType) && sourcesOf(r).includes(source)).sort(byDateDesc);
    return { rows, banners: bannersOf(warnings, ops.sourceNames()), filter, filterParams, trends: [] };
  }
  const rows: Resource[] = [];
  let banners: Banners = { missing: [], withheld: false };
  for (const type of section.types!) {
    const dates = [filter.from ? `ge${filter.from}` : '', filter.to ? `le${filter.to}` : ''].filter(Boolean);
    const params: Record<string, unknown> = { patient: ref.id, _count: '1000', _sort: '-date', ...(filter.category ? { category: filter.category } : {}), ...(dates.length ? { date: dates } : {}) };
    const bundle = await ops.search(ref, parseTypeSearch(type, params, { strict: false }));
    rows.push(...matchesOf(bundle));
    const b = bannersOfBundle(bundle);
    banners = { missing: [...banners.missing, ...b.missing.filter((m) => !banners.missing.some((x) => x.message === m.message))], withheld: banners.withheld || b.withheld, ...(b.withheldMessage ? { withheldMessage: b.withheldMessage } : banners.withheldMessage ? { withheldMessage: banners.withheldMessage } : {}) };
  }
  rows.sort(byDateDesc);
  const dateRange = filter.from || filter.to ? `${filter.from ? `from ${filter.from}` : ''}${filter.from && filter.to ? ' ' : ''}${filter.to ? `to ${filter.to}` : ''}` : undefined;
  const trends = section.key === 'results' ? trendsOf(rows.filter((r) => (r as { category?: { coding?: { code?: string }[] }[] }).category?.some((c) => c.coding?.some((x) => x.code === 'laboratory')))) : [];
  return { rows, banners, ...(dateRange ? { dateRange } : {}), filter, filterParams, trends };
}
