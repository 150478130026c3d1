import type { Classification, Direction } from './types.js';

/**
 * Polarity and the funnel comparison in words, for people and for programs (issue 18): the JSON API, the CSV
 * metadata and the pages all say it the same way. The words follow the indicator's polarity: "above the upper
 * limit" is "significantly better than expected" when higher is better, "significantly worse" when lower is better,
 * and only "significantly higher" when the indicator makes no judgement. Never a rank.
 */

export interface Polarity {
  code: Direction;
  text: string;
}

const POLARITY_TEXT: Record<Direction, string> = {
  'higher-is-better': 'Higher is better',
  'lower-is-better': 'Lower is better',
  'no-judgement': 'Neither higher nor lower is better (no judgement is made)',
};

/** The indicator's polarity as a code and in words. */
export function polarityOf(direction: Direction): Polarity {
  return { code: direction, text: POLARITY_TEXT[direction] };
}

export type ComparisonCode = 'better' | 'worse' | 'higher' | 'lower' | 'no-evidence-of-difference' | 'not-compared';

export interface Comparison {
  code: ComparisonCode;
  /** The limit crossed: '99.8' (alarm), '95' (alert) or null (none crossed, or not compared). */
  level: '95' | '99.8' | null;
  text: string;
}

/**
 * The comparison of one organisation with the target, following the polarity. `classification` null (value withheld
 * or no target) gives 'not-compared'.
 */
export function comparisonOf(classification: Classification | null, direction: Direction): Comparison {
  if (classification === null) return { code: 'not-compared', level: null, text: 'Not compared (the value is not published)' };
  if (classification === 'within-expected') {
    return { code: 'no-evidence-of-difference', level: null, text: 'No evidence of a difference from expected (within the 95 % limits)' };
  }
  const above = classification.startsWith('above');
  const level = classification.endsWith('alarm') ? '99.8' : '95';
  const code: ComparisonCode =
    direction === 'no-judgement' ? (above ? 'higher' : 'lower') : above === (direction === 'higher-is-better') ? 'better' : 'worse';
  const words = code === 'better' || code === 'worse' ? `Significantly ${code} than expected` : `Significantly ${code} than expected (no judgement is made)`;
  return { code, level, text: `${words}: outside the ${level} % ${above ? 'upper' : 'lower'} limit` };
}
