/**
 * The analysts' pages (signed in, role analyst): a start page, the feedback received, the snapshots (period,
 * when computed, complete or not, which sources were missing) and a form to refresh a period, which calls the
 * same operation as POST /indicators/$refresh (indicators/refresh.ts requestRefresh: computed, published under
 * disclosure control, stored and audited in one transaction).
 */
import { Router, type Request, type Response } from 'express';
import { isRealDate } from '../../indicators/period.js';
import { requestRefresh } from '../../indicators/refresh.js';
import { principalOf, type PageKit } from '../page-kit.js';
import type { PublicData } from './operations.js';
import { formatCount, fmtDateTime, periodText, sourcesText } from './words.js';

const BASE = '/analyst';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

type DateParts = { day: string; month: string; year: string };
const partsOf = (body: Record<string, unknown>, name: string): DateParts => {
  // the design system's date input names its fields start[day], start[month], start[year]
  const v = (k: string) => (typeof body[`${name}[${k}]`] === 'string' ? (body[`${name}[${k}]`] as string).trim().slice(0, 4) : '');
  return { day: v('day'), month: v('month'), year: v('year') };
};
const isoOf = (p: DateParts) => (/^\d{4}$/.test(p.year) && /^\d{1,2}$/.test(p.month) && /^\d{1,2}$/.test(p.day) ? `${p.year}-${p.month.padStart(2, '0')}-${p.day.padStart(2, '0')}` : '');

export function analystPages(kit: PageKit, data: PublicData): Router {
  const router = Router();
  const analyst = kit.requireRole('analyst');

  router.get(BASE, analyst, (_req, res: Response) => {
    kit.render(res, 'public/analyst-start', { title: 'Indicators: analyst' });
  });

  router.get(`${BASE}/feedback`, analyst, async (_req, res: Response) => {
    const items = (await data.deps.feedback.listAll(200)).map((f) => ({
      when: fmtDateTime(f.createdAt),
      about: f.indicatorId ? data.byId.get(f.indicatorId)?.title ?? f.indicatorId : f.page === '/' || !f.page ? 'The service' : f.page,
      page: f.page ?? (f.indicatorId ? `/indicators/${f.indicatorId}` : null),
      rating: f.rating === null ? 'No rating' : `${f.rating} out of 5`,
      text: f.text,
    }));
    kit.render(res, 'public/analyst-feedback', { title: 'Feedback received', items });
  });

  router.get(`${BASE}/snapshots`, analyst, async (req: Request, res: Response) => {
    const created = typeof req.query.created === 'string' && UUID.test(req.query.created) ? req.query.created : undefined;
    const snapshots = (await data.deps.snapshots.list(200)).map((m) => ({
      id: m.id,
      period: periodText(m.period),
      computedAt: fmtDateTime(m.computedAt),
      complete: m.complete,
      missing: m.unavailableSources.length ? sourcesText(m.unavailableSources) : 'None',
      optOuts: formatCount(m.optOutsApplied),
      indicators: m.indicatorIds.length,
      created: m.id === created,
    }));
    const just = snapshots.find((s) => s.created);
    kit.render(res, 'public/analyst-snapshots', { title: 'Indicator snapshots', snapshots, just });
  });

  const refreshForm = (res: Response, values: { start: DateParts; end: DateParts }, errors: { field: string; text: string }[] = [], status = 200) =>
    kit.render(res, 'public/analyst-refresh', {
      title: errors.length ? 'Error: Refresh a period' : 'Refresh a period',
      values,
      errors: errors.map((e) => ({ text: e.text, href: `#${e.field}-day` })),
      errorFor: Object.fromEntries(errors.map((e) => [e.field, e.text])),
    }, status);

  router.get(`${BASE}/refresh`, analyst, (_req, res: Response) => {
    const blank = { day: '', month: '', year: '' };
    refreshForm(res, { start: blank, end: blank });
  });

  router.post(`${BASE}/refresh`, analyst, async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const values = { start: partsOf(body, 'start'), end: partsOf(body, 'end') };
    const start = isoOf(values.start);
    const end = isoOf(values.end);
    const errors: { field: string; text: string }[] = [];
    if (!isRealDate(start)) errors.push({ field: 'start', text: 'Enter a real start date, for example 1 1 2025' });
    if (!isRealDate(end)) errors.push({ field: 'end', text: 'Enter a real end date, for example 31 12 2025' });
    if (!errors.length && start > end) errors.push({ field: 'end', text: 'The end date must be the same as or after the start date' });
    if (errors.length) return refreshForm(res, values, errors, 400);
    const { meta } = await requestRefresh({ ...data.deps.refresh, defs: data.deps.defs }, {
      principal: principalOf(res),
      requestId: res.locals.requestId as string,
      operation: 'POST /indicators/$refresh (analyst page)',
      start,
      end,
    });
    res.redirect(303, `${BASE}/snapshots?created=${meta.id}`);
  });

  return router;
}
