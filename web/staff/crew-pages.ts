/**
 * The ambulance crew's pages (phone first): find a patient, the refusal with the way to emergency
 * access, and the summary from $summary — alerts first, the sources and anything withheld at the top.
 */
import { Router, type Request, type Response } from 'express';
import { OperationOutcomeError } from '../../fhir/outcomes.js';
import type { PageKit } from '../page-kit.js';
import { breakGlassRoutes } from './break-glass.js';
import { handleFind } from './find-patient.js';
import { operationsFor, type StaffDeps } from './operations.js';
import { summaryView } from './summary-view.js';
import { bannersOf } from './view-model.js';

const BASE = '/crew';

/** Codes of a refusal that emergency access can overcome. */
export const BREAKABLE = new Set(['no-relationship', 'consent-denied']);

export function crewPages(kit: PageKit, deps: StaffDeps & { grantMinutes: number }): Router {
  const router = Router();
  const crew = kit.requireRole('ambulance-crew');
  const emptyFind = { values: {}, errors: [], errorFor: {} };

  router.get(BASE, crew, (_req, res) => kit.render(res, 'find', { title: 'Find a patient', action: `${BASE}/find`, useJs: false, ...emptyFind }));
  router.post(`${BASE}/find`, crew, (req, res) => handleFind(req, res, kit.render, operationsFor(deps, res, 'POST /fhir/Patient/_search'), BASE, 'find'));

  router.get(`${BASE}/patient/:id`, crew, async (req: Request<{ id: string }>, res: Response) => {
    const ops = operationsFor(deps, res, 'GET /fhir/Patient/{id}/$summary');
    const ref = await ops.resolve(req.params.id);
    let result;
    try {
      result = await ops.summary(ref);
    } catch (e) {
      if (e instanceof OperationOutcomeError && e.status === 403) return refused(kit, res, e, `${BASE}/patient/${ref.id}/emergency-access`, BASE);
      throw e;
    }
    const names = ops.sourceNames();
    const banners = bannersOf(result.warnings, names);
    const missing = new Set(result.warnings.map((w) => w.source));
    const view = summaryView(result.bundle);
    const grant = await ops.activeGrant(ref);
    kit.render(res, 'crew-summary', {
      title: 'Patient summary',
      // Nothing on the crew's pages needs JavaScript: a phone on a weak signal loads none.
      useJs: false,
      ...view,
      banners,
      answered: ref.sources.filter((s) => !missing.has(s)).map((s) => names[s] ?? 'A source system'),
      grantExpires: grant ? grant.expiresAt.toISOString().slice(11, 16) : undefined,
      findHref: BASE,
    });
  });

  router.use(breakGlassRoutes(kit, deps, BASE, ['ambulance-crew']));
  return router;
}

/** The refusal page: why, and (when it can help) the way to emergency access. */
export function refused(kit: PageKit, res: Response, e: OperationOutcomeError, breakGlassHref: string, back: string): void {
  const issue = e.outcome.issue?.[0];
  const code = issue?.details?.coding?.[0]?.code ?? '';
  kit.render(res, 'refused', {
    title: 'You cannot see this record yet',
    reason: issue?.diagnostics ?? 'Access was refused.',
    code,
    breakGlassHref: BREAKABLE.has(code) ? breakGlassHref : undefined,
    back,
  }, 403);
}
