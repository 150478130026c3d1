import { badRequest } from './outcomes.js';

/** Names echoed in messages only when they look like parameter names (never patient data someone typed). */
export const PARAM_NAME = /^[A-Za-z_][A-Za-z0-9_\-.:]{0,63}$/;

/** The largest `_offset` any listing accepts (paging beyond it is not a real use). */
export const MAX_OFFSET = 10_000_000;

/**
 * A whole-number parameter (`_count`, `_offset`): decimal digits only, within [min, max]; absent → dflt.
 * `1e21`, `Infinity`, `-1`, `9223372036854775807` → 400 naming the parameter. Accepts what the OpenAPI
 * layer may already have coerced to a number.
 */
export function integerParam(name: string, v: unknown, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  const text = typeof v === 'number' ? String(v) : v;
  if (typeof text !== 'string' || !/^\d{1,15}$/.test(text) || Number(text) < min || Number(text) > max) {
    throw badRequest('invalid-parameter', `'${name}' must be an integer from ${min} to ${max}.`, [name]);
  }
  return Number(text);
}
