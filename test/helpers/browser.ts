/**
 * Real-browser helpers for page tests: Debian's chromium driven by playwright-core, sign-in through the
 * real OpenID Connect flow (the embedded demo provider's sign-in page), axe-core with the WCAG 2.0/2.1/2.2
 * A and AA rule tags (zero violations asserted), and a record of every URL the browser asked for and every
 * Content-Security-Policy violation it reported.
 */
import { existsSync } from 'node:fs';
import { AxeBuilder } from '@axe-core/playwright';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'chai';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
export const AXE_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa'];

/** True when chromium is installed (CI installs it; tests skip with a reason otherwise, unless CI_REQUIRE_SHARED=1). */
export const chromiumAvailable = () => existsSync(CHROMIUM);

export async function launchBrowser(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

/** A browser context that records requested URLs and CSP violations. */
export interface Session {
  context: BrowserContext;
  page: Page;
  /** Every URL the browser requested (navigations, redirects, assets). */
  urls: string[];
  /** Console messages about Content-Security-Policy violations. */
  cspViolations: string[];
  close(): Promise<void>;
}

/** A new isolated context (own cookies) with recording; `viewport` defaults to a 360 px phone. */
export async function newSession(browser: Browser, opts: { viewport?: { width: number; height: number }; javaScript?: boolean } = {}): Promise<Session> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 360, height: 740 }, javaScriptEnabled: opts.javaScript ?? true });
  const page = await context.newPage();
  const urls: string[] = [];
  const cspViolations: string[] = [];
  page.on('request', (r) => urls.push(r.url()));
  page.on('console', (m) => {
    if (/Content.Security.Policy|Refused to/i.test(m.text())) cspViolations.push(m.text());
  });
  return { context, page, urls, cspViolations, close: () => context.close() };
}

/** Who to sign in as on the demo provider: a demo staff user id (web/demo-users.ts) or a patient's NHS number. */
export type DemoIdentity = { user: string } | { patientNhsNumber: string };

/**
 * Signs in through the real flow: the service's /sign-in → the demo provider's page → choose the user →
 * back at the service. Resolves when the browser is back on the service's pages.
 */
export async function signIn(page: Page, baseUrl: string, who: DemoIdentity, startPath = '/sign-in'): Promise<void> {
  await page.goto(`${baseUrl}${startPath}`);
  await page.waitForURL(/\/demo-oidc\/interaction\//);
  if ('user' in who) {
    await page.check(`#user-${who.user}`);
  } else {
    await page.check('#user-patient');
    await page.fill('#nhsNumber', who.patientNhsNumber);
  }
  await Promise.all([page.waitForURL((u) => u.href.startsWith(baseUrl) && !u.pathname.startsWith('/demo-oidc') && !u.pathname.startsWith('/auth/')), page.click('button[type=submit]')]);
}

/** Runs axe with the WCAG A/AA tags on the current page and asserts zero violations (listing them if any). */
export async function expectAccessible(page: Page, what = page.url()): Promise<void> {
  const results = await new AxeBuilder({ page }).withTags(AXE_TAGS).analyze();
  const found = results.violations.map((v) => `${v.id} (${v.impact}): ${v.help} — ${v.nodes.map((n) => n.target.join(' ')).slice(0, 3).join('; ')}`);
  expect(found, `axe violations on ${new URL(what).pathname}`).to.deep.equal([]);
}

/** Presses Tab until the focused element matches `selector` (keyboard only); fails after `max` presses. */
export async function tabTo(page: Page, selector: string, max = 60): Promise<void> {
  for (let i = 0; i < max; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => !!document.activeElement?.matches(s), selector)) return;
  }
  throw new Error(`keyboard focus never reached ${selector}`);
}

/**
 * Call first in a browser test file's `before` hook: without chromium the file is skipped, saying why — or
 * fails when CI requires the browser tests (CI_REQUIRE_SHARED=1).
 */
export function skipWithoutChromium(ctx: { skip(): void }): void {
  if (chromiumAvailable()) return;
  if (process.env.CI_REQUIRE_SHARED === '1') throw new Error('chromium is required (CI_REQUIRE_SHARED=1): apt-get install chromium');
  ctx.skip();
}

/** One browser for a test file and the sessions opened on it; `close()` ends them all. */
export class BrowserPool {
  readonly sessions: Session[] = [];
  private constructor(private readonly browser: Browser) {}

  static async launch(): Promise<BrowserPool> {
    return new BrowserPool(await launchBrowser());
  }

  async session(opts?: Parameters<typeof newSession>[1]): Promise<Session> {
    const s = await newSession(this.browser, opts);
    this.sessions.push(s);
    return s;
  }

  async close(): Promise<void> {
    for (const s of this.sessions) await s.close().catch(() => undefined);
    await this.browser.close();
  }
}
