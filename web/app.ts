/**
 * The web pages: assets, sign-in (embedded demo OpenID provider or an external one), server-side
 * sessions, CSRF, CSP, error pages, the start page, and the page sets (staff now; patients and the
 * public site later) — each a router over the same guarded operations the API uses.
 */
import { randomBytes } from 'node:crypto';
import express, { Router, type NextFunction, type Request, type Response } from 'express';
import type { Db } from '../store/db.js';
import { loadAssets } from './assets.js';
import type { WebConfig } from './config.js';
import { DEMO_CLIENT_ID, DEMO_PROVIDER_PATH } from './demo-paths.js';
import type { DemoPatientDirectory } from './demo-users.js';
import { roleGate, type PageKit, type PageSet } from './page-kit.js';
import { renderErrorPage } from './page-errors.js';
import { createViews, ROLE_LABELS, type Renderer } from './render.js';
import { pageSecurityHeaders } from './security-headers.js';
import { SessionStore } from './session-store.js';
import { AnonymousFormTokens } from './form-tokens.js';
import { requireCsrf, Sessions } from './sessions.js';
import { signInRoutes } from './sign-in.js';

export interface WebDeps {
  db: Db;
  config: WebConfig;
  /** The service's public base URL. */
  baseUrl: string;
  providerOrganisations: { hospital: string; socialCare: string };
  /** The people of the demo sources (the demo sign-in offers them and refuses unknown NHS numbers). */
  demoPatients: DemoPatientDirectory;
  pageSets: PageSet[];
  /** Key of the anonymous forms' CSRF tokens (form-tokens.ts): the same on every instance. */
  formKey: Uint8Array;
  now?: () => Date;
}

export interface Web {
  /** Mount after request id, logging, helmet and compression, before the API's validator. */
  router: Router;
  /** Renders an error as a page (the app's terminal handler uses it for browser requests). */
  renderError(e: unknown, req: Request, res: Response): void;
  /** True for paths the pages own. */
  isPagePath(path: string): boolean;
}

const CORE_PREFIXES = ['/sign-in', '/sign-out', '/signed-out', '/auth/'];

/** Builds the web layer. With WEB_SIGN_IN=demo it also starts the embedded demo provider. */
export async function createWeb(deps: WebDeps): Promise<Web> {
  const now = deps.now ?? (() => new Date());
  const assets = loadAssets();
  const demo = deps.config.signIn.mode === 'demo';
  const views = createViews({
    serviceName: 'Integrated patient record',
    assets: assets.urls,
    footerLinks: [{ href: '/feedback', text: 'Give feedback about this service' }],
    demo,
  });
  const render: Renderer = views.render;
  const sessions = new Sessions({ store: new SessionStore(deps.db), secureCookies: deps.config.secureCookies, maxSessionHours: deps.config.maxSessionHours, now });

  const router = Router();
  router.use(assets.router);
  let signIn: { issuer: string; clientId: string; clientSecret: string; scope: string };
  if (deps.config.signIn.mode === 'off') throw new Error('createWeb: sign-in is off (WEB_SIGN_IN=off): do not build the pages');
  if (deps.config.signIn.mode === 'demo') {
    // Started on first use (it loads oidc-provider and Koa): the service's start-up does not wait for it.
    const clientSecret = randomBytes(32).toString('base64url');
    let provider: Promise<Router> | undefined;
    const demoRouter = () =>
      (provider ??= import('./demo-provider.js').then((m) => m.createDemoProvider({ baseUrl: deps.baseUrl, clientSecret, providers: deps.providerOrganisations, patients: deps.demoPatients, views })).then((p) => p.router));
    router.use(DEMO_PROVIDER_PATH, pageSecurityHeaders());
    router.use((req: Request, res: Response, next: NextFunction) => {
      if (req.path !== DEMO_PROVIDER_PATH && !req.path.startsWith(`${DEMO_PROVIDER_PATH}/`)) return next();
      demoRouter().then((r) => r(req, res, next), next);
    });
    signIn = { issuer: `${deps.baseUrl}${DEMO_PROVIDER_PATH}`, clientId: DEMO_CLIENT_ID, clientSecret, scope: 'openid profile' };
    // Warm it up in the background once the service is up, so the first sign-in does not wait.
    setTimeout(() => void demoRouter().catch(() => undefined), 0).unref();
  } else {
    signIn = deps.config.signIn;
  }
  const prefixes = [...CORE_PREFIXES, ...deps.pageSets.flatMap((s) => s.prefixes)];
  const isPagePath = (path: string) => path === '/' || prefixes.some((p) => path === p || path.startsWith(p.endsWith('/') ? p : `${p}/`));

  const claimed = (req: Request) => deps.pageSets.some((s) => s.claims?.(req) ?? false);
  const homeLinks = deps.pageSets.flatMap((s) => s.homeLinks ?? []);
  const anonymousForms = new AnonymousFormTokens(deps.formKey, deps.config.secureCookies);
  const kit: PageKit = { render, toHtml: views.toHtml, sessions, anonymousForms, staffIdleMinutes: deps.config.staffIdleMinutes, requireRole: roleGate(sessions, render, deps.config.staffIdleMinutes) };
  const pages = Router();
  const issuerOrigin = new URL(signIn.issuer).origin;
  pages.use(pageSecurityHeaders(issuerOrigin === new URL(deps.baseUrl).origin ? [] : [issuerOrigin]));
  pages.use(express.urlencoded({ extended: false, limit: '64kb', parameterLimit: 50 }));
  pages.use(sessions.middleware());
  pages.use(requireCsrf(anonymousForms));
  pages.get('/', (_req, res) => {
    const principal = res.locals.principal;
    const startLinks = principal ? deps.pageSets.flatMap((s) => s.startLinks?.(principal) ?? []) : [];
    const notice = res.locals.sessionEnded === 'idle' ? `You were signed out because the service was not used for ${res.locals.endedIdleMinutes ?? deps.config.staffIdleMinutes} minutes.` : undefined;
    render(res, 'home', { title: 'Start', roleLabel: principal ? ROLE_LABELS[principal.role as keyof typeof ROLE_LABELS] : '', startLinks, homeLinks, notice });
  });
  pages.use(
    signInRoutes({
      ...signIn,
      baseUrl: deps.baseUrl,
      claims: deps.config.claims,
      idleMinutes: { staff: deps.config.staffIdleMinutes, patient: deps.config.patientIdleMinutes },
      sessions,
      render,
    }),
  );
  for (const set of deps.pageSets) pages.use(set.router(kit));
  pages.use((req: Request, res: Response) => {
    render(res, 'error', { title: 'Page not found', paragraphs: ['If you typed the web address, check it is correct.'], code: 'no-such-route' }, 404);
  });
  pages.use((e: unknown, req: Request, res: Response, _next: NextFunction) => renderErrorPage(render, e, req, res));
  router.use((req, res, next) => (isPagePath(req.path) || claimed(req) ? pages(req, res, next) : next()));

  return {
    router,
    isPagePath,
    renderError: (e, req, res) => {
      pageSecurityHeaders()(req, res, () => undefined);
      renderErrorPage(render, e, req, res);
    },
  };
}
