import { expect } from 'chai';
import {
  DEFAULT_POLICY,
  protectIndicator,
  protectTable,
  publishCount,
  roundCount,
  valueFromUnrounded,
  type ProtectedIndicator,
  type ProtectedTable,
  type TableInput,
} from '../indicators/disclosure.js';
import { AGE_BANDS, type OrganisationCount, type PublishedCount } from '../indicators/types.js';
import { disclosures, enumerate, type ExtraSum, type ReaderCell } from './helpers/disclosure-reader.js';
import { mulberry32 as prng } from '../scripts/sandbox/hash.js';

const T = DEFAULT_POLICY.threshold;
const SMALL: PublishedCount = { value: null, suppressed: true, reason: 'small-count' };
const SECONDARY: PublishedCount = { value: null, suppressed: true, reason: 'secondary' };

/** The reader's view of a protected table: true counts, what was published, and the sums. */
function tableCells(input: TableInput, out: ProtectedTable, prefix = ''): ReaderCell[] {
  const total = `${prefix}total`;
  const cells: ReaderCell[] = [{ path: total, truth: input.rows.reduce((s, r) => s + r.count, 0), published: out.total }];
  input.rows.forEach((r, i) => {
    const row = `${prefix}row:${r.key}`;
    cells.push({ path: row, truth: r.count, published: out.rows[i].count, parent: total });
    r.strata?.forEach((s, j) => cells.push({ path: `${row}/stratum:${s.key}`, truth: s.count, published: out.rows[i].strata![j].count, parent: row }));
  });
  return cells;
}

/**
 * The reader's view of a protected indicator: both tables and, for proportions, the hidden complement cells
 * (denominator − numerator, never published) with the sums d = n + c.
 */
function indicatorCells(orgs: OrganisationCount[], out: ProtectedIndicator, proportion = true): { cells: ReaderCell[]; extra: ExtraSum[] } {
  const side = (name: 'numerator' | 'denominator'): ReaderCell[] => {
    const total = `${name}:total`;
    const cells: ReaderCell[] = [{ path: total, truth: orgs.reduce((s, o) => s + o[name], 0), published: out.total[name] }];
    orgs.forEach((o, i) => {
      const row = `${name}:row:${o.code}`;
      cells.push({ path: row, truth: o[name], published: out.organisations[i][name], parent: total });
      o.strata?.forEach((s, j) =>
        cells.push({ path: `${row}/stratum:${s.sex}:${s.ageBand}`, truth: s[name], published: out.organisations[i].strata![j][name], parent: row }));
    });
    return cells;
  };
  const num = side('numerator');
  const den = side('denominator');
  if (!proportion) return { cells: [...num, ...den], extra: [] };
  const comp: ReaderCell[] = num.map((n, i) => ({ path: `complement:${n.path}`, truth: den[i].truth - n.truth, published: null }));
  const extra: ExtraSum[] = num.map((n, i) => ({ parent: den[i].path, children: [n.path, comp[i].path] }));
  return { cells: [...num, ...den, ...comp], extra };
}

const rows = (...counts: Array<[string, number]>): TableInput => ({ rows: counts.map(([key, count]) => ({ key, count })) });
const countOf = (out: ProtectedTable, key: string) => out.rows.find((r) => r.key === key)!.count;

describe('disclosure control: primary suppression and rounding', () => {
  it('suppresses 1..7 with the reason, publishes 0, rounds everything else to the nearest 5', () => {
    for (let c = 1; c <= 7; c++) expect(publishCount(c)).to.deep.equal(SMALL);
    expect(publishCount(0)).to.deep.equal({ value: 0, suppressed: false });
    const expected: Array<[number, number]> = [[8, 10], [12, 10], [13, 15], [17, 15], [18, 20], [1002, 1000], [1003, 1005], [999_999, 1_000_000]];
    for (const [c, v] of expected) expect(publishCount(c), `count ${c}`).to.deep.equal({ value: v, suppressed: false });
  });

  it('takes the threshold and rounding from the policy', () => {
    const policy = { threshold: 10, rounding: 10 };
    expect(publishCount(10, policy)).to.deep.equal(SMALL);
    expect(publishCount(11, policy)).to.deep.equal({ value: 10, suppressed: false });
    expect(publishCount(15, policy)).to.deep.equal({ value: 20, suppressed: false });
    expect(roundCount(3, { threshold: 0, rounding: 10 })).to.equal(10); // a positive count never rounds to 0
    expect(() => protectTable(rows(['A', 1]), { threshold: -1, rounding: 5 })).to.throw(/threshold/);
    expect(() => protectTable(rows(['A', 1]), { threshold: 7, rounding: 0 })).to.throw(/rounding/);
  });

  it('rejects tables whose parts do not add up, naming the cell', () => {
    expect(() => protectTable({ total: 10, rows: [{ key: 'A', count: 9 }] })).to.throw(/total: 10 is not the sum/);
    expect(() => protectTable({ rows: [{ key: 'A', count: 9, strata: [{ key: 'm', count: 4 }] }] })).to.throw(/row:A: strata sum to 4/);
    expect(() => protectTable(rows(['A', 2.5]))).to.throw(/row:A: counts must be integers/);
  });

  it('computes values from the unrounded counts and only when both counts are publishable', () => {
    const orgs: OrganisationCount[] = [
      { code: 'P1', numerator: 133, denominator: 478 },
      { code: 'P2', numerator: 3, denominator: 40 },
      { code: 'P3', numerator: 60, denominator: 200 },
      { code: 'P4', numerator: 0, denominator: 0 },
    ];
    const out = protectIndicator(orgs, { type: 'proportion' });
    const p1 = out.organisations[0];
    expect(p1.numerator).to.deep.equal({ value: 135, suppressed: false });
    expect(p1.denominator).to.deep.equal({ value: 480, suppressed: false });
    expect(valueFromUnrounded(133, 478, p1.valuePublishable)).to.equal(133 / 478); // not 135/480
    expect(out.organisations[2].numerator).to.deep.equal(SECONDARY); // the complement of P2's small numerator
    const p2 = out.organisations[1];
    expect(p2.numerator).to.deep.equal(SMALL);
    expect(p2.valuePublishable).to.equal(false);
    expect(p2.withheld).to.equal('numerator-suppressed');
    expect(valueFromUnrounded(3, 40, p2.valuePublishable)).to.equal(null);
    expect(out.organisations[3].withheld).to.equal('no-denominator');
    expect(out.organisations[3].numerator).to.deep.equal({ value: 0, suppressed: false });
  });
});

describe('disclosure control: secondary suppression on adversarial tables', () => {
  function expectProtected(input: TableInput, out: ProtectedTable): void {
    const cells = tableCells(input, out);
    expect(disclosures(cells, T), 'reader').to.deep.equal([]);
    // exhaustive check: the feasible values of each small cell still include 1 and 7
    const cap = out.total.suppressed ? Math.max(2 * cells[0].truth, 3 * T) : cells[0].truth;
    const feasible = enumerate(cells, T, cap);
    for (const c of cells) {
      if (c.truth < 1 || c.truth > T) continue;
      const f = feasible.get(c.path)!;
      expect(f.has(1) && f.has(T), `${c.path} feasible ${[...f]}`).to.equal(true);
    }
  }

  it('one small organisation under a published total forces a complement (and the reader can tell otherwise)', () => {
    const input = rows(['A', 3], ['B', 20], ['C', 30], ['D', 50]);
    const out = protectTable(input);
    expect(countOf(out, 'A')).to.deep.equal(SMALL);
    expect(countOf(out, 'B')).to.deep.equal(SECONDARY); // smallest non-zero publishable cell of the group
    expect(countOf(out, 'C')).to.deep.equal({ value: 30, suppressed: false });
    expect(out.total).to.deep.equal({ value: 105, suppressed: false });
    expect(out.secondary).to.deep.equal(['row:B']);
    expectProtected(input, out);
    // Without the complement the small count is recovered as total − B − C − D:
    const naive: ProtectedTable = { ...out, rows: out.rows.map((r) => (r.key === 'B' ? { ...r, count: publishCount(20) } : r)) };
    expect(disclosures(tableCells(input, naive), T)).to.deep.equal([{ path: 'row:A', truth: 3, lo: 3, hi: 3 }]);
  });

  it('does not let a too-small complement pin a 1 (a secondary cell is known to be ≥ 8)', () => {
    const input = rows(['A', 1], ['B', 8], ['C', 30], ['D', 50]);
    const out = protectTable(input);
    const naive: ProtectedTable = { ...out, rows: out.rows.map((r) => (r.key === 'C' ? { ...r, count: publishCount(30) } : r)) };
    expect(countOf(naive, 'B')).to.deep.equal(SECONDARY);
    // the naive "two suppressed cells per group" table: A = 9 − B with B ≥ 8 ⇒ A = 1
    expect(disclosures(tableCells(input, naive), T)).to.deep.equal([{ path: 'row:A', truth: 1, lo: 1, hi: 1 }]);
    expect(countOf(out, 'C')).to.deep.equal(SECONDARY);
    expectProtected(input, out);
  });

  it('two small cells of 1 under a published total are not left to reveal each other', () => {
    const input = rows(['A', 1], ['B', 1], ['C', 40], ['D', 50]);
    const out = protectTable(input);
    expect(out.secondary.length).to.be.greaterThan(0);
    expectProtected(input, out);
  });

  it('one small stratum in a published organisation gets a complement inside the organisation', () => {
    const input: TableInput = {
      rows: [
        { key: 'A', count: 50, strata: [{ key: 'f', count: 3 }, { key: 'm', count: 20 }, { key: 'x', count: 27 }] },
        { key: 'B', count: 40 },
        { key: 'C', count: 60 },
      ],
    };
    const out = protectTable(input);
    expect(out.rows[0].strata!.map((s) => s.count)).to.deep.equal([SMALL, SECONDARY, { value: 25, suppressed: false }]);
    expect(out.rows[0].count).to.deep.equal({ value: 50, suppressed: false });
    expect(out.secondary).to.deep.equal(['row:A/stratum:m']);
    expectProtected(input, out);
  });

  it('when the only other cell is zero, suppresses the organisation and protects it in turn', () => {
    const input: TableInput = {
      rows: [
        { key: 'X', count: 9, strata: [{ key: 'a', count: 4 }, { key: 'b', count: 5 }, { key: 'c', count: 0 }] },
        { key: 'B', count: 20 },
        { key: 'C', count: 30 },
      ],
    };
    const out = protectTable(input);
    expect(out.rows[0].strata!.map((s) => s.count)).to.deep.equal([SMALL, SMALL, { value: 0, suppressed: false }]);
    expect(out.rows[0].count).to.deep.equal(SECONDARY); // 9 = 4 + 5 would pin both into 2..7
    expect(countOf(out, 'B')).to.deep.equal(SECONDARY);
    expectProtected(input, out);
  });

  it('never publishes the breakdown of a small count, zeros included', () => {
    const input: TableInput = {
      rows: [
        { key: 'X', count: 7, strata: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'].map((key, i) => ({ key, count: i < 7 ? 1 : 0 })) },
        { key: 'B', count: 25 },
        { key: 'C', count: 30 },
      ],
    };
    const out = protectTable(input);
    // 7 strata of 1 under a total ≤ 7 would each be pinned to exactly 1 if the zero were published
    expect(out.rows[0].strata!.every((s) => s.count.suppressed && s.count.reason === 'small-count')).to.equal(true);
    expect(disclosures(tableCells(input, out), T)).to.deep.equal([]);
  });

  it('protects two levels at once (small organisation, and the complement organisation’s strata)', () => {
    const input: TableInput = {
      rows: [
        { key: 'X', count: 3, strata: [{ key: 'a', count: 3 }, { key: 'b', count: 0 }] },
        { key: 'B', count: 20, strata: [{ key: 'a', count: 10 }, { key: 'b', count: 10 }] },
        { key: 'C', count: 30 },
      ],
    };
    const out = protectTable(input);
    expect(countOf(out, 'X')).to.deep.equal(SMALL);
    expect(countOf(out, 'B')).to.deep.equal(SECONDARY);
    // B's strata are not all published, or B = 10 + 10 would be recovered and then X = total − B − C
    expect(out.rows[1].strata!.some((s) => s.count.suppressed)).to.equal(true);
    expect(out.total.suppressed).to.equal(false);
    expectProtected(input, out);
  });

  it('protects numerator and denominator together, using numerator ≤ denominator', () => {
    const orgs: OrganisationCount[] = [
      { code: 'A', numerator: 2, denominator: 3 },
      { code: 'B', numerator: 19, denominator: 20 },
      { code: 'C', numerator: 30, denominator: 100 },
      { code: 'D', numerator: 40, denominator: 100 },
    ];
    const out = protectIndicator(orgs, { type: 'proportion' });
    const { cells, extra } = indicatorCells(orgs, out);
    expect(disclosures(cells, T, extra)).to.deep.equal([]);
    // the denominator complement's numerator may not stay published: 19 ≤ d_B would bound d_A
    const b = out.organisations[1];
    expect(b.denominator.suppressed).to.equal(true);
    expect(b.numerator.suppressed).to.equal(true);
    expect(b.withheld).to.equal('denominator-suppressed');
  });
});

describe('disclosure control: complements of proportions (denominator − numerator)', () => {
  const orgs: OrganisationCount[] = [
    { code: 'A', numerator: 95, denominator: 100 }, // 5 people without the outcome
    { code: 'B', numerator: 160, denominator: 200 },
    { code: 'C', numerator: 230, denominator: 300 },
    { code: 'D', numerator: 300, denominator: 400 },
  ];

  it('by default publishes 95 of 100, which tells a reader that exactly 5 lack the outcome', () => {
    const out = protectIndicator(orgs, { type: 'proportion' });
    expect(out.organisations[0].valuePublishable).to.equal(true);
    const { cells, extra } = indicatorCells(orgs, out);
    expect(disclosures(cells, T, extra, true)).to.deep.include({ path: 'complement:numerator:row:A', truth: 5, lo: 5, hi: 5 });
  });

  it('with protectComplements, withholds the value and protects the hidden count like any other', () => {
    const out = protectIndicator(orgs, { type: 'proportion' }, DEFAULT_POLICY, { protectComplements: true });
    const a = out.organisations[0];
    expect(a.numerator).to.deep.equal(SECONDARY);
    expect(a.denominator).to.deep.equal({ value: 100, suppressed: false });
    expect(a.valuePublishable).to.equal(false);
    expect(a.withheld).to.equal('numerator-suppressed');
    const { cells, extra } = indicatorCells(orgs, out);
    expect(disclosures(cells, T, extra, true)).to.deep.equal([]);
    // the organisations whose complements are large keep their values
    expect(out.organisations.slice(1).filter((o) => o.valuePublishable).length).to.be.at.least(2);
  });
});

/** Counts skewed towards small values: many zeros and 1..7s, a few large. */
function skewedCount(rand: () => number, scale: number): number {
  const u = rand();
  if (u < 0.25) return 0;
  if (u < 0.6) return 1 + Math.floor(rand() * 9);
  return Math.floor(Math.exp(rand() * Math.log(scale)));
}

function randomOrganisations(rand: () => number): OrganisationCount[] {
  const nOrgs = 1 + Math.floor(rand() * 10);
  const stratified = rand() < 0.6;
  const scale = [15, 40, 200, 2000][Math.floor(rand() * 4)];
  return Array.from({ length: nOrgs }, (_, i) => {
    if (!stratified) {
      const denominator = skewedCount(rand, scale);
      const numerator = Math.floor(rand() * (denominator + 1) * (rand() < 0.3 ? 1 : 0.3));
      return { code: `O${i}`, numerator, denominator };
    }
    const nStrata = 1 + Math.floor(rand() * 6);
    const strata = Array.from({ length: nStrata }, (_, j) => {
      const denominator = skewedCount(rand, scale / 2);
      const numerator = Math.min(denominator, Math.floor(rand() * (denominator + 1) * (rand() < 0.3 ? 1 : 0.4)));
      return { ageBand: AGE_BANDS[j % AGE_BANDS.length], sex: j < AGE_BANDS.length ? ('female' as const) : ('male' as const), numerator, denominator };
    });
    return {
      code: `O${i}`,
      numerator: strata.reduce((s, x) => s + x.numerator, 0),
      denominator: strata.reduce((s, x) => s + x.denominator, 0),
      strata,
    };
  });
}

describe('disclosure control: property test on random populations', () => {
  it('never reveals a count from 1 to 7 — directly, via value × denominator, or by differencing (600 populations)', function () {
    this.timeout(120_000);
    const rand = prng(20260523);
    let cells = 0;
    let small = 0;
    let secondary = 0;
    let checked = 0;
    for (let run = 0; run < 600; run++) {
      const orgs = randomOrganisations(rand);
      const proportion = run % 2 === 0;
      const complements = proportion && run % 4 === 0; // half the proportions also protect denominator − numerator
      const out = protectIndicator(orgs, proportion ? { type: 'proportion' } : { type: 'rate', per: 1000 }, DEFAULT_POLICY, { protectComplements: complements });
      const { cells: all, extra } = indicatorCells(orgs, out, proportion);
      const view = all.filter((c): c is ReaderCell & { published: PublishedCount } => c.published !== null);
      // 1. directly: every published figure is a rounded count that is 0 or above the threshold
      for (const c of view) {
        cells++;
        if (c.published.suppressed) {
          if (c.published.reason === 'secondary') secondary++;
          else small++;
          continue;
        }
        expect(c.truth === 0 || c.truth > T, `${c.path} = ${c.truth} published`).to.equal(true);
        expect(c.published.value).to.equal(roundCount(c.truth));
        expect(c.published.value! % DEFAULT_POLICY.rounding).to.equal(0);
      }
      // small counts are always flagged
      for (const c of view) if (c.truth >= 1 && c.truth <= T) expect(c.published.suppressed, c.path).to.equal(true);
      // 2. via the value: a published value exposes n = value × d; n must be publishable anyway
      for (const [i, o] of out.organisations.entries()) {
        const v = valueFromUnrounded(orgs[i].numerator, orgs[i].denominator, o.valuePublishable);
        if (v === null) continue;
        const n = Math.round(v * orgs[i].denominator);
        expect(n === 0 || n > T, `value of ${o.code} exposes ${n}`).to.equal(true);
        expect(o.numerator.suppressed || o.denominator.suppressed).to.equal(false);
      }
      // 3. by differencing, with every published cell known exactly
      const found = disclosures(all, T, extra, complements);
      expect(found, `run ${run}: ${JSON.stringify(orgs)}`).to.deep.equal([]);
      checked++;
    }
    expect(checked).to.equal(600);
    expect(small).to.be.greaterThan(500); // the populations do exercise suppression
    expect(secondary).to.be.greaterThan(100);
    console.log(`      ${checked} populations, ${cells} cells: ${small} small-count, ${secondary} secondary (${((100 * secondary) / cells).toFixed(1)} %)`);
  });

  it('also with large counts and proportions near 0 % and 100 % (150 populations, 20 strata per organisation)', function () {
    this.timeout(120_000);
    const rand = prng(99);
    for (let run = 0; run < 150; run++) {
      const orgs: OrganisationCount[] = Array.from({ length: 1 + Math.floor(rand() * 8) }, (_, i) => {
        const strata = (['female', 'male'] as const).flatMap((sex) => AGE_BANDS.map((ageBand) => {
          const denominator = rand() < 0.3 ? Math.floor(rand() * 12) : Math.floor(Math.exp(rand() * Math.log(50_000)));
          const q = rand();
          const few = Math.floor(rand() * Math.min(denominator + 1, 10));
          const numerator = q < 0.3 ? denominator - few : q < 0.6 ? few : Math.floor(rand() * denominator);
          return { ageBand, sex, numerator, denominator };
        }));
        return { code: `O${i}`, numerator: strata.reduce((s, x) => s + x.numerator, 0), denominator: strata.reduce((s, x) => s + x.denominator, 0), strata };
      });
      const out = protectIndicator(orgs, { type: 'proportion' }, DEFAULT_POLICY, { protectComplements: run % 2 === 0 });
      const { cells, extra } = indicatorCells(orgs, out);
      expect(disclosures(cells, T, extra, run % 2 === 0), `run ${run}`).to.deep.equal([]);
    }
  });

  it('exhaustively: on 150 tiny tables, every integer table consistent with the publication leaves each small cell free from 1 to 7', function () {
    this.timeout(120_000);
    const rand = prng(3);
    for (let run = 0; run < 150; run++) {
      const input: TableInput = {
        rows: Array.from({ length: 1 + Math.floor(rand() * 3) }, (_, i) => {
          const strata = Array.from({ length: 1 + Math.floor(rand() * 2) }, (_, j) => ({
            key: `s${j}`,
            count: rand() < 0.3 ? 0 : rand() < 0.6 ? 1 + Math.floor(rand() * 8) : Math.floor(rand() * 25),
          }));
          return { key: `O${i}`, count: strata.reduce((s, x) => s + x.count, 0), strata };
        }),
      };
      const out = protectTable(input);
      const cells = tableCells(input, out);
      const total = cells[0].truth;
      const feasible = enumerate(cells, T, out.total.suppressed ? Math.max(2 * total, 3 * T) : total);
      for (const c of cells) {
        if (c.truth < 1 || c.truth > T) continue;
        const f = feasible.get(c.path)!;
        expect(f.has(1) && f.has(T), `run ${run} ${c.path}: feasible ${[...f].sort((a, b) => a - b)}`).to.equal(true);
      }
    }
  });

  it('single tables (no numerator/denominator link) are protected too (300 populations)', () => {
    const rand = prng(7);
    for (let run = 0; run < 300; run++) {
      const orgs = randomOrganisations(rand);
      const input: TableInput = {
        rows: orgs.map((o) => ({ key: o.code, count: o.denominator, strata: o.strata?.map((s) => ({ key: `${s.sex}:${s.ageBand}`, count: s.denominator })) })),
      };
      const out = protectTable(input);
      expect(disclosures(tableCells(input, out), T), `run ${run}`).to.deep.equal([]);
    }
  });
});
