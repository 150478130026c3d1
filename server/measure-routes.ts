import { Router, type Request, type Response } from 'express';
import type { Resource } from 'fhir/r4.js';
import { searchset } from '../fhir/bundle.js';
import { measureFor, measureReportFor, measureReportId, parseMeasureReportId } from '../indicators/measure-resources.js';
import { badRequest, notFound } from '../fhir/outcomes.js';
import { isRealDate } from '../indicators/period.js';
import type { SnapshotStore } from '../indicators/snapshots.js';
import type { IndicatorDefinition } from '../indicators/spec.js';
import { FHIR_JSON } from './fhir-routes.js';

/**
 * The published indicators as FHIR R4 (public, no token): `GET /fhir/Measure[/{id}]`,
 * `GET /fhir/MeasureReport?measure=&period=&subject=` and `GET /fhir/MeasureReport/{id}`. Only the published
 * snapshot of each period is reported (see server/indicator-routes.ts); the mapping is indicators/measure-resources.ts.
 */
export interface MeasureRouteDeps {
  defs: readonly IndicatorDefinition[];
  snapshots: SnapshotStore;
  baseUrl: string;
}

const send = (res: Response, status: number, body: unknown) => res.status(status).type(FHIR_JSON).json(body);

export function measureRoutes(deps: MeasureRouteDeps): Router {
  const router = Router();
  const fhirBase = `${deps.baseUrl}/fhir`;
  const defs = deps.defs;
  const byId = new Map(defs.map((d) => [d.id, d]));

  router.get('/fhir/Measure', (_req: Request, res: Response) => {
    const measures = defs.map((d) => measureFor(d, fhirBase));
    send(res, 200, searchset(measures, { baseUrl: fhirBase, links: { self: `${fhirBase}/Measure` }, total: measures.length }));
  });

  router.get('/fhir/Measure/:id', (req: Request<{ id: string }>, res: Response) => {
    const def = byId.get(req.params.id);
    if (!def) throw notFound('This Measure does not exist.');
    send(res, 200, measureFor(def, fhirBase));
  });

  router.get('/fhir/MeasureReport', async (req: Request, res: Response) => {
    const q = req.query as Record<string, string | undefined>;
    if (q.measure === undefined && q.subject === undefined) {
      throw badRequest('missing-parameter', "Give 'measure' (a Measure id or canonical URL) or 'subject' (an organisation code).", ['measure']);
    }
    let selected = defs;
    if (q.measure !== undefined) {
      const id = q.measure.startsWith(`${fhirBase}/Measure/`) ? q.measure.slice(fhirBase.length + 9) : q.measure.replace(/^Measure\//, '');
      selected = defs.filter((d) => d.id === id);
    }
    let at: string | undefined;
    if (q.period !== undefined) {
      at = q.period.replace(/^eq/, '');
      if (!isRealDate(at)) throw badRequest('invalid-date', "'period' must be a date YYYY-MM-DD (reports whose period contains it).", ['period']);
    }
    const subject = q.subject?.includes('|') ? q.subject.split('|')[1] : q.subject?.replace(/^Organization\//, '');
    const reports: Resource[] = [];
    for (const def of selected) {
      for (const h of await deps.snapshots.history(def.id)) {
        if (at && (h.meta.period.start > at || h.meta.period.end < at)) continue;
        for (const org of h.figures.organisations) {
          if (subject !== undefined && org.code !== subject) continue;
          reports.push(measureReportFor(def, h.meta, h.figures, org, fhirBase));
        }
      }
    }
    send(res, 200, searchset(reports, { baseUrl: fhirBase, links: { self: `${fhirBase}/MeasureReport` }, total: reports.length }));
  });

  router.get('/fhir/MeasureReport/:id', async (req: Request<{ id: string }>, res: Response) => {
    const parsed = parseMeasureReportId(req.params.id);
    const def = parsed ? byId.get(parsed.indicatorId) : undefined;
    const meta = parsed && def ? await deps.snapshots.findByPrefix(parsed.snapshotPrefix) : null;
    const pub = meta && def ? await deps.snapshots.figures(meta.id, def.id) : null;
    const org = pub?.figures.organisations.find((o) => o.code === parsed!.code);
    if (!pub || !org || !def || measureReportId(pub.meta.id, def.id, org.code) !== req.params.id) {
      throw notFound('This MeasureReport does not exist.');
    }
    send(res, 200, measureReportFor(def, pub.meta, pub.figures, org, fhirBase));
  });

  return router;
}
