/**
 * The patient pages end to end in a real browser (Debian chromium via playwright-core), signed in through
 * the real OpenID Connect flow of the embedded demo provider: My record with a result trend; a sharing
 * choice recorded by keyboard; the preview as the hospital; the next hospital clinician (staff page and
 * API) no longer seeing the item; the access log in one line; axe on every page and error state; a
 * conflicting change from another tab; withdraw; and no way to reach another patient's data.
 */
import { expect } from 'chai';
import type { Page } from 'playwright-core';
import type { Bundle, Condition, Observation, OperationOutcome, Patient, Resource } from 'fhir/r4.js';
import { SOURCE_TAG_SYSTEM } from '../adapters/merge.js';
import { CATEGORIES, categoriesOf, type Category } from '../consent/sensitivity.js';
import { isValidNhsNumber } from '../fhir/nhs-number.js';
import { SESSION_COOKIE } from '../web/sessions.js';
import { newCsrfToken, SessionStore } from '../web/session-store.js';
import { ensureDemoKeys, mintToken } from '../server/demo-keys.js';
import { BrowserPool, expectAccessible, signIn, skipWithoutChromium } from './helpers/browser.js';
import { startStack, type Stack } from './helpers/stack.js';


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
  let browser: BrowserPool;
  /** Known to the GP and the hospital, with a mental-health condition in the GP record. */
  let mh: { nhs: string; condition: string };
  /** Another patient, with repeated numeric laboratory results. */
  let labs: { nhs: string; test: string };
  /** A third patient known to the GP and the hospital, and a sensitive category none of their entries has. */
  let hp: { nhs: string; quiet: Category };
  let hospital: string;
  let keys: Awaited<ReturnType<typeof ensureDemoKeys>>;

  before(async function () {
    skipWithoutChromium(this);
    stack = await startStack({ sandbox: { bundleDirs: [], generate: { count: 150, seed: 21 } } });
    browser = await BrowserPool.launch();
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
    const third = stack.sandbox.data.manifest.find((m) => m.hospitalPatientId && m.nhsNumber !== mh.nhs && m.nhsNumber !== labs.nhs
      && stack.sandbox.data.hospital.some((r) => r.resourceType === 'Encounter' && JSON.stringify(r).includes(`Patient/${m.hospitalPatientId}`)))!;
    const own = [...gp, ...stack.sandbox.data.hospital].filter((r) => JSON.stringify(r).includes(`Patient/${third.gpPatientId}"`) || JSON.stringify(r).includes(`Patient/${third.hospitalPatientId}"`));
    const quiet = CATEGORIES.find((c) => !own.some((r) => categoriesOf(r).has(c)))!;
    expect(quiet, 'a sensitive category the third patient has nothing of').to.be.a('string');
    hp = { nhs: third.nhsNumber, quiet };
  });
  after(async () => {
    await browser?.close();
    await stack?.close();
  });

  const session = (opts?: Parameters<typeof browser.session>[0]) => browser.session(opts);
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
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=${hospital}`);
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
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=${hospital}`);
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
    expect(aRecord, 'A’s own record shows A’s condition').to.include(mh.condition);
    // Each URL is either not found, or A's own page: A's data, never B's integrated id, consent or results.
    const own: Record<string, (main: string) => Promise<boolean>> = {
      [`/my-record?patient=${bPatientId}`]: async (main) => main.includes(mh.condition),
      [`/my-record/${bPatientId}`]: async () => false,
      [`/my-choices?patient=${bPatientId}`]: async () => (await a.inputValue('form[action="/my-choices/add"] input[name=consent]')) !== bConsent,
      [`/my-choices/preview?as=${hospital}&patient=${bPatientId}`]: async (main) => main.includes(mh.condition),
      [`/who-looked?patient=${bPatientId}`]: async () => (await a.locator('#access-log tbody tr').count()) > 0,
    };
    for (const [path, showsOwn] of Object.entries(own)) {
      const r = await a.goto(`${stack.baseUrl}${path}`);
      const main = (await a.textContent('main')) ?? '';
      const html = await a.content();
      expect(main, path).to.not.include(labs.test);
      expect(html, path).to.not.include(bConsent);
      expect(html, path).to.not.include(bPatientId!);
      expect(r!.status() === 404 || (r!.status() === 200 && (await showsOwn(main))), `${path}: not found, or A’s own page (status ${r!.status()})`).to.equal(true);
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
  /** The hp patient's integrated id (the patient's own API search). */
  const hpId = async () => {
    const found = (await api(`/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${hp.nhs}`, { sub: 'p-hp', role: 'patient', nhs_number: hp.nhs })).body as unknown as Bundle;
    return found.entry!.find((e) => e.resource?.resourceType === 'Patient')!.resource!.id!;
  };
  /** A staff member's $everything through the API: the resources, the Patient, and whether the withheld notice came with it. */
  const staffRead = async (id: string, org: string) => {
    const r = await api(`/fhir/Patient/${id}/$everything?_count=1000`, { sub: `dr-${org}`, role: 'clinician', org });
    expect(r.status).to.equal(200);
    const resources = ((r.body as unknown as Bundle).entry ?? []).map((e) => e.resource as Resource);
    const notice = resources.some((x) => x.resourceType === 'OperationOutcome' && (x as OperationOutcome).issue.some((i) => /withheld by the patient's consent/.test(i.diagnostics ?? '')));
    return { resources: resources.filter((x) => x.resourceType !== 'OperationOutcome'), patient: resources.find((x): x is Patient => x.resourceType === 'Patient')!, notice };
  };
  const sourcesOf = (r: Resource) => (r.meta?.tag ?? []).filter((t) => t.system === SOURCE_TAG_SYSTEM).map((t) => t.code);
  const hasMrn = (p: Patient) => !!p.identifier?.some((i) => i.type?.coding?.some((c) => c.code === 'MR'));
  /** The preview page for a viewer: the patient's details as shown, and whether the withheld notice is. */
  const previewAs = async (page: Page, as: string) => {
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=${as}`);
    return {
      details: (await page.textContent('#patient-details')) ?? '',
      from: (await page.textContent('#details-from')) ?? '',
      notice: (await page.locator('[data-banner=withheld]').count()) === 1,
      nothing: (await page.locator('[data-banner=nothing-withheld]').count()) === 1,
      text: (await page.textContent('main')) ?? '',
    };
  };
  const addChoice = async (page: Page, fill: () => Promise<void>) => {
    await page.goto(`${stack.baseUrl}/my-choices`);
    await fill();
    await Promise.all([page.waitForURL(/saved=1/), page.click('form[action="/my-choices/add"] button')]);
  };
  const withdraw = async (page: Page) => {
    await page.goto(`${stack.baseUrl}/my-choices`);
    await Promise.all([page.waitForURL(/saved=1/), page.click('form[action="/my-choices/withdraw"] button')]);
  };

  it('the preview is the staff path: under "do not share hospital data" no hospital number or source on the details, and the withheld notice exactly when the staff read has it', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { patientNhsNumber: hp.nhs }, '/my-choices');
    const id = await hpId();
    const practice = stack.practiceOf(hp.nhs);
    // Before any choice: the hospital number is there, for the hospital and for the GP practice; no notice.
    for (const [as, org] of [[hospital, hospital], ['gp', practice]]) {
      const staff = await staffRead(id, org);
      const preview = await previewAs(page, as);
      expect(hasMrn(staff.patient), `${as}: the staff read has the hospital number`).to.equal(true);
      expect(preview.details, as).to.include('Hospital record number');
      expect(preview.from, as).to.include('the hospital');
      expect(staff.notice, as).to.equal(false);
      expect(preview.notice, as).to.equal(staff.notice);
    }
    await expectAccessible(page);
    // Do not share information from the hospital, with anyone.
    await addChoice(page, async () => {
      await page.check('#what-2');
      await page.check('#sources-2');
      await page.check('#who-3');
    });
    expect(await page.textContent('#wishes')).to.include('Do not share information from the hospital with anyone');
    for (const [as, org] of [[hospital, hospital], ['gp', practice]]) {
      const staff = await staffRead(id, org);
      const preview = await previewAs(page, as);
      expect(hasMrn(staff.patient), `${as}: no hospital number for staff`).to.equal(false);
      expect(sourcesOf(staff.patient), as).to.not.include('hospital');
      expect(preview.details, `${as}: the preview shows no hospital number`).to.not.include('Hospital record number');
      expect(preview.from, `${as}: nor the hospital as a source of the details`).to.not.include('the hospital');
      expect(staff.notice, as).to.equal(true);
      expect(preview.notice, `${as}: the notice exactly as the staff read`).to.equal(staff.notice);
    }
    // A category the patient has nothing of, withheld from the hospital: the staff read still has the
    // notice (it must not reveal whether anything was hidden), so the preview says so too; the GP has neither.
    await withdraw(page);
    await addChoice(page, async () => {
      await page.check('#what');
      await page.check(`#categories${CATEGORIES.indexOf(hp.quiet) === 0 ? '' : `-${CATEGORIES.indexOf(hp.quiet) + 1}`}`);
      await page.check('#who');
      await page.selectOption('#organisation', hospital);
    });
    for (const [as, org] of [[hospital, hospital], ['gp', practice]]) {
      const staff = await staffRead(id, org);
      const preview = await previewAs(page, as);
      expect(staff.notice, as).to.equal(as === hospital);
      expect(preview.notice, `${as}: the notice exactly as the staff read`).to.equal(staff.notice);
      expect(preview.nothing, as).to.equal(!staff.notice);
      if (as === hospital) expect(preview.text).to.include('Nothing in your record now is hidden by it');
    }
    await page.goto(`${stack.baseUrl}/my-choices/preview?as=gp`);
    await expectAccessible(page);
    await withdraw(page);
  });

  it('"do not share information recorded by one organisation": organisations from the source registry; the GP no longer sees the trust’s items, and the preview says so', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { patientNhsNumber: hp.nhs }, '/my-choices');
    const id = await hpId();
    const practice = stack.practiceOf(hp.nhs);
    const offered = await page.$$eval('#sourceOrganisation option', (os) => os.map((o) => (o as HTMLOptionElement).value).filter(Boolean));
    const registry = stack.config.sourceRegistry.flatMap((s) => (s.category === 'gp' ? [] : s.organisations.map((o) => o.ods)));
    expect(offered).to.deep.equal([practice, ...registry]);
    expect(await page.$$eval('#organisation option', (os) => os.map((o) => (o as HTMLOptionElement).value).filter(Boolean))).to.deep.equal(offered);
    const before = await staffRead(id, practice);
    const trustOnly = before.resources.filter((r) => r.resourceType !== 'Patient' && sourcesOf(r).join() === 'hospital').map((r) => r.id);
    expect(trustOnly.length, 'items only the trust recorded').to.be.greaterThan(0);
    expect((await previewAs(page, 'gp')).nothing).to.equal(true);
    await addChoice(page, async () => {
      await page.check('#what-4');
      await page.selectOption('#sourceOrganisation', hospital);
      await page.check('#who-3');
    });
    expect(await page.textContent('#wishes')).to.include(`Do not share information from the hospital trust (${hospital}) with anyone`);
    const after = await staffRead(id, practice);
    const ids = new Set(after.resources.map((r) => r.id));
    expect(trustOnly.filter((x) => ids.has(x)), 'the trust’s items are not shown to the GP').to.deep.equal([]);
    expect(after.resources.filter((r) => sourcesOf(r).includes('gp')).length, 'the GP’s own items still are').to.be.greaterThan(0);
    expect(after.notice).to.equal(true);
    expect(hasMrn(after.patient), 'nor the trust’s number for the patient').to.equal(false);
    const preview = await previewAs(page, 'gp');
    expect(preview.notice).to.equal(true);
    expect(preview.text).to.match(/\d+ item\(s\) in your record now would not be shown to them/);
    expect(preview.details).to.not.include('Hospital record number');
    await expectAccessible(page);
    await withdraw(page);
  });

  it('a preview (even as an ambulance crew) opens no emergency grant and raises no privacy alert', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { patientNhsNumber: hp.nhs }, '/my-choices');
    const id = await hpId();
    const officer = { sub: 'po-1', role: 'privacy-officer', org: 'X26' } as const;
    const alertsBefore = (await api('/review/alerts', officer)).body.alerts as unknown[];
    for (const as of ['ambulance', 'gp', hospital]) {
      await page.goto(`${stack.baseUrl}/my-choices/preview?as=${as}`);
      expect(await page.locator('h1').textContent()).to.match(/^What .* would see$/);
    }
    const grants = await stack.service.db.query<{ n: string }>('SELECT count(*)::text AS n FROM emergency_grant WHERE patient_id = $1', [id]);
    expect(grants.rows[0]!.n, 'no emergency grant for the patient').to.equal('0');
    const alertsAfter = (await api('/review/alerts', officer)).body.alerts as unknown[];
    expect(alertsAfter.length, 'no new privacy alert').to.equal(alertsBefore.length);
  });

  it('Who looked at my record: a valid date filter keeps only that period (axe), a later period shows none', async () => {
    const { page } = await session();
    await signIn(page, stack.baseUrl, { patientNhsNumber: hp.nhs }, '/who-looked');
    const all = await page.$$eval('#access-log tbody tr', (trs) => trs.length);
    expect(all).to.be.greaterThan(0);
    const today = new Date().toISOString().slice(0, 10);
    const ok = await page.goto(`${stack.baseUrl}/who-looked?from=${today}&to=${today}`);
    expect(ok!.status()).to.equal(200);
    expect(await page.locator('.nhsuk-error-summary').count()).to.equal(0);
    const rows = await page.$$eval('#access-log tbody tr', (trs) => trs.map((tr) => tr.textContent!));
    expect(rows.length).to.be.greaterThan(0);
    expect(rows.every((r) => r.includes(today))).to.equal(true);
    expect(await page.inputValue('#from')).to.equal(today);
    await expectAccessible(page);
    await page.goto(`${stack.baseUrl}/who-looked?from=2999-01-01`);
    expect(await page.locator('#access-log tbody tr').count()).to.equal(0);
  });

  it('the patient page for someone no source knows is a 404 in the design system (axe)', async () => {
    // As an external provider (NHS login) could sign in a person no source holds: a session of its own.
    let unknown = '';
    for (let n = 999_000_100; !unknown; n++) {
      for (let d = 0; d <= 9 && !unknown; d++) if (isValidNhsNumber(`${n}${d}`) && !stack.sandbox.data.manifest.some((m) => m.nhsNumber === `${n}${d}`)) unknown = `${n}${d}`;
    }
    const sid = await new SessionStore(stack.service.db).create({ principal: { sub: 'ext-unknown', role: 'patient', nhsNumber: unknown }, csrf: newCsrfToken(), idleMinutes: 30 }, new Date(), 1);
    const s = await session();
    await s.context.addCookies([{ name: SESSION_COOKIE, value: sid, url: stack.baseUrl }]);
    const r = await s.page.goto(`${stack.baseUrl}/my-record`);
    expect(r!.status()).to.equal(404);
    expect(await s.page.textContent('main')).to.include('not known to this service');
    await expectAccessible(s.page);
  });

  it('demo sign-in: the demo sources’ own people as one-click choices; an NHS number nobody holds is refused on the page; no NHS number in a URL or log', async () => {
    const s = await session();
    await s.page.goto(`${stack.baseUrl}/my-record`);
    await s.page.waitForURL(/\/demo-oidc\/interaction\//);
    const offered = await s.page.$$eval('[data-demo-patient]', (bs) => bs.map((b) => b.textContent!.trim()));
    expect(offered.length).to.be.greaterThan(0);
    const known = new Set(stack.sandbox.data.manifest.map((m) => m.nhsNumber));
    for (const o of offered) {
      expect(o).to.match(/^Demo patient: .+, NHS number \d{3} \d{3} \d{4}$/);
      expect(known.has(/(\d{3}) (\d{3}) (\d{4})$/.exec(o)!.slice(1).join('')), o).to.equal(true);
    }
    expect(await s.page.textContent('#nhsNumber-hint')).to.include(/(\d{3} \d{3} \d{4})$/.exec(offered[0]!)![1]!);
    await expectAccessible(s.page);
    // A valid NHS number nobody in the demo sources holds: said so on the page; nobody is signed in.
    let unknown = '';
    for (let n = 999_000_200; !unknown; n++) {
      for (let d = 0; d <= 9 && !unknown; d++) if (isValidNhsNumber(`${n}${d}`) && !known.has(`${n}${d}`)) unknown = `${n}${d}`;
    }
    await s.page.check('#user-patient');
    await s.page.fill('#nhsNumber', unknown);
    const refused = await Promise.all([s.page.waitForResponse((res) => res.request().method() === 'POST'), s.page.click('button[type=submit]')]);
    expect(refused[0].status()).to.equal(400);
    expect(await s.page.textContent('.nhsuk-error-summary')).to.include('No record is known for this NHS number in the demo sources');
    expect(await s.page.getAttribute('.nhsuk-error-summary a', 'href')).to.equal('#nhsNumber');
    await expectAccessible(s.page);
    // One click on a listed person: signed in as them, on their own record.
    const nhs = /(\d{3}) (\d{3}) (\d{4})$/.exec(offered[0]!)!.slice(1).join('');
    await Promise.all([s.page.waitForURL((u) => u.href.startsWith(stack.baseUrl) && u.pathname === '/my-record'), s.page.click('[data-demo-patient] >> nth=0')]);
    expect(await s.page.locator('h1').textContent()).to.equal('My record');
    for (const x of [nhs, unknown]) {
      expect(s.urls.filter((u) => u.includes(x)), 'no NHS number in a URL').to.deep.equal([]);
      expect(stack.logs.filter((l) => l.includes(x)), 'nor in a log line').to.deep.equal([]);
    }
  });
});
