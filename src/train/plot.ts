// Training curves as a PNG: the training loss and the validation mask IoU / score accuracy against
// steps, drawn into an RGBA raster with a 5x7 pixel font (no canvas needed, so it runs anywhere).
import { encodePng } from '../data/png.js';
import { glyph } from '../data/font.js';

export interface Series {
  name: string;
  color: [number, number, number];
  points: [number, number][];
}

export interface Panel {
  title: string;
  series: Series[];
  /** Fixed y range (e.g. [0, 1] for IoU); otherwise fitted to the data. */
  yRange?: [number, number];
  logY?: boolean;
}

// The 5x7 font lives in data/font.ts (proposal pictures use it too).
export { glyph, GLYPH_CHARS } from '../data/font.js';

const SCALE = 2; // font pixels per glyph pixel
const ADVANCE = 6 * SCALE,
  LINE = 7 * SCALE; // LINE: the height of a capital

class Raster {
  readonly px: Uint8Array;
  constructor(
    readonly w: number,
    readonly h: number,
  ) {
    this.px = new Uint8Array(w * h * 4).fill(255);
  }
  set(x: number, y: number, c: readonly number[]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.w || y >= this.h) return;
    this.px.set([c[0]!, c[1]!, c[2]!, 255], (y * this.w + x) * 4);
  }
  line(x0: number, y0: number, x1: number, y1: number, c: readonly number[]): void {
    const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
    for (let i = 0; i <= n; i++) this.set(x0 + ((x1 - x0) * i) / n, y0 + ((y1 - y0) * i) / n, c);
  }
  text(x: number, y: number, s: string, c: readonly number[]): void {
    x = Math.round(x);
    y = Math.round(y);
    for (const ch of s) {
      glyph(ch).forEach((row, r) => {
        for (let b = 0; b < 5; b++) {
          if (!(row & (0x10 >> b))) continue;
          for (let dy = 0; dy < SCALE; dy++) for (let dx = 0; dx < SCALE; dx++) this.set(x + b * SCALE + dx, y + r * SCALE + dy, c);
        }
      });
      x += ADVANCE;
    }
  }
}

export interface Tick {
  value: number;
  label: string;
}

/**
 * Axis ticks inside [lo, hi] (minTicks to about twice as many) with labels that are all distinct: multiples of a
 * step of 1, 2, 2.5 or 5 times a power of ten, printed with as many digits as the step needs. A
 * log axis spanning a decade or more gets 1, 2, 5 or whole powers of ten instead.
 */
export function axisTicks(lo: number, hi: number, log = false, minTicks = 4): Tick[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi) && hi > lo)) throw new Error(`axisTicks: bad range [${lo}, ${hi}]`);
  if (log && lo > 0 && Math.log10(hi / lo) >= 1) return logTicks(lo, hi);
  const span = hi - lo,
    eps = span * 1e-9;
  for (let e = Math.floor(Math.log10(span)); ; e--) {
    for (const m of [5, 2.5, 2, 1]) {
      const step = m * 10 ** e;
      const first = Math.ceil((lo - eps) / step),
        last = Math.floor((hi + eps) / step);
      if (last - first + 1 < minTicks) continue;
      // Digits after the point (or of the mantissa) that tell multiples of the step apart.
      const extra = m === 2.5 ? 1 : 0;
      const big = Math.max(Math.abs(lo), Math.abs(hi));
      const fixed = e - extra >= -4 && big < 1e6;
      const mant = Math.max(0, Math.floor(Math.log10(big)) - e + extra);
      const ticks: Tick[] = [];
      for (let i = first; i <= last; i++) {
        const v = i * step;
        ticks.push({ value: v, label: fixed ? v.toFixed(Math.max(0, extra - e)) : v === 0 ? '0' : expLabel(v, mant) });
      }
      return ticks;
    }
  }
}

function logTicks(lo: number, hi: number): Tick[] {
  const k0 = Math.ceil(Math.log10(lo) - 1e-9),
    k1 = Math.floor(Math.log10(hi) + 1e-9);
  const decades = k1 - k0 + 1;
  // Within a decade or two, 1-2-5 steps give at least three ticks; over many, every few powers.
  const mantissas = decades < 3 ? [1, 2, 5] : [1];
  const every = Math.max(1, Math.ceil(decades / 6));
  const ticks: Tick[] = [];
  for (let k = k0 - 1; k <= k1; k++) {
    if ((k - k0) % every !== 0 && mantissas.length === 1) continue;
    for (const m of mantissas) {
      const v = m * 10 ** k;
      if (v < lo * (1 - 1e-9) || v > hi * (1 + 1e-9)) continue;
      ticks.push({ value: v, label: k >= -3 && k < 6 ? String(+v.toPrecision(1)) : `${m}e${k}` });
    }
  }
  return ticks;
}

const expLabel = (v: number, digits: number): string =>
  v
    .toExponential(digits)
    .replace(/\.?0+e/, 'e')
    .replace('e+', 'e');

/** Draws panels side by side and returns PNG bytes. */
export function plotPanels(panels: Panel[], width = 480 * panels.length, height = 320): Uint8Array {
  const r = new Raster(width, height);
  const pw = width / panels.length;
  const grey = [215, 215, 215],
    dark = [50, 50, 50];
  panels.forEach((p, k) => {
    const pts = p.series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!p.logY || y > 0));
    let [y0, y1] = p.yRange ?? [Math.min(...pts.map(([, y]) => y)), Math.max(...pts.map(([, y]) => y))];
    if (!Number.isFinite(y0) || !Number.isFinite(y1) || (p.logY && !(y0 > 0))) [y0, y1] = p.logY ? [0.1, 1] : [0, 1];
    if (p.logY ? y1 / y0 < 1 + 1e-6 : y1 - y0 < 1e-9) [y0, y1] = p.logY ? [y0 / 2, y1 * 2] : [y0 - 0.5, y1 + 0.5];
    const xs = pts.map(([x]) => x);
    const x0 = xs.length ? Math.min(...xs) : 0,
      x1 = xs.length ? Math.max(...xs, x0 + 1) : 1;
    const yTicks = axisTicks(y0, y1, p.logY),
      xTicks = axisTicks(x0, x1, false, 3);
    const labelChars = Math.max(...yTicks.map((t) => t.label.length));
    const left = k * pw + 10 + labelChars * ADVANCE,
      right = (k + 1) * pw - 20,
      top = 56,
      bottom = height - 48;
    const tf = (y: number) => (p.logY ? Math.log10(y) : y);
    const X = (x: number) => left + ((x - x0) / (x1 - x0)) * (right - left);
    const Y = (y: number) => bottom - ((tf(y) - tf(y0)) / (tf(y1) - tf(y0))) * (bottom - top);
    // Ticks too close to the last labelled one (log axes crowd at the top) are left out.
    let lastY = Infinity,
      lastX = -Infinity;
    for (const t of yTicks) {
      const yy = Math.round(Y(t.value));
      if (lastY - yy < LINE + 8) continue;
      lastY = yy;
      r.line(left, yy, right, yy, grey);
      r.line(left - 4, yy, left, yy, dark);
      r.text(left - 6 - t.label.length * ADVANCE, yy - LINE / 2, t.label, dark);
    }
    for (const t of xTicks) {
      const xx = Math.round(X(t.value));
      // Centred under the tick, kept inside the panel.
      const w = t.label.length * ADVANCE - SCALE;
      const lx = Math.min(Math.max(xx - w / 2, k * pw + 2), (k + 1) * pw - w - 2);
      if (lx < lastX + ADVANCE) continue;
      lastX = lx + w;
      r.line(xx, top, xx, bottom, grey);
      r.line(xx, bottom, xx, bottom + 4, dark);
      r.text(lx, bottom + 8, t.label, dark);
    }
    r.line(left, bottom, right, bottom, dark);
    r.line(left, top, left, bottom, dark);
    r.text((left + right) / 2 - 2 * ADVANCE, bottom + 12 + LINE, 'step', dark);
    r.text(k * pw + 10, 6, p.title, dark);
    // The legend on its own line under the title.
    let lx = k * pw + 10;
    for (const s of p.series) {
      r.line(lx, 32, lx + 16, 32, s.color);
      r.line(lx, 33, lx + 16, 33, s.color);
      r.text(lx + 22, 26, s.name, s.color);
      lx += 22 + ADVANCE * s.name.length + 16;
      const ok = s.points.filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!p.logY || y > 0));
      for (let i = 1; i < ok.length; i++) r.line(X(ok[i - 1]![0]), Y(ok[i - 1]![1]), X(ok[i]![0]), Y(ok[i]![1]), s.color);
      if (ok.length === 1) r.set(X(ok[0]![0]), Y(ok[0]![1]), s.color);
    }
  });
  return encodePng(r.px, width, height);
}

/** The training-loss panel of a run's curves: the noisy per-batch loss as a running mean over about 2% of the entries. */
export function lossPanel(entries: readonly { step: number; loss: number }[]): Panel {
  const k = Math.max(1, Math.round(entries.length / 50));
  const smooth = entries.map(
    (e, i) => [e.step, entries.slice(Math.max(0, i - k + 1), i + 1).reduce((a, b) => a + b.loss, 0) / Math.min(k, i + 1)] as [number, number],
  );
  return { title: 'train loss', logY: true, series: [{ name: 'loss', color: [200, 60, 40], points: smooth }] };
}
