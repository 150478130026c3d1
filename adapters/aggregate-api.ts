import { createHmac } from 'node:crypto';
import type { Criterion, IndicatorSpec, Population, ReportingPeriod } from './aggregate-query.js';

/**
 * Wire types of the AGGREGATE query API every source system offers (issue #5), as the service's
 * adapters/aggregate-client.ts consumes it and the sandbox serves it (scripts/sandbox/extract/routes.ts).
 * Only counts, or keyed pseudonyms valid for one refresh, ever leave a source.
 *
 *   GET  /aggregate/v1/version                                        → VersionResponse
 *   POST /aggregate/v1/keys       PrepareKeyRequest                   → PrepareKeyResponse (201 keyed now, 200 already held)
 *   POST /aggregate/v1/sessions   SessionRequest                      → SessionResponse (201)
 *   DELETE /aggregate/v1/sessions/{id}                                → 204 (the session and its exclusions are dropped)
 *   POST /aggregate/v1/counts     CountsRequest                       → CountsResponse
 *   POST /aggregate/v1/pseudonyms PseudonymsRequest                   → PopulationPseudonymsResponse | CriterionPseudonymsResponse
 *   errors                                                            → { error: string } (400 invalid, 404 unknown session)
 *
 * Keyed pseudonym of a person = base64url of the first 16 bytes of HMAC-SHA256(session key, NHS number)
 * (22 characters; collisions are negligible at national scale); people without an NHS
 * number have none (they cannot be linked, and cannot be excluded by opt-out: see the limitations).
 *
 * Keys change monthly (indicators/pseudonyms.ts). A source keys every person it holds once per key: ahead of
 * time when the service PREPARES the key (POST /keys), else when the first session with that key opens (that
 * session then takes as long as the keying). A source holds the keyed pseudonyms of at most a few recent keys
 * and drops the rest; a source that does not offer /keys still works, paying the keying in the session.
 * Whatever it keeps, a session must see every person the source holds when it opens: people added since the
 * key was prepared are keyed before the session answers (the sandbox keys each extract version afresh), or
 * someone who opted out would be counted and someone linkable would not be linked.
 */

export interface VersionResponse {
  source: string;
  version: string;
  builtAt: string;
  /** The date of the latest event the extract holds (YYYY-MM-DD), when it holds any: which periods have data. */
  dataThrough?: string;
}

export interface PrepareKeyRequest {
  /** The key of a pseudonym epoch, base64url (32 bytes). */
  key: string;
}
export interface PrepareKeyResponse {
  /** How many people the source keyed (those with an NHS number). */
  people: number;
  /** Whether the source keyed them for this call (false: it held them already). */
  keyed: boolean;
  version: string;
}

export interface SessionRequest {
  /** The HMAC key (the month's: indicators/pseudonyms.ts), base64url (32 bytes). */
  key: string;
  /** Keyed pseudonyms of people who opted out of secondary use: the source leaves them out of everything. */
  optedOut: string[];
}
export interface SessionResponse {
  session: string;
  version: string;
  /** Seconds the session stays usable. */
  expiresIn: number;
  /** People the source holds without an NHS number: they cannot be linked to another source (nor excluded by opt-out). */
  unlinkable?: number;
  /** Whether the key was prepared before the session (false: opening the session waited while every person was keyed). */
  keyPrepared?: boolean;
}

export interface CountsRequest {
  session: string;
  period: ReportingPeriod;
  windowMonths: number;
  /** The whole spec; every criterion must be held by this source. */
  spec: IndicatorSpec;
}
/** One row per organisation × stratum (ageBand/sex null when the indicator is not stratified). */
export interface CountRow {
  org: string;
  ageBand: string | null;
  sex: string | null;
  numerator: number;
  denominator: number;
}
export interface CountsResponse {
  version: string;
  rows: CountRow[];
}

export type PseudonymsRequest =
  /** The population side of a cross-source indicator: members per organisation × stratum, and which meet `criteria` (held here). */
  | { session: string; period: ReportingPeriod; windowMonths: number; population: Population; criteria: Criterion[] }
  /** The other side: everyone this source holds who meets ALL `criteria`. */
  | { session: string; period: ReportingPeriod; windowMonths: number; criteria: Criterion[] };

export interface PseudonymGroup {
  org: string;
  ageBand: string;
  sex: string;
  /** How many members of the population are in this group (a count: members' pseudonyms are not needed). */
  denominator: number;
  /** Keyed pseudonyms of the members who also meet the request's criteria. */
  matching: string[];
}
export interface PopulationPseudonymsResponse {
  version: string;
  groups: PseudonymGroup[];
}
export interface CriterionPseudonymsResponse {
  version: string;
  pseudonyms: string[];
}

/** Keyed pseudonym of an NHS number under a session key (both sides compute it the same way). */
export function keyedPseudonym(key: Uint8Array, nhsNumber: string): string {
  return createHmac('sha256', key).update(nhsNumber.replace(/\s+/g, ''), 'utf8').digest().subarray(0, 16).toString('base64url');
}
