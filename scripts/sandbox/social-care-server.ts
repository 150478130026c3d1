import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import { faultAdminRouter, faultMiddleware, sendJson, type Faults } from './faults.js';
import type { CaseResponse, ErrorResponse, PeopleResponse, PersonSummary, SocialCareCase } from '../../adapters/social-care-api.js';

/**
 * The sandbox council social-care case-management API (NOT FHIR; plain application/json):
 *   GET /api/v1/people?nhsNumber=…
 *   GET /api/v1/people?surname=&dateOfBirth=YYYY-MM-DD[&postcode=][&forename=]
 *       surname case/accent-insensitive exact, postcode ignoring spaces/case, forename prefix
 *   GET /api/v1/people/{personId}         → PersonSummary
 *   GET /api/v1/people/{personId}/case    → CaseResponse
 *   errors → { "error": "…" } (400 bad query, 404 unknown id/route)
 *   GET /health, and /__admin/faults (see faults.ts)
 */

const normalize = (s: string): string => s.normalize('NFD').replace(/\p{Diacritic}/gu, '').toLowerCase().trim();
const normalizePostcode = (s: string): string => s.replace(/\s+/g, '').toUpperCase();

const param = (req: Request, name: string): string | undefined => {
  const v = (req.query as Record<string, unknown>)[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' && first.trim() !== '' ? first.trim() : undefined;
};

/** `aggregate` (optional): the source's aggregate query API, mounted at /aggregate/v1 behind the faults. */
export function createSocialCareApp(people: SocialCareCase[], faults: Faults, aggregate?: Router): Express {
  const byId = new Map(people.map((c) => [c.person.personId, c]));
  const byNhs = new Map<string, PersonSummary[]>();
  const byDob = new Map<string, PersonSummary[]>();
  for (const { person } of people) {
    if (person.nhsNumber) byNhs.set(person.nhsNumber, [...(byNhs.get(person.nhsNumber) ?? []), person]);
    byDob.set(person.dateOfBirth, [...(byDob.get(person.dateOfBirth) ?? []), person]);
  }

  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const send = (res: Response, status: number, body: PeopleResponse | PersonSummary | CaseResponse | ErrorResponse | { status: string }): void =>
    sendJson(res, status, body, 'application/json');

  app.use('/__admin', faultAdminRouter(faults));
  app.use(faultMiddleware(faults, 'json'));
  if (aggregate) app.use('/aggregate/v1', aggregate);

  app.get('/health', (_req, res) => send(res, 200, { status: 'ok' }));

  app.get('/api/v1/people', (req, res) => {
    const nhsNumber = param(req, 'nhsNumber');
    if (nhsNumber !== undefined) {
      return send(res, 200, { people: byNhs.get(nhsNumber.replace(/\s+/g, '')) ?? [] });
    }
    const surname = param(req, 'surname');
    const dateOfBirth = param(req, 'dateOfBirth');
    if (surname === undefined || dateOfBirth === undefined) {
      return send(res, 400, { error: 'Search needs nhsNumber, or surname and dateOfBirth' });
    }
    if (!/^\d{4}-\d{2}-\d{2}$/.test(dateOfBirth)) return send(res, 400, { error: 'dateOfBirth must be YYYY-MM-DD' });
    const s = normalize(surname);
    const postcode = param(req, 'postcode');
    const pc = postcode !== undefined ? normalizePostcode(postcode) : undefined;
    const forename = param(req, 'forename');
    const fn = forename !== undefined ? normalize(forename) : undefined;
    const found = (byDob.get(dateOfBirth) ?? []).filter(
      (p) =>
        normalize(p.surname) === s &&
        (pc === undefined || normalizePostcode(p.address.postcode) === pc) &&
        (fn === undefined || normalize(p.forename).startsWith(fn)),
    );
    send(res, 200, { people: found });
  });

  app.get('/api/v1/people/:personId', (req, res) => {
    const found = byId.get(req.params.personId);
    if (!found) return send(res, 404, { error: 'Person not found' });
    send(res, 200, found.person);
  });

  app.get('/api/v1/people/:personId/case', (req, res) => {
    const found = byId.get(req.params.personId);
    if (!found) return send(res, 404, { error: 'Person not found' });
    send(res, 200, found);
  });

  app.use((_req, res) => send(res, 404, { error: 'Not found' }));
  app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => send(res, 500, { error: 'Internal error' }));
  return app;
}
