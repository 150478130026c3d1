/**
 * Errors as pages in the design system's style for browser requests (the API keeps its OperationOutcome).
 * The page says what went wrong in plain words and the stable error code; never a stack trace, never an
 * identifier.
 */
import type { Request, Response } from 'express';
import { normalizeError } from '../fhir/outcomes.js';
import type { Renderer } from './render.js';

const TITLES: Record<number, string> = {
  400: 'There is a problem with what was sent',
  401: 'You need to sign in',
  403: 'You cannot do this',
  404: 'Page not found',
  409: 'This has changed since you opened it',
  413: 'What was sent is too large',
  422: 'There is a problem with what was sent',
  429: 'Too many requests',
  503: 'Sorry, the service is unavailable',
};

/** True when the client is a browser asking for a page (text/html preferred over JSON). */
export function wantsHtml(req: Request): boolean {
  return req.accepts(['application/json', 'application/fhir+json', 'text/html']) === 'text/html';
}

/** Renders any thrown error as an error page with the right status. */
export function renderErrorPage(render: Renderer, e: unknown, req: Request, res: Response): void {
  const err = normalizeError(e);
  if (err.status >= 500) req.log?.error({ err: { type: (e as Error)?.name, message: (e as Error)?.message, stack: (e as Error)?.stack } }, 'page request failed');
  for (const [k, v] of Object.entries(err.headers)) if (k.toLowerCase() !== 'www-authenticate') res.setHeader(k, v);
  const issue = err.outcome.issue?.[0];
  const code = issue?.details?.coding?.[0]?.code ?? '';
  const status = err.status;
  const paragraphs = status >= 500 && status !== 503
    ? ['Something went wrong on our side. Try again later. If you were using a patient record, nothing has been changed.']
    : [issue?.diagnostics ?? 'The request could not be completed.'];
  if (status === 404 && code === 'no-such-route') paragraphs.splice(0, 1, 'If you typed the web address, check it is correct. If you pasted the web address, check you copied the entire address.');
  render(res, 'error', { title: TITLES[status] ?? (status >= 500 ? 'Sorry, there is a problem with the service' : 'There is a problem'), paragraphs, code, requestId: res.locals.requestId }, status);
}
