import type { Bundle, Patient, Resource } from 'fhir/r4.js';
import type { PatientQuery } from '../adapters/types.js';
import { searchset } from '../fhir/bundle.js';
import type { PatientRef, RecordRepository, Warning } from '../adapters/record-repository.js';
import type { EverythingParams } from './search.js';

/** FHIR operations on Patient: plain functions over a repository, free of HTTP. */
export interface OperationContext {
  repo: RecordRepository;
  /** Base URL of the FHIR endpoint, e.g. https://host/fhir */
  baseUrl: string;
  signal?: AbortSignal;
  /** Told which sources a response lacks data from (the HTTP layer sets X-Incomplete-Sources). */
  incomplete?: (sources: string[]) => void;
}

/** Reports the sources whose data is missing (not consent: that is withheld, not missing) to the context. */
export function reportIncomplete(ctx: OperationContext, warnings: readonly Warning[]): void {
  const sources = [...new Set(warnings.filter((w) => w.source !== 'consent').map((w) => w.source))];
  if (sources.length > 0) ctx.incomplete?.(sources);
}

export async function searchPatients(ctx: OperationContext, query: PatientQuery, selfUrl: string): Promise<Bundle> {
  const { patients, warnings } = await ctx.repo.findPatients(query, ctx.signal);
  reportIncomplete(ctx, warnings);
  // No total when a source's answer is missing or incomplete: a count would present the result as complete.
  return searchset(
    patients.map((p) => p.patient),
    { baseUrl: ctx.baseUrl, links: { self: selfUrl }, ...(warnings.length > 0 ? {} : { total: patients.length }), warnings },
  );
}

export async function readPatient(ctx: OperationContext, ref: PatientRef): Promise<{ patient: Patient; warnings: Warning[] }> {
  const result = await ctx.repo.readPatient(ref, ctx.signal);
  reportIncomplete(ctx, result.warnings);
  return result;
}

/** Sort order that keeps paging stable between calls: the Patient first, then by type and id. */
function pageOrder(a: Resource, b: Resource): number {
  if (a.resourceType === 'Patient' && b.resourceType !== 'Patient') return -1;
  if (b.resourceType === 'Patient' && a.resourceType !== 'Patient') return 1;
  // Ordinal comparison: stable across locales and far cheaper than localeCompare's collation.
  return ordinal(a.resourceType, b.resourceType) || ordinal(a.id ?? '', b.id ?? '');
}

const ordinal = (x: string, y: string) => (x < y ? -1 : x > y ? 1 : 0);

/** Patient/$everything over the federated record, paged with `_count`/`_offset` next/previous links. */
export async function everything(ctx: OperationContext, ref: PatientRef, params: EverythingParams): Promise<Bundle> {
  const { id } = ref;
  const result = await ctx.repo.everything(ref, ctx.signal, params.types ? { types: params.types } : undefined);
  reportIncomplete(ctx, result.warnings);
  const all = result.resources
    .filter((r) => !params.types || params.types.includes(r.resourceType))
    .sort(pageOrder);
  const page = all.slice(params.offset, params.offset + params.count);
  const url = (offset: number) => {
    const q = new URLSearchParams({ _count: String(params.count), _offset: String(offset) });
    if (params.types) q.set('_type', params.types.join(','));
    return `${ctx.baseUrl}/Patient/${id}/$everything?${q}`;
  };
  return searchset(page, {
    baseUrl: ctx.baseUrl,
    // Never a total for a record that is incomplete (consent-filtered, or a source missing or cut short).
    ...(result.consentFiltered || result.warnings.length > 0 ? {} : { total: all.length }),
    warnings: result.warnings,
    links: {
      self: url(params.offset),
      ...(params.offset + params.count < all.length ? { next: url(params.offset + params.count) } : {}),
      ...(params.offset > 0 ? { previous: url(Math.max(0, params.offset - params.count)) } : {}),
    },
  });
}
