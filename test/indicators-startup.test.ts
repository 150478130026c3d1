import { expect } from 'chai';
import request from 'supertest';
import { startHarness, type Harness } from './helpers/harness.js';

/**
 * Issue 18: out of the box (`npm start`, which runs server/main.ts with INDICATORS_AT_STARTUP on by default) the
 * indicators are computed once at start-up for the periods the sources' data covers, and the public API says which
 * period has data. main.ts calls service.computeIndicatorsAtStartup(); here it is called directly.
 */
describe('indicators computed at start-up for the periods the demo data covers', function () {
  this.timeout(180_000);
  let h: Harness;
  before(async () => {
    h = await startHarness({ sandbox: { generate: { count: 40, seed: 5 } } });
  });
  after(async () => {
    await h?.close();
  });

  it('before: the catalogue says no period has data', async () => {
    const r = await request(h.service.app).get('/indicators');
    expect(r.status).to.equal(200);
    expect(r.body.periodsWithData).to.deep.equal([]);
    expect(r.body.periodsNotice).to.match(/No period has been computed yet/);
  });

  it('computes the calendar year of the latest event and the year before, once; the API then names those periods', async () => {
    const made = await h.service.computeIndicatorsAtStartup();
    expect(made.length).to.equal(2);
    const [a, b] = made.map((m) => m.period);
    expect(a!.start).to.match(/^\d{4}-01-01$/);
    expect(Number(b!.start.slice(0, 4))).to.equal(Number(a!.start.slice(0, 4)) + 1);
    // once: a second start finds the snapshots and computes nothing
    expect(await h.service.computeIndicatorsAtStartup()).to.deep.equal([]);

    const r = await request(h.service.app).get('/indicators');
    expect(r.body.periodsWithData.map((p: { start: string }) => p.start)).to.deep.equal([b!.start, a!.start]);
    expect(r.body.periodsNotice).to.include(`${b!.start}/${b!.end}`);
    // the latest period is served without asking for one, and it has organisations in it
    const fig = await request(h.service.app).get('/indicators/flu-vaccination-65');
    expect(fig.status, fig.text.slice(0, 300)).to.equal(200);
    expect(fig.body.snapshot.period).to.deep.equal(b);
    // a period without data says which have
    const none = await request(h.service.app).get('/indicators/flu-vaccination-65?period=1999-01-01/1999-12-31');
    expect(none.status).to.equal(404);
    expect(JSON.stringify(none.body)).to.include(`Periods with data: ${a!.start}/${a!.end}, ${b!.start}/${b!.end}`);
  });
});
