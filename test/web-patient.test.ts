/**
 * The patient pages end to end in a real browser (Debian chromium via playwright-core), signed in through
 * the real OpenID Connect flow of the embedded demo provider: My record with a result trend; a sharing
 * choice recorded by keyboard; the preview as the hospital; the next hospital clinician (staff page and
 * API) no longer seeing the item; the access log in one line; axe on every page and error state; a
 * conflicting change from another tab; withdraw; and no way to reach another patient's data.
 */
import { expect } from 'chai';
import type { Browser, Page } from 'playwright-core';
import type { Bundle, Condition, Observation, Resource } from 'fhir/r4.js';
import { categoriesOf } from '../consent/sensitivity.js';
import { ensureDemoKeys, mintToken } from '../server/demo-keys.js';
import { chromiumAvailable, expectAccessible, launchBrowser, newSession, signIn, type Session } from './helpers/browser.js';
import { startStack, type Stack } from './helpers/stack.js';

const requireBrowser = () => process.env.CI_REQUIRE_SHARED === '1';

async function tabTo(page: Page, selector: string): Promise<void> {
  for (let i = 0; i < 80; i++) {
    await page.keyboard.press('Tab');
    if (await page.evaluate((s) => !!document.activeElement?.matches(s), selector)) return;
  }
  throw new Error(`keyboard focus never reached ${selector}`);
}

const text = (c: Condition) => c.code?.text ?? c.code?.coding?.find((x) => x.display)?.display ?? '';
/** The texts in the "Health problems" table of My record or a preview. */
const problemTexts = (page: Page) => page.$$eval('#problems tbody tr td:first-child', (tds) => tds.map((td) => td.textContent!.replace(/^What\s*/, '').trim()));

describe('patient pages in a real browser (issue 17)', function () {
  this.timeout(900_000);
  let stack: Stack;
  let browser: Browser;
  const sessions: Session[] = [];
  /** Known to the GP and the hospital, with a mental-health condition in the GP record. */
  let mh: { nhs: string; condition: string };
  /** Another patient, with repeated numeric laboratory results. */
  let labs: { nhs: string; test: string };
  let hospital: string;
  let keys: Awaited<ReturnType<typeof ensureDemoKeys>>;

  before(async function () {
    if (!chromiumAvailable()) {
      if (requireBrowser()) throw new Error('chromium is required (CI_REQUIRE_SHARED=1): apt-get install chromium');
      this.skip();
    }
    stack = await startStack({ sandbox: { bundleDirs: [], generate: { count: 150, seed: 21 } } });
    browser = await launchBrowser();
    hospital = stack.config.providerOrganisations.hospital;
    keys = await ensureDemoKeys(stack.config.dataDir);
    const gp = stack.sandbox.data.gp;
    const mhConditions = gp.filter((r): r is Condition => r.resourceType === 'Condition' && categoriesOf(r).has('mental-health'));
    const entry = stack.sandbox.data.manifest.find((m) => m.hospitalPatientId && mhConditions.some((c) => c.subject?.reference === `Patient/${m.gpPatientId}`))!;
    expect(entry, 'a generated patient with hospital data and a mental-health condition').to.not.equal(undefined);
    mh = { nhs: entry.nhsNumber, condition: text(mhConditions.find((c) => c.subject?.reference === `Patient/${entry.gpPatientId}`)!) };
    const counts = new Map<string, number>();
    for (const r of [...gp, ...stack.sandbox.data.hospital]) {
      const o = r as Observation;
      if (r.resourceType !== 'Observation' || typeof o.valueQuantity?.value !== 'number' || !o.category?.some((c) => c.coding?.some((x) => x.code === 'laboratory'))) continue;
      const key = `${o.subject?.reference}|${o.code?.coding?.[0]?.code}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    const repeated = [...counts].filter(([, n]) => n >= 2).map(([k]) => k.split('|') as [string, string]);
    const le = stack.sandbox.data.manifest.find((m) => m.gpPatientId && m.nhsNumber !== mh.nhs && repeated.some(([p]) => p === `Patient/${m.gpPatientId}`))!;
    const code = repeated.find(([p]) => p === `Patient/${le.gpPatientId}`)![1];
    const obs = gp.find((r) => r.resourceType === 'Observation' && (r as Observation).code?.coding?.[0]?.code === code) as Observation;
    labs = { nhs: le.nhsNumber, test: obs.code!.text ?? obs.code!.coding![0]!.display! };
  });
  after(async () => {
    for (const s of sessions) await s.close().catch(() => undefined);
    await browser?.close();
    await stack?.close();
  });

  const session = async (opts?: Parameters<typeof newSession>[1]) => {
    const s = await newSession(browser, opts);
    sessions.push(s);
    return s;
  };
  const api = async (path: string, claims: Parameters<typeof mintToken>[2]) => {
    const token = await mintToken(keys.privateJwk, keys.kid, claims);
    const r = await fetch(`${stack.baseUrl}${path}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/fhir+json' } });
    return { status: r.status, body: (await r.json()) as Record<string, unknown> };
  };

  it('a patient reads a result trend: grouped by test, SVG with the values in a table beneath, each saying where it came from', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { patientNhsNumber: labs.nhs }, '/my-record');
    expect(new URL(page.url()).pathname).to.equal('/my-record');
    const group = page.locator(`section[data-test="${labs.test}"]`);
    expect(await group.count(), `a result group for ${labs.test}`).to.equal(1);
    expect(await group.locator('svg.app-trend polyline').count()).to.equal(1);
    const rows = await group.locator('tbody tr').count();
    expect(rows).to.be.greaterThan(1);
    expect(await group.locator('tbody').textContent()).to.match(/your GP practice|the hospital/);
    await expectAccessible(page);
  });

  let hospitalPreview: string[] = [];
  it('keyboard only: records "do not share mental health data with the hospital"; the preview for the hospital changes with it', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { patientNhsNumber: mh.nhs }, '/my-choices');
    await expectAccessible(page);
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=hospital`);
    expect(await problemTexts(page)).to.include(mh.condition);
    expect(await page.locator('[data-banner=nothing-withheld]').count()).to.equal(1);
    await expectAccessible(page);
    await page.goto(`${stack.baseUrl}/my-choices`);
    await tabTo(page, '#what'); // "Sensitive information of a kind I choose below"
    await page.keyboard.press('Space');
    await tabTo(page, '#categories'); // mental health
    await page.keyboard.press('Space');
    await tabTo(page, '#who'); // "Staff at an organisation"
    await page.keyboard.press('Space');
    await tabTo(page, '#organisation');
    for (let i = 0; i < 5 && (await page.inputValue('#organisation')) !== hospital; i++) await page.keyboard.press('ArrowDown');
    expect(await page.inputValue('#organisation')).to.equal(hospital);
    await tabTo(page, 'form[action="/my-choices/add"] button');
    await Promise.all([page.waitForURL(/\/my-choices\?saved=1$/), page.keyboard.press('Enter')]);
    expect(await page.textContent('#wishes')).to.include('Do not share my mental health information with the hospital');
    expect(await page.textContent('#history')).to.include('In force');
    await expectAccessible(page);
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=hospital`);
    hospitalPreview = await problemTexts(page);
    expect(hospitalPreview).to.not.include(mh.condition);
    expect(await page.locator('[data-banner=withheld]').count()).to.equal(1);
    await expectAccessible(page);
    // The GP practice recorded it, so it still sees it; an ambulance crew too (not "even in an emergency").
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=gp`);
    expect(await problemTexts(page)).to.include(mh.condition);
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=ambulance`);
    expect(await problemTexts(page)).to.include(mh.condition);
    await expectAccessible(page);
  });

  it('the next hospital clinician no longer sees it (staff page and API), sees the withheld notice, and exactly what the preview showed', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { user: 'demo-hospital-clinician' }, '/record');
    await page.fill('#nhsNumber', mh.nhs);
    await Promise.all([page.waitForURL(/\/summary$/), page.click('main button.nhsuk-button')]);
    const id = /\/record\/patient\/([^/]+)\//.exec(page.url())![1]!;
    await page.goto(`${stack.baseUrl}/record/patient/${id}/problems`);
    expect(await page.textContent('main')).to.not.include(mh.condition);
    expect(await page.locator('[data-banner=withheld]').count()).to.equal(1);
    const r = await api(`/fhir/Patient/${id}/$everything?_count=1000`, { sub: 'dr-next', role: 'clinician', org: hospital });
    expect(r.status).to.equal(200);
    const resources = ((r.body as unknown as Bundle).entry ?? []).map((e) => e.resource as Resource);
    const conditions = resources.filter((x): x is Condition => x.resourceType === 'Condition').map(text);
    expect(conditions).to.not.include(mh.condition);
    expect(JSON.stringify(r.body)).to.include('withheld');
    // The preview (computed before the clinician looked) listed exactly the conditions the clinician got.
    expect([...hospitalPreview].sort()).to.deep.equal(conditions.filter(Boolean).sort());
  });

  it('Who looked at my record: the clinician’s read as one line with the withheld note, the trail verifies, filter, CSV; the previews are not staff access', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { patientNhsNumber: mh.nhs }, '/who-looked');
    expect(await page.locator('[data-banner=trail-verified]').count()).to.equal(1);
    const rows = await page.$$eval('#access-log tbody tr', (trs) => trs.map((tr) => tr.textContent!.replace(/\s+/g, ' ')));
    const hospitalRows = rows.filter((r) => r.includes(hospital) && r.includes('a clinician'));
    expect(hospitalRows.some((r) => r.includes('viewed') && r.includes('some items were not shown because of your choices')), rows.join('\n')).to.equal(true);
    expect(hospitalRows.some((r) => /Refused/.test(r)), 'no separate refused line').to.equal(false);
    expect(rows.some((r) => /ambulance crew|emergency/i.test(r)), 'a preview is not staff or emergency access').to.equal(false);
    expect(rows.some((r) => r.includes('you') && r.includes('viewed your full record')), 'the patient’s own reads and previews, as their own').to.equal(true);
    await expectAccessible(page);
    await page.goto(`${stack.baseUrl}/who-looked?organisation=${hospital}`);
    const filtered = await page.$$eval('#access-log tbody tr', (trs) => trs.map((tr) => tr.textContent!));
    expect(filtered.length).to.be.greaterThan(0);
    expect(filtered.every((r) => r.includes(hospital))).to.equal(true);
    const csv = await page.request.get(`${stack.baseUrl}/who-looked/download.csv?organisation=${hospital}`);
    expect(csv.headers()['content-type']).to.match(/^text\/csv/);
    const body = await csv.text();
    expect(body.split('\r\n')[0]).to.equal('"When (UTC)","Who","Organisation","What","Why","Outcome"');
    expect(body).to.include('some items were not shown because of your choices');
    // A bad date: an error summary linking to the field, as a 400 page that passes axe.
    const bad = await page.goto(`${stack.baseUrl}/who-looked?from=2026-13-45`);
    expect(bad!.status()).to.equal(400);
    expect(await page.getAttribute('.nhsuk-error-summary a', 'href')).to.equal('#from');
    await expectAccessible(page);
  });

  it('bad input gets an error summary linking to the field; a change from another tab is explained and nothing is lost; withdraw in one action', async () => {
    const s = await session();
    await signIn(s.page, stack.baseUrl, { patientNhsNumber: mh.nhs }, '/my-choices');
    const a = s.page;
    // Nothing selected.
    await Promise.all([a.waitForLoadState('load'), a.click('form[action="/my-choices/add"] button')]);
    expect(await a.$$eval('.nhsuk-error-summary a', (as) => as.map((x) => x.getAttribute('href')))).to.include.members(['#what', '#who']);
    expect(await a.title()).to.match(/^Error: /);
    await expectAccessible(a);
    // A period that ends before it starts.
    await a.check('#what-3');
    await a.check('#who-2');
    await a.check('#roles-2');
    await a.fill('#from', '2027-05-01');
    await a.fill('#to', '2027-01-01');
    await Promise.all([a.waitForLoadState('load'), a.click('form[action="/my-choices/add"] button')]);
    expect(await a.$$eval('.nhsuk-error-summary a', (as) => as.map((x) => x.getAttribute('href')))).to.deep.equal(['#to']);
    expect(await a.inputValue('#from')).to.equal('2027-05-01');
    await expectAccessible(a);
    // Two tabs: B saves first; A's change is refused with an explanation, A's entries kept.
    await a.goto(`${stack.baseUrl}/my-choices`);
    const b = await s.context.newPage();
    await b.goto(`${stack.baseUrl}/my-choices`);
    await b.check('#optOut-2');
    await Promise.all([b.waitForURL(/saved=1/), b.click('form[action="/my-choices/opt-out"] button')]);
    await a.check('#what-2');
    await a.check('#sources-3');
    await a.check('#who-2');
    await a.check('#roles-2');
    const conflict = await Promise.all([a.waitForLoadState('load'), a.click('form[action="/my-choices/add"] button')]);
    void conflict;
    expect(await a.locator('[data-banner=conflict]').count()).to.equal(1);
    expect(await a.textContent('[data-banner=conflict]')).to.include('Do not share information from the council (social care) with ambulance crews');
    expect(await a.isChecked('#sources-3')).to.equal(true);
    expect(await a.isChecked('#optOut-2'), 'the other tab’s change is shown').to.equal(true);
    await expectAccessible(a);
    await Promise.all([a.waitForURL(/saved=1/), a.click('form[action="/my-choices/add"] button')]);
    const wishes = await a.textContent('#wishes');
    expect(wishes).to.include('with ambulance crews');
    expect(wishes).to.include('with the hospital');
    expect(await a.isChecked('#optOut-2')).to.equal(true);
    // Withdraw: one action; the history keeps every version with its date.
    await Promise.all([a.waitForURL(/saved=1/), a.click('form[action="/my-choices/withdraw"] button')]);
    expect(await a.locator('#wishes-none').count()).to.equal(1);
    expect(await a.textContent('#history tbody tr:first-child')).to.include('Withdrawn');
    expect(await a.locator('#history tbody tr').count()).to.be.greaterThan(3);
    await expectAccessible(a);
  });

  it('a patient cannot reach another patient’s record, choices or access log by any URL or form field', async () => {
    // B (the labs patient) records a choice; A (the mental-health patient) then tries everything.
    const sb = await session();
    await signIn(sb.page, stack.baseUrl, { patientNhsNumber: labs.nhs }, '/my-choices');
    await sb.page.check('#what-3');
    await sb.page.check('#who-2');
    await sb.page.check('#roles-2');
    await Promise.all([sb.page.waitForURL(/saved=1/), sb.page.click('form[action="/my-choices/add"] button')]);
    const bConsent = await sb.page.inputValue('form[action="/my-choices/add"] input[name=consent]');
    const bVersion = await sb.page.inputValue('form[action="/my-choices/add"] input[name=version]');
    const bId = (await api(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${labs.nhs}`, { sub: 'p-b', role: 'patient', nhs_number: labs.nhs })).body as unknown as Bundle;
    const bPatientId = bId.entry?.find((e) => e.resource?.resourceType === 'Patient')?.resource?.id;
    expect(bPatientId, 'B’s integrated id').to.be.a('string');

    const sa = await session();
    const a = sa.page;
    await signIn(a, stack.baseUrl, { patientNhsNumber: mh.nhs }, '/my-record');
    const aRecord = await a.textContent('main');
    for (const path of [`/my-record?patient=${bPatientId}`, `/my-record/${bPatientId}`, `/my-choices?patient=${bPatientId}`, `/my-choices/preview?as=hospital&patient=${bPatientId}`, `/who-looked?patient=${bPatientId}`]) {
      const r = await a.goto(`${stack.baseUrl}${path}`);
      const main = (await a.textContent('main')) ?? '';
      expect(main, path).to.not.include(labs.test);
      expect(r!.status() === 404 || !main.includes('Sensitive information') || !main.includes(labs.test), path).to.equal(true);
    }
    await a.goto(`${stack.baseUrl}/my-record?patient=${bPatientId}`);
    expect(await a.textContent('main')).to.equal(aRecord);
    // Form field edits: B's consent id and version in A's forms change nothing of B's.
    await a.goto(`${stack.baseUrl}/my-choices`);
    for (const action of ['/my-choices/remove', '/my-choices/withdraw', '/my-choices/add']) {
      await a.evaluate(({ action, bConsent, bVersion }) => {
        const f = document.querySelector(`form[action="${action}"]`) as HTMLFormElement | null;
        if (!f) return;
        (f.querySelector('input[name=consent]') as HTMLInputElement).value = bConsent;
        (f.querySelector('input[name=version]') as HTMLInputElement).value = bVersion;
        const p = document.createElement('input');
        p.type = 'hidden'; p.name = 'patient'; p.value = 'x';
        f.appendChild(p);
      }, { action, bConsent, bVersion });
      if (action === '/my-choices/add') { await a.check('#what-3'); await a.check('#who-2'); await a.check('#roles'); }
      const form = a.locator(`form[action="${action}"] button`).first();
      if ((await form.count()) === 0) continue;
      await Promise.all([a.waitForLoadState('load'), form.click()]);
      await a.goto(`${stack.baseUrl}/my-choices`);
    }
    const after = await api(`/fhir/Consent/${bConsent}`, { sub: 'p-b', role: 'patient', nhs_number: labs.nhs });
    expect(after.status).to.equal(200);
    expect((after.body.meta as { versionId: string }).versionId, 'B’s consent is unchanged').to.equal(bVersion);
    expect(after.body.status).to.equal('active');
    // B's access log shows no access by A.
    await sb.page.goto(`${stack.baseUrl}/who-looked`);
    const bRows = await sb.page.$$eval('#access-log tbody tr', (trs) => trs.map((tr) => tr.textContent!));
    expect(bRows.every((r) => /you|a clinician|ambulance|privacy/.test(r))).to.equal(true);
    expect(bRows.filter((r) => /\byou\b/.test(r)).length).to.be.greaterThan(0);
  });
});
