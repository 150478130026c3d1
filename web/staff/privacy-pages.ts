/**
 * The privacy officer's pages: open emergency-access alerts (reason, note, who, when) with a review
 * (appropriate / inappropriate + comment), the audit search (patient, user, organisation, decision,
 * date range) with paging, and the audit chain's verification status with the first broken link.
 * A patient is searched for by NHS number in a POSTed form; the result is addressed by integrated id.
 */
import { Router, type Request, type Response } from 'express';
import type { AuditEvent } from 'fhir/r4.js';
import { isValidNhsNumber } from '../../fhir/nhs-number.js';
import type { PageKit } from '../page-kit.js';
import { EMERGENCY_REASONS, operationsFor, type StaffDeps } from './operations.js';

const BASE = '/privacy';
const PAGE_SIZE = 25;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const isDate = (v: string) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v));
const text = (v: unknown, max = 100) => (typeof v === 'string' ? v.trim().slice(0, max) : '');

export function privacyPages(kit: PageKit, deps: StaffDeps): Router {
  const router = Router();
  const officer = kit.requireRole('privacy-officer');

  router.get(`${BASE}/alerts`, officer, async (_req, res: Response) => {
    const ops = operationsFor(deps, res, 'GET /review/alerts');
    const alerts = (await ops.openAlerts()).map((g) => ({
      id: g.id,
      action: `${BASE}/alerts/${g.id}`,
      who: `${g.role} ${g.sub}${g.organisation ? ` at ${g.organisation}` : ''}`,
      when: g.createdAt.toISOString().slice(0, 16).replace('T', ' '),
      expires: g.expiresAt.toISOString().slice(0, 16).replace('T', ' '),
      reason: EMERGENCY_REASONS[g.reasonCode] ?? g.reasonCode,
      note: g.reason,
      patientHref: `${BASE}/audit?patient=${g.patientId}`,
    }));
    kit.render(res, 'privacy-alerts', { title: 'Emergency access to review', alerts, reviewed: res.req.query.reviewed === '1' });
  });

  router.post(`${BASE}/alerts/:id`, officer, async (req: Request<{ id: string }>, res: Response) => {
    const ops = operationsFor(deps, res, 'POST /review/alerts/{id}');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const outcome = text(body.outcome);
    const note = text(body.note, 1000);
    if (outcome !== 'appropriate' && outcome !== 'inappropriate') {
      const alerts = (await ops.openAlerts()).filter((g) => g.id === req.params.id);
      return kit.render(res, 'error', { title: 'There is a problem with what was sent', paragraphs: ['Choose whether the emergency access was appropriate or inappropriate, then send the review again.'], code: 'invalid-outcome', back: alerts.length ? `${BASE}/alerts` : undefined }, 400);
    }
    await ops.review(req.params.id, outcome, note);
    res.redirect(303, `${BASE}/alerts?reviewed=1`);
  });

  // Audit search: a POSTed form (it may carry an NHS number) becomes a GET addressed by integrated id only.
  router.post(`${BASE}/audit`, officer, async (req: Request, res: Response) => {
    const ops = operationsFor(deps, res, 'POST /privacy/audit');
    const body = (req.body ?? {}) as Record<string, unknown>;
    const params = new URLSearchParams();
    const nhs = text(body.nhsNumber).replace(/\s+/g, '');
    const errors: { href: string; text: string; field: string }[] = [];
    if (nhs) {
      if (!isValidNhsNumber(nhs)) errors.push({ href: '#nhsNumber', text: 'Enter a valid NHS number', field: 'nhsNumber' });
      else {
        const id = await ops.patientIdForNhsNumber(nhs);
        // An NHS number the index does not know matches no audit event: search for a random id.
        params.set('patient', id ?? '00000000-0000-4000-8000-000000000000');
      }
    }
    for (const k of ['user', 'organisation'] as const) if (text(body[k])) params.set(k, text(body[k]));
    const decision = text(body.decision);
    if (decision === 'permit' || decision === 'deny') params.set('decision', decision);
    for (const k of ['from', 'to'] as const) {
      const v = text(body[k]);
      if (v && !isDate(v)) errors.push({ href: `#${k}`, text: `Enter the “${k}” date as YYYY-MM-DD`, field: k });
      else if (v) params.set(k, v);
    }
    if (errors.length) return showAudit(kit, res, ops, {}, errors, 400);
    res.redirect(303, `${BASE}/audit${params.size ? `?${params}` : ''}`);
  });

  router.get(`${BASE}/audit`, officer, async (req: Request, res: Response) => {
    const ops = operationsFor(deps, res, 'GET /audit');
    await showAudit(kit, res, ops, req.query as Record<string, unknown>, [], 200);
  });
  return router;
}

async function showAudit(kit: PageKit, res: Response, ops: ReturnType<typeof operationsFor>, q: Record<string, unknown>, errors: { href: string; text: string; field: string }[], status: number): Promise<void> {
  const filter = {
    patient: UUID.test(text(q.patient)) ? text(q.patient) : '',
    user: text(q.user),
    organisation: text(q.organisation),
    decision: text(q.decision) === 'permit' || text(q.decision) === 'deny' ? text(q.decision) : '',
    from: isDate(text(q.from)) ? text(q.from) : '',
    to: isDate(text(q.to)) ? text(q.to) : '',
  };
  const page = Math.max(1, Math.min(100_000, Number.parseInt(text(q.page), 10) || 1));
  const events = errors.length
    ? []
    : await ops.auditSearch({
        ...(filter.patient ? { patientId: filter.patient } : {}),
        ...(filter.user ? { userSub: filter.user } : {}),
        ...(filter.organisation ? { organisation: filter.organisation } : {}),
        ...(filter.decision ? { decision: filter.decision as 'permit' | 'deny' } : {}),
        ...(filter.from ? { from: new Date(`${filter.from}T00:00:00Z`) } : {}),
        ...(filter.to ? { to: new Date(Date.parse(`${filter.to}T00:00:00Z`) + 86_400_000) } : {}),
        count: PAGE_SIZE + 1,
        offset: (page - 1) * PAGE_SIZE,
      });
  const more = events.length > PAGE_SIZE;
  const params = (n: number) => `/privacy/audit?${new URLSearchParams({ ...Object.fromEntries(Object.entries(filter).filter(([, v]) => v)), page: String(n) })}`;
  const verification = await ops.verifyAudit();
  kit.render(res, 'privacy-audit', {
    title: 'Audit trail',
    action: '/privacy/audit',
    filter,
    errors,
    errorFor: Object.fromEntries(errors.map((e) => [e.field, e.text])),
    rows: events.slice(0, PAGE_SIZE).map(auditRow),
    page,
    previous: page > 1 ? params(page - 1) : undefined,
    next: more ? params(page + 1) : undefined,
    verification,
  }, status);
}

/** One audit event as a table row: when, who, what, decision, patient (integrated id), why. */
function auditRow(e: AuditEvent) {
  const who = e.agent?.find((a) => a.requestor) ?? e.agent?.[0];
  const patient = e.entity?.find((x) => x.what?.reference?.startsWith('Patient/'))?.what?.reference?.slice('Patient/'.length) ?? '';
  return {
    when: (e.recorded ?? '').slice(0, 19).replace('T', ' '),
    who: [who?.who?.identifier?.value, who?.role?.[0]?.text ?? who?.role?.[0]?.coding?.[0]?.code].filter(Boolean).join(' · ') || 'unknown',
    what: e.subtype?.[0]?.display ?? e.subtype?.[0]?.code ?? e.type?.display ?? '',
    decision: e.outcome === '0' ? 'permitted' : 'refused',
    patient,
    why: e.outcomeDesc ?? '',
  };
}
