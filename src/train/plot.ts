// Training curves as a PNG: the training loss and the validation mask IoU / score accuracy against
// steps, drawn into an RGBA raster with a 3x5 pixel font (no canvas needed, so it runs anywhere).
import { encodePng } from '../data/png.js';

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

// 3x5 glyphs, rows top to bottom, 3 bits per row (MSB = left).
const GLYPHS: Record<string, number[]> = {
  '0': [7, 5, 5, 5, 7], '1': [2, 6, 2, 2, 7], '2': [7, 1, 7, 4, 7], '3': [7, 1, 7, 1, 7], '4': [5, 5, 7, 1, 1],
  '5': [7, 4, 7, 1, 7], '6': [7, 4, 7, 5, 7], '7': [7, 1, 1, 2, 2], '8': [7, 5, 7, 5, 7], '9': [7, 5, 7, 1, 7],
  '.': [0, 0, 0, 0, 2], '-': [0, 0, 7, 0, 0], '+': [0, 2, 7, 2, 0], '/': [1, 1, 2, 4, 4], ' ': [0, 0, 0, 0, 0],
  a: [0, 6, 3, 5, 7], c: [0, 7, 4, 4, 7], e: [7, 5, 7, 4, 7], i: [2, 0, 2, 2, 2], k: [4, 5, 6, 5, 5], l: [6, 2, 2, 2, 7],
  m: [0, 5, 7, 5, 5], n: [0, 6, 5, 5, 5], o: [0, 7, 5, 5, 7], p: [7, 5, 7, 4, 4], r: [0, 7, 4, 4, 4], s: [7, 4, 7, 1, 7],
  t: [2, 7, 2, 2, 3], u: [0, 5, 5, 5, 7], v: [0, 5, 5, 5, 2], y: [5, 5, 7, 1, 7], I: [7, 2, 2, 2, 7], U: [5, 5, 5, 5, 7],
  x: [0, 5, 2, 5, 5], g: [7, 5, 7, 1, 6], h: [4, 4, 7, 5, 5], d: [1, 1, 7, 5, 7], w: [0, 5, 5, 7, 5], b: [4, 4, 7, 5, 7],
};

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
  text(x: number, y: number, s: string, c: readonly number[], scale = 2): void {
    for (const ch of s) {
      const g = GLYPHS[ch] ?? GLYPHS[ch.toLowerCase()] ?? GLYPHS[' ']!;
      g.forEach((row, r) => {
        for (let b = 0; b < 3; b++) {
          if (!(row & (4 >> b))) continue;
          for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) this.set(x + b * scale + dx, y + r * scale + dy, c);
        }
      });
      x += 4 * scale;
    }
  }
}

const fmt = (v: number): string => (Math.abs(v) >= 1000 || (Math.abs(v) < 0.01 && v !== 0) ? v.toExponential(0).replace('e', 'e') : String(+v.toPrecision(2)));

/** Draws panels side by side and returns PNG bytes. */
export function plotPanels(panels: Panel[], width = 420 * panels.length, height = 300): Uint8Array {
  const r = new Raster(width, height);
  const pw = width / panels.length;
  panels.forEach((p, k) => {
    const left = k * pw + 52, right = (k + 1) * pw - 14, top = 34, bottom = height - 36;
    const pts = p.series.flatMap((s) => s.points).filter(([, y]) => Number.isFinite(y) && (!p.logY || y > 0));
    const tf = (y: number) => (p.logY ? Math.log10(y) : y);
    let [y0, y1] = p.yRange ?? [Math.min(...pts.map(([, y]) => tf(y))), Math.max(...pts.map(([, y]) => tf(y)))];
    if (p.yRange && p.logY) [y0, y1] = [tf(y0), tf(y1)];
    if (!Number.isFinite(y0) || !Number.isFinite(y1)) [y0, y1] = [0, 1];
    if (y1 - y0 < 1e-9) [y0, y1] = [y0 - 0.5, y1 + 0.5];
    const xs = pts.map(([x]) => x);
    const x0 = xs.length ? Math.min(...xs) : 0, x1 = xs.length ? Math.max(...xs, x0 + 1) : 1;
    const X = (x: number) => left + ((x - x0) / (x1 - x0)) * (right - left);
    const Y = (y: number) => bottom - ((tf(y) - y0) / (y1 - y0)) * (bottom - top);
    const grey = [200, 200, 200], dark = [60, 60, 60];
    for (let i = 0; i <= 4; i++) {
      const yy = top + ((bottom - top) * i) / 4;
      r.line(left, yy, right, yy, grey);
      const v = y1 - ((y1 - y0) * i) / 4;
      r.text(k * pw + 4, yy - 5, fmt(p.logY ? 10 ** v : v), dark);
    }
    r.line(left, bottom, right, bottom, dark);
    r.line(left, top, left, bottom, dark);
    r.text(left, bottom + 8, fmt(x0), dark);
    r.text(right - 8 * fmt(x1).length, bottom + 8, fmt(x1), dark);
    r.text((left + right) / 2 - 16, bottom + 20, 'step', dark);
    r.text(left, 8, p.title, dark);
    let lx = left + 8 * p.title.length + 16;
    for (const s of p.series) {
      r.line(lx, 14, lx + 14, 14, s.color);
      r.text(lx + 18, 9, s.name, s.color);
      lx += 18 + 8 * s.name.length + 12;
      const ok = s.points.filter(([, y]) => Number.isFinite(y) && (!p.logY || y > 0));
      for (let i = 1; i < ok.length; i++) r.line(X(ok[i - 1]![0]), Y(ok[i - 1]![1]), X(ok[i]![0]), Y(ok[i]![1]), s.color);
      if (ok.length === 1) r.set(X(ok[0]![0]), Y(ok[0]![1]), s.color);
    }
  });
  return encodePng(r.px, width, height);
}
