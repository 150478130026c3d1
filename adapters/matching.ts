import type { Patient } from 'fhir/r4.js';

/**
 * Demographic matching for source records that carry no NHS number.
 *
 * Scoring rule (documented in the README):
 *  - date of birth must be identical and the family name must be equal after normalisation
 *    (case, accents, spaces, hyphens and apostrophes ignored); otherwise the score is 0;
 *  - family name +4;
 *  - first given name: equal +3; one is an initial or prefix of the other +1; different −3; missing 0;
 *  - postcode (spaces and case ignored): equal +3; same outward code +1; different −2; missing 0;
 *  - administrative gender: equal +1; different (both known) −3; missing/unknown 0.
 * A record is linked to a person when its score reaches LINK_THRESHOLD (8) for exactly one person;
 * reaching it for two or more people is ambiguous and the record is not linked.
 */
export const LINK_THRESHOLD = 8;

export interface Demographics {
  family?: string;
  given?: string;
  birthDate?: string;
  postcode?: string;
  gender?: string;
}

export function demographicsOf(p: Patient): Demographics {
  const name = p.name?.find((n) => n.use === 'official') ?? p.name?.[0];
  const address = p.address?.find((a) => a.use === 'home') ?? p.address?.[0];
  return {
    family: name?.family,
    given: name?.given?.[0],
    birthDate: p.birthDate,
    postcode: address?.postalCode,
    gender: p.gender,
  };
}

export function normaliseName(s: string): string {
  return s.normalize('NFD').replace(/[\u0300-\u036f]/g, '').toLowerCase().replace(/[^a-z]/g, '');
}

export function normalisePostcode(s: string): string {
  return s.replace(/\s+/g, '').toUpperCase();
}

function outward(postcode: string): string {
  const p = normalisePostcode(postcode);
  return p.length > 3 ? p.slice(0, -3) : p;
}

export function matchScore(a: Demographics, b: Demographics): number {
  if (!a.birthDate || a.birthDate !== b.birthDate) return 0;
  if (!a.family || !b.family || normaliseName(a.family) !== normaliseName(b.family)) return 0;
  let score = 4;
  if (a.given && b.given) {
    const ga = normaliseName(a.given);
    const gb = normaliseName(b.given);
    if (ga === gb) score += 3;
    else if (ga.length > 0 && gb.length > 0 && (ga.startsWith(gb) || gb.startsWith(ga))) score += 1;
    else score -= 3;
  }
  if (a.postcode && b.postcode) {
    if (normalisePostcode(a.postcode) === normalisePostcode(b.postcode)) score += 3;
    else if (outward(a.postcode) === outward(b.postcode)) score += 1;
    else score -= 2;
  }
  const known = (g?: string) => g === 'male' || g === 'female' || g === 'other';
  if (known(a.gender) && known(b.gender)) score += a.gender === b.gender ? 1 : -3;
  return score;
}

export type MatchResult<K> =
  | { kind: 'linked'; key: K; score: number }
  | { kind: 'ambiguous'; keys: K[] }
  | { kind: 'none' };

/** Decides which known person (if any) a record without NHS number belongs to. */
export function resolveMatch<K>(record: Demographics, people: { key: K; demographics: Demographics }[]): MatchResult<K> {
  const hits = people
    .map((p) => ({ key: p.key, score: matchScore(record, p.demographics) }))
    .filter((h) => h.score >= LINK_THRESHOLD);
  if (hits.length === 1) return { kind: 'linked', key: hits[0]!.key, score: hits[0]!.score };
  if (hits.length > 1) return { kind: 'ambiguous', keys: hits.map((h) => h.key) };
  return { kind: 'none' };
}
