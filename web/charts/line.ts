/**
 * The geometry of a small line trend (values oldest to newest → SVG polyline and dots), shared by the
 * record's lab-result trends (web/staff/trend.ts) and the public site's indicator trends. Pure; no
 * script and no inline style (CSP): the view draws the returned coordinates.
 */
export interface LineGeometry {
  polyline: string;
  dots: { x: number; y: number; label: string }[];
  width: number;
  height: number;
  min: number;
  max: number;
}

export function lineGeometry(points: { label: string; value: number }[], size: { width?: number; height?: number; pad?: number } = {}): LineGeometry {
  const W = size.width ?? 300;
  const H = size.height ?? 100;
  const PAD = size.pad ?? 10;
  const values = points.map((p) => p.value);
  const min = Math.min(...values);
  const max = Math.max(...values);
  const span = max - min || 1;
  const x = (i: number) => Math.round(PAD + (i * (W - 2 * PAD)) / Math.max(1, points.length - 1));
  const y = (v: number) => Math.round(H - PAD - ((v - min) * (H - 2 * PAD)) / span);
  return {
    polyline: points.map((p, i) => `${x(i)},${y(p.value)}`).join(' '),
    dots: points.map((p, i) => ({ x: x(i), y: y(p.value), label: p.label })),
    width: W,
    height: H,
    min,
    max,
  };
}
