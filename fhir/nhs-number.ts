/** NHS number: 10 digits, the last a modulus-11 check digit over the first nine (weights 10..2). */
export const NHS_NUMBER_SYSTEM = 'https://fhir.nhs.uk/Id/nhs-number';
/** Organisation Data Service codes (GP practices, trusts, councils). */
export const ODS_SYSTEM = 'https://fhir.nhs.uk/Id/ods-organization-code';
/** ONS statistical geography codes (local authorities, e.g. E08000035). */
export const LA_SYSTEM = 'http://statistics.data.gov.uk/id/statistical-geography';

/** The check digit for nine leading digits, or undefined when none exists (remainder gives 10). */
export function nhsCheckDigit(nineDigits: string): number | undefined {
  if (!/^\d{9}$/.test(nineDigits)) return undefined;
  let sum = 0;
  for (let i = 0; i < 9; i++) sum += Number(nineDigits[i]) * (10 - i);
  const check = 11 - (sum % 11);
  if (check === 11) return 0;
  if (check === 10) return undefined;
  return check;
}

export function isValidNhsNumber(value: string): boolean {
  const digits = value.replace(/\s+/g, '');
  if (!/^\d{10}$/.test(digits)) return false;
  return nhsCheckDigit(digits.slice(0, 9)) === Number(digits[9]);
}

/**
 * A deterministic, valid NHS number in the 999 test range derived from a seed integer.
 * Seeds whose nine digits have no check digit are skipped forward, so the result is always valid.
 */
export function testNhsNumber(seed: number): string {
  let n = Math.abs(Math.floor(seed)) % 1_000_000;
  for (;;) {
    const nine = '999' + String(n).padStart(6, '0');
    const check = nhsCheckDigit(nine);
    if (check !== undefined) return nine + String(check);
    n = (n + 1) % 1_000_000;
  }
}
