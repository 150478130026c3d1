import type { Queryable } from '../../store/db.js';
import type { PopulationOrganisations } from './organisations.js';
import type { PopulationOptions, PopulationSummary } from './generate.js';

/** What every step of the population generator shares (built once by generatePopulation). */
export interface GenerationContext {
  /** One session (temporary tables and search_path are used). */
  q: Queryable;
  o: PopulationOptions;
  /** Schema names of the three sources. */
  s: { gp: string; hospital: string; socialCare: string };
  /** SQL literal of the as-of date. */
  REF: string;
  asOf: string;
  /** SQL expression: uniform [0, 1) from (seed, key, salt). */
  u: (key: string, salt: number) => string;
  /** Runs one bulk statement, logs its row count and time, returns the row count. */
  step: (label: string, sql: string) => Promise<number>;
  /** INSERT of facts from `select` (fact columns plus b = birth date, l = last date alive), dates in life only. */
  facts: (schema: string, select: string) => string;
  /** SQL select list of b and l for the working table `g`. */
  life: string;
  /** SQL select list of kind, system and code. */
  fact: (kind: string, system: string, code: string) => string;
  summary: PopulationSummary;
  orgs: PopulationOrganisations;
  /** SQL array of the trust codes. */
  trusts: string;
}

/** A SQL string literal. */
export const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;
/** A SQL text[] literal. */
export const sqlArray = (xs: readonly string[]) => `ARRAY[${xs.map(sqlText).join(',')}]::text[]`;
