/**
 * Feedback on every public page (issue 18): GET /feedback (the form; `page` says which page it is about), POST
 * /feedback (CSRF-checked by the page foundation, rate-limited with the API's limiter, validated like the API's
 * POST /indicators/{id}/feedback: indicators/feedback.ts), then POST-redirect-GET to /feedback/thank-you.
 * Works without JavaScript. Nothing about the sender is stored.
 */
import { Router, type Request, type Response } from 'express';
import { OperationOutcomeError, outcome } from '../../fhir/outcomes.js';
import { FEEDBACK_MAX_CHARS, feedbackProblems, type FeedbackProblem } from '../../indicators/feedback.js';
import type { PageKit } from '../page-kit.js';
import { sessionOf } from '../sessions.js';
import type { PublicData } from './operations.js';

/** Public pages feedback may be about (paths; organisation codes and indicator ids, never a person). */
const PAGE = /^\/(indicators(\/[a-z0-9-]{1,80})?|organisations\/[A-Za-z0-9]{1,12})?$/;

/** The footer link of a public page: feedback about that page. */
export const feedbackLinks = (page: string) => [{ href: `/feedback?page=${encodeURIComponent(page)}`, text: 'Give feedback about this page' }];

const MESSAGES: Record<FeedbackProblem['kind'], string> = {
  empty: 'Enter what is wrong or missing',
  'too-long': `Your feedback must be ${FEEDBACK_MAX_CHARS.toLocaleString('en-GB')} characters or fewer`,
  'personal-data': 'Remove the NHS number or email address: feedback must not include personal information',
  rating: 'Choose a rating from 1 to 5, or leave it blank',
};

export function feedbackPages(kit: PageKit, data: PublicData): Router {
  const router = Router();
  const pageOf = (v: unknown): string => (typeof v === 'string' && PAGE.test(v) ? v : '/');
  const aboutText = (page: string) => {
    const ind = /^\/indicators\/(.+)$/.exec(page);
    if (ind) return data.byId.get(ind[1]!)?.title ?? 'an indicator';
    const org = /^\/organisations\/(.+)$/.exec(page);
    if (org) return `the page of organisation ${org[1]}`;
    return page === '/indicators' ? 'the list of indicators' : 'this service';
  };
  const form = (res: Response, page: string, values: { text: string; rating: string }, errors: FeedbackProblem[] = [], status = 200) =>
    kit.render(res, 'public/feedback', {
      title: errors.length ? 'Error: Give feedback' : 'Give feedback',
      page,
      about: aboutText(page),
      values,
      maxChars: FEEDBACK_MAX_CHARS,
      errors: errors.map((e) => ({ text: MESSAGES[e.kind], href: `#${e.field}` })),
      errorFor: Object.fromEntries(errors.map((e) => [e.field, MESSAGES[e.kind]])),
      footerLinks: [],
    }, status);

  router.get('/feedback', async (req: Request, res: Response) => {
    // A signed-in visitor's form carries their session's token; anyone else gets a stateless one (no row stored).
    if (!sessionOf(res)) kit.anonymousForms.issue(req, res);
    form(res, pageOf((req.query as Record<string, unknown>).page), { text: '', rating: '' });
  });

  router.post('/feedback', async (req: Request, res: Response) => {
    const limit = await data.deps.feedbackLimiter.take(req.ip ?? 'unknown');
    if (!limit.allowed) {
      throw new OperationOutcomeError(
        429,
        outcome(429, [{ code: 'throttled', errorCode: 'rate-limited', diagnostics: `Too much feedback from this address: at most ${data.deps.feedbackPerMinute} a minute. Try again in ${limit.retryAfterSeconds} seconds.` }]),
        { 'Retry-After': String(limit.retryAfterSeconds) },
      );
    }
    const body = (req.body ?? {}) as Record<string, unknown>;
    const page = pageOf(body.page);
    const text = typeof body.text === 'string' ? body.text : '';
    const ratingText = typeof body.rating === 'string' ? body.rating : '';
    const rating = ratingText === '' ? null : /^\d{1,2}$/.test(ratingText) ? Number(ratingText) : NaN;
    const problems = feedbackProblems(text, rating);
    if (problems.length) return form(res, page, { text, rating: ratingText }, problems, 400);
    const ind = /^\/indicators\/(.+)$/.exec(page);
    const indicatorId = ind && data.byId.has(ind[1]!) ? ind[1]! : null;
    await data.deps.feedback.add(indicatorId, text.trim(), rating, page);
    res.redirect(303, `/feedback/thank-you?page=${encodeURIComponent(page)}`);
  });

  router.get('/feedback/thank-you', (req: Request, res: Response) => {
    const page = pageOf((req.query as Record<string, unknown>).page);
    kit.render(res, 'public/feedback-thanks', { title: 'Thank you for your feedback', page, about: aboutText(page), footerLinks: [] });
  });

  return router;
}
