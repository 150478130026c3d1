/**
 * A funnel plot as server-rendered SVG (issue 18): each organisation a point (value against its denominator),
 * the overall value as a line, and the 95 % and 99.8 % control limits as curves around it. No script, no inline
 * style (CSP); coordinates rounded to one decimal and one <circle> per point, so 6,500 practices stay small.
 * The numbers themselves are in the table beside it; the <title> and <desc> say what the plot shows.
 * Pure: numbers in, markup out. Points keep the caller's order (by organisation code): nothing is ranked.
 */
import { escapeHtml } from '../render.js';

/** What a point's position means against the limits, following the polarity (a class for its colour). */
export type PointMark = 'better' | 'worse' | 'higher' | 'lower' | 'none';

export interface FunnelChartInput {
  /** Prefix of the element ids (unique on the page). */
  id: string;
  title: string;
  desc: string;
  xLabel: string;
  yLabel: string;
  /** x = denominator, y = value, both in display units. */
  points: { x: number; y: number; mark: PointMark }[];
  target: number | null;
  /** The limits along the denominator axis, in display units. */
  curve: { x: number; lower95: number; upper95: number; lower998: number; upper998: number }[];
  /** Bounds the value can take (e.g. 0–100 for a percentage). */
  yBounds?: { min?: number; max?: number };
}

/** The drawing area and the scales, so that a reader (or a test) can map a value to its position. */
export interface FunnelScale {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
  xMax: number;
  yMin: number;
  yMax: number;
}

export interface FunnelChart {
  svg: string;
  scale: FunnelScale;
}

const W = 640;
const H = 400;
const r1 = (n: number) => Math.round(n * 10) / 10;

/** A "nice" step (1, 2 or 5 × 10^k) giving about `count` ticks over `span`. */
export function niceStep(span: number, count = 5): number {
  if (!(span > 0)) return 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/** Position of a value on the plot (SVG user units, one decimal). */
export function position(scale: FunnelScale, x: number, y: number): { cx: number; cy: number } {
  return {
    cx: r1(scale.left + (x / scale.xMax) * (scale.right - scale.left)),
    cy: r1(scale.bottom - ((y - scale.yMin) / (scale.yMax - scale.yMin)) * (scale.bottom - scale.top)),
  };
}

/** The scales: x from 0 to a nice maximum denominator; y over the points, the target and the limits at the smallest denominator shown. */
export function funnelScale(input: Pick<FunnelChartInput, 'points' | 'target' | 'curve' | 'yBounds'>): FunnelScale {
  const xs = input.points.map((p) => p.x);
  const maxX = Math.max(1, ...xs);
  const xStep = niceStep(maxX);
  const xMax = Math.ceil(maxX / xStep) * xStep;
  const minX = xs.length ? Math.min(...xs) : 1;
  const atMin = input.curve.filter((c) => c.x >= minX).slice(0, 1);
  const ys = [...input.points.map((p) => p.y), ...(input.target === null ? [] : [input.target]), ...atMin.flatMap((c) => [c.lower998, c.upper998])].filter(Number.isFinite);
  let lo = ys.length ? Math.min(...ys) : 0;
  let hi = ys.length ? Math.max(...ys) : 1;
  const pad = hi > lo ? (hi - lo) * 0.05 : Math.max(Math.abs(hi) * 0.1, 1);
  lo -= pad;
  hi += pad;
  if (input.yBounds?.min !== undefined) lo = Math.max(lo, input.yBounds.min);
  if (input.yBounds?.max !== undefined) hi = Math.min(hi, input.yBounds.max);
  const yStep = niceStep(hi - lo);
  const yMin = Math.floor(lo / yStep) * yStep;
  const yMax = Math.max(Math.ceil(hi / yStep) * yStep, yMin + yStep);
  return { width: W, height: H, left: 64, right: W - 16, top: 16, bottom: H - 56, xMax, yMin, yMax };
}

/** Builds the SVG of a funnel plot. */
export function funnelSvg(input: FunnelChartInput): FunnelChart {
  const scale = funnelScale(input);
  const { left, right, top, bottom, xMax, yMin, yMax } = scale;
  const pos = (x: number, y: number) => position(scale, x, y);
  const id = escapeHtml(input.id);
  const parts: string[] = [];
  parts.push(
    `<svg class="app-funnel" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" role="img" aria-labelledby="${id}-title ${id}-desc" data-scale="${left},${right},${top},${bottom},${xMax},${yMin},${yMax}">`,
    `<title id="${id}-title">${escapeHtml(input.title)}</title>`,
    `<desc id="${id}-desc">${escapeHtml(input.desc)}</desc>`,
    `<defs><clipPath id="${id}-clip"><rect x="${left}" y="${top}" width="${right - left}" height="${bottom - top}"/></clipPath></defs>`,
  );
  // Axes, ticks and labels.
  const axis: string[] = [`<path d="M${left} ${top}V${bottom}H${right}" fill="none" stroke="#4c6272"/>`];
  const xStep = niceStep(xMax);
  for (let v = 0; v <= xMax + xStep / 2; v += xStep) {
    const { cx } = pos(v, yMin);
    axis.push(`<path d="M${cx} ${bottom}v5" stroke="#4c6272"/><text x="${cx}" y="${bottom + 18}" text-anchor="middle">${escapeHtml(fmtCount(v))}</text>`);
  }
  const yStep = niceStep(yMax - yMin);
  const decimals = Math.max(0, -Math.floor(Math.log10(yStep)));
  const fmt = (v: number) => v.toFixed(decimals);
  for (let v = yMin; v <= yMax + yStep / 2; v += yStep) {
    const { cy } = pos(0, v);
    axis.push(`<path d="M${left - 5} ${cy}h5" stroke="#4c6272"/><text x="${left - 8}" y="${r1(cy + 4)}" text-anchor="end">${escapeHtml(fmt(v))}</text>`);
  }
  axis.push(
    `<text x="${r1((left + right) / 2)}" y="${H - 12}" text-anchor="middle">${escapeHtml(input.xLabel)}</text>`,
    `<text x="16" y="${r1((top + bottom) / 2)}" text-anchor="middle" transform="rotate(-90 16 ${r1((top + bottom) / 2)})">${escapeHtml(input.yLabel)}</text>`,
  );
  parts.push(`<g class="app-funnel__axes" font-size="12" fill="#212b32">${axis.join('')}</g>`);
  // The overall value and the limits, clipped to the plot.
  const lines: string[] = [];
  if (input.target !== null) {
    const a = pos(0, input.target);
    const b = pos(xMax, input.target);
    lines.push(`<path class="app-funnel__target" d="M${a.cx} ${a.cy}H${b.cx}" stroke="#212b32" stroke-width="2"/>`);
  }
  const curve = input.curve.filter((c) => c.x <= xMax);
  const poly = (key: 'lower95' | 'upper95' | 'lower998' | 'upper998') =>
    curve.filter((c) => Number.isFinite(c[key])).map((c) => { const p = pos(c.x, Math.max(yMin - (yMax - yMin), Math.min(yMax + (yMax - yMin), c[key]))); return `${p.cx},${p.cy}`; }).join(' ');
  if (curve.length) {
    lines.push(
      `<polyline class="app-funnel__l95" points="${poly('lower95')}" fill="none" stroke="#005eb8" stroke-dasharray="6 4"/>`,
      `<polyline class="app-funnel__u95" points="${poly('upper95')}" fill="none" stroke="#005eb8" stroke-dasharray="6 4"/>`,
      `<polyline class="app-funnel__l998" points="${poly('lower998')}" fill="none" stroke="#d5281b" stroke-dasharray="2 3"/>`,
      `<polyline class="app-funnel__u998" points="${poly('upper998')}" fill="none" stroke="#d5281b" stroke-dasharray="2 3"/>`,
    );
  }
  parts.push(`<g clip-path="url(#${id}-clip)">${lines.join('')}</g>`);
  // The points, in the caller's order (by organisation code).
  const dots = input.points.map((p) => {
    const { cx, cy } = pos(p.x, p.y);
    return `<circle cx="${cx}" cy="${cy}" r="3"${p.mark === 'none' ? '' : ` class="app-funnel__${p.mark}"`}/>`;
  });
  parts.push(`<g class="app-funnel__points" fill="#005eb8" fill-opacity="0.6">${dots.join('')}</g>`, '</svg>');
  return { svg: parts.join(''), scale };
}

/** A denominator tick: whole numbers with thousands separators. */
function fmtCount(v: number): string {
  return Math.round(v).toLocaleString('en-GB');
}
