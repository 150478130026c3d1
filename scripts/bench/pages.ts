/**
 * Benchmark for the crew's summary page (issue 16). Run: `npm run bench:pages` (BENCH_SECONDS=20,
 * BENCH_PORT=8650 for the service; the sandbox sources on ephemeral ports, with the bench's latencies).
 *
 * The same stack as `npm run bench:summary` (scripts/bench/stack.ts). The demo crew member signs in
 * through the embedded OpenID provider, takes emergency access to BENCH_PATIENTS patients, then:
 *  (a) bytes transferred (compressed, headers included, from Chromium's network events) for a first
 *      visit to a summary page (cache empty: HTML + CSS + any JS) and a repeat visit (assets cached as
 *      immutable), against 50 KB and 15 KB;
 *  (b) first contentful paint with a cold cache under emulated slow 3G (400 ms RTT, 400 kbit/s down,
 *      the WebPageTest "3G Slow" profile), against 2 s;
 *  (c) server time of the page (request to last byte) p50/p95/p99 at 16 clients, and the API's
 *      $summary for the same patients and the same person (bearer token), against $summary p95 + 10 ms.
 * The machine is shared: print the load average beside the figures.
 */
import { loadavg } from 'node:os';
import { chromium } from 'playwright-core';
import { DEMO_AUDIENCE, DEMO_ISSUER, mintToken } from '../../server/demo-keys.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../../test/helpers/browser.js';
import { PageClient } from '../../test/helpers/page-client.js';
import { fmt, line, load } from './lib.js';
import { CONCURRENCY, pick, startBenchStack } from './stack.js';
import { ensureDemoKeys } from '../../server/demo-keys.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const PATIENTS = Number(process.env.BENCH_PATIENTS ?? 40);
const PORT = Number(process.env.BENCH_PORT ?? 8650);
const kb = (n: number) => (n / 1024).toFixed(1);

const stack = await startBenchStack({ generate: Number(process.env.BENCH_GENERATE ?? 100), name: 'pages', port: PORT, serviceEnv: { PUBLIC_BASE_URL: `http://127.0.0.1:${PORT}` } });
const { base } = stack;
try {
  const patients = (await stack.indexPatients('ambulance-crew')).slice(0, PATIENTS);
  // The demo crew member signs in (real OpenID flow) and takes emergency access to each patient.
  const crew = new PageClient(base);
  await crew.signIn({ user: 'demo-crew' });
  for (const p of patients) {
    const form = await crew.go(`/crew/patient/${p.id}/emergency-access`);
    const r = await crew.raw(`/crew/patient/${p.id}/emergency-access`, { form: { _csrf: PageClient.csrfOf(form.text), reason: 'unconscious', note: 'benchmark: emergency access' } });
    if (r.status !== 303) throw new Error(`break-glass failed: ${r.status}`);
  }
  const cookie = [...crew.cookies].map(([k, v]) => `${k}=${v}`).join('; ');

  // (a) and (b) in Chromium.
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  const context = await browser.newContext({ viewport: { width: 360, height: 740 } });
  await context.addCookies([...crew.cookies].map(([name, value]) => ({ name, value, url: base })));
  const page = await context.newPage();
  const cdp = await context.newCDPSession(page);
  await cdp.send('Network.enable');
  let bytes = 0;
  const byUrl: { url: string; bytes: number }[] = [];
  const urls = new Map<string, string>();
  cdp.on('Network.requestWillBeSent', (e: { requestId: string; request: { url: string } }) => urls.set(e.requestId, e.request.url));
  cdp.on('Network.loadingFinished', (e: { requestId: string; encodedDataLength: number }) => {
    bytes += e.encodedDataLength;
    byUrl.push({ url: urls.get(e.requestId) ?? '?', bytes: e.encodedDataLength });
  });
  const visit = async (path: string) => {
    bytes = 0;
    byUrl.length = 0;
    await page.goto(`${base}${path}`, { waitUntil: 'load' });
    await page.waitForTimeout(200);
    return { bytes, byUrl: [...byUrl] };
  };
  const target = `/crew/patient/${patients[0]!.id}`;
  await cdp.send('Network.clearBrowserCache');
  const first = await visit(target);
  const repeat = await visit(`/crew/patient/${patients[1]!.id}`);
  const jsOnPage = await page.locator('script').count();
  await cdp.send('Network.clearBrowserCache');
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 400, downloadThroughput: (400 * 1024) / 8, uploadThroughput: (400 * 1024) / 8 });
  await page.goto(`${base}${target}`, { waitUntil: 'load' });
  // The paint entry can be queued after 'load' (Chromium records it on the next frame): observe it, buffered.
  const fcp = await page.evaluate(
    () =>
      new Promise<number>((resolve) => {
        new PerformanceObserver((list) => {
          const e = list.getEntriesByName('first-contentful-paint')[0];
          if (e) resolve(e.startTime);
        }).observe({ type: 'paint', buffered: true });
        setTimeout(() => resolve(Number.NaN), 10_000);
      }),
  );
  await cdp.send('Network.emulateNetworkConditions', { offline: false, latency: 0, downloadThroughput: -1, uploadThroughput: -1 });
  await browser.close();

  // (c) Server time: the page and the API's $summary, same patients, same person.
  const keys = await ensureDemoKeys(stack.dataDir);
  const token = await mintToken(keys.privateJwk, keys.kid, { sub: 'demo-crew', role: 'ambulance-crew', org: 'RX9' }, { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE });
  const load0 = loadavg()[0]!;
  await load(() => ({ url: `${base}/crew/patient/${pick(patients).id}`, headers: { cookie, accept: 'text/html' } }), CONCURRENCY, 3); // warm-up
  const api = await load(() => ({ url: `${base}/fhir/Patient/${pick(patients).id}/$summary`, headers: { authorization: `Bearer ${token}` } }), CONCURRENCY, SECONDS);
  const pages = await load(() => ({ url: `${base}/crew/patient/${pick(patients).id}`, headers: { cookie, accept: 'text/html' } }), CONCURRENCY, SECONDS);
  const load1 = loadavg()[0]!;

  const out = [
    '',
    `crew summary page (${patients.length} patients, emergency access; ${CONCURRENCY} clients, ${SECONDS} s; load average ${load0.toFixed(1)} → ${load1.toFixed(1)} on ${(await import('node:os')).cpus().length} cores, shared machine)`,
    `  first visit, compressed bytes incl. CSS     ${kb(first.bytes)} KB   (target ≤ 50 KB)   ${first.byUrl.map((u) => `${new URL(u.url).pathname.replace(/[0-9a-f-]{36}/, '{id}')} ${kb(u.bytes)}`).join(', ')}`,
    `  repeat visit (assets cached, immutable)     ${kb(repeat.bytes)} KB   (target ≤ 15 KB)   requests: ${repeat.byUrl.length}`,
    `  JavaScript on the page                      ${jsOnPage} script element(s) (none needed)`,
    `  first contentful paint, slow 3G, cold cache ${fmt(fcp)} ms   (target ≤ 2000 ms; 400 ms RTT, 400 kbit/s)`,
    line('  API  GET /fhir/Patient/{id}/$summary', api),
    line('  page GET /crew/patient/{id}', pages),
    `  page p95 − API p95                          ${fmt(pages.p95 - api.p95)} ms   (target ≤ 10 ms)`,
    '',
  ];
  process.stdout.write(out.join('\n'));
} finally {
  await stack.stop();
}
