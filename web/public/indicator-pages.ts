/**
 * The indicators listing (/indicators) and an indicator's page (/indicators/{id}) for browsers. The same URLs
 * answer JSON to API clients (server/indicator-routes.ts): `wantsPage` decides (index.ts `claims`), and both
 * send `Vary: Accept`.
 */
import { Router, type Request, type Response } from 'express';
import { badRequest, notFound } from '../../fhir/outcomes.js';
import { INDICATOR_AREAS, type SnapshotMeta } from '../../indicators/types.js';
import { disclosureText } from '../../indicators/disclosure-rules.js';
import type { PageKit } from '../page-kit.js';
import { indicatorPageModel } from './indicator-view.js';
import type { PublicData } from './operations.js';
import { feedbackLinks } from './feedback-pages.js';
import { sendPage } from './send-page.js';
import { AREA_DISPLAY, LEVEL_TEXT, periodText, polarityHint, sourcesText } from './words.js';

/** GET /indicators or /indicators/{id} from a browser (HTML preferred, no `_format`): the page, not the JSON. */
export function wantsPage(req: Request): boolean {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  if (!/^\/indicators(\/[^/$]+)?\/?$/.test(req.path)) return false;
  if ((req.query as Record<string, unknown>)._format !== undefined) return false;
  return req.accepts(['json', 'html']) === 'html';
}

const PERIOD = /^(\d{4}-\d{2}-\d{2})\/(\d{4}-\d{2}-\d{2})$/;

export function indicatorPages(kit: PageKit, data: PublicData): Router {
  const router = Router();

  router.get('/indicators', async (req: Request, res: Response) => {
    if (!wantsPage(req)) return; // unreachable: claims() routes only pages here
    res.vary('Accept');
    const index = await data.index();
    const latest = new Map<string, SnapshotMeta>();
    for (const e of index) latest.set(e.indicatorId, e.meta); // oldest first: the last one wins
    const periods = new Map<string, { text: string; incomplete: boolean }>();
    for (const e of [...index].reverse()) {
      const k = `${e.meta.period.start}/${e.meta.period.end}`;
      const prev = periods.get(k);
      periods.set(k, { text: periodText(e.meta.period), incomplete: (prev?.incomplete ?? false) || !e.meta.complete });
    }
    const areas = INDICATOR_AREAS.map((area) => ({
      code: area,
      title: AREA_DISPLAY[area],
      indicators: data.deps.defs.filter((d) => d.area === area).map((d) => {
        const m = latest.get(d.id);
        const when = m
          ? `Latest: ${periodText(m.period)}${m.complete ? '' : ` (incomplete: the ${sourcesText(m.unavailableSources)} could not be reached)`}`
          : 'Not computed yet';
        return { id: d.id, title: d.title, line: `Per ${LEVEL_TEXT[d.level].one}. ${polarityHint(d)}. ${when}.` };
      }),
    }));
    kit.render(res, 'public/indicators', {
      title: 'Transparency indicators',
      areas,
      periods: [...periods.values()],
      disclosure: disclosureText(data.deps.refresh.disclosure),
      footerLinks: feedbackLinks('/indicators'),
    });
  });

  router.get('/indicators/:id', async (req: Request<{ id: string }>, res: Response) => {
    res.vary('Accept');
    const def = data.byId.get(req.params.id);
    if (!def) throw notFound('There is no such indicator. The list of indicators is at /indicators.', 'unknown-indicator');
    const q = req.query as Record<string, string | undefined>;
    const index = await data.index();
    const periods = index.filter((e) => e.indicatorId === def.id).map((e) => e.meta);
    const footerLinks = feedbackLinks(`/indicators/${def.id}`);
    if (periods.length === 0) {
      const others = [...new Set(index.map((e) => periodText(e.meta.period)))].join('; ');
      return kit.render(res, 'public/indicator-none', { title: def.title, def, area: AREA_DISPLAY[def.area], polarity: { text: polarityHint(def) }, others, footerLinks });
    }
    let meta = periods.at(-1)!;
    if (q.period !== undefined && q.period !== '') {
      const m = PERIOD.exec(q.period);
      if (!m) throw badRequest('invalid-period', "'period' must be a reporting period YYYY-MM-DD/YYYY-MM-DD.", ['period']);
      const found = periods.find((p) => p.period.start === m[1] && p.period.end === m[2]);
      if (!found) throw notFound(`This indicator has no figures for ${periodText({ start: m[1]!, end: m[2]! })}. Choose a period from the list on the indicator's page.`, 'no-snapshot');
      meta = found;
    }
    const type = q.type || undefined;
    if (type !== undefined && !/^[a-z0-9-]{1,30}$/.test(type)) throw badRequest('invalid-parameter', "'type' is not an organisation type.", ['type']);
    const rowsPage = q.rows === undefined ? 1 : Number(q.rows);
    if (!Number.isInteger(rowsPage) || rowsPage < 1 || rowsPage > 10_000) throw badRequest('invalid-parameter', "'rows' must be a page number.", ['rows']);
    const key = `indicator|${meta.id}|${def.id}|${type ?? ''}|${rowsPage}|${periods.map((p) => p.id).join(',')}`;
    let body = data.bodies.get(key);
    if (body === undefined) {
      const cached = await data.figures(meta.id, def.id);
      if (!cached) throw notFound('These figures are no longer available.', 'no-snapshot');
      const model = indicatorPageModel({ def, meta: cached.meta, figures: cached.figures, periods, type, rowsPage });
      if (type !== undefined && !model.types.some((t) => t.code === type)) throw badRequest('invalid-parameter', "'type' is not an organisation type this indicator reports.", ['type']);
      body = data.bodies.set(key, kit.toHtml('public/indicator-body', model));
    }
    sendPage(kit, req, res, key, { title: def.title, body, footerLinks });
  });

  return router;
}
