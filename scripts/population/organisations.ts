import { mulberry32 } from '../sandbox/hash.js';

/**
 * The organisations of the bulk synthetic population (scripts/generate-population.ts): ~30 local
 * authorities (ONS codes), ~20 hospital trusts (ODS codes) and ~200 GP practices (ODS codes), each practice
 * in one local authority whose residents are served by one "local" trust. Codes are fixed (the same for every
 * seed) so that figures from different runs can be compared; list sizes vary with the seed.
 *
 * Only social-services authorities appear: unitary authorities (E06), metropolitan districts (E08) and
 * London boroughs (E09). Shire districts (E07) have no adult social care duty, so they are not used.
 */

export interface PopulationOrganisations {
  localAuthorities: string[];
  trusts: string[];
  practices: { code: string; la: number; trust: number; weight: number }[];
}

export const LOCAL_AUTHORITY_COUNT = 30;
export const TRUST_COUNT = 20;
export const PRACTICE_COUNT = 200;

/** ODS trust codes look like "RR8", "RAE": R + letter + letter/digit. */
const TRUST_LETTERS = 'ABCDEFGHJKLMNPQTVWXY';
/** GP practice ODS codes: a commissioning-region letter and five digits (e.g. B86001). */
const PRACTICE_LETTERS = 'ABCDFGHJKLMNPY';

export function populationOrganisations(seed: number): PopulationOrganisations {
  const localAuthorities: string[] = [];
  for (let i = 0; i < 10; i++) localAuthorities.push(`E06${String(i + 1).padStart(6, '0')}`);
  for (let i = 0; i < 12; i++) localAuthorities.push(`E08${String(i + 1).padStart(6, '0')}`);
  for (let i = 0; i < 8; i++) localAuthorities.push(`E09${String(i + 1).padStart(6, '0')}`);
  const trusts = Array.from({ length: TRUST_COUNT }, (_, t) => `R${TRUST_LETTERS[t]}${t % 10}`);
  const rng = mulberry32(seed ^ 0x5eed0a9e);
  const practices = Array.from({ length: PRACTICE_COUNT }, (_, i) => {
    const la = Math.floor((i * LOCAL_AUTHORITY_COUNT) / PRACTICE_COUNT);
    // List sizes from ~1,000 to ~11,000 for 1M people, and a few very small practices (a few hundred),
    // so that disclosure control and funnel limits meet both ends.
    const weight = i % 50 === 7 ? 0.06 : 0.2 + rng() * 2;
    return {
      code: `${PRACTICE_LETTERS[la % PRACTICE_LETTERS.length]}${81001 + i}`,
      la,
      trust: Math.floor((la * TRUST_COUNT) / LOCAL_AUTHORITY_COUNT),
      weight,
    };
  });
  return { localAuthorities, trusts, practices };
}

/** Lower bounds of each practice's slice of [0, 1) (for SQL width_bucket): practice k gets [b[k], b[k+1]). */
export function practiceBounds(orgs: PopulationOrganisations): number[] {
  const total = orgs.practices.reduce((s, p) => s + p.weight, 0);
  const bounds: number[] = [];
  let acc = 0;
  for (const p of orgs.practices) {
    bounds.push(acc / total);
    acc += p.weight;
  }
  return bounds;
}
