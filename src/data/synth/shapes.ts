// Shape kinds and geometry of the synthetic scenes: outlines, placement in the frame, pixel-centre rasterisation.
import type { Rng } from '../../graph/random.js';

/** Shape kinds; category id = index + 1. */
export const SHAPE_KINDS = ['ellipse', 'rectangle', 'triangle', 'star', 'polygon'] as const;
export type ShapeKind = (typeof SHAPE_KINDS)[number];

/** Geometry in image pixel coordinates (pixel (x, y) covers [x, x+1) × [y, y+1)). */
export type SynthShape =
  { kind: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number } | { kind: Exclude<ShapeKind, 'ellipse'>; points: number[] };

/**
 * Rasterises a shape at pixel centres into a row-major 0/1 mask of the whole frame. Polygons use
 * the even-odd rule with half-open crossings (an edge counts on row centre yc when exactly one
 * end lies above yc), so a pixel is in iff xa <= x + 0.5 < xb for some span [xa, xb).
 */
export function rasterizeShape(shape: SynthShape, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  if (shape.kind === 'ellipse') {
    const { cx, cy, rx, ry, angle } = shape;
    const c = Math.cos(angle),
      s = Math.sin(angle);
    const ex = Math.sqrt(rx * rx * c * c + ry * ry * s * s),
      ey = Math.sqrt(rx * rx * s * s + ry * ry * c * c);
    const x0 = Math.max(0, Math.floor(cx - ex - 1)),
      x1 = Math.min(width, Math.ceil(cx + ex + 1));
    const y0 = Math.max(0, Math.floor(cy - ey - 1)),
      y1 = Math.min(height, Math.ceil(cy + ey + 1));
    for (let y = y0; y < y1; y++) {
      const dy = y + 0.5 - cy;
      for (let x = x0; x < x1; x++) {
        if (insideEllipse(x + 0.5 - cx, dy, rx, ry, c, s)) out[y * width + x] = 1;
      }
    }
    return out;
  }
  const p = shape.points,
    n = p.length / 2;
  let ymin = Infinity,
    ymax = -Infinity;
  for (let i = 1; i < p.length; i += 2) {
    ymin = Math.min(ymin, p[i]!);
    ymax = Math.max(ymax, p[i]!);
  }
  const xs: number[] = [];
  for (let y = Math.max(0, Math.floor(ymin - 1)); y < Math.min(height, Math.ceil(ymax + 1)); y++) {
    const yc = y + 0.5;
    xs.length = 0;
    for (let i = 0; i < n; i++) {
      const j = (i + 1) % n;
      const xa = p[2 * i]!,
        ya = p[2 * i + 1]!,
        xb = p[2 * j]!,
        yb = p[2 * j + 1]!;
      if (ya > yc !== yb > yc) xs.push(edgeCrossing(xa, ya, xb, yb, yc));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const xa = xs[k]!,
        xb = xs[k + 1]!;
      // Start near the span ends, then settle them with the exact pixel-centre test.
      let a = Math.max(0, Math.floor(xa - 0.5));
      while (a < width && a + 0.5 < xa) a++;
      let b = Math.min(width, Math.ceil(xb + 0.5));
      while (b > a && b - 0.5 >= xb) b--;
      out.fill(1, y * width + a, y * width + b);
    }
  }
  return out;
}

/** Where the edge (xa, ya)-(xb, yb) crosses the row centre yc. Exported so tests reuse the exact arithmetic. */
export const edgeCrossing = (xa: number, ya: number, xb: number, yb: number, yc: number): number => ((xb - xa) * (yc - ya)) / (yb - ya) + xa;

/** Whether offset (dx, dy) from the centre is inside the ellipse with radii rx, ry rotated by (c, s) = (cos, sin). */
export const insideEllipse = (dx: number, dy: number, rx: number, ry: number, c: number, s: number): boolean => {
  const u = (dx * c + dy * s) / rx,
    v = (-dx * s + dy * c) / ry;
  return u * u + v * v <= 1;
};

/** A shape of the given kind centred at the origin, unscaled (roughly unit radius). */
function shapeOutline(rng: Rng, kind: ShapeKind): { points: number[] } | { rx: number; ry: number; angle: number } {
  const angle = rng.uniform(0, Math.PI);
  if (kind === 'ellipse') {
    // A third are circles; the rest range from round to elongated.
    const aspect = rng.next() < 0.33 ? 1 : rng.uniform(0.35, 0.95);
    return { rx: 1, ry: aspect, angle };
  }
  let pts: number[] = [];
  if (kind === 'rectangle') {
    const a = rng.next() < 0.2 ? 1 : rng.uniform(0.3, 1);
    pts = [-1, -a, 1, -a, 1, a, -1, a];
    // A quarter stay axis-aligned, as boxes often are.
    return { points: rotate(pts, rng.next() < 0.25 ? 0 : angle) };
  }
  if (kind === 'triangle') {
    // Arc gaps of at least 1/4.5 of the circle keep every angle above ~20 degrees (no slivers).
    const g = [rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5), rng.uniform(0.5, 1.5)];
    const sum = g[0]! + g[1]! + g[2]!;
    let t = rng.uniform(0, 2 * Math.PI);
    for (let i = 0; i < 3; i++) {
      const r = rng.uniform(0.8, 1);
      pts.push(r * Math.cos(t), r * Math.sin(t));
      t += (2 * Math.PI * g[i]!) / sum;
    }
    return { points: pts };
  }
  if (kind === 'star') {
    const k = 5 + rng.int(4),
      inner = rng.uniform(0.38, 0.65);
    for (let i = 0; i < 2 * k; i++) {
      const t = (Math.PI * i) / k,
        r = (i % 2 ? inner : 1) * rng.uniform(0.9, 1);
      pts.push(r * Math.cos(t), r * Math.sin(t));
    }
  } else {
    // Star-shaped about the origin (sorted angles), so never self-intersecting, often concave.
    const k = 5 + rng.int(6);
    for (let i = 0; i < k; i++) {
      const t = (2 * Math.PI * (i + rng.uniform(-0.3, 0.3))) / k,
        r = rng.uniform(0.45, 1);
      pts.push(r * Math.cos(t), r * Math.sin(t));
    }
    // Squash before rotating for elongated variants.
    const a = rng.uniform(0.5, 1);
    for (let i = 1; i < pts.length; i += 2) pts[i]! *= a;
  }
  return { points: rotate(pts, angle) };
}

function rotate(pts: number[], angle: number): number[] {
  const c = Math.cos(angle),
    s = Math.sin(angle);
  const out = new Array<number>(pts.length);
  for (let i = 0; i < pts.length; i += 2) {
    out[i] = pts[i]! * c - pts[i + 1]! * s;
    out[i + 1] = pts[i]! * s + pts[i + 1]! * c;
  }
  return out;
}

/**
 * Scales the outline so its extent's longest side is `size`, and puts it wholly inside the frame:
 * centred near `near` (clamped to the frame) when given, else anywhere.
 */
export function placeShape(rng: Rng, kind: ShapeKind, size: number, W: number, H: number, near?: [number, number]): SynthShape {
  const g = shapeOutline(rng, kind);
  let x0: number, x1: number, y0: number, y1: number;
  if ('points' in g) {
    x0 = y0 = Infinity;
    x1 = y1 = -Infinity;
    for (let i = 0; i < g.points.length; i += 2) {
      x0 = Math.min(x0, g.points[i]!);
      x1 = Math.max(x1, g.points[i]!);
      y0 = Math.min(y0, g.points[i + 1]!);
      y1 = Math.max(y1, g.points[i + 1]!);
    }
  } else {
    const c = Math.cos(g.angle),
      s = Math.sin(g.angle);
    x1 = Math.sqrt(g.rx * g.rx * c * c + g.ry * g.ry * s * s);
    y1 = Math.sqrt(g.rx * g.rx * s * s + g.ry * g.ry * c * c);
    x0 = -x1;
    y0 = -y1;
  }
  const k = size / Math.max(x1 - x0, y1 - y0);
  // Offsets that keep [x0, x1]·k + ox inside [0, W] (likewise y).
  const clamp = (v: number, lo: number, hi: number): number => Math.min(hi, Math.max(lo, v));
  const ox = near ? clamp(near[0] - ((x0 + x1) / 2) * k, -x0 * k, W - x1 * k) : rng.uniform(-x0 * k, W - x1 * k);
  const oy = near ? clamp(near[1] - ((y0 + y1) / 2) * k, -y0 * k, H - y1 * k) : rng.uniform(-y0 * k, H - y1 * k);
  if ('points' in g) {
    const points = g.points.map((v, i) => v * k + (i % 2 ? oy : ox));
    return { kind: kind as Exclude<ShapeKind, 'ellipse'>, points };
  }
  return { kind: 'ellipse', cx: ox, cy: oy, rx: g.rx * k, ry: g.ry * k, angle: g.angle };
}

/** Tight [x, y, w, h] of a row-major mask; zeros when empty. */
export function maskBox(mask: Uint8Array, W: number, H: number): [number, number, number, number] {
  let x0 = W,
    y0 = H,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    let first = -1,
      last = -1;
    for (let x = 0; x < W; x++) {
      if (mask[row + x]) {
        if (first < 0) first = x;
        last = x;
      }
    }
    if (first < 0) continue;
    if (y0 === H) y0 = y;
    y1 = y;
    x0 = Math.min(x0, first);
    x1 = Math.max(x1, last);
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}
