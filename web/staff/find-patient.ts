/**
 * "Find a patient" for crews and clinicians: a POSTed form (an NHS number, checked with modulus 11 as
 * typed, or family name + date of birth, optionally postcode) — never a URL with an identifier in it. One
 * match goes straight to the patient's page (by integrated id); several give a short list with just
 * enough to tell them apart.
 */
import type { Request, Response } from 'express';
import type { Patient } from 'fhir/r4.js';
import { isValidNhsNumber } from '../../fhir/nhs-number.js';
import type { Renderer } from '../render.js';
import type { Operations, PatientQuery } from './operations.js';

export interface FindValues {
  nhsNumber: string;
  family: string;
  day: string;
  month: string;
  year: string;
  postcode: string;
}

export interface FieldError {
  href: string;
  text: string;
  field: keyof FindValues | 'birthDate';
}

const str = (v: unknown) => (typeof v === 'string' ? v.trim().slice(0, 100) : '');

/** The form's values and the query they make, or the errors to show. */
export function parseFind(body: Record<string, unknown>): { values: FindValues; query?: PatientQuery; errors: FieldError[] } {
  const values: FindValues = { nhsNumber: str(body.nhsNumber), family: str(body.family), day: str(body['birthDate[day]']), month: str(body['birthDate[month]']), year: str(body['birthDate[year]']), postcode: str(body.postcode) };
  const errors: FieldError[] = [];
  if (values.nhsNumber) {
    const digits = values.nhsNumber.replace(/[\s-]+/g, '');
    if (!/^\d{10}$/.test(digits)) errors.push({ href: '#nhsNumber', text: 'NHS number must be 10 digits', field: 'nhsNumber' });
    else if (!isValidNhsNumber(digits)) errors.push({ href: '#nhsNumber', text: 'Enter a valid NHS number (the check digit does not match: check it was typed correctly)', field: 'nhsNumber' });
    return errors.length ? { values, errors } : { values, errors, query: { kind: 'nhs-number', nhsNumber: digits } };
  }
  if (!values.family && !values.day && !values.month && !values.year) {
    errors.push({ href: '#nhsNumber', text: 'Enter an NHS number, or a family name and date of birth', field: 'nhsNumber' });
    return { values, errors };
  }
  if (!values.family) errors.push({ href: '#family', text: 'Enter the family name', field: 'family' });
  const d = Number(values.day);
  const m = Number(values.month);
  const y = Number(values.year);
  const date = new Date(Date.UTC(y, m - 1, d));
  const valid = /^\d{1,2}$/.test(values.day) && /^\d{1,2}$/.test(values.month) && /^\d{4}$/.test(values.year) && date.getUTCDate() === d && date.getUTCMonth() === m - 1 && date <= new Date() && y >= 1880;
  if (!valid) errors.push({ href: '#birthDate-day', text: 'Enter a real date of birth, for example 27 3 1950', field: 'birthDate' });
  if (values.postcode && !/^[A-Za-z]{1,2}\d[A-Za-z\d]?\s*\d[A-Za-z]{2}$/.test(values.postcode)) errors.push({ href: '#postcode', text: 'Enter a full UK postcode, or leave it empty', field: 'postcode' });
  if (errors.length) return { values, errors };
  const birthDate = `${y}-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
  return { values, errors, query: { kind: 'demographics', family: values.family, birthDate, ...(values.postcode ? { postcode: values.postcode.toUpperCase() } : {}) } };
}

/** Just enough to tell matches apart: name, date of birth, the postcode district, registered practice. */
export function candidateOf(id: string, p: Patient, base: string) {
  const n = p.name?.[0];
  const name = [n?.family?.toUpperCase(), ...(n?.given ?? [])].filter(Boolean).join(', ');
  const postcode = p.address?.[0]?.postalCode ?? '';
  const district = postcode.split(' ')[0] ?? '';
  return { href: `${base}/patient/${id}`, name: name || 'Name not recorded', birthDate: p.birthDate ?? 'not recorded', district, practice: p.generalPractitioner?.[0]?.display ?? p.generalPractitioner?.[0]?.identifier?.value ?? '' };
}

/** Handles the POSTed find form for a page set under `base` ('/crew' or '/record'). */
export async function handleFind(req: Request, res: Response, render: Renderer, ops: Operations, base: string, view: string): Promise<void> {
  const { values, query, errors } = parseFind((req.body ?? {}) as Record<string, unknown>);
  if (!query) return render(res, view, { title: 'Find a patient', values, errors, errorFor: errorMap(errors) }, 400);
  const { patients, warnings } = await ops.findPatients(query);
  if (patients.length === 1) return res.redirect(303, `${base}/patient/${patients[0]!.id}`);
  render(res, 'find-results', {
    title: patients.length ? 'Choose the patient' : 'No patient found',
    candidates: patients.slice(0, 10).map((p) => candidateOf(p.id, p.patient, base)),
    more: patients.length > 10,
    missing: warnings.map((w) => w.message),
    findHref: base,
  });
}

export function errorMap(errors: FieldError[]): Record<string, string> {
  return Object.fromEntries(errors.map((e) => [e.field, e.text]));
}
