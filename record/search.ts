import type { PatientQuery } from '../adapters/types.js';
import { NHS_NUMBER_SYSTEM, isValidNhsNumber } from '../fhir/nhs-number.js';
import { badRequest } from '../fhir/outcomes.js';
import { integerParam, MAX_OFFSET, PARAM_NAME } from '../fhir/parameters.js';

/** Query parameters as Express gives them (a repeated parameter arrives as an array). */
export type RawParams = Record<string, unknown>;

const PATIENT_PARAMS = ['identifier', 'family', 'given', 'birthdate', 'address-postalcode'] as const;
const EVERYTHING_PARAMS = ['_count', '_offset', '_type'] as const;
export const MAX_COUNT = 1000;

/** Rejects parameters this endpoint does not support (never silently ignored) and repeated ones. */
function single(params: RawParams, allowed: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(params)) {
    if (!allowed.includes(name)) {
      throw badRequest('unknown-parameter', `Search parameter ${PARAM_NAME.test(name) ? `'${name}'` : '(unrecognised name)'} is not supported here; supported: ${allowed.join(', ')}.`, PARAM_NAME.test(name) ? [name] : undefined);
    }
    // The OpenAPI layer may already have coerced a number; arrays mean the parameter was repeated.
    if (typeof value === 'number') out[name] = String(value);
    else if (typeof value === 'string') out[name] = value;
    else throw badRequest('repeated-parameter', `Parameter '${name}' must be given once.`, [name]);
  }
  return out;
}

/** Parses a Patient search once into its typed form: by NHS number, or by family name + birth date. */
export function parsePatientSearch(raw: RawParams): PatientQuery {
  const p = single(raw, PATIENT_PARAMS);
  if (p.identifier !== undefined) {
    if (Object.keys(p).length > 1) {
      throw badRequest('invalid-combination', "Search by 'identifier' alone, or by 'family' + 'birthdate' (+ 'given', 'address-postalcode').", ['identifier']);
    }
    const bar = p.identifier.indexOf('|');
    const system = bar >= 0 ? p.identifier.slice(0, bar) : '';
    const value = bar >= 0 ? p.identifier.slice(bar + 1) : p.identifier;
    if (system !== NHS_NUMBER_SYSTEM) {
      throw badRequest('unsupported-identifier-system', `Patient identifier must be given as '${NHS_NUMBER_SYSTEM}|<NHS number>'.`, ['identifier']);
    }
    if (!isValidNhsNumber(value)) {
      throw badRequest('invalid-nhs-number', 'The NHS number in identifier is not valid: it must be 10 digits with a correct modulus-11 check digit.', ['identifier']);
    }
    return { kind: 'nhs-number', nhsNumber: value.replace(/\s+/g, '') };
  }
  if (!p.family || !p.birthdate) {
    throw badRequest('missing-parameter', "A Patient search needs 'identifier' (NHS number) or both 'family' and 'birthdate'.", [p.family ? 'birthdate' : 'family']);
  }
  const birth = /^(eq)?(\d{4}-\d{2}-\d{2})$/.exec(p.birthdate);
  if (!birth || Number.isNaN(Date.parse(birth[2]!))) {
    throw badRequest('invalid-date', "'birthdate' must be a full date YYYY-MM-DD (optionally prefixed 'eq').", ['birthdate']);
  }
  if (p.family.trim().length === 0) throw badRequest('invalid-parameter', "'family' must not be empty.", ['family']);
  return {
    kind: 'demographics',
    family: p.family.trim(),
    birthDate: birth[2]!,
    ...(p.given ? { given: p.given.trim() } : {}),
    ...(p['address-postalcode'] ? { postcode: p['address-postalcode'].trim() } : {}),
  };
}

export interface EverythingParams {
  count: number;
  offset: number;
  types?: string[];
}

export function parseEverything(raw: RawParams, defaultCount: number): EverythingParams {
  const p = single(raw, EVERYTHING_PARAMS);
  const int = integerParam;
  const types = p._type?.split(',').map((t) => t.trim());
  if (types?.some((t) => !/^[A-Z][A-Za-z]+$/.test(t))) {
    throw badRequest('invalid-parameter', "'_type' must be a comma-separated list of resource types.", ['_type']);
  }
  return {
    count: int('_count', p._count, 1, MAX_COUNT, defaultCount),
    offset: int('_offset', p._offset, 0, MAX_OFFSET, 0),
    ...(types ? { types } : {}),
  };
}
