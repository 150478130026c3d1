import { pino, type Logger, type DestinationStream } from 'pino';

/**
 * JSON logs. Authorization headers and anything that could identify a patient are redacted:
 * request URLs are logged as paths without the query string (searches carry NHS numbers, names and
 * birth dates), and common identifier fields are censored wherever they appear.
 */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  '*.nhsNumber',
  '*.nhs_number',
  '*.birthDate',
  '*.family',
  '*.given',
  '*.name',
  '*.address',
  '*.postcode',
  '*.identifier',
];

export function createLogger(level: string, destination?: DestinationStream): Logger {
  return pino({ level, redact: { paths: REDACT_PATHS, censor: '[redacted]' }, base: { service: 'integrated-record' } }, destination);
}

/** The path of a URL without its query string: query values may identify a patient. */
export function pathOnly(url: string | undefined): string {
  if (!url) return '';
  const q = url.indexOf('?');
  return q >= 0 ? url.slice(0, q) : url;
}
