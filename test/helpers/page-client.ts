/**
 * A cookie-keeping HTTP client for page tests that need no browser: follows redirects by hand (so each
 * hop's URL and Set-Cookie are seen), and signs in through the real OpenID Connect flow of the embedded
 * demo provider (authorization request → demo sign-in form → callback).
 */
export interface Hop {
  url: string;
  status: number;
}

export class PageClient {
  /** Cookies by name (one host: the service and its provider share an origin). */
  readonly cookies = new Map<string, string>();
  /** Every URL requested, in order (redirect hops included). */
  readonly urls: string[] = [];

  constructor(readonly baseUrl: string) {}

  /** One request, no redirect following. */
  async raw(path: string, init: { method?: string; form?: Record<string, string>; accept?: string } = {}): Promise<Response> {
    const url = path.startsWith('http') ? path : `${this.baseUrl}${path}`;
    this.urls.push(url);
    const headers: Record<string, string> = { accept: init.accept ?? 'text/html,application/xhtml+xml,*/*;q=0.8' };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (init.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(init.form).toString();
    }
    const res = await fetch(url, { method: init.method ?? (init.form ? 'POST' : 'GET'), headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq).trim();
      const value = pair!.slice(eq + 1).trim();
      const expired = attrs.some((a) => /^\s*max-age=0\s*$/i.test(a) || /^\s*expires=thu, 01 jan 1970/i.test(a));
      if (expired || value === '') this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    return res;
  }

  /** Follows redirects (up to 10) and returns the final response with its text. */
  async go(path: string, init: { method?: string; form?: Record<string, string>; accept?: string } = {}): Promise<{ res: Response; text: string; url: string }> {
    let res = await this.raw(path, init);
    let url = path.startsWith('http') ? path : `${this.baseUrl}${path}`;
    for (let i = 0; i < 10 && res.status >= 300 && res.status < 400; i++) {
      url = new URL(res.headers.get('location')!, url).href;
      res = await this.raw(url);
    }
    return { res, text: await res.text(), url };
  }

  /** The value of the hidden `_csrf` field on an HTML page. */
  static csrfOf(html: string): string {
    const m = /name="_csrf" value="([^"]+)"/.exec(html);
    if (!m) throw new Error('no CSRF field on the page');
    return m[1]!;
  }

  /** Signs in as a demo user (web/demo-users.ts id) or a demo patient; resolves with the landing page. */
  async signIn(who: { user: string } | { patientNhsNumber: string }): Promise<{ res: Response; text: string; url: string }> {
    const start = await this.go('/sign-in');
    const action = /<form method="post" action="([^"]+)"/.exec(start.text)?.[1];
    if (!action) throw new Error(`no demo sign-in form (got ${start.res.status} at ${start.url})`);
    const form: Record<string, string> = 'user' in who ? { user: who.user } : { user: 'patient', nhsNumber: who.patientNhsNumber };
    return this.go(action, { form });
  }
}
