/**
 * My sharing choices: add a choice, remove one, opt out of research and planning, withdraw them all,
 * and the history of choices. Each change is a new version of the patient's Consent, stored exactly as
 * PUT /fhir/Consent stores it (If-Match = the version the form was shown with, carried as a hidden
 * field). A change made meanwhile in another tab is a conflict: the page shows what is saved now and
 * the change that was not applied, ready to apply again — nothing is lost.
 */
import { Router, type Request, type Response } from 'express';
import type { Consent, ConsentProvision } from 'fhir/r4.js';
import { CATEGORIES } from '../../consent/sensitivity.js';
import type { PatientRef } from '../../adapters/record-repository.js';
import type { StoredConsent } from '../../consent/store.js';
import { OperationOutcomeError } from '../../fhir/outcomes.js';
import type { PageKit } from '../page-kit.js';
import { CATEGORY_WORDS, consentOf, deniesOf, describe, EXPLAIN, isOptOut, OPT_OUT, provisionOf, ROLE_WORDS, SOURCE_WORDS, wishFromForm, type FieldError, type Wish } from './choices.js';
import { patientOperationsFor, type PatientDeps, type PatientOperations } from './operations.js';
import { previewLinks, viewersFor } from './record-pages.js';

const SCOPE = 'http://terminology.hl7.org/CodeSystem/consentscope';
const isPagesConsent = (c: Consent) => !!c.scope?.coding?.some((x) => x.system === SCOPE && x.code === 'patient-privacy');

/** The consent the pages edit: the patient's most recently changed patient-privacy Consent. */
async function pageConsent(ops: PatientOperations, ref: PatientRef): Promise<{ current?: StoredConsent; others: StoredConsent[] }> {
  const all = (await ops.consents(ref)).sort((a, b) => (b.resource.meta?.lastUpdated ?? '').localeCompare(a.resource.meta?.lastUpdated ?? ''));
  const current = all.find((s) => isPagesConsent(s.resource));
  return { ...(current ? { current } : {}), others: all.filter((s) => s !== current) };
}

const EMPTY: Wish = { what: '' as Wish['what'], sources: [], sourceOrganisation: '', categories: [], who: '' as Wish['who'], roles: [], organisation: '', from: '', to: '', emergency: false };

export function choicesPages(kit: PageKit, deps: PatientDeps): Router {
  const router = Router();
  const patient = kit.requireRole('patient');

  /** The patient's own registered practice, then every trust and council of the source registry, by ODS code. */
  const organisationsFor = (ref: { registeredPractice?: string }): Record<string, string> => ({
    ...(ref.registeredPractice ? { [ref.registeredPractice]: `your GP practice (${ref.registeredPractice})` } : {}),
    ...Object.fromEntries(deps.organisations.map((o) => [o.ods, o.name ? `${o.name} (${o.ods})` : `the ${o.type === 'trust' ? 'hospital trust' : 'council'} (${o.ods})`])),
  });

  /** Renders the choices page: saved choices, the add form (with values/errors), a conflict, the history. */
  async function show(res: Response, ops: PatientOperations, extra: { values?: Wish; errors?: FieldError[]; conflict?: string; status?: number; saved?: string } = {}) {
    const ref = await ops.self();
    const orgs = organisationsFor(ref);
    const { current, others } = await pageConsent(ops, ref);
    const active = current?.resource.status === 'active';
    const denies = active ? deniesOf(current!.resource) : [];
    const history = current ? await ops.history(ref, current.resource.id!) : [];
    const errors = extra.errors ?? [];
    kit.render(res, 'patient/choices', {
      title: 'My sharing choices',
      current: 'choices',
      consent: current ? { id: current.resource.id, version: current.version, active } : { id: '', version: 0, active: false },
      wishes: denies.map((p, index) => ({ index, text: describe(p, orgs), optOut: isOptOut(p) })).filter((w) => !w.optOut),
      optedOut: denies.some(isOptOut),
      others: others.filter((o) => o.resource.status === 'active').flatMap((o) => deniesOf(o.resource).map((p) => describe(p, orgs))),
      history: history.map((v) => ({
        when: (v.resource.meta?.lastUpdated ?? '').slice(0, 16).replace('T', ' '),
        version: v.version,
        status: v.resource.status === 'active' ? 'In force' : 'Withdrawn',
        texts: deniesOf(v.resource).map((p) => describe(p, orgs)),
      })),
      values: extra.values ?? EMPTY,
      errors,
      errorFor: Object.fromEntries(errors.map((e) => [e.field, e.text])),
      conflict: extra.conflict,
      saved: extra.saved,
      explain: EXPLAIN,
      sources: Object.entries(SOURCE_WORDS).map(([value, text]) => ({ value, text })),
      categories: CATEGORIES.map((value) => ({ value, text: CATEGORY_WORDS[value] })),
      roles: Object.entries(ROLE_WORDS).map(([value, text]) => ({ value, text })),
      organisations: Object.entries(orgs).map(([value, text]) => ({ value, text })),
      previews: previewLinks(viewersFor(deps.organisations)),
    }, extra.status ?? (errors.length ? 400 : 200));
  }

  /**
   * Applies `change` to the saved provisions and stores a new version replacing the version the form
   * showed. On a conflict (another tab saved first) nothing is written and the page explains.
   */
  async function change(req: Request, res: Response, operation: string, describeAttempt: (orgs: Record<string, string>) => string, apply: (denies: ConsentProvision[]) => ConsentProvision[], status: Consent['status'] = 'active', values?: Wish) {
    const ops = patientOperationsFor(deps, res, operation);
    const ref = await ops.self();
    const body = (req.body ?? {}) as Record<string, unknown>;
    const formVersion = Number.parseInt(String(body.version ?? '0'), 10) || 0;
    const { current } = await pageConsent(ops, ref);
    const conflict = () => show(res, ops, {
      conflict: `Your choices were changed in another tab or window after this page was opened, so this change was not saved: “${describeAttempt(organisationsFor(ref))}” Your saved choices are shown below; check them, then make the change again if you still want it.`,
      ...(values ? { values } : {}),
      status: 409,
    });
    if ((current?.version ?? 0) !== formVersion || (current && String(body.consent ?? '') !== current.resource.id)) return conflict();
    const base = current?.resource.status === 'active' ? deniesOf(current.resource) : [];
    try {
      await ops.save(ref, consentOf(ref.id, apply(base), status), current ? { id: current.resource.id!, version: current.version } : undefined);
    } catch (e) {
      if (e instanceof OperationOutcomeError && e.status === 412) return conflict();
      throw e;
    }
    res.redirect(303, '/my-choices?saved=1');
  }

  router.get('/my-choices', patient, async (req: Request, res: Response) => {
    await show(res, patientOperationsFor(deps, res, 'GET /my-choices'), req.query.saved === '1' ? { saved: 'Your choices have been saved. They apply from now on.' } : {});
  });

  router.post('/my-choices/add', patient, async (req: Request, res: Response) => {
    const ops = patientOperationsFor(deps, res, 'POST /my-choices/add');
    const ref = await ops.self();
    const orgs = organisationsFor(ref);
    const { wish, errors } = wishFromForm((req.body ?? {}) as Record<string, unknown>, orgs);
    if (errors.length) return show(res, ops, { values: wish, errors });
    const provision = provisionOf(wish);
    await change(req, res, 'POST /my-choices/add', (o) => describe(provision, o), (d) => [...d, provision], 'active', wish);
  });

  router.post('/my-choices/remove', patient, async (req: Request, res: Response) => {
    const body = (req.body ?? {}) as Record<string, unknown>;
    const index = Number.parseInt(String(body.index ?? ''), 10);
    const ops = patientOperationsFor(deps, res, 'POST /my-choices/remove');
    const ref = await ops.self();
    // The wish as the form showed it (that version), to explain a conflict in words.
    const shown = String(body.consent ?? '') ? (await ops.history(ref, String(body.consent))).find((v) => v.version === Number(body.version)) : undefined;
    const target = shown ? deniesOf(shown.resource)[index] : undefined;
    await change(req, res, 'POST /my-choices/remove', (o) => `Remove: ${target ? describe(target, o) : 'a choice'}`, (d) => d.filter((_, i) => i !== index));
  });

  router.post('/my-choices/opt-out', patient, async (req: Request, res: Response) => {
    const optOut = (req.body as Record<string, unknown>)?.optOut === 'yes';
    await change(req, res, 'POST /my-choices/opt-out', () => (optOut ? 'Do not use my information for research or planning.' : 'Allow my information to be used for research and planning.'), (d) => [...d.filter((p) => !isOptOut(p)), ...(optOut ? [OPT_OUT] : [])]);
  });

  router.post('/my-choices/withdraw', patient, async (req: Request, res: Response) => {
    await change(req, res, 'POST /my-choices/withdraw', () => 'Withdraw all my choices.', (d) => d, 'inactive');
  });

  return router;
}
