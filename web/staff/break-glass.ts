/**
 * Emergency (break-glass) access from a page: a reason from the fixed list and a note (required), then
 * the same grant and audit event as the API's POST /emergency-access; the grant's expiry is shown.
 */
import { Router, type Request, type Response } from 'express';
import type { PageKit } from '../page-kit.js';
import { EMERGENCY_REASONS, operationsFor, type StaffDeps } from './operations.js';

const REASONS = Object.entries(EMERGENCY_REASONS).map(([value, text]) => ({ value, text, id: `reason-${value}` }));

/** GET/POST `${base}/patient/:id/emergency-access` for the given roles. */
export function breakGlassRoutes(kit: PageKit, deps: StaffDeps & { grantMinutes: number }, base: string, roles: Parameters<PageKit['requireRole']>): Router {
  const router = Router();
  const path = `${base}/patient/:id/emergency-access`;
  const show = (res: Response, id: string, status = 200, errors: { href: string; text: string; field: string }[] = [], values: Record<string, string> = {}) =>
    kit.render(res, 'emergency-access', {
      title: 'Emergency access',
      action: `${base}/patient/${id}/emergency-access`,
      back: base,
      reasons: REASONS.map((r) => ({ ...r, checked: values.reason === r.value })),
      grantMinutes: deps.grantMinutes,
      errors,
      errorFor: Object.fromEntries(errors.map((e) => [e.field, e.text])),
      values,
    }, status);

  router.get(path, kit.requireRole(...roles), async (req: Request<{ id: string }>, res: Response) => {
    const ops = operationsFor(deps, res, `GET ${base}/patient/{id}/emergency-access`);
    await ops.resolve(req.params.id);
    show(res, req.params.id);
  });

  router.post(path, kit.requireRole(...roles), async (req: Request<{ id: string }>, res: Response) => {
    const ops = operationsFor(deps, res, 'POST /emergency-access');
    const ref = await ops.resolve(req.params.id);
    const body = (req.body ?? {}) as Record<string, unknown>;
    const reason = typeof body.reason === 'string' ? body.reason : '';
    const note = typeof body.note === 'string' ? body.note.trim() : '';
    const errors: { href: string; text: string; field: string }[] = [];
    if (!(reason in EMERGENCY_REASONS)) errors.push({ href: `#reason-${REASONS[0]!.value}`, text: 'Choose the reason for emergency access', field: 'reason' });
    if (note.length < 5) errors.push({ href: '#note', text: 'Explain the emergency in a few words (at least 5 characters)', field: 'note' });
    if (note.length > 1000) errors.push({ href: '#note', text: 'The note must be 1000 characters or fewer', field: 'note' });
    if (errors.length) return show(res, req.params.id, 400, errors, { reason, note });
    await ops.breakGlass(ref, reason, note);
    res.redirect(303, `${base}/patient/${ref.id}`);
  });
  return router;
}
