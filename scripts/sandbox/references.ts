import type { Reference, Resource } from 'fhir/r4.js';

/** Calls fn for every object with a string `reference` anywhere inside node (contained resources included). */
export function forEachReference(node: unknown, fn: (ref: Reference & { reference: string }) => void): void {
  if (Array.isArray(node)) {
    for (const item of node) forEachReference(item, fn);
    return;
  }
  if (node === null || typeof node !== 'object') return;
  const obj = node as Record<string, unknown>;
  if (typeof obj.reference === 'string') fn(obj as unknown as Reference & { reference: string });
  for (const value of Object.values(obj)) {
    if (value !== null && typeof value === 'object') forEachReference(value, fn);
  }
}

export const keyOf = (r: Resource): string => `${r.resourceType}/${r.id}`;

/**
 * Rewrites `urn:uuid:X` references to relative `Type/id` using the bundle's fullUrls (a Synthea resource's
 * id is the uuid). Contained (`#…`) and already-relative references are left alone; so are unresolvable ones.
 */
export function relinkUrnReferences(entries: { fullUrl?: string; resource: Resource }[]): void {
  const byUrl = new Map<string, string>();
  for (const { fullUrl, resource } of entries) {
    if (resource.id) byUrl.set(`urn:uuid:${resource.id}`, keyOf(resource));
    if (fullUrl) byUrl.set(fullUrl, keyOf(resource));
  }
  for (const { resource } of entries) {
    forEachReference(resource, (ref) => {
      if (ref.reference.startsWith('urn:uuid:')) ref.reference = byUrl.get(ref.reference) ?? ref.reference;
    });
  }
}

/** Replaces every reference equal to `from` with `to`. */
export function replaceReference(resource: Resource, from: string, to: string): void {
  forEachReference(resource, (ref) => {
    if (ref.reference === from) ref.reference = to;
  });
}

/** All relative `Type/id` references made by the resources. */
export function referencedKeys(resources: Resource[]): Set<string> {
  const keys = new Set<string>();
  for (const r of resources) forEachReference(r, (ref) => {
    if (!ref.reference.startsWith('#')) keys.add(ref.reference);
  });
  return keys;
}
