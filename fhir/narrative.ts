import type { CodeableConcept, Coding, Narrative, Quantity, Resource } from 'fhir/r4.js';

/**
 * Small helpers for human-readable narrative (https://hl7.org/fhir/R4/narrative.html): every value is
 * escaped, every lookup tolerates missing data (no display, no date, no severity), and the result is
 * always a non-empty XHTML <div> in the XHTML namespace.
 */
export const XHTML_NS = 'http://www.w3.org/1999/xhtml';

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Escapes text for XHTML content or attribute values; anything that is not a string or number becomes ''. */
export function esc(value: unknown): string {
  if (typeof value !== 'string' && typeof value !== 'number') return '';
  // Control characters other than tab/newline are not allowed in XML 1.0.
  return String(value).replace(/[&<>"']/g, (c) => ESCAPES[c]!).replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/g, '');
}

/** A generated narrative from already-escaped inner XHTML; never empty (txt-2). */
export function narrative(innerXhtml: string): Narrative {
  const inner = innerXhtml.trim() === '' ? '<p>No information.</p>' : innerXhtml;
  return { status: 'generated', div: `<div xmlns="${XHTML_NS}">${inner}</div>` };
}

/** `<ul>` of already-escaped items (nothing when the list is empty). */
export function ul(items: string[]): string {
  return items.length === 0 ? '' : `<ul>${items.map((i) => `<li>${i}</li>`).join('')}</ul>`;
}

export const p = (escapedText: string) => `<p>${escapedText}</p>`;

/** The best human label of a concept: text, then a coding's display, then its code; `fallback` when none. */
export function conceptText(cc: CodeableConcept | undefined, fallback = 'Unnamed entry'): string {
  if (!cc) return fallback;
  if (typeof cc.text === 'string' && cc.text.trim()) return cc.text.trim();
  const codings: Coding[] = Array.isArray(cc.coding) ? cc.coding : [];
  const withDisplay = codings.find((c) => typeof c?.display === 'string' && c.display.trim());
  if (withDisplay) return withDisplay.display!.trim();
  const withCode = codings.find((c) => typeof c?.code === 'string' && c.code.trim());
  return withCode ? `code ${withCode.code}` : fallback;
}

/** The calendar day of a FHIR date/dateTime/instant (YYYY, YYYY-MM or YYYY-MM-DD), or undefined. */
export function day(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  const m = /^\d{4}(-\d{2}(-\d{2})?)?/.exec(value);
  return m ? m[0] : undefined;
}

export function quantityText(q: Quantity | undefined): string | undefined {
  if (!q || (q.value === undefined && !q.unit && !q.code)) return undefined;
  const unit = q.unit ?? q.code ?? '';
  return `${q.comparator ?? ''}${typeof q.value === 'number' ? readableNumber(q.value) : '?'}${unit ? ` ${unit}` : ''}`;
}

/** A measured value for reading (the resource keeps the exact one): at most 4 significant digits. */
export function readableNumber(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 10_000 || Number.isInteger(n) ? String(Math.round(n)) : String(Number(n.toPrecision(4)));
}

/** Joins non-empty, already-escaped parts with a separator. */
export function join(parts: (string | undefined | false)[], sep = ' · '): string {
  return parts.filter((x): x is string => typeof x === 'string' && x !== '').join(sep);
}

/** "(GP, Hospital)" from the record-source tags a merged resource carries. */
export function sourcesText(r: Resource, tagSystem: string, names: Readonly<Record<string, string>>): string {
  const codes = (r.meta?.tag ?? []).filter((t) => t?.system === tagSystem && typeof t.code === 'string').map((t) => names[t.code!] ?? t.code!);
  return codes.length === 0 ? '' : `(${esc(codes.join(', '))})`;
}
