/**
 * The demo identity provider's people: one for every staff role and organisation the sandbox has, and
 * demo patients: a few of the demo sources' own people offered by name, or anyone the demo sources know
 * by the NHS number typed at sign-in (an unknown number is refused). All labelled as demo. Never used when
 * NODE_ENV=production (web/config.ts refuses WEB_SIGN_IN=demo there).
 */
import { createHash } from 'node:crypto';
import type { Role } from '../identity/principal.js';

export interface DemoUser {
  id: string;
  name: string;
  role: Role;
  org?: string;
  nhsNumber?: string;
  /** One line for the demo sign-in page. */
  description: string;
}

/** Who the demo sources hold, as the demo sign-in needs it (server/compose.ts asks the configured sources). */
export interface DemoPatientDirectory {
  /** A few people the demo sources hold: a name and the NHS number. */
  list(): Promise<{ name: string; nhsNumber: string }[]>;
  /** Whether any demo source knows someone by this NHS number (throws when no source could be asked). */
  known(nhsNumber: string): Promise<boolean>;
}

/** The sandbox's GP practices (scripts/sandbox/uk.ts GP_PRACTICES). */
const GP_PRACTICES = ['A81001', 'B82005', 'C84001', 'D81002', 'Y02494'];

/** Demo staff for the configured provider organisations. */
export function demoStaff(providers: { hospital: string; socialCare: string }): DemoUser[] {
  return [
    { id: 'demo-crew', name: 'Demo ambulance crew member', role: 'ambulance-crew', org: 'RX9', description: 'Ambulance crew, ambulance service RX9 (no care relationship: uses emergency access)' },
    { id: 'demo-hospital-clinician', name: 'Demo hospital clinician', role: 'clinician', org: providers.hospital, description: `Clinician, hospital trust ${providers.hospital}` },
    ...GP_PRACTICES.map((ods): DemoUser => ({ id: `demo-gp-${ods}`, name: `Demo GP at ${ods}`, role: 'clinician', org: ods, description: `GP, practice ${ods}` })),
    { id: 'demo-social-care', name: 'Demo social care practitioner', role: 'clinician', org: providers.socialCare, description: `Social care practitioner, council ${providers.socialCare}` },
    { id: 'demo-privacy-officer', name: 'Demo privacy officer', role: 'privacy-officer', org: 'X26', description: 'Privacy officer, X26' },
    { id: 'demo-analyst', name: 'Demo analyst', role: 'analyst', org: 'X26', description: 'Analyst, X26' },
  ];
}

/** A demo patient's account id: derived from the NHS number, which it does not reveal. */
export function demoPatientId(nhsNumber: string): string {
  return `demo-patient-${createHash('sha256').update(`demo-patient:${nhsNumber}`).digest('hex').slice(0, 16)}`;
}
