/**
 * An organisation's page (/organisations/{code}): "the whole story" — every indicator published for it in one
 * view, each against the overall value with significance in words that follow the polarity
 * (indicators/comparison.ts), its trend over the periods (small SVG + table), the population it covers and the
 * caveats. Built from published figures only; cached under the ids of the snapshots it shows.
 */
import { Router, type Request, type Response } from 'express';
import { notFound } from '../../fhir/outcomes.js';
import { comparisonOf, polarityOf } from '../../indicators/comparison.js';
import { measureReportId } from '../../indicators/measure-resources.js';
import { INDICATOR_AREAS, type OrganisationLevel } from '../../indicators/types.js';
import { lineGeometry } from '../charts/line.js';
import type { PageKit } from '../page-kit.js';
import { feedbackLinks } from './feedback-pages.js';
import { pageIsCached, preparePage, sendPage } from './send-page.js';
import { completenessOf } from './indicator-view.js';
import type { CachedFigures, PublicData } from './operations.js';
import { AREA_DISPLAY, formatCount, formatValue, intervalText, LEVEL_TEXT, organisationType, periodText, withheldText } from './words.js';

const CODE = /^[A-Za-z0-9]{1,12}$/;

type Index = Awaited<ReturnType<PublicData['index']>>;
type Figures = Array<{ e: { indicatorId: string }; f: CachedFigures }>;

export function organisationPages(kit: PageKit, data: PublicData): { router: Router; startWarming(index: Index): void } {
  const router = Router();
  const keyOf = (code: string, index: Index) => `org|${code}|${index.map((e) => `${e.indicatorId}:${e.meta.id}`).join(',')}`;
  const figuresOf = async (index: Index): Promise<Figures> =>
    (await Promise.all(index.map(async (e) => ({ e, f: await data.figures(e.meta.id, e.indicatorId) })))).flatMap((x) => (x.f ? [{ e: x.e, f: x.f }] : []));
  const contextOf = (code: string, body: string) => ({ title: `Organisation ${code}`, body, footerLinks: feedbackLinks(`/organisations/${code}`) });
  const bodyOf = (code: string, figures: Figures): string | null => {
    const model = organisationModel(data, code, figures);
    return model ? kit.toHtml('public/organisation-body', model) : null;
  };

  // Publish-time pre-rendering: when the published snapshots change, every organisation's page is rendered in
  // the background, one per turn of the event loop, so a visitor's first look at any of thousands of
  // organisations is a cache hit. A newer set of snapshots stops the older run.
  let warming = '';
  const warm = async (index: Index) => {
    const all = keyOf('', index);
    if (warming === all) return;
    warming = all;
    const figures = await figuresOf(index);
    const codes = [...new Set(figures.flatMap((x) => [...x.f.byCode.keys()]))].sort();
    for (const code of codes) {
      if (warming !== all) return;
      const key = keyOf(code, index);
      if (!pageIsCached(key)) {
        const body = bodyOf(code, figures);
        if (body !== null) preparePage(kit, key, contextOf(code, body));
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const startWarming = (index: Index) => {
    if (warming !== keyOf('', index)) void warm(index).catch(() => (warming = ''));
  };

  router.get('/organisations/:code', async (req: Request<{ code: string }>, res: Response) => {
    const code = req.params.code;
    const unknown = () => notFound('There are no published figures for an organisation with this code. Organisation codes are listed on each indicator\'s page.', 'unknown-organisation');
    if (!CODE.test(code)) throw unknown();
    const index = await data.index(); // also starts pre-rendering when the published snapshots changed
    const key = keyOf(code, index);
    let body = data.bodies.get(key);
    if (body === undefined) {
      const made = bodyOf(code, await figuresOf(index));
      if (made === null) throw unknown();
      body = data.bodies.set(key, made);
    }
    sendPage(kit, req, res, key, contextOf(code, body));
  });

  return { router, startWarming };
}

function organisationModel(data: PublicData, code: string, figures: Figures) {
  let level: OrganisationLevel | undefined;
  const indicators = data.deps.defs.flatMap((def) => {
    const ofDef = figures.filter((x) => x.e.indicatorId === def.id);
    const series = ofDef.filter((x) => x.f.byCode.has(code)).map((x) => ({ f: x.f, o: x.f.byCode.get(code)! }));
    if (!series.length) return [];
    // Periods whose figures lack this organisation because a source it needs could not be reached: said, not skipped.
    const gaps = ofDef
      .filter((x) => !x.f.byCode.has(code) && !completenessOf(x.f.meta, x.f.figures).complete)
      .map((x) => ({ end: x.f.meta.period.end, period: periodText(x.f.meta.period), missing: completenessOf(x.f.meta, x.f.figures).missing }));
    level ??= def.level;
    const latest = series.at(-1)!;
    const cmp = comparisonOf(latest.o.classification, def.direction);
    const points = series.filter((s) => s.o.value !== null);
    const trend = points.length >= 2 ? lineGeometry(points.map((s) => ({ label: `${periodText(s.f.meta.period)}: ${formatValue(s.o.value, def.measure)}`, value: s.o.value! })), { width: 320, height: 90 }) : null;
    const completeness = completenessOf(latest.f.meta, latest.f.figures);
    return [{
      id: def.id,
      area: def.area,
      title: def.title,
      polarity: polarityOf(def.direction).text,
      period: periodText(latest.f.meta.period),
      value: latest.o.value === null ? null : formatValue(latest.o.value, def.measure),
      interval: intervalText(latest.o, def.measure),
      withheld: latest.o.withheld ? withheldText(latest.o.withheld) : null,
      comparison: cmp.text,
      comparisonCode: cmp.code,
      overall: formatValue(latest.f.figures.total.value, def.measure) || 'not published',
      population: `${def.denominatorText}: ${formatCount(latest.o.denominator)}`,
      numerator: `${def.numeratorText}: ${formatCount(latest.o.numerator)}`,
      completeness,
      limitations: def.limitations,
      measureReport: `/fhir/MeasureReport/${measureReportId(latest.f.meta.id, def.id, code)}`,
      trend: trend && {
        ...trend,
        title: `Trend of ${def.title} for ${code}`,
        desc: `${points.length} periods, from ${points[0]!.f.meta.period.start} to ${points.at(-1)!.f.meta.period.end}: lowest ${formatValue(trend.min, def.measure)}, highest ${formatValue(trend.max, def.measure)}. The values are in the table below.`,
      },
      rows: [
        ...series.map((s) => ({
          end: s.f.meta.period.end,
          period: periodText(s.f.meta.period),
          value: s.o.value === null ? (s.o.withheld ? withheldText(s.o.withheld) : '') : formatValue(s.o.value, def.measure),
          interval: intervalText(s.o, def.measure),
          overall: formatValue(s.f.figures.total.value, def.measure),
          comparison: comparisonOf(s.o.classification, def.direction).text,
          complete: completenessOf(s.f.meta, s.f.figures).complete,
        })),
        ...gaps.map((g) => ({ end: g.end, period: g.period, value: `Not available: the ${g.missing} could not be reached`, interval: '', overall: '', comparison: 'Not compared', complete: false })),
      ].sort((a, b) => a.end.localeCompare(b.end)),
      gaps: gaps.length,
    }];
  });
  if (!indicators.length || !level) return null;
  return {
    code,
    level: LEVEL_TEXT[level],
    type: organisationType(level, code).text,
    areas: INDICATOR_AREAS.map((a) => ({ code: a, title: AREA_DISPLAY[a], indicators: indicators.filter((i) => i.area === a) })).filter((a) => a.indicators.length),
    incomplete: indicators.some((i) => !i.completeness.complete || i.gaps > 0),
  };
}
