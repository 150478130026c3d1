/**
 * Who looked at my record: every access in plain words (who, organisation, when, what, why, the privacy
 * officer's review of an emergency access), one line per request — a permitted read where something
 * was withheld reads as one line — whether the audit trail verifies, a filter by date and organisation,
 * and the same lines as CSV. From the same access log as GET /access-log.
 */
import { Router, type Request, type Response } from 'express';
import type { AccessLogEntry } from '../../audit/types.js';
import type { PageKit } from '../page-kit.js';
import type { FieldError } from './choices.js';
import { patientOperationsFor, type PatientDeps } from './operations.js';

export interface AccessLine { when: string; date: string; who: string; organisation: string; what: string; why: string; outcome: string }

const WITHHELD = /withheld under the patient's consent/;

/** The access log's entries, one line per request (newest first). */
export function accessLines(entries: AccessLogEntry[]): AccessLine[] {
  const byRequest = new Map<string, AccessLogEntry[]>();
  for (const e of entries) byRequest.set(`${e.requestId}|${e.userId}`, [...(byRequest.get(`${e.requestId}|${e.userId}`) ?? []), e]);
  const lines: AccessLine[] = [];
  for (const group of byRequest.values()) {
    const main = group.find((e) => e.action !== 'consent-decision') ?? group[0]!;
    const withheld = group.some((e) => e.action === 'consent-decision' && WITHHELD.test(e.refusalReason ?? e.outcome ?? ''));
    const refused = main.decision === 'access was refused';
    const outcome = refused
      ? `Refused${main.refusalReason ? `: ${main.refusalReason}` : ''}`
      : main.action === 'emergency-review'
        ? `Privacy officer's review: ${(main.outcome ?? '').replace(/^emergency access reviewed: /, '') || 'recorded'}`
        : withheld ? 'Allowed; some items were not shown because of your choices' : 'Allowed';
    lines.push({
      when: main.when.slice(0, 19).replace('T', ' '),
      date: main.when.slice(0, 10),
      who: main.who.replace(/ at organisation \S+/, ''),
      organisation: main.organisation ?? '',
      what: main.what,
      why: main.why,
      outcome,
    });
  }
  return lines.sort((a, b) => b.when.localeCompare(a.when));
}

const isDate = (v: string) => /^\d{4}-\d{2}-\d{2}$/.test(v) && !Number.isNaN(Date.parse(v));

/** A CSV cell: quoted; a leading = + - @ neutralised (spreadsheet formulas). */
const cell = (v: string) => `"${(/^[=+\-@]/.test(v) ? `'${v}` : v).replace(/"/g, '""')}"`;

export function accessPages(kit: PageKit, deps: PatientDeps): Router {
  const router = Router();
  const patient = kit.requireRole('patient');

  async function filtered(req: Request, res: Response, operation: string) {
    const ops = patientOperationsFor(deps, res, operation);
    const q = req.query as Record<string, unknown>;
    const values = { from: typeof q.from === 'string' ? q.from.trim() : '', to: typeof q.to === 'string' ? q.to.trim() : '', organisation: typeof q.organisation === 'string' ? q.organisation : '' };
    const errors: FieldError[] = [];
    if (values.from && !isDate(values.from)) errors.push({ href: '#from', text: 'Enter the “from” date as YYYY-MM-DD, for example 2026-12-01', field: 'from' });
    if (values.to && !isDate(values.to)) errors.push({ href: '#to', text: 'Enter the “to” date as YYYY-MM-DD, for example 2026-12-31', field: 'to' });
    if (!errors.length && values.from && values.to && values.to < values.from) errors.push({ href: '#to', text: 'The “to” date must be the same as or after the “from” date', field: 'to' });
    const all = accessLines(await ops.accessLog());
    const organisations = [...new Set(all.map((l) => l.organisation).filter(Boolean))].sort();
    const lines = errors.length ? all : all.filter((l) => (!values.from || l.date >= values.from) && (!values.to || l.date <= values.to) && (!values.organisation || l.organisation === values.organisation));
    return { ops, values, errors, lines, organisations };
  }

  router.get('/who-looked', patient, async (req: Request, res: Response) => {
    const { ops, values, errors, lines, organisations } = await filtered(req, res, 'GET /who-looked');
    const verification = await ops.verifyTrail();
    const csvHref = `/who-looked/download.csv?${new URLSearchParams(Object.entries(values).filter(([, v]) => v))}`;
    kit.render(res, 'patient/who-looked', {
      title: 'Who looked at my record',
      current: 'access',
      lines,
      verified: verification.ok,
      values,
      errors,
      errorFor: Object.fromEntries(errors.map((e) => [e.field, e.text])),
      organisations: [{ value: '', text: 'All organisations' }, ...organisations.map((o) => ({ value: o, text: o, selected: o === values.organisation }))],
      csvHref,
    }, errors.length ? 400 : 200);
  });

  router.get('/who-looked/download.csv', patient, async (req: Request, res: Response) => {
    const { lines } = await filtered(req, res, 'GET /who-looked/download.csv');
    const header = ['When (UTC)', 'Who', 'Organisation', 'What', 'Why', 'Outcome'];
    const body = [header, ...lines.map((l) => [l.when, l.who, l.organisation, l.what, l.why, l.outcome])].map((r) => r.map(cell).join(',')).join('\r\n');
    res.setHeader('Content-Disposition', 'attachment; filename="who-looked-at-my-record.csv"');
    res.type('text/csv; charset=utf-8').send(`${body}\r\n`);
  });

  return router;
}
