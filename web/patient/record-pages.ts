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
import { patientOperationsFor, type OrganisationChoice, type PatientDeps } from './operations.js';
import { myRecordView } from './record-view.js';

export interface Viewer {
  /** The `as` of /my-choices/preview: ambulance, gp, or the ODS code of a trust or council. */
  key: string;
  label: string;
  viewer: PreviewViewer;
  note: string;
}

/**
 * Whom a patient can preview as: an ambulance crew, their GP practice, and a clinician at each trust and a
 * practitioner at each council behind the configured sources (the source registry's organisations), each by
 * its ODS code, so a region with several trusts previews each of them.
 */
export function viewersFor(organisations: readonly OrganisationChoice[]): Viewer[] {
  return [
    {
      key: 'ambulance',
      label: 'an ambulance crew',
      viewer: { role: 'ambulance-crew', organisation: 'RX9', emergency: true },
      note: 'An ambulance crew has no ongoing care relationship with you, so they use emergency access: choices you did not mark "even in an emergency" do not apply to them.',
    },
    { key: 'gp', label: 'your GP practice', viewer: { role: 'clinician', organisation: 'registered-practice', emergency: false }, note: 'A clinician at the GP practice you are registered with.' },
    ...organisations.map((o): Viewer => {
      const trust = o.type === 'trust';
      const named = o.name ? `${o.name} (${o.ods})` : `the ${trust ? 'hospital trust' : 'council'} ${o.ods}`;
      return {
        key: o.ods,
        label: named,
        viewer: { role: 'clinician', organisation: o.ods, emergency: false },
        note: trust ? `A clinician at ${named}, if it holds a record for you.` : `A social care practitioner at ${named}, if it holds a record for you.`,
      };
    }),
  ];
}

/** The preview links, for the choices page and the preview page itself. */
export const previewLinks = (viewers: readonly Viewer[], current?: string) =>
  viewers.map((v) => ({ href: `/my-choices/preview?as=${encodeURIComponent(v.key)}`, text: `What ${v.label} would see`, current: v.key === current }));

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
  const viewers = viewersFor(deps.organisations);

  router.get('/my-record', patient, async (_req: Request, res: Response) => {
    const ops = patientOperationsFor(deps, res, 'GET /my-record ($everything)');
    const ref = await ops.self();
    const { resources, warnings } = await ops.record(ref);
    kit.render(res, 'patient/my-record', { title: 'My record', current: 'record', ...myRecordView(resources as Resource[]), notices: noticesOf(warnings, ops.sourceNames()) });
  });

  router.get('/my-choices/preview', patient, async (req: Request, res: Response) => {
    const key = typeof req.query.as === 'string' ? req.query.as : '';
    const chosen = viewers.find((v) => v.key === key);
    if (!chosen) throw badRequest('invalid-viewer', `Choose who to preview as: ${viewers.map((v) => v.label).join(', ')}.`, ['as']);
    const ops = patientOperationsFor(deps, res, 'GET /my-choices/preview ($everything)');
    const ref = await ops.self();
    const result = await ops.preview(ref, chosen.viewer);
    kit.render(res, 'patient/preview', {
      title: `What ${chosen.label} would see`,
      current: 'choices',
      viewerKey: key,
      viewers: previewLinks(viewers, key),
      note: chosen.note,
      refusal: result.refusal,
      withheld: result.withheld,
      notices: noticesOf(result.warnings, ops.sourceNames()),
      ...(result.resources ? myRecordView(result.resources) : {}),
    });
  });

  return router;
}
