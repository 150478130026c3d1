/**
 * The staff pages end to end in a real browser (Debian chromium via playwright-core), signed in through
 * the real OpenID Connect flow of the embedded demo provider; axe (WCAG 2.0/2.1/2.2 A and AA) on every
 * page, error and empty states included.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import type { Observation, Patient } from 'fhir/r4.js';
import { CONSENT_POLICY_URI, CONSENT_SCOPE_SYSTEM, PARTICIPATION_SYSTEM, SOURCE_SYSTEM } from '../consent/types.js';
import { ensureDemoKeys, mintToken } from '../server/demo-keys.js';
import { BrowserPool, expectAccessible, signIn, skipWithoutChromium, tabTo } from './helpers/browser.js';
import { startStack, type Stack } from './helpers/stack.js';



describe('staff pages in a real browser (issue 16)', function () {
  this.timeout(600_000);
  let stack: Stack;
  let browser: BrowserPool;
  /** A generated person with dementia and a carer with a phone number; the carer's number. */
  let dementia: { nhs: string; family: string; birthDate: string; carerPhone: string; id?: string };
  /** A patient with repeated numeric laboratory results, and their practice. */
  let labs: { nhs: string; family: string; birthDate: string; practice: string };

  before(async function () {
    skipWithoutChromium(this);
    stack = await startStack({ sandbox: { bundleDirs: [], generate: { count: 150, seed: 21 } } });
    browser = await BrowserPool.launch();
    const kase = stack.sandbox.data.socialCare.find((c) => c.person.nhsNumber && c.person.flags.includes('dementia') && c.contacts.some((x) => x.isCarer && x.phone))!;
    expect(kase, 'a generated person with dementia and a carer').to.not.equal(undefined);
    const gpPatient = (nhs: string) => stack.sandbox.data.gp.find((r): r is Patient => r.resourceType === 'Patient' && !!(r as Patient).identifier?.some((i) => i.value === nhs))!;
    const dp = gpPatient(kase.person.nhsNumber!);
    dementia = { nhs: kase.person.nhsNumber!, family: dp.name![0]!.family!, birthDate: dp.birthDate!, carerPhone: kase.contacts.find((x) => x.isCarer && x.phone)!.phone! };
    // Repeated numeric lab tests (same code twice or more) in the GP or hospital record.
    const counts = new Map<string, number>();
    for (const r of [...stack.sandbox.data.gp, ...stack.sandbox.data.hospital]) {
      const o = r as Observation;
      if (r.resourceType !== 'Observation' || typeof o.valueQuantity?.value !== 'number' || !o.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory'))) continue;
      const key = `${o.subject?.reference}|${o.code?.coding?.[0]?.code}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const repeated = new Set([...counts].filter(([, n]) => n >= 2).map(([k]) => k.split('|')[0]!.replace('Patient/', '')));
    const entry = stack.sandbox.data.manifest.find((m) => m.gpPatientId && repeated.has(m.gpPatientId) && m.nhsNumber !== dementia.nhs)!;
    expect(entry, 'a patient with repeated laboratory results').to.not.equal(undefined);
    const lp = gpPatient(entry.nhsNumber);
    labs = { nhs: entry.nhsNumber, family: lp.name![0]!.family!, birthDate: lp.birthDate!, practice: stack.practiceOf(entry.nhsNumber) };
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  const session = (opts?: Parameters<typeof browser.session>[0]) => browser.session(opts);

  it('error and empty states are pages in the design system and pass axe (404, empty review queue, signed-out start page)', async () => {
    const s = await session();
    const res = await s.page.goto(`${stack.baseUrl}/no-such-page`);
    expect(res!.status()).to.equal(404);
    expect(await s.page.textContent('h1')).to.equal('Page not found');
    await expectAccessible(s.page);
    await s.page.goto(`${stack.baseUrl}/`);
    await expectAccessible(s.page);
    await signIn(s.page, stack.baseUrl, { user: 'demo-privacy-officer' });
    await s.page.goto(`${stack.baseUrl}/privacy/alerts`);
    expect(await s.page.textContent('main')).to.include('no emergency access waiting');
    await expectAccessible(s.page);
    // A crew page is refused to a privacy officer: a 403 page, not a JSON error.
    const forbidden = await s.page.goto(`${stack.baseUrl}/crew`);
    expect(forbidden!.status()).to.equal(403);
    await expectAccessible(s.page);
  });

  it('crew, keyboard only on a 360-px phone: finds the patient, is refused, breaks glass, reads the summary with the dementia alert and the carer’s number', async () => {
    const s = await session({ viewport: { width: 360, height: 740 } });
    const { page } = s;
    await page.goto(`${stack.baseUrl}/`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.textContent?.trim())).to.equal('Skip to main content');
    await tabTo(page, 'a[href="/sign-in"]');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/demo-oidc\/interaction\//);
    await expectAccessible(page);
    await tabTo(page, '#user-demo-crew');
    await page.keyboard.press('Space');
    await tabTo(page, 'button[type=submit]');
    await Promise.all([page.waitForURL(`${stack.baseUrl}/`), page.keyboard.press('Enter')]);
    await expectAccessible(page);
    await tabTo(page, 'a[href="/crew"]');
    await Promise.all([page.waitForURL(`${stack.baseUrl}/crew`), page.keyboard.press('Enter')]);
    await expectAccessible(page);
    // A mistyped NHS number is caught as typed (modulus 11), with an error summary.
    await tabTo(page, '#nhsNumber');
    const wrong = dementia.nhs.slice(0, 9) + String((Number(dementia.nhs[9]) + 1) % 10);
    await page.keyboard.type(wrong);
    await tabTo(page, 'button.nhsuk-button');
    await Promise.all([page.waitForLoadState('load'), page.keyboard.press('Enter')]);
    await page.waitForSelector('.nhsuk-error-summary');
    expect(await page.textContent('.nhsuk-error-summary')).to.include('valid NHS number');
    await expectAccessible(page);
    await tabTo(page, '#nhsNumber');
    await page.keyboard.press('Control+A');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(dementia.nhs);
    await tabTo(page, 'button.nhsuk-button');
    await Promise.all([page.waitForURL(/\/crew\/patient\/[0-9a-f-]{36}$/), page.keyboard.press('Enter')]);
    // No relationship: refused, with the way to emergency access.
    expect(await page.textContent('h1')).to.include('cannot see this record');
    await expectAccessible(page);
    dementia.id = /\/crew\/patient\/([0-9a-f-]{36})$/.exec(page.url())![1];
    await tabTo(page, 'a.nhsuk-button--warning');
    await Promise.all([page.waitForURL(/emergency-access$/), page.keyboard.press('Enter')]);
    await expectAccessible(page);
    // Submitting without a reason or note shows the errors.
    await tabTo(page, 'button.nhsuk-button');
    await Promise.all([page.waitForLoadState('load'), page.keyboard.press('Enter')]);
    await page.waitForSelector('.nhsuk-error-summary');
    await expectAccessible(page);
    await tabTo(page, '#reason-unconscious');
    await page.keyboard.press('Space');
    await tabTo(page, '#note');
    await page.keyboard.type('Found collapsed at home, not responding');
    await tabTo(page, 'button.nhsuk-button');
    await Promise.all([page.waitForURL(/\/crew\/patient\/[0-9a-f-]{36}$/), page.keyboard.press('Enter')]);
    // The summary: grant expiry, sources at the top, alerts first, the carer's number as a tap-to-call link.
    const main = (await page.textContent('main'))!;
    expect(main).to.match(/Emergency access in force until \d\d:\d\d/);
    const order = await page.evaluate(() => [...document.querySelectorAll('main h2:not(.nhsuk-notification-banner__title), main #sources')].map((e) => e.id || e.textContent!.trim()));
    expect(order[0], 'sources first').to.equal('sources');
    expect(order[1], 'then alerts').to.equal('alerts-heading');
    expect(await page.textContent('#alerts')).to.match(/dementia/i);
    const tel = await page.getAttribute('#contacts a[href^="tel:"]', 'href');
    expect(tel).to.equal(`tel:${dementia.carerPhone.replace(/[^+0-9]/g, '')}`);
    // Usable at 360 px: nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).to.be.at.most(360);
    await expectAccessible(page);
    expect(s.cspViolations).to.deep.equal([]);
  });

  it('crew search by name and date of birth: several or no matches give a short list or a clear empty state', async () => {
    const s = await session();
    await signIn(s.page, stack.baseUrl, { user: 'demo-crew' });
    await s.page.goto(`${stack.baseUrl}/crew`);
    await s.page.fill('#family', 'Nobody-Like-This');
    await s.page.fill('#birthDate-day', '1');
    await s.page.fill('#birthDate-month', '2');
    await s.page.fill('#birthDate-year', '1950');
    await Promise.all([s.page.waitForURL(/\/crew\/find$/), s.page.click('main button.nhsuk-button')]);
    expect(await s.page.textContent('h1')).to.equal('No patient found');
    expect(new URL(s.page.url()).pathname).to.equal('/crew/find');
    await expectAccessible(s.page);
    await s.page.goto(`${stack.baseUrl}/crew`);
    const [y, m, d] = dementia.birthDate.split('-');
    await s.page.fill('#family', dementia.family);
    await s.page.fill('#birthDate-day', String(Number(d)));
    await s.page.fill('#birthDate-month', String(Number(m)));
    await s.page.fill('#birthDate-year', y!);
    await Promise.all([s.page.waitForURL(/\/crew\/(patient\/[0-9a-f-]{36}|find)$/), s.page.click('main button.nhsuk-button')]);
    expect(s.page.url()).to.satisfy((u: string) => u.endsWith(`/crew/patient/${dementia.id}`) || u.endsWith('/crew/find'));
    await expectAccessible(s.page);
  });

  it('the summary works with JavaScript off (same content, plain forms and links)', async () => {
    const s = await session({ javaScript: false });
    await signIn(s.page, stack.baseUrl, { user: 'demo-crew' });
    await s.page.goto(`${stack.baseUrl}/crew`);
    await s.page.fill('#nhsNumber', dementia.nhs);
    await Promise.all([s.page.waitForURL(/\/crew\/patient\//), s.page.click('main button.nhsuk-button')]);
    // The same crew member: the emergency grant of the earlier test is still in force.
    expect(await s.page.textContent('#alerts')).to.match(/dementia/i);
    expect(await s.page.getAttribute('#contacts a[href^="tel:"]', 'href')).to.match(/^tel:/);
    expect(await s.page.locator('script').count()).to.equal(0); // the crew's pages load no JavaScript at all
  });

  it('clinician reads the record in GP Connect sections, filters results (trend with a table), pages and searches by type', async () => {
    const s = await session({ viewport: { width: 1024, height: 800 } });
    const { page } = s;
    await signIn(page, stack.baseUrl, { user: `demo-gp-${labs.practice}` });
    await page.goto(`${stack.baseUrl}/record`);
    await page.fill('#nhsNumber', labs.nhs);
    await Promise.all([page.waitForURL(/\/record\/patient\/[0-9a-f-]{36}\/summary$/), page.click('main button.nhsuk-button')]);
    const base = page.url().replace(/\/summary$/, '');
    expect(await page.textContent('#alerts-heading')).to.include('Alerts');
    await expectAccessible(page);
    for (const section of ['problems', 'allergies', 'medications', 'encounters', 'immunisations', 'care-plans', 'social-care', 'documents']) {
      await page.goto(`${base}/${section}`);
      expect(await page.textContent('h1'), section).to.not.equal('Page not found');
      await expectAccessible(page, `${base}/${section}`);
    }
    await page.goto(`${base}/results`);
    await page.selectOption('#category', 'laboratory');
    await page.fill('#from', '1900-01-01');
    await Promise.all([page.waitForURL(/results\?/), page.click('main form button')]);
    expect(page.url()).to.include('category=laboratory').and.include('from=1900-01-01');
    expect(await page.textContent('[data-banner=date-range]')).to.include('from 1900-01-01');
    expect(await page.locator('svg.app-trend').count()).to.be.greaterThan(0);
    expect(await page.locator('svg.app-trend + table tbody tr').count()).to.be.greaterThan(1);
    // Every row names its source.
    const sources = await page.locator('table.nhsuk-table-responsive tbody tr td:last-child').allTextContents();
    expect(sources.length).to.be.greaterThan(0);
    for (const t of sources) expect(t).to.match(/GP|Hospital|Social care/);
    await expectAccessible(page);
    if (await page.locator('.nhsuk-pagination__next a, a.nhsuk-pagination__link--next').count()) {
      await Promise.all([page.waitForURL(/page=2/), page.locator('.nhsuk-pagination__next a, a.nhsuk-pagination__link--next').first().click()]);
      await expectAccessible(page);
    }
    // A date range with nothing in it: the empty state.
    await page.goto(`${base}/results?category=laboratory&from=1800-01-01&to=1800-12-31`);
    expect(await page.textContent('main')).to.include('Nothing recorded in this date range');
    await expectAccessible(page);
    // The clinician's own search, behind a form.
    await page.goto(`${base}/search`);
    await page.selectOption('#type', 'Condition');
    await Promise.all([page.waitForURL(/\/search$/), page.click('main button.nhsuk-button')]);
    await page.waitForSelector('caption');
    expect(new URL(page.url()).pathname).to.equal(new URL(`${base}/search`).pathname);
    await expectAccessible(page);
    expect(s.cspViolations).to.deep.equal([]);
  });

  it('a source that is down shows its banner (clinician section and crew summary)', async () => {
    stack.sandbox.faults.hospital.set({ mode: 'error' });
    try {
      const s = await session();
      await signIn(s.page, stack.baseUrl, { user: 'demo-crew' });
      await s.page.goto(`${stack.baseUrl}/crew/patient/${dementia.id}`);
      const callout = await s.page.textContent('#sources');
      expect(callout).to.include('Did not answer');
      await expectAccessible(s.page);
      const c = await session();
      await signIn(c.page, stack.baseUrl, { user: `demo-gp-${labs.practice}` });
      await c.page.goto(`${stack.baseUrl}/record`);
      await c.page.fill('#nhsNumber', labs.nhs);
      await Promise.all([c.page.waitForURL(/summary$/), c.page.click('main button.nhsuk-button')]);
      await c.page.goto(c.page.url().replace(/summary$/, 'encounters'));
      expect(await c.page.locator('[data-banner=source-missing]').count()).to.equal(1);
      await expectAccessible(c.page);
    } finally {
      stack.sandbox.faults.hospital.set({ mode: 'none' });
    }
  });

  it('a consent withholding shows the withheld notice (never what was withheld)', async () => {
    const keys = await ensureDemoKeys(stack.config.dataDir);
    const token = await mintToken(keys.privateJwk, keys.kid, { sub: 'patient-demo', role: 'patient', nhs_number: dementia.nhs });
    const consent = {
      resourceType: 'Consent',
      status: 'active',
      scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
      category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
      patient: { reference: `Patient/${dementia.id}` },
      dateTime: '2026-11-01T10:00:00Z',
      policy: [{ uri: CONSENT_POLICY_URI }],
      provision: { type: 'permit', provision: [{ type: 'deny', actor: [{ role: { coding: [{ system: PARTICIPATION_SYSTEM, code: 'CST' }] }, reference: { identifier: { system: SOURCE_SYSTEM, value: 'social-care' } } }] }] },
    };
    const r = await fetch(`${stack.baseUrl}/fhir/Consent`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/fhir+json', accept: 'application/fhir+json' }, body: JSON.stringify(consent) });
    expect(r.status, await r.clone().text()).to.equal(201);
    const practice = stack.practiceOf(dementia.nhs);
    const s = await session();
    await signIn(s.page, stack.baseUrl, { user: `demo-gp-${practice}` });
    await s.page.goto(`${stack.baseUrl}/record/patient/${dementia.id}/social-care`);
    expect(await s.page.locator('[data-banner=withheld]').count()).to.equal(1);
    expect(await s.page.textContent('main')).to.include('Nothing recorded');
    await expectAccessible(s.page);
    await s.page.goto(`${stack.baseUrl}/record/patient/${dementia.id}/summary`);
    expect(await s.page.locator('[data-banner=withheld]').count()).to.equal(1);
  });

  it('the privacy officer reviews the emergency access (reason, note, who, when), searches the audit trail and sees the chain verified', async () => {
    const s = await session({ viewport: { width: 1024, height: 800 } });
    const { page } = s;
    await signIn(page, stack.baseUrl, { user: 'demo-privacy-officer' });
    await page.goto(`${stack.baseUrl}/privacy/alerts`);
    const main = (await page.textContent('main'))!;
    expect(main).to.include('Patient unconscious').and.include('Found collapsed at home, not responding').and.include('demo-crew');
    await expectAccessible(page);
    const before = await page.locator('main form').count();
    await page.check('#outcome-1-appropriate');
    await page.fill('#note-1', 'Unconscious patient, access justified');
    await Promise.all([page.waitForURL(/reviewed=1/), page.click('main form button')]);
    expect(await page.textContent('main')).to.include('Review recorded');
    expect(await page.locator('main form').count()).to.equal(before - 1);
    await expectAccessible(page);
    // Audit search by NHS number: POSTed, answered at a URL with the integrated id only.
    await page.goto(`${stack.baseUrl}/privacy/audit`);
    expect(await page.textContent('#chain-status')).to.include('Chain verified');
    await page.fill('#nhsNumber', dementia.nhs);
    await Promise.all([page.waitForURL(/\/privacy\/audit\?patient=/), page.click('main form button.nhsuk-button')]);
    expect(page.url()).to.include(`patient=${dementia.id}`);
    const rows = await page.locator('table tbody tr').count();
    expect(rows).to.be.greaterThan(0);
    await expectAccessible(page);
    await page.goto(`${stack.baseUrl}/privacy/audit?decision=deny`);
    expect(await page.textContent('main')).to.include('refused');
  });

  it('no NHS number, name or date of birth in any URL the browsers asked for or any log line; CSP on every page', async () => {
    const identifiers = [dementia.nhs, labs.nhs, dementia.family, labs.family, dementia.birthDate, labs.birthDate];
    const urls = browser.sessions.flatMap((s) => s.urls);
    expect(urls.length).to.be.greaterThan(50);
    for (const u of urls) for (const id of identifiers) expect(decodeURIComponent(u), 'URL').not.to.include(id);
    const logs = stack.logs.join('\n');
    for (const id of identifiers) expect(logs, 'service logs').not.to.include(id);
    for (const s of browser.sessions) expect(s.cspViolations).to.deep.equal([]);
    const res = await fetch(`${stack.baseUrl}/crew`, { redirect: 'manual' });
    expect(res.headers.get('content-security-policy')).to.include("script-src 'self'");
  });
});
