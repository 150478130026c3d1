import { pino, type Logger, type DestinationStream } from 'pino';

/**
 * JSON logs. Authorization headers and anything that could identify a patient are redacted:
 * requests are logged by their documented route (server/route-patterns.ts), never by raw path or query
 * (both may carry NHS numbers, names and birth dates), and common identifier fields are censored wherever
 * they appear.
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
