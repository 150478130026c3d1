/**
 * The public transparency site end to end in a real browser (Debian chromium via playwright-core), with axe on
 * every page (zero WCAG 2.2 AA violations): the empty state before any refresh; content negotiation at
 * /indicators and /indicators/{id} (JSON to API clients, the page to browsers, Vary: Accept); the analyst's
 * refresh page (validated, audited like POST /indicators/$refresh); the indicator page (SVG funnel with title and
 * description; the table equals the plot's data; period and organisation type chosen by GET forms); the
 * organisation page ("the whole story", 404 for an unknown code); feedback with JavaScript off (error summary,
 * personal data refused, thank-you page, seen by analysts); sign-in and role gates; CSRF and the rate limit.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import type { AuditEvent, Bundle } from 'fhir/r4.js';
import { ensureDemoKeys, mintToken } from '../server/demo-keys.js';
import { BrowserPool, expectAccessible, signIn, skipWithoutChromium, tabTo } from './helpers/browser.js';
import { PageClient } from './helpers/page-client.js';
import { startStack, type Stack } from './helpers/stack.js';

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';
const IND = 'emergency-attendance-registered';
const FEEDBACK_LIMIT = 12;

describe('public transparency site in a real browser (issue 18)', function () {
  this.timeout(180_000);
  let stack: Stack;
  let browser: BrowserPool;
  let keys: Awaited<ReturnType<typeof ensureDemoKeys>>;

  before(async function () {
    skipWithoutChromium(this);
    stack = await startStack({ sandbox: { bundleDirs: [], generate: { count: 240, seed: 11 } }, env: { FEEDBACK_RATE_PER_MINUTE: String(FEEDBACK_LIMIT) } });
    await stack.sandbox.extract.db();
    browser = await BrowserPool.launch();
    keys = await ensureDemoKeys(stack.config.dataDir);
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  const session = (opts?: Parameters<typeof browser.session>[0]) => browser.session(opts);
  const go = async (page: Page, path: string) => {
    const r = await page.goto(`${stack.baseUrl}${path}`);
    return r!.status();
  };

  it('before any refresh: the listing says no period has data yet; an indicator page says so too', async () => {
    const { page } = await session();
    expect(await go(page, '/indicators')).to.equal(200);
    expect(await page.textContent('#periods-with-data')).to.include('No figures have been published yet');
    for (const area of ['Patient safety', 'Efficiency', 'Quality', 'Public health', 'Social care commissioning', 'Hospital food standards']) {
      expect(await page.locator('h2', { hasText: area }).count(), area).to.equal(1);
    }
    expect(await page.textContent('#how-to-read')).to.equal('How to read the data');
    await expectAccessible(page);
    expect(await go(page, `/indicators/${IND}`)).to.equal(200);
    expect(await page.textContent('#no-figures')).to.include('No figures have been published for this indicator yet');
    await expectAccessible(page);
  });

  it('the same URL is JSON for an API client and a page for a browser (Vary: Accept on both)', async () => {
    for (const path of ['/indicators', `/indicators/${IND}`]) {
      for (const accept of ['application/json', '*/*']) {
        const r = await fetch(`${stack.baseUrl}${path}`, { headers: { accept } });
        expect(r.headers.get('content-type'), `${path} ${accept}`).to.match(/^application\/(fhir\+)?json/);
        expect(r.headers.get('vary') ?? '', `${path} ${accept}`).to.match(/\bAccept\b/);
        await r.arrayBuffer();
      }
      const html = await fetch(`${stack.baseUrl}${path}`, { headers: { accept: BROWSER_ACCEPT } });
      expect(html.headers.get('content-type')).to.match(/^text\/html/);
      expect(html.headers.get('vary') ?? '').to.match(/\bAccept\b/);
      expect(await html.text()).to.include('<h1>');
    }
    // A browser asking explicitly for the JSON (a page's download link) gets it.
    const json = await fetch(`${stack.baseUrl}/indicators?_format=json`, { headers: { accept: BROWSER_ACCEPT } });
    expect(json.headers.get('content-type')).to.match(/^application\/json/);
    await json.arrayBuffer();
    const catalogue = (await (await fetch(`${stack.baseUrl}/indicators`)).json()) as { indicators: unknown[] };
    expect(catalogue.indicators.length).to.equal(15);
  });

  it('analyst pages: signed out → sign-in; a non-analyst → 403 page', async () => {
    const { page } = await session();
    await page.goto(`${stack.baseUrl}/analyst/refresh`);
    await page.waitForURL(/\/demo-oidc\/interaction\//);
    const crew = await session();
    await signIn(crew.page, stack.baseUrl, { user: 'demo-crew' });
    expect(await go(crew.page, '/analyst/snapshots')).to.equal(403);
    expect(await crew.page.textContent('h1')).to.include('You cannot do this');
    await expectAccessible(crew.page);
  });

  let analyst: Page;
  it('an analyst refreshes a period through the page: dates validated with the error summary, then computed and audited like the API', async () => {
    analyst = (await session()).page;
    await signIn(analyst, stack.baseUrl, { user: 'demo-analyst' });
    expect(await analyst.locator('a[href="/analyst/refresh"]').count(), 'start link on the home page').to.equal(1);
    await go(analyst, '/analyst');
    await expectAccessible(analyst);
    await go(analyst, '/analyst/snapshots');
    expect(await analyst.locator('#no-snapshots').count()).to.equal(1);
    await expectAccessible(analyst);
    await go(analyst, '/analyst/refresh');
    await expectAccessible(analyst);
    await analyst.fill('#start-day', '31');
    await analyst.fill('#start-month', '2');
    await analyst.fill('#start-year', '2025');
    await analyst.fill('#end-day', '1');
    await analyst.fill('#end-month', '1');
    await analyst.fill('#end-year', '2025');
    await analyst.click('main button[type=submit]');
    expect(await analyst.textContent('.nhsuk-error-summary')).to.include('Enter a real start date');
    expect(await analyst.getAttribute('.nhsuk-error-summary a', 'href')).to.equal('#start-day');
    await expectAccessible(analyst);
    await analyst.fill('#start-day', '1');
    await analyst.fill('#start-month', '3');
    await analyst.click('main button[type=submit]');
    expect(await analyst.textContent('.nhsuk-error-summary')).to.include('The end date must be the same as or after the start date');
    await analyst.fill('#start-day', '1');
    await analyst.fill('#start-month', '1');
    await analyst.fill('#end-day', '31');
    await analyst.fill('#end-month', '12');
    await Promise.all([analyst.waitForURL(/\/analyst\/snapshots\?created=/), analyst.click('main button[type=submit]')]);
    expect(await analyst.textContent('#created')).to.include('Snapshot computed for 1 January 2025 to 31 December 2025');
    const id = new URL(analyst.url()).searchParams.get('created')!;
    expect(await analyst.locator(`tr[data-snapshot="${id}"]`).count()).to.equal(1);
    await expectAccessible(analyst);
    // Audited as the analyst, the same action and transaction as POST /indicators/$refresh.
    const officer = await mintToken(keys.privateJwk, keys.kid, { sub: 'po-1', role: 'privacy-officer', org: 'X26' });
    const r = await fetch(`${stack.baseUrl}/audit?user=demo-analyst`, { headers: { authorization: `Bearer ${officer}`, accept: 'application/fhir+json' } });
    const events = ((await r.json()) as Bundle).entry!.map((e) => e.resource as AuditEvent);
    const refresh = events.find((e) => e.entity?.some((x) => x.detail?.some((d) => d.type === 'action' && d.valueString === 'indicator-refresh')));
    expect(refresh, 'an indicator-refresh audit event').to.not.equal(undefined);
    expect(refresh!.outcome).to.equal('0');
    expect(refresh!.outcomeDesc).to.include(id);
  });

  it('the listing names the period with data; an indicator page: definition, polarity, funnel SVG with title and description, the table equals the plot', async () => {
    const { page } = await session();
    await go(page, '/indicators');
    expect(await page.textContent('#periods-with-data')).to.include('1 January 2025 to 31 December 2025');
    await expectAccessible(page);
    await page.click(`a[href="/indicators/${IND}"]`);
    await page.waitForURL(new RegExp(`/indicators/${IND}$`));
    expect(await page.textContent('#polarity')).to.match(/Neither higher nor lower is better/);
    expect(await page.locator('figure svg[role=img] > title').count()).to.equal(1);
    expect(await page.locator('figure svg[role=img] > desc').count()).to.equal(1);
    expect(await page.locator('figure figcaption').count()).to.equal(1);
    const labelled = (await page.getAttribute('figure svg', 'aria-labelledby'))!.split(' ');
    for (const id of labelled) expect(await page.locator(`svg #${id}`).count(), id).to.equal(1);
    expect(await page.locator('.app-funnel__u95').count()).to.equal(1);
    expect(await page.locator('.app-funnel__u998').count()).to.equal(1);
    const rows = await page.$$eval('#figures tbody tr', (trs) => trs.map((tr) => ({ withheld: tr.hasAttribute('data-withheld'), cells: [...tr.querySelectorAll('td')].map((td) => td.textContent!.trim()) })));
    const codes = rows.map((r) => r.cells[0]!);
    expect(codes, 'ordered by code, never ranked').to.deep.equal([...codes].sort());
    const plotted = rows.filter((r) => !r.withheld);
    expect(plotted.length, 'some organisations have a published value').to.be.greaterThan(0);
    const circles = await page.$$eval('.app-funnel__points circle', (cs) => cs.map((c) => ({ cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')) })));
    expect(circles.length, 'one point per row with a value').to.equal(plotted.length);
    // The first point sits where its row's denominator and value say.
    const [left, right, top, bottom, xMax, yMin, yMax] = (await page.getAttribute('figure svg', 'data-scale'))!.split(',').map(Number) as number[];
    const den = Number(plotted[0]!.cells[2]!.replace(/,/g, ''));
    const value = Number.parseFloat(plotted[0]!.cells[4]!);
    expect(circles[0]!.cx).to.be.closeTo(left! + (den / xMax!) * (right! - left!), 0.11);
    expect(circles[0]!.cy).to.be.closeTo(bottom! - ((value - yMin!) / (yMax! - yMin!)) * (bottom! - top!), 1.5);
    // Suppressed rows say so, with the reason.
    for (const r of rows.filter((x) => x.withheld)) expect(r.cells[6]).to.match(/^(Suppressed|No value|Not published)/);
    expect(await page.locator('#downloads a').count()).to.equal(5);
    expect(await page.locator('#opt-outs').textContent()).to.match(/opted out/);
    await expectAccessible(page);
    // The download links answer CSV and JSON, also to a browser.
    const hrefs = await page.$$eval('#downloads a', (as) => as.map((a) => a.getAttribute('href')!));
    const types = await Promise.all(hrefs.slice(0, 3).map(async (h) => {
      const r = await fetch(`${stack.baseUrl}${h}`, { headers: { accept: BROWSER_ACCEPT } });
      await r.arrayBuffer();
      return `${r.status} ${r.headers.get('content-type')}`;
    }));
    expect(types[0]).to.match(/^200 text\/csv/);
    expect(types[1]).to.match(/^200 text\/csv/);
    expect(types[2]).to.match(/^200 application\/json/);
  });

  it('GET forms choose the period and the organisation type', async () => {
    const { page } = await session({ javaScript: false });
    await go(page, `/indicators/${IND}`);
    const types = await page.$$eval('#type option', (os) => os.map((o) => (o as HTMLOptionElement).value).filter(Boolean));
    expect(types.length).to.be.greaterThan(0);
    await page.selectOption('#type', types[0]!);
    await Promise.all([page.waitForURL(/type=/), page.click('main form button')]);
    const url = new URL(page.url());
    expect(url.searchParams.get('period')).to.equal('2025-01-01/2025-12-31');
    expect(url.searchParams.get('type')).to.equal(types[0]);
    const shown = await page.$$eval('#figures tbody tr td:nth-child(2)', (tds) => [...new Set(tds.map((t) => t.textContent))]);
    expect(shown.length).to.equal(1);
    // axe needs JavaScript: the same pages in a JavaScript-on browser
    const on = (await session()).page;
    await go(on, `${url.pathname}${url.search}`);
    await expectAccessible(on);
    expect(await go(on, `/indicators/${IND}?period=2019-01-01/2019-12-31`)).to.equal(404);
    await expectAccessible(on);
  });

  it('the organisation page tells the whole story: every indicator, significance in words that follow the polarity, trend table, caveats; 404 for an unknown code', async () => {
    const { page } = await session();
    await go(page, `/indicators/${IND}`);
    const code = (await page.textContent('#figures tbody tr td a'))!.trim();
    await Promise.all([page.waitForURL(new RegExp(`/organisations/${code}$`)), page.click(`#figures a[href="/organisations/${code}"]`)]);
    expect(await page.textContent('h1')).to.equal(`Organisation ${code}`);
    const comparisons = await page.$$eval('#summary td[data-comparison]', (tds) => tds.map((t) => t.textContent!.trim()));
    expect(comparisons.length).to.be.greaterThan(3);
    for (const c of comparisons) expect(c).to.match(/^(Significantly (better|worse|higher|lower) than expected|No evidence of a difference|Not compared)/);
    expect(await page.locator(`table[data-trend="${IND}"] tbody tr`).count()).to.equal(1);
    expect(await page.locator('details.nhsuk-details').count()).to.equal(comparisons.length);
    await expectAccessible(page);
    expect(await go(page, '/organisations/ZZ9999')).to.equal(404);
    expect(await page.textContent('main')).to.include('no published figures');
    await expectAccessible(page);
  });

  it('a refresh with the hospital system down: the listing, the indicator page and the organisation page say the figures are incomplete and name it', async () => {
    const analystToken = await mintToken(keys.privateJwk, keys.kid, { sub: 'an-1', role: 'analyst', org: 'X26' });
    stack.sandbox.faults.hospital.set({ mode: 'error' });
    try {
      const r = await fetch(`${stack.baseUrl}/indicators/$refresh`, {
        method: 'POST',
        headers: { authorization: `Bearer ${analystToken}`, 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify({ period: { start: '2024-01-01', end: '2024-12-31' } }),
      });
      expect(r.status).to.equal(201);
    } finally {
      stack.sandbox.faults.hospital.reset();
    }
    const { page } = await session();
    await go(page, '/indicators');
    expect(await page.textContent('#periods-with-data')).to.include('1 January 2024 to 31 December 2024 (incomplete)');
    // IND needs the hospital: its 2024 figures carry the warning, naming the source.
    expect(await go(page, `/indicators/${IND}?period=2024-01-01/2024-12-31`)).to.equal(200);
    expect(await page.textContent('#incomplete')).to.include('These figures are incomplete').and.include('hospital');
    expect(await page.textContent('#completeness')).to.match(/^Incomplete: the .*hospital.* could not be reached/);
    await expectAccessible(page);
    // A GP-only indicator of the same snapshot is complete: no warning.
    await go(page, '/indicators/diabetes-hba1c-recorded?period=2024-01-01/2024-12-31');
    expect(await page.locator('#incomplete').count()).to.equal(0);
    expect(await page.textContent('#completeness')).to.match(/^Every source this indicator needs answered.*In the same refresh the .*hospital.* could not be reached/);
    // The organisation page says that indicator's 2024 figures are missing, naming the source, not skipping the period.
    const code = (await page.textContent('#figures tbody tr td a'))!.trim();
    await go(page, `/organisations/${code}`);
    expect(await page.locator('#incomplete').count()).to.equal(1);
    const trend = await page.$$eval(`table[data-trend="${IND}"] tbody tr`, (trs) => trs.map((t) => t.textContent!.replace(/\s+/g, ' ').trim()));
    expect(trend.find((t) => t.startsWith('1 January 2024'))).to.match(/incomplete.*Not available: the .*hospital.* could not be reached/);
    await expectAccessible(page);
  });

  it('keyboard only: from the list of indicators to an indicator page, then feedback about it, sent and thanked', async () => {
    const { page } = await session();
    await go(page, '/indicators');
    await tabTo(page, `main a[href="/indicators/${IND}"]`, 200);
    await Promise.all([page.waitForURL(new RegExp(`/indicators/${IND}$`)), page.keyboard.press('Enter')]);
    await tabTo(page, `a[href^="/feedback?page="]`, 1500);
    await Promise.all([page.waitForURL(/\/feedback\?page=/), page.keyboard.press('Enter')]);
    expect(await page.textContent('main')).to.include('attended hospital as an emergency'); // the feedback is about that indicator
    await tabTo(page, '#text');
    await page.keyboard.type('The keyboard walk-through found this page.');
    await tabTo(page, 'main button[type=submit]');
    await Promise.all([page.waitForURL(/\/feedback\/thank-you/), page.keyboard.press('Enter')]);
    expect(await page.textContent('h1')).to.include('Thank you');
  });

  it('feedback with JavaScript off: from the page footer, errors in the summary, personal data refused, thank-you page; analysts read it', async () => {
    const { page } = await session({ javaScript: false });
    await go(page, `/indicators/${IND}`);
    const link = page.locator('footer a', { hasText: 'Give feedback about this page' });
    expect(await link.getAttribute('href')).to.equal(`/feedback?page=${encodeURIComponent(`/indicators/${IND}`)}`);
    await Promise.all([page.waitForURL(/\/feedback\?/), link.click()]);
    await page.click('main button[type=submit]');
    expect(await page.textContent('.nhsuk-error-summary')).to.include('Enter what is wrong or missing');
    expect(await page.getAttribute('.nhsuk-error-summary a', 'href')).to.equal('#text');
    // axe needs JavaScript: the form and its error state again in a JavaScript-on browser
    const on = (await session()).page;
    await go(on, `/feedback?page=${encodeURIComponent(`/indicators/${IND}`)}`);
    await expectAccessible(on);
    await on.click('main button[type=submit]');
    expect(await on.locator('.nhsuk-error-summary').count()).to.equal(1);
    await expectAccessible(on);
    await page.fill('#text', 'My NHS number is 943 476 5919 and it is wrong');
    await page.click('main button[type=submit]');
    expect(await page.textContent('.nhsuk-error-summary')).to.include('Remove the NHS number or email address');
    await page.fill('#text', 'Say what the limits mean for small practices');
    await page.check('#rating-4');
    await Promise.all([page.waitForURL(/\/feedback\/thank-you/), page.click('main button[type=submit]')]);
    expect(await page.textContent('#thanks')).to.include('attended hospital as an emergency');
    await go(on, new URL(page.url()).pathname + new URL(page.url()).search);
    await expectAccessible(on);
    await go(analyst, '/analyst/feedback');
    const row = analyst.locator('#feedback tbody tr', { hasText: 'Say what the limits mean for small practices' });
    expect(await row.count()).to.equal(1);
    expect(await row.textContent()).to.include('4 out of 5');
    await expectAccessible(analyst);
  });

  it('feedback: a rating outside 1–5 is refused, a POST without the CSRF token is refused, too many are rate-limited', async () => {
    const c = new PageClient(stack.baseUrl);
    const rows = async () => Number((await stack.service.db.query<{ n: string }>('SELECT count(*) AS n FROM web_session')).rows[0]!.n);
    const before = await rows();
    const form = await c.go('/feedback?page=/organisations/A81001');
    // Anyone may fetch the form without signing in: nothing is stored for it (a stateless CSRF token and its cookie).
    for (let i = 0; i < 5; i++) await new PageClient(stack.baseUrl).go('/feedback');
    expect(await rows(), 'no session row for anonymous forms').to.equal(before);
    expect(c.cookies.has('ipr_form')).to.equal(true);
    expect(c.cookies.has('ipr_session')).to.equal(false);
    const csrf = PageClient.csrfOf(form.text);
    const bad = await c.go('/feedback', { form: { _csrf: csrf, page: '/organisations/A81001', text: 'fine', rating: '9' } });
    expect(bad.res.status).to.equal(400);
    expect(bad.text).to.include('Choose a rating from 1 to 5');
    const noToken = await c.raw('/feedback', { form: { page: '/', text: 'hello' } });
    expect(noToken.status).to.equal(403);
    await noToken.arrayBuffer();
    // Another visitor's token does not go with this visitor's form cookie (and the reverse).
    const other = new PageClient(stack.baseUrl);
    const otherCsrf = PageClient.csrfOf((await other.go('/feedback')).text);
    expect(otherCsrf).to.not.equal(csrf);
    const swapped = await c.raw('/feedback', { form: { _csrf: otherCsrf, page: '/', text: 'hello' } });
    expect(swapped.status).to.equal(403);
    await swapped.arrayBuffer();
    const noCookie = new PageClient(stack.baseUrl);
    const forged = await noCookie.raw('/feedback', { form: { _csrf: csrf, page: '/', text: 'hello' } });
    expect(forged.status, 'a token without its cookie').to.equal(403);
    await forged.arrayBuffer();
    let limited: Response | undefined;
    for (let i = 0; i < FEEDBACK_LIMIT + 2 && !limited; i++) {
      const r = await c.raw('/feedback', { form: { _csrf: csrf, page: '/', text: `note ${i}` } });
      await r.arrayBuffer();
      if (r.status === 429) limited = r;
    }
    expect(limited, 'rate-limited').to.not.equal(undefined);
    expect(limited!.headers.get('retry-after')).to.match(/^\d+$/);
  });
});
