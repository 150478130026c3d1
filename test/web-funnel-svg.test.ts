/**
 * The funnel plot's SVG builder (web/charts/funnel-svg.ts) on known inputs: the scales, each point where its
 * value puts it, the limits drawn through the positions of the given limits, the limits of a proportion of 0.5
 * at n = 100 drawn where the binomial puts them, and a compact drawing for 6,500 points.
 */
import { expect } from 'chai';
import { controlLimits, funnelCurve } from '../indicators/funnel.js';
import { funnelScale, funnelSvg, niceStep, position } from '../web/charts/funnel-svg.js';

const vertices = (svg: string, cls: string) => {
  const m = new RegExp(`class="${cls}" points="([^"]*)"`).exec(svg);
  expect(m, cls).to.not.equal(null);
  return m![1]!.split(' ').map((p) => p.split(',').map(Number) as [number, number]);
};

describe('funnel plot SVG builder', () => {
  const curve = [
    { x: 10, lower95: 20, upper95: 80, lower998: 10, upper998: 90 },
    { x: 100, lower95: 40, upper95: 60, lower998: 35, upper998: 65 },
    { x: 400, lower95: 45, upper95: 55, lower998: 42, upper998: 58 },
  ];
  const input = {
    id: 'f',
    title: 'A <title>',
    desc: 'Known & described',
    xLabel: 'Denominator',
    yLabel: 'Percentage',
    points: [
      { x: 100, y: 50, mark: 'none' as const },
      { x: 400, y: 70, mark: 'better' as const },
      { x: 200, y: 30, mark: 'worse' as const },
    ],
    target: 50,
    curve,
    yBounds: { min: 0, max: 100 },
  };

  it('nice steps are 1, 2 or 5 times a power of ten', () => {
    expect(niceStep(400)).to.equal(100);
    expect(niceStep(10)).to.equal(2);
    expect(niceStep(0.05)).to.equal(0.01);
    expect(niceStep(37)).to.equal(10);
  });

  it('scales: x from 0 to a nice maximum over the points; y over points, target and the limits at the smallest denominator shown', () => {
    const s = funnelScale(input);
    expect(s.xMax).to.equal(400);
    // the 99.8 % limits at the smallest denominator (100): 35..65, points 30..70, padded, within 0..100
    expect(s.yMin).to.be.at.most(30);
    expect(s.yMax).to.be.at.least(70);
    expect(s.yMin).to.be.at.least(0);
    expect(s.yMax).to.be.at.most(100);
  });

  it('each point is one circle at its position, in the given order; title and description escaped and referenced', () => {
    const { svg, scale } = funnelSvg(input);
    expect(svg).to.match(/^<svg [^>]*role="img" aria-labelledby="f-title f-desc"/);
    expect(svg).to.include('<title id="f-title">A &lt;title&gt;</title>');
    expect(svg).to.include('<desc id="f-desc">Known &amp; described</desc>');
    const circles = [...svg.matchAll(/<circle cx="([\d.]+)" cy="([\d.]+)" r="3"( class="app-funnel__(\w+)")?\/>/g)];
    expect(circles.length).to.equal(3);
    input.points.forEach((p, i) => {
      const { cx, cy } = position(scale, p.x, p.y);
      expect(Number(circles[i]![1])).to.equal(cx);
      expect(Number(circles[i]![2])).to.equal(cy);
      expect(circles[i]![4] ?? 'none').to.equal(p.mark);
    });
    // x = 400 is the right edge, y = target 50 is on the target line
    expect(Number(circles[1]![1])).to.equal(scale.right);
    const target = /class="app-funnel__target" d="M([\d.]+) ([\d.]+)H([\d.]+)"/.exec(svg)!;
    expect(Number(target[2])).to.equal(position(scale, 100, 50).cy);
    expect(Number(target[2])).to.equal(Number(circles[0]![2]));
  });

  it('the four limit curves pass through the given limits', () => {
    const { svg, scale } = funnelSvg(input);
    const keys = { 'app-funnel__l95': 'lower95', 'app-funnel__u95': 'upper95', 'app-funnel__l998': 'lower998', 'app-funnel__u998': 'upper998' } as const;
    for (const [cls, key] of Object.entries(keys)) {
      const v = vertices(svg, cls);
      expect(v.length).to.equal(curve.length);
      curve.forEach((c, i) => {
        const { cx, cy } = position(scale, c.x, c[key]);
        expect(v[i]).to.deep.equal([cx, cy]);
      });
    }
    // the 95 % band lies inside the 99.8 % band at every denominator (y grows downwards)
    const u95 = vertices(svg, 'app-funnel__u95');
    const u998 = vertices(svg, 'app-funnel__u998');
    u95.forEach((p, i) => expect(p[1]).to.be.greaterThan(u998[i]![1]));
  });

  it('a proportion of 0.5 at n = 100: the limits drawn are the binomial ones (95 % ≈ 0.5 ± 1.96·0.05, 99.8 % ≈ 0.5 ± 3.09·0.05)', () => {
    const l = controlLimits('proportion', 0.5, 100);
    expect(l.lower95).to.be.closeTo(0.402, 0.01);
    expect(l.upper95).to.be.closeTo(0.598, 0.01);
    expect(l.lower998).to.be.closeTo(0.3455, 0.015);
    expect(l.upper998).to.be.closeTo(0.6545, 0.015);
    const c = funnelCurve('proportion', 0.5, 100, 30).map((x) => ({ x: x.denominator, lower95: x.lower95 * 100, upper95: x.upper95 * 100, lower998: x.lower998 * 100, upper998: x.upper998 * 100 }));
    const { svg, scale } = funnelSvg({ ...input, points: [{ x: 100, y: 50, mark: 'none' }], curve: c });
    const last = vertices(svg, 'app-funnel__u95').at(-1)!;
    expect(last).to.deep.equal([position(scale, 100, l.upper95 * 100).cx, position(scale, 100, l.upper95 * 100).cy]);
  });

  it('6,500 points stay compact: one circle each, one-decimal coordinates, no per-point title', () => {
    const points = Array.from({ length: 6500 }, (_, i) => ({ x: 500 + ((i * 7919) % 12000), y: 40 + ((i * 104729) % 2000) / 100, mark: 'none' as const }));
    const { svg } = funnelSvg({ ...input, points });
    expect(svg.match(/<circle /g)!.length).to.equal(6500);
    expect(svg.match(/<title/g)!.length).to.equal(1);
    expect(svg).to.not.match(/\d\.\d\d/);
    expect(svg.length).to.be.below(6500 * 45 + 10_000);
  });
});
