import request from 'supertest';
import type { Bundle, BundleEntry, OperationOutcome, Resource } from 'fhir/r4.js';
import type { Express } from 'express';
import { SOURCE_TAG_SYSTEM } from '../../adapters/merge.js';

export const NHS = 'https://fhir.nhs.uk/Id/nhs-number';

export async function get(app: Express, path: string, token: string) {
  return request(app).get(path).set('Authorization', `Bearer ${token}`);
}

/** Finds the integrated patient id for an NHS number through the public search. */
export async function idForNhs(app: Express, token: string, nhsNumber: string): Promise<string> {
  const r = await get(app, `/fhir/Patient?identifier=${NHS}|${nhsNumber}`, token);
  if (r.status !== 200) throw new Error(`search failed: ${r.status} ${JSON.stringify(r.body)}`);
  const id = (r.body as Bundle).entry?.find((e) => e.search?.mode === 'match')?.resource?.id;
  if (!id) throw new Error('patient not found');
  return id;
}

export function matches(b: Bundle): Resource[] {
  return (b.entry ?? []).filter((e: BundleEntry) => e.search?.mode === 'match').map((e) => e.resource!);
}

export function outcomes(b: Bundle): OperationOutcome[] {
  return (b.entry ?? []).filter((e) => e.search?.mode === 'outcome').map((e) => e.resource as OperationOutcome);
}

export function sourcesOf(r: Resource): string[] {
  return (r.meta?.tag ?? []).filter((t) => t.system === SOURCE_TAG_SYSTEM).map((t) => t.code!);
}

export function issueCodes(oo: OperationOutcome | undefined): string[] {
  return (oo?.issue ?? []).map((i) => i.details?.coding?.[0]?.code ?? '');
}
