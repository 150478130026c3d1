import { Router, type Request, type Response } from 'express';
import type { AuditLog } from '../audit/audit-log.js';
import { organisationSystem } from '../indicators/measure-resources.js';
import { badRequest, forbidden, notFound, OperationOutcomeError, outcome, unprocessable } from '../fhir/outcomes.js';
import { integerParam, MAX_OFFSET } from '../fhir/parameters.js';
import { catalogueCsv, figuresCsv, metadataCsv, type MetadataUrl } from '../indicators/csv.js';
import { comparisonOf, polarityOf } from '../indicators/comparison.js';
import { FEEDBACK_MAX_CHARS, feedbackProblems, type FeedbackProblem, type FeedbackStore } from '../indicators/feedback.js';
import type { RateLimiter } from '../store/rate-limits.js';
import type { PublishedSnapshot, SnapshotStore } from '../indicators/snapshots.js';
import type { IndicatorDefinition } from '../indicators/spec.js';
import type { ComputeRun, DisclosurePolicy, ReportingPeriod, SnapshotMeta } from '../indicators/types.js';
import { isRealDate } from '../indicators/period.js';
import { disclosureText } from '../indicators/disclosure-rules.js';
import { requestRefresh } from '../indicators/refresh.js';
import { measureRoutes } from './measure-routes.js';
import type { Principal } from '../identity/principal.js';

/**
 * Publishing the transparency indicators (issue #5): JSON, CSV and FHIR Measure / MeasureReport, all
 * public (no token); the refresh (analyst only, audited) and the feedback listing (analyst only) are not.
 *
 * CSV: add `?_format=csv` (or send `Accept: text/csv`) to /indicators, /indicators/{id} and
 * /indicators/{id}/organisations/{code}. Every figures CSV row names the metadata CSV of its snapshot
 * (`/indicators/{id}/metadata?snapshot=…`: definition, method, limitations, polarity, completeness, opt-outs
 * applied, disclosure rule), which the response also links (`Link: <…>; rel="describedby"; type="text/csv"`).
 * Periods: `period=YYYY-MM-DD/YYYY-MM-DD` (start/end, inclusive) names one reporting period exactly; without
 * it the most recent period is served. Per period the latest COMPLETE snapshot is published; when there is
 * none, the latest incomplete one, marked incomplete with the sources that were unavailable.
 */

export interface IndicatorComputerLike {
  readonly catalogue: readonly IndicatorDefinition[];
  compute(period: ReportingPeriod, indicatorIds?: string[]): Promise<ComputeRun>;
}

export interface IndicatorRouteDeps {
  computer: IndicatorComputerLike;
  snapshots: SnapshotStore;
  feedback: FeedbackStore;
  audit: AuditLog;
  disclosure: DisclosurePolicy;
  /** Secret key of the keyed (cell-key) rounding of published counts (indicators/cell-key.ts). */
  cellKey: Uint8Array;
  /** Feedback submissions allowed per client IP address per minute. */
  feedbackPerMinute: number;
  /** Spends that allowance; shared by every instance over the database (store/rate-limits.ts). */
  feedbackLimiter: RateLimiter;
  baseUrl: string;
}

/** Requests that need no token (server/app.ts): published indicators, Measure/MeasureReport reads and posting feedback. */
export function isPublicIndicatorRequest(method: string, path: string): boolean {
  if (method === 'GET' || method === 'HEAD') {
    return /^\/indicators(\/[^/]+(\/organisations\/[^/]+|\/metadata)?)?\/?$/.test(path) || /^\/fhir\/(Measure|MeasureReport)(\/[^/]+)?\/?$/.test(path);
  }
  return method === 'POST' && /^\/indicators\/[^/$]+\/feedback\/?$/.test(path);
}


/** `YYYY-MM-DD/YYYY-MM-DD` → period (400 naming the parameter when malformed). */
function parsePeriodParam(v: string | undefined, name = 'period'): ReportingPeriod | undefined {
  if (v === undefined) return undefined;
  const [start, end, extra] = v.split('/');
  if (extra !== undefined || !start || !end || !isRealDate(start) || !isRealDate(end) || start > end) {
    throw badRequest('invalid-period', `'${name}' must be a reporting period YYYY-MM-DD/YYYY-MM-DD with start not after end.`, [name]);
  }
  return { start, end };
}

/** Snapshot metadata as shown to the public (who asked for the refresh is not published). */
function publicMeta(m: SnapshotMeta) {
  return {
    id: m.id,
    period: m.period,
    computedAt: m.computedAt,
    complete: m.complete,
    status: m.complete ? 'complete' : 'incomplete',
    ...(m.complete ? {} : { notice: `Incomplete: computed while ${m.unavailableSources.join(', ')} could not be reached; these figures are not the full picture.` }),
    unavailableSources: m.unavailableSources,
    sources: m.sources,
    optOutsApplied: m.optOutsApplied,
    disclosurePolicy: m.disclosurePolicy,
  };
}

function catalogueEntry(def: IndicatorDefinition) {
  return {
    id: def.id,
    title: def.title,
    area: def.area,
    level: def.level,
    measure: def.measure,
    direction: def.direction,
    polarity: polarityOf(def.direction),
    sources: def.sources,
    numeratorText: def.numeratorText,
    denominatorText: def.denominatorText,
    methodology: def.methodology,
    limitations: def.limitations,
    standardise: def.standardise,
    windowMonths: def.windowMonths,
  };
}

const sendCsv = (res: Response, name: string, body: string) => {
  res.status(200).type('text/csv; charset=utf-8').setHeader('Content-Disposition', `attachment; filename="${name}.csv"`);
  res.send(body);
};

function wantsCsv(req: Request): boolean {
  const f = (req.query as Record<string, string | undefined>)._format;
  if (f !== undefined) return f === 'csv';
  return req.accepts(['application/json', 'text/csv']) === 'text/csv';
}

const principalOf = (res: Response) => res.locals.principal as Principal;

const API_FEEDBACK_MESSAGES: Record<FeedbackProblem['kind'], string> = {
  empty: "'text' must not be empty.",
  'too-long': `'text' must be at most ${FEEDBACK_MAX_CHARS} characters.`,
  'personal-data': "'text' seems to hold an NHS number or e-mail address: feedback needs no personal data, please remove it.",
  rating: "'rating' must be a whole number from 1 to 5.",
};

export function indicatorRoutes(deps: IndicatorRouteDeps): Router {
  const router = Router();
  const defs = [...deps.computer.catalogue].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const byId = new Map(defs.map((d) => [d.id, d]));

  const definition = (id: string): IndicatorDefinition => {
    const def = byId.get(id);
    if (!def) throw notFound('There is no such indicator. GET /indicators lists them.', 'unknown-indicator');
    return def;
  };

  // ---- Catalogue ----

  router.get('/indicators', async (req: Request, res: Response) => {
    res.vary('Accept'); // the same URL is a page for browsers (web/public)
    const [latest, periods] = await Promise.all([deps.snapshots.latestPerIndicator(), deps.snapshots.periodsWithData()]);
    if (wantsCsv(req)) return sendCsv(res, 'indicators', catalogueCsv(defs.map((def) => ({ def, latest: latest.get(def.id) }))));
    res.json({
      indicators: defs.map((def) => {
        const m = latest.get(def.id);
        return { ...catalogueEntry(def), latestSnapshot: m ? publicMeta(m) : null };
      }),
      // which periods have figures (most recent first), so that a new user knows what to ask for
      periodsWithData: periods.map((m) => ({ start: m.period.start, end: m.period.end, snapshotId: m.id, complete: m.complete })),
      periodsNotice: periods.length
        ? `Figures are published for ${periods.map((m) => `${m.period.start}/${m.period.end}`).join(', ')}; ask for one with ?period=START/END.`
        : 'No period has been computed yet: an analyst can refresh one (POST /indicators/$refresh).',
      disclosure: {
        ...deps.disclosure,
        description: disclosureText(deps.disclosure),
      },
      comparison:
        'Each organisation is compared with the overall value using funnel-plot control limits at its own denominator ' +
        '(95 % alert, 99.8 % alarm): within expected range, above or below. Organisations are listed by code, never ranked.',
    });
  });

  // ---- One indicator, all organisations, one period ----

  const metadataUrl: MetadataUrl = (meta, figures) => `${deps.baseUrl}/indicators/${figures.indicatorId}/metadata?snapshot=${meta.id}`;
  const describedBy = (res: Response, url: string) => res.setHeader('Link', `<${url}>; rel="describedby"; type="text/csv"`);

  /** The snapshot a request names (`snapshot`, `period`, or the latest published). */
  async function publishedFor(def: IndicatorDefinition, q: Record<string, string | undefined>): Promise<PublishedSnapshot> {
    const period = parsePeriodParam(q.period);
    if (q.snapshot !== undefined) {
      const pub = await deps.snapshots.figures(q.snapshot, def.id);
      if (!pub) throw notFound(`The snapshot asked for does not hold indicator '${def.id}'.`, 'no-snapshot');
      if (period && (pub.meta.period.start !== period.start || pub.meta.period.end !== period.end)) {
        throw badRequest('invalid-period', "'period' does not match the snapshot's period.", ['period']);
      }
      return pub;
    }
    const pub = await deps.snapshots.published(def.id, period);
    if (!pub) {
      const have = (await deps.snapshots.publishedPeriods(def.id)).map((m) => `${m.period.start}/${m.period.end}`);
      throw notFound(
        `Indicator '${def.id}' has not been computed${period ? ` for ${period.start}/${period.end}` : ''} yet.` +
          (have.length ? ` Periods with data: ${have.join(', ')}.` : ' No period has data yet.'),
        'no-snapshot',
      );
    }
    return pub;
  }

  router.get('/indicators/:id', async (req: Request<{ id: string }>, res: Response) => {
    res.vary('Accept');
    const def = definition(req.params.id);
    const pub = await publishedFor(def, req.query as Record<string, string | undefined>);
    describedBy(res, metadataUrl(pub.meta, pub.figures));
    if (wantsCsv(req)) {
      return sendCsv(res, `${def.id}_${pub.meta.period.start}_${pub.meta.period.end}`, figuresCsv([pub], def, metadataUrl));
    }
    const [periods, sameperiod] = await Promise.all([deps.snapshots.publishedPeriods(def.id), deps.snapshots.snapshotsOf(def.id, pub.meta.period)]);
    res.json({
      indicator: catalogueEntry(def),
      snapshot: publicMeta(pub.meta),
      published: pub.figures.complete && pub.meta.complete ? 'complete' : 'incomplete',
      metadata: metadataUrl(pub.meta, pub.figures),
      figures: { ...pub.figures, organisations: pub.figures.organisations.map((o) => ({ ...o, comparison: comparisonOf(o.classification, def.direction) })) },
      availablePeriods: periods.map((m) => ({ ...m.period, snapshotId: m.id, complete: m.complete })),
      snapshotsOfThisPeriod: sameperiod.map((m) => ({ id: m.id, computedAt: m.computedAt, complete: m.complete, published: m.id === pub.meta.id })),
    });
  });

  // ---- The caveats of one indicator in one snapshot (CSV) ----

  router.get('/indicators/:id/metadata', async (req: Request<{ id: string }>, res: Response) => {
    const def = definition(req.params.id);
    const pub = await publishedFor(def, req.query as Record<string, string | undefined>);
    const figuresUrl = `${deps.baseUrl}/indicators/${def.id}?snapshot=${pub.meta.id}&_format=csv`;
    res.setHeader('Link', `<${figuresUrl}>; rel="describes"; type="text/csv"`);
    sendCsv(res, `${def.id}_${pub.meta.period.start}_${pub.meta.period.end}_metadata`,
      metadataCsv(def, pub.meta, pub.figures, disclosureText(pub.meta.disclosurePolicy), [['figures_url', figuresUrl], ['metadata_url', metadataUrl(pub.meta, pub.figures)]]));
  });

  // ---- One organisation over time ----

  router.get('/indicators/:id/organisations/:code', async (req: Request<{ id: string; code: string }>, res: Response) => {
    const def = definition(req.params.id);
    const code = req.params.code;
    const history = await deps.snapshots.history(def.id);
    const series = history
      .map((h) => ({ h, org: h.figures.organisations.find((o) => o.code === code) }))
      .filter((x) => x.org !== undefined);
    if (series.length === 0) throw notFound(`This organisation has no published figures for indicator '${def.id}'.`, 'unknown-organisation');
    describedBy(res, metadataUrl(series.at(-1)!.h.meta, series.at(-1)!.h.figures));
    if (wantsCsv(req)) return sendCsv(res, `${def.id}_${code}`, figuresCsv(series.map(({ h }) => h), def, metadataUrl, code));
    res.json({
      indicator: catalogueEntry(def),
      organisation: { code, system: organisationSystem(def.level), level: def.level },
      series: series.map(({ h, org }) => ({
        period: h.meta.period,
        snapshot: publicMeta(h.meta),
        published: h.figures.complete && h.meta.complete ? 'complete' : 'incomplete',
        target: h.figures.target,
        limitsMethod: h.figures.limitsMethod,
        metadata: metadataUrl(h.meta, h.figures),
        figures: { ...org!, comparison: comparisonOf(org!.classification, def.direction) },
      })),
    });
  });

  // ---- Refresh (analyst only, audited) ----

  router.post('/indicators/$refresh', async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as { period?: { start?: string; end?: string }; indicators?: string[] };
    const { meta, published, selected } = await requestRefresh({ ...deps, defs }, {
      principal: principalOf(res),
      requestId: res.locals.requestId as string,
      operation: 'POST /indicators/$refresh',
      start: body.period?.start ?? '',
      end: body.period?.end ?? '',
      ...(body.indicators ? { indicators: body.indicators } : {}),
    });
    res.status(201).setHeader('Location', `${deps.baseUrl}/indicators/${selected[0]?.id ?? ''}?snapshot=${meta.id}`);
    res.json({
      snapshot: { ...publicMeta(meta), requestedBy: meta.requestedBy, indicatorIds: meta.indicatorIds },
      indicators: published.indicators.map((i) => ({
        id: i.indicatorId,
        complete: i.complete,
        missingSources: i.missingSources,
        organisations: i.organisations.length,
      })),
    });
  });

  // ---- Feedback ----

  router.post('/indicators/:id/feedback', async (req: Request<{ id: string }>, res: Response) => {
    const limit = await deps.feedbackLimiter.take(req.ip ?? 'unknown');
    if (!limit.allowed) {
      throw new OperationOutcomeError(
        429,
        outcome(429, [{ code: 'throttled', errorCode: 'rate-limited', diagnostics: `Too much feedback from this address: at most ${deps.feedbackPerMinute} a minute. Try again in ${limit.retryAfterSeconds} s.` }]),
        { 'Retry-After': String(limit.retryAfterSeconds) },
      );
    }
    const def = definition(req.params.id);
    const body = (req.body ?? {}) as { text?: unknown; rating?: unknown };
    const problem = feedbackProblems(body.text, body.rating)[0];
    if (problem) throw unprocessable(problem.kind === 'personal-data' ? 'personal-data' : 'invalid-feedback', API_FEEDBACK_MESSAGES[problem.kind], [problem.field]);
    const rating = typeof body.rating === 'number' ? body.rating : null;
    const fb = await deps.feedback.add(def.id, (body.text as string).trim(), rating);
    res.status(201).json({ id: fb.id, indicatorId: fb.indicatorId, rating: fb.rating, createdAt: fb.createdAt });
  });

  router.get('/indicators/:id/feedback', async (req: Request<{ id: string }>, res: Response) => {
    if (principalOf(res).role !== 'analyst') throw forbidden('role-not-permitted', 'Only an analyst may read indicator feedback.');
    const def = definition(req.params.id);
    const q = req.query as Record<string, string | undefined>;
    const feedback = await deps.feedback.list(def.id, integerParam('_count', q._count, 1, 1000, 100), integerParam('_offset', q._offset, 0, MAX_OFFSET, 0));
    res.json({ indicatorId: def.id, feedback });
  });

  router.use(measureRoutes({ defs, snapshots: deps.snapshots, baseUrl: deps.baseUrl }));

  return router;
}
