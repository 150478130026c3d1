/**
 * My record, and the preview of it "as an ambulance crew / my GP practice / the hospital would see it".
 * Both read the patient's own record through the consent guard; the preview applies the patient's
 * current choices with the same policy engine (ConsentGuard.preview) and opens no grant.
 */
import { Router, type Request, type Response } from 'express';
import type { Resource } from 'fhir/r4.js';
import type { Warning } from '../../adapters/record-repository.js';
import type { PreviewViewer } from '../../consent/guard.js';
import { badRequest } from '../../fhir/outcomes.js';
import type { PageKit } from '../page-kit.js';
import { patientOperationsFor, type PatientDeps } from './operations.js';
import { myRecordView } from './record-view.js';

/** The kinds of staff a patient can preview as. */
export const VIEWERS: Record<string, { label: string; viewer: PreviewViewer; note: string }> = {
  ambulance: {
    label: 'an ambulance crew',
    viewer: { role: 'ambulance-crew', organisation: 'RX9', emergency: true },
    note: 'An ambulance crew has no ongoing care relationship with you, so they use emergency access: choices you did not mark "even in an emergency" do not apply to them.',
  },
  gp: { label: 'your GP practice', viewer: { role: 'clinician', organisation: 'registered-practice', emergency: false }, note: 'A clinician at the GP practice you are registered with.' },
  hospital: { label: 'the hospital', viewer: { role: 'clinician', organisation: 'hospital', emergency: false }, note: 'A clinician at the hospital trust that holds a record for you.' },
};

/** Plain-words notices for what could not be fetched (each source by its display name), and that something is not shown. */
export function noticesOf(warnings: Warning[], names: Readonly<Record<string, string>>) {
  return {
    missing: warnings.filter((w) => w.source !== 'consent').map((w) => `${names[w.source] ? `Information from ${names[w.source]}` : 'Some information'} could not be fetched just now: ${w.message}`),
    withheld: warnings.some((w) => w.source === 'consent'),
  };
}

export function recordPages(kit: PageKit, deps: PatientDeps): Router {
  const router = Router();
  const patient = kit.requireRole('patient');

  router.get('/my-record', patient, async (_req: Request, res: Response) => {
    const ops = patientOperationsFor(deps, res, 'GET /my-record ($everything)');
    const ref = await ops.self();
    const { resources, warnings } = await ops.record(ref);
    kit.render(res, 'patient/my-record', { title: 'My record', current: 'record', ...myRecordView(resources as Resource[]), notices: noticesOf(warnings, ops.sourceNames()) });
  });

  router.get('/my-choices/preview', patient, async (req: Request, res: Response) => {
    const key = typeof req.query.as === 'string' ? req.query.as : '';
    const chosen = VIEWERS[key];
    if (!chosen) throw badRequest('invalid-viewer', 'Choose who to preview as: an ambulance crew, your GP practice or the hospital.', ['as']);
    const ops = patientOperationsFor(deps, res, 'GET /my-choices/preview ($everything)');
    const ref = await ops.self();
    const result = await ops.preview(ref, chosen.viewer);
    kit.render(res, 'patient/preview', {
      title: `What ${chosen.label} would see`,
      current: 'choices',
      viewerKey: key,
      viewers: Object.entries(VIEWERS).map(([k, v]) => ({ href: `/my-choices/preview?as=${k}`, text: `What ${v.label} would see`, current: k === key })),
      note: chosen.note,
      refusal: result.refusal,
      withheld: result.withheld,
      notices: noticesOf(result.warnings, ops.sourceNames()),
      ...(result.resources ? myRecordView(result.resources) : {}),
    });
  });

  return router;
}
