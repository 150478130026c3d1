/**
 * Repeated laboratory tests as a small trend: an SVG line (no script, no inline style — CSP) with the
 * same values in a table beside it. Pure: values in, drawing coordinates out.
 */
import type { Observation, Resource } from 'fhir/r4.js';
import { lineGeometry, type LineGeometry } from '../charts/line.js';
import { conceptText, dateOf, sourcesOf } from './view-model.js';

/** A trend: the test, its values, and the drawing (SVG polyline points "x,y x,y" and the circles). */
export interface Trend extends LineGeometry {
  name: string;
  unit: string;
  points: { when: string; value: number; sources: string }[];
}

/** One trend per test with two or more numeric values (oldest to newest), at most `limit` trends. */
export function trendsOf(resources: Resource[], limit = 6): Trend[] {
  const groups = new Map<string, Observation[]>();
  for (const r of resources) {
    const o = r as Observation;
    if (r.resourceType !== 'Observation' || typeof o.valueQuantity?.value !== 'number') continue;
    const key = o.code?.coding?.[0]?.code ?? conceptText(o.code);
    if (!key) continue;
    groups.set(key, [...(groups.get(key) ?? []), o]);
  }
  const trends: Trend[] = [];
  for (const list of groups.values()) {
    if (list.length < 2) continue;
    const sorted = [...list].sort((a, b) => dateOf(a).localeCompare(dateOf(b)));
    const points = sorted.map((o) => ({ when: dateOf(o), value: o.valueQuantity!.value!, sources: sourcesOf(o).join(', ') }));
    trends.push({
      name: conceptText(sorted[0]!.code, 'Test'),
      unit: sorted[0]!.valueQuantity?.unit ?? '',
      points,
      ...lineGeometry(points.map((p) => ({ label: `${p.when}: ${p.value}`, value: p.value }))),
    });
    if (trends.length >= limit) break;
  }
  return trends;
}
