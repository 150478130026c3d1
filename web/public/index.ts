/**
 * The public transparency site (issue 18): the indicators listing and each indicator's page at the API's own
 * URLs (/indicators, /indicators/{id}: a page for browsers, JSON for API clients — content negotiation), each
 * organisation's page (/organisations/{code}), feedback on every page (/feedback) and the analysts' pages
 * (/analyst: refresh a period, snapshots, feedback received).
 */
import { Router } from 'express';
import type { PageSet } from '../page-kit.js';
import { analystPages } from './analyst-pages.js';
import { feedbackPages } from './feedback-pages.js';
import { indicatorPages, wantsPage } from './indicator-pages.js';
import { PublicData, type PublicDeps } from './operations.js';
import { organisationPages } from './organisation-pages.js';

export type { PublicDeps };

export function publicPages(deps: PublicDeps): PageSet {
  const data = new PublicData(deps);
  return {
    prefixes: ['/organisations', '/feedback', '/analyst'],
    claims: wantsPage,
    homeLinks: [{ href: '/indicators', text: 'Transparency indicators: how organisations compare' }],
    startLinks: (p) =>
      p.role === 'analyst'
        ? [
            { href: '/analyst/refresh', text: 'Refresh the indicators for a period' },
            { href: '/analyst/snapshots', text: 'Indicator snapshots and missing sources' },
            { href: '/analyst/feedback', text: 'Feedback on the indicators' },
          ]
        : [],
    router: (kit) => {
      const router = Router();
      const organisations = organisationPages(kit, data);
      data.onIndex = organisations.startWarming;
      router.use(indicatorPages(kit, data));
      router.use(organisations.router);
      router.use(feedbackPages(kit, data));
      router.use(analystPages(kit, data));
      return router;
    },
  };
}
