/**
 * The patient page set: My record (/my-record), My sharing choices with the preview (/my-choices) and
 * Who looked at my record (/who-looked). The patient is always the signed-in Principal's own record.
 */
import { Router } from 'express';
import type { PageSet } from '../page-kit.js';
import { accessPages } from './access-pages.js';
import { choicesPages } from './choices-pages.js';
import type { OrganisationChoice, PatientDeps } from './operations.js';
import { recordPages } from './record-pages.js';

export type { OrganisationChoice, PatientDeps };

export function patientPages(deps: PatientDeps): PageSet {
  return {
    prefixes: ['/my-record', '/my-choices', '/who-looked'],
    startLinks: (p) =>
      p.role === 'patient'
        ? [
            { href: '/my-record', text: 'My record' },
            { href: '/my-choices', text: 'My sharing choices' },
            { href: '/who-looked', text: 'Who looked at my record' },
          ]
        : [],
    router: (kit) => {
      const router = Router();
      router.use(recordPages(kit, deps));
      router.use(choicesPages(kit, deps));
      router.use(accessPages(kit, deps));
      return router;
    },
  };
}
