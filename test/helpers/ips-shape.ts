import type { Bundle, Composition, CompositionSection } from 'fhir/r4.js';

/**
 * Structural check of an International Patient Summary document, independent of the builder:
 * document Bundle with identifier and timestamp, Composition first (LOINC 60591-5, subject, date,
 * author, title), the IPS-required sections present (an empty one with emptyReason), narrative in
 * every section, unique absolute fullUrls, and every reference in the Bundle resolving inside it.
 * Returns the problems found (empty = conformant). Run on HL7's own IPS examples as a control.
 */
export const LOINC = 'http://loinc.org';
export const REQUIRED_SECTIONS = ['11450-4', '48765-2', '10160-0'];

export function ipsProblems(b: Bundle): string[] {
  const problems: string[] = [];
  if (b.resourceType !== 'Bundle' || b.type !== 'document') problems.push(`not a document Bundle (type ${b.type})`);
  if (!b.identifier?.value) problems.push('Bundle.identifier missing');
  if (!b.timestamp) problems.push('Bundle.timestamp missing');
  const entries = b.entry ?? [];
  const comp = entries[0]?.resource as Composition | undefined;
  if (comp?.resourceType !== 'Composition') return [...problems, 'first entry is not a Composition'];
  if (!comp.type?.coding?.some((c) => c.system === LOINC && c.code === '60591-5')) problems.push('Composition.type is not LOINC 60591-5');
  for (const k of ['subject', 'date', 'author', 'title'] as const) if (!comp[k]) problems.push(`Composition.${k} missing`);

  const urls = new Set<string>();
  for (const [i, e] of entries.entries()) {
    if (!e.fullUrl || !/^(urn:uuid:[0-9a-f-]{36}|https?:\/\/\S+)$/.test(e.fullUrl)) problems.push(`entry[${i}].fullUrl is not an absolute URI: ${e.fullUrl}`);
    else if (urls.has(e.fullUrl)) problems.push(`entry[${i}].fullUrl is duplicated`);
    else urls.add(e.fullUrl);
  }
  const resolves = (ref: string, base: string | undefined) => {
    if (ref.startsWith('#')) return true;
    if (urls.has(ref)) return true;
    // A relative reference resolves against the RESTful base of the entry that holds it.
    const m = base ? /^(https?:\/\/.+\/)[A-Z][A-Za-z]+\/[^/]+$/.exec(base) : null;
    return !!m && urls.has(m[1] + ref);
  };
  for (const [i, e] of entries.entries()) {
    for (const ref of referenceStrings(e.resource)) if (!resolves(ref, e.fullUrl)) problems.push(`entry[${i}] (${e.resource?.resourceType}) reference ${ref} does not resolve inside the Bundle`);
  }
  const sections: CompositionSection[] = comp.section ?? [];
  const codes = sections.map((s) => s.code?.coding?.find((c) => c.system === LOINC)?.code);
  for (const req of REQUIRED_SECTIONS) if (!codes.includes(req)) problems.push(`required section ${req} missing`);
  for (const s of sections) {
    const name = s.title ?? s.code?.coding?.[0]?.code;
    if (!s.code?.coding?.length) problems.push(`section ${name} has no code`);
    if (!s.text?.div) problems.push(`section ${name} has no narrative`);
    const code = s.code?.coding?.find((c) => c.system === LOINC)?.code;
    // IPS: an empty required section says why (emptyReason); any section needs text, entries or sub-sections (cmp-1).
    if (!s.entry?.length && !s.section?.length && REQUIRED_SECTIONS.includes(code ?? '') && !s.emptyReason) problems.push(`required section ${name} is empty without emptyReason`);
    if (s.entry?.length && s.emptyReason) problems.push(`section ${name} has entries and an emptyReason`);
  }
  return problems;
}

/** Every Reference.reference string inside a value. */
export function referenceStrings(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referenceStrings(v, out);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) {
      if (k === 'reference' && typeof v === 'string') out.push(v);
      else if (v && typeof v === 'object') referenceStrings(v, out);
    }
  }
  return out;
}

/** The section with a LOINC (or other) code. */
export function section(b: Bundle, code: string): CompositionSection | undefined {
  return ((b.entry?.[0]?.resource as Composition).section ?? []).find((s) => s.code?.coding?.some((c) => c.code === code));
}

/** The resources a section references, looked up by fullUrl. */
export function sectionResources(b: Bundle, code: string) {
  const byUrl = new Map((b.entry ?? []).map((e) => [e.fullUrl, e.resource!]));
  return (section(b, code)?.entry ?? []).map((r) => byUrl.get(r.reference!)!).filter(Boolean);
}

/** Plain text of an XHTML div (tags removed, entities decoded). */
export function textOf(div: string | undefined): string {
  return (div ?? '')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&#39;/g, "'")
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
}

/**
 * Well-formed XHTML narrative: one root div in the XHTML namespace, balanced tags from the FHIR
 * narrative whitelist only, no raw `<`/`&` outside tags and entities.
 */
export function xhtmlProblems(div: string): string[] {
  const problems: string[] = [];
  if (!div.startsWith('<div xmlns="http://www.w3.org/1999/xhtml">')) problems.push('root is not an XHTML div');
  const allowed = new Set(['div', 'p', 'ul', 'ol', 'li', 'b', 'i', 'br', 'span', 'table', 'tr', 'td', 'th', 'thead', 'tbody', 'em', 'strong']);
  const stack: string[] = [];
  const re = /<(\/?)([a-zA-Z]+)([^<>]*?)(\/?)>|<|&(?!(amp|lt|gt|quot|#\d+);)/g;
  let m: RegExpExecArray | null;
  while ((m = re.exec(div))) {
    if (!m[2]) {
      problems.push(`raw '${m[0]}' at ${m.index}`);
      continue;
    }
    const [, close, tag, , selfClose] = m;
    if (!allowed.has(tag!)) problems.push(`element <${tag}> not allowed`);
    if (selfClose) continue;
    if (close) {
      if (stack.pop() !== tag) problems.push(`unbalanced </${tag}>`);
    } else stack.push(tag!);
  }
  if (stack.length) problems.push(`unclosed ${stack.join(',')}`);
  if (!textOf(div)) problems.push('empty narrative');
  return problems;
}
