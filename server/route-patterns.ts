/**
 * The documented route (OpenAPI path template) a request path belongs to, for logs: a raw path may hold an
 * NHS number or a name someone typed (`/fhir/Patient/9996558851`), the template never does
 * (`/fhir/Patient/{id}`). Paths matching no documented route are logged as UNMATCHED, never verbatim.
 */
export const UNMATCHED = '(no documented route)';

interface Pattern {
  template: string;
  re: RegExp;
  params: number;
}

/** Compiles the spec's path templates once; static routes win over templated ones (`_search` before `{id}`). */
export function routePatternMatcher(templates: readonly string[]): (path: string) => string {
  const patterns: Pattern[] = templates
    .map((template) => ({
      template,
      params: (template.match(/\{[^}]+\}/g) ?? []).length,
      re: new RegExp(
        '^' + template.split(/(\{[^}]+\})/).map((part) => (/^\{[^}]+\}$/.test(part) ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('') + '/?$',
      ),
    }))
    .sort((a, b) => a.params - b.params || b.template.length - a.template.length);
  return (path) => {
    if (path === '/docs' || path.startsWith('/docs/')) return '/docs';
    for (const p of patterns) if (p.re.test(path)) return p.template;
    return UNMATCHED;
  };
}
