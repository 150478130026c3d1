import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import type { SourceKind } from './types.js';

/** An organisation behind a source, by ODS code. */
export interface RegistryOrganisation {
  ods: string;
  type: 'gp-practice' | 'trust' | 'council';
  name?: string;
}

/** Outbound authentication to a source: none, or SMART Backend Services (client credentials, private_key_jwt). */
export type RegistryAuth =
  | { type: 'none' }
  | { type: 'smart-backend'; tokenUrl: string; clientId: string; privateKeyFile: string; keyId: string; algorithm: 'ES384' | 'RS384'; scope: string };

/** One source system of the region. */
export interface RegistrySource {
  id: string;
  /** Protocol: FHIR R4 REST, or the councils' social-care JSON API. */
  kind: 'fhir' | 'social-care-api';
  /** GP system, hospital system or social care (from its organisations' type). */
  category: SourceKind;
  displayName: string;
  organisations: RegistryOrganisation[];
  baseUrl: string;
  /**
   * Root of the source's aggregate query API (`/aggregate/v1/…`, indicators). Optional: a source without one
   * is not an aggregate source (the indicators do not ask it).
   */
  aggregateUrl?: string;
  deadlineMs?: number;
  auth: RegistryAuth;
}

/** One source of the indicators' aggregate counts. */
export interface AggregateSourceConfig {
  id: string;
  kind: SourceKind;
  /** How a snapshot names it when it is missing. */
  name: string;
  /** Server root; the API is under /aggregate/v1. */
  baseUrl: string;
}

export class RegistryError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid source registry:\n  ${problems.join('\n  ')}`);
    this.name = 'RegistryError';
  }
}

const CATEGORY: Record<RegistryOrganisation['type'], SourceKind> = { 'gp-practice': 'gp', trust: 'hospital', council: 'social-care' };

/** Reads and validates a registry file (JSON, or YAML by extension); every problem names the entry and field. */
export function loadRegistryFile(path: string): RegistrySource[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new RegistryError([`file ${path} cannot be read`]);
  }
  let doc: unknown;
  try {
    doc = /\.ya?ml$/i.test(path) ? parseYaml(text) : JSON.parse(text);
  } catch (e) {
    throw new RegistryError([`file ${path} is not valid ${/\.ya?ml$/i.test(path) ? 'YAML' : 'JSON'}: ${(e as Error).message.split('\n')[0]}`]);
  }
  return validateRegistry(doc);
}

/**
 * Validates a registry document `{ sources: [...] }`. Each source: `id` (lower-case letters, digits,
 * hyphens; unique), `kind` (`fhir` | `social-care-api`), `displayName`, `organisations` (one or more,
 * `{ ods, type: gp-practice | trust | council, name? }`, all of one type), `baseUrl` (http/https),
 * `aggregateUrl` (optional, http/https: the root of its aggregate API; without it, not an aggregate source),
 * `deadlineMs` (optional, 50..60000), `auth` (optional: `{ type: none }` or `{ type: smart-backend,
 * tokenUrl, clientId, privateKeyFile, keyId, algorithm: ES384 | RS384, scope }`).
 */
export function validateRegistry(doc: unknown): RegistrySource[] {
  const problems: string[] = [];
  const sources = (doc as { sources?: unknown } | null)?.sources;
  if (!Array.isArray(sources) || sources.length === 0) throw new RegistryError(['sources: must be a non-empty list']);
  const out: RegistrySource[] = [];
  const ids = new Set<string>();
  sources.forEach((raw, i) => {
    const s = (raw ?? {}) as Record<string, unknown>;
    const name = typeof s.id === 'string' && s.id ? `sources[${i}] (${s.id})` : `sources[${i}]`;
    const bad = (field: string, what: string) => problems.push(`${name}.${field}: ${what}`);
    if (typeof s.id !== 'string' || !/^[a-z][a-z0-9-]{0,39}$/.test(s.id)) bad('id', 'must be 1-40 lower-case letters, digits or hyphens, starting with a letter');
    else if (ids.has(s.id)) bad('id', 'is used by another source');
    else ids.add(s.id);
    if (s.kind !== 'fhir' && s.kind !== 'social-care-api') bad('kind', "must be 'fhir' or 'social-care-api'");
    if (typeof s.displayName !== 'string' || !s.displayName.trim()) bad('displayName', 'is required');
    const orgs = Array.isArray(s.organisations) ? s.organisations : [];
    if (orgs.length === 0) bad('organisations', 'must list at least one organisation');
    const types = new Set<string>();
    orgs.forEach((o: unknown, j) => {
      const org = (o ?? {}) as Record<string, unknown>;
      if (typeof org.ods !== 'string' || !/^[A-Z0-9]{3,10}$/.test(org.ods)) bad(`organisations[${j}].ods`, 'must be an ODS code of 3 to 10 capital letters or digits');
      if (typeof org.type !== 'string' || !(org.type in CATEGORY)) bad(`organisations[${j}].type`, "must be 'gp-practice', 'trust' or 'council'");
      else types.add(org.type);
    });
    if (types.size > 1) bad('organisations', 'must all be of one type (a source is a GP system, a hospital system or a council system)');
    if (s.kind === 'social-care-api' && types.size === 1 && !types.has('council')) bad('organisations', "of a social-care-api source must be of type 'council'");
    let baseUrl = '';
    try {
      const u = new URL(String(s.baseUrl));
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
      baseUrl = String(s.baseUrl).replace(/\/+$/, '');
    } catch {
      bad('baseUrl', 'must be an http(s) URL');
    }
    let aggregateUrl: string | undefined;
    if (s.aggregateUrl !== undefined) {
      try {
        const u = new URL(String(s.aggregateUrl));
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error();
        aggregateUrl = String(s.aggregateUrl).replace(/\/+$/, '');
      } catch {
        bad('aggregateUrl', 'must be an http(s) URL (the root of the source\'s aggregate API) or be left out');
      }
    }
    if (s.deadlineMs !== undefined && (!Number.isInteger(s.deadlineMs) || (s.deadlineMs as number) < 50 || (s.deadlineMs as number) > 60_000)) bad('deadlineMs', 'must be an integer from 50 to 60000');
    const auth = validateAuth(s.auth, bad);
    if (problems.length === 0) {
      out.push({
        id: s.id as string,
        kind: s.kind as RegistrySource['kind'],
        category: CATEGORY[[...types][0] as RegistryOrganisation['type']],
        displayName: (s.displayName as string).trim(),
        organisations: orgs.map((o) => ({ ods: (o as RegistryOrganisation).ods, type: (o as RegistryOrganisation).type, ...((o as RegistryOrganisation).name ? { name: String((o as RegistryOrganisation).name) } : {}) })),
        baseUrl,
        ...(aggregateUrl ? { aggregateUrl } : {}),
        ...(s.deadlineMs !== undefined ? { deadlineMs: s.deadlineMs as number } : {}),
        auth,
      });
    }
  });
  if (problems.length > 0) throw new RegistryError(problems);
  return out;
}

function validateAuth(raw: unknown, bad: (field: string, what: string) => void): RegistryAuth {
  if (raw === undefined) return { type: 'none' };
  const a = (raw ?? {}) as Record<string, unknown>;
  if (a.type === 'none') return { type: 'none' };
  if (a.type !== 'smart-backend') {
    bad('auth.type', "must be 'none' or 'smart-backend'");
    return { type: 'none' };
  }
  for (const f of ['tokenUrl', 'clientId', 'privateKeyFile', 'keyId', 'scope'] as const) {
    if (typeof a[f] !== 'string' || !(a[f] as string).trim()) bad(`auth.${f}`, 'is required for smart-backend');
  }
  if (typeof a.tokenUrl === 'string' && !/^https?:\/\//.test(a.tokenUrl)) bad('auth.tokenUrl', 'must be an http(s) URL');
  if (a.algorithm !== 'ES384' && a.algorithm !== 'RS384') bad('auth.algorithm', "must be 'ES384' or 'RS384'");
  return a as unknown as RegistryAuth;
}

/** The registry of the simple configuration: one GP system, one hospital system, one council system. */
export function simpleRegistry(urls: { gp: string; hospital: string; socialCare: string }, orgs: { hospital: string; socialCare: string }): RegistrySource[] {
  return [
    { id: 'gp', kind: 'fhir', category: 'gp', displayName: 'GP practice system', organisations: [], baseUrl: urls.gp, auth: { type: 'none' } },
    { id: 'hospital', kind: 'fhir', category: 'hospital', displayName: 'Hospital system', organisations: [{ ods: orgs.hospital, type: 'trust' }], baseUrl: urls.hospital, auth: { type: 'none' } },
    { id: 'social-care', kind: 'social-care-api', category: 'social-care', displayName: 'Social care system', organisations: [{ ods: orgs.socialCare, type: 'council' }], baseUrl: urls.socialCare, auth: { type: 'none' } },
  ];
}

/** ODS codes whose staff have a care relationship with every patient a source holds (trusts, councils; not GP practices). */
export function relationshipOrganisations(source: RegistrySource): string[] {
  return source.category === 'gp' ? [] : source.organisations.map((o) => o.ods);
}

/** The registry's aggregate sources: every entry with an `aggregateUrl`, named by its display name. */
export function aggregateSourcesOf(registry: readonly RegistrySource[]): AggregateSourceConfig[] {
  return registry.filter((s) => s.aggregateUrl).map((s) => ({ id: s.id, kind: s.category, name: s.displayName, baseUrl: s.aggregateUrl! }));
}
