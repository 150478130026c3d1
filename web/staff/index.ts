/**
 * The staff page set: the ambulance crew (/crew), the clinician's integrated record (/record) and the
 * privacy officer (/privacy). Each page calls the same guarded operations as the API (./operations.ts).
 */
import { Router } from 'express';
import type { PageSet } from '../page-kit.js';
import { crewPages } from './crew-pages.js';
import type { StaffDeps } from './operations.js';
import { privacyPages } from './privacy-pages.js';
import { recordPages } from './record-pages.js';

export type { StaffDeps };

export function staffPages(deps: StaffDeps & { grantMinutes: number }): PageSet {
  return {
    prefixes: ['/crew', '/record', '/privacy'],
    startLinks: (p) =>
      p.role === 'ambulance-crew'
        ? [{ href: '/crew', text: 'Find a patient' }]
        : p.role === 'clinician'
          ? [{ href: '/record', text: 'Find a patient' }]
          : p.role === 'privacy-officer'
            ? [
                { href: '/privacy/alerts', text: 'Emergency access to review' },
                { href: '/privacy/audit', text: 'Search the audit trail' },
              ]
            : [],
    router: (kit) => {
      const router = Router();
      router.use(crewPages(kit, deps));
      router.use(recordPages(kit, deps));
      router.use(privacyPages(kit, deps));
      return router;
    },
  };
}
