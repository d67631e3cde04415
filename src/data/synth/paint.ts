// Appearance of the synthetic scenes: background, object colours and textures, sensor noise and quantisation.
import type { Rng } from '../../graph/random.js';
import { hsv, type Rgb } from '../draw.js';

/** What painting needs of a placed object: its full coverage, area and tight box. */
export interface Painted {
  coverage: Uint8Array;
  fullArea: number;
  bbox: [number, number, number, number];
}

// ---------------------------------------------------------------------------------------------
// Appearance. The image is built in a float RGB buffer (0..255) and quantised once at the end.

const dist = (a: Rgb, b: Rgb): number => Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);

/**
 * Smooth value noise in [-1, 1] over a w×h region: random values on a lattice of `cell` px,
 * smoothstep-interpolated. The lattice is rotated by a random angle (an axis-aligned one shows
 * as rows of squares) and wraps every 64 cells.
 */
function valueNoise(rng: Rng, w: number, h: number, cell: number): Float32Array {
  const grid = new Float32Array(64 * 64);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.uniform(-1, 1);
  const t = rng.uniform(0, 2 * Math.PI),
    c = Math.cos(t) / cell,
    s = Math.sin(t) / cell;
  const ou = rng.uniform(0, 64),
    ov = rng.uniform(0, 64);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = ou + x * c + y * s,
        v = ov - x * s + y * c;
      const iu = Math.floor(u),
        iv = Math.floor(v);
      let fu = u - iu,
        fv = v - iv;
      fu = fu * fu * (3 - 2 * fu);
      fv = fv * fv * (3 - 2 * fv);
      const u0 = iu & 63,
        u1 = (iu + 1) & 63,
        r0 = (iv & 63) << 6,
        r1 = ((iv + 1) & 63) << 6;
      const a = grid[r0 + u0]! + (grid[r0 + u1]! - grid[r0 + u0]!) * fu;
      const b = grid[r1 + u0]! + (grid[r1 + u1]! - grid[r1 + u0]!) * fu;
      out[y * w + x] = a + (b - a) * fv;
    }
  }
  return out;
}

/** A two-colour gradient at a random angle, plus smooth colour noise, soft blobs or both. */
export function paintBackground(rng: Rng, img: Float32Array, W: number, H: number): void {
  const c0 = hsv(rng.next(), rng.uniform(0.05, 0.6), rng.uniform(0.2, 0.95));
  const c1 = hsv(rng.next(), rng.uniform(0.05, 0.6), rng.uniform(0.2, 0.95));
  const t = rng.uniform(0, 2 * Math.PI),
    gx = Math.cos(t) / Math.hypot(W, H),
    gy = Math.sin(t) / Math.hypot(W, H);
  const d: Rgb = [c1[0] - c0[0], c1[1] - c0[1], c1[2] - c0[2]];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const f = Math.min(1, Math.max(0, 0.5 + (x - W / 2) * gx + (y - H / 2) * gy));
      const p = 3 * (y * W + x);
      img[p] = c0[0] + d[0] * f;
      img[p + 1] = c0[1] + d[1] * f;
      img[p + 2] = c0[2] + d[2] * f;
    }
  }
  const style = rng.int(3); // 0 noise, 1 blobs, 2 both
  if (style !== 1) {
    // Two octaves, each along its own random colour direction.
    for (const cell of [rng.uniform(32, 72), rng.uniform(8, 20)]) {
      const n = valueNoise(rng, W, H, cell);
      const amp = rng.uniform(12, 40),
        d = hsv(rng.next(), rng.uniform(0, 0.7), 1);
      const dv: Rgb = [(amp * d[0]) / 255, (amp * d[1]) / 255, (amp * d[2]) / 255];
      for (let i = 0; i < W * H; i++) {
        const v = n[i]!;
        img[3 * i] += v * dv[0];
        img[3 * i + 1] += v * dv[1];
        img[3 * i + 2] += v * dv[2];
      }
    }
  }
  if (style !== 0) {
    // Large soft-edged blobs: colour structure the size of objects, but without a hard boundary.
    const count = 3 + rng.int(6);
    for (let b = 0; b < count; b++) {
      const cx = rng.uniform(-0.1, 1.1) * W,
        cy = rng.uniform(-0.1, 1.1) * H,
        sigma = rng.uniform(12, 50);
      const c = hsv(rng.next(), rng.uniform(0.1, 0.8), rng.uniform(0.2, 1)),
        strength = rng.uniform(0.3, 0.75);
      const r = 3 * sigma,
        inv = 1 / (2 * sigma * sigma);
      const xa = Math.max(0, Math.floor(cx - r)),
        xb = Math.min(W, Math.ceil(cx + r));
      // The Gaussian is separable: one exp per column and per row instead of per pixel.
      const wx = new Float32Array(Math.max(0, xb - xa));
      for (let x = xa; x < xb; x++) wx[x - xa] = Math.exp(-((x + 0.5 - cx) ** 2) * inv);
      for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(H, Math.ceil(cy + r)); y++) {
        const wy = strength * Math.exp(-((y + 0.5 - cy) ** 2) * inv);
        for (let x = xa; x < xb; x++) {
          const wgt = wy * wx[x - xa]!,
            p = 3 * (y * W + x);
          img[p] += (c[0] - img[p]!) * wgt;
          img[p + 1] += (c[1] - img[p + 1]!) * wgt;
          img[p + 2] += (c[2] - img[p + 2]!) * wgt;
        }
      }
    }
  }
}

/**
 * A base colour far from what the object will cover (mean of the frame under its coverage) and
 * from the colours of earlier objects whose boxes it overlaps: best of a dozen random draws.
 */
export function pickColour(rng: Rng, img: Float32Array, W: number, p: Painted, earlier: { bbox: number[]; c: Rgb }[]): Rgb {
  const [bx, by, bw, bh] = p.bbox;
  const mean: Rgb = [0, 0, 0];
  for (let y = by; y < by + bh; y++) {
    for (let i = y * W + bx, e = i + bw; i < e; i++) {
      if (!p.coverage[i]) continue;
      mean[0] += img[3 * i]!;
      mean[1] += img[3 * i + 1]!;
      mean[2] += img[3 * i + 2]!;
    }
  }
  for (let ch = 0; ch < 3; ch++) mean[ch] /= Math.max(1, p.fullArea);
  const others = earlier
    .filter((e) => e.bbox[0]! < bx + bw && bx < e.bbox[0]! + e.bbox[2]! && e.bbox[1]! < by + bh && by < e.bbox[1]! + e.bbox[3]!)
    .map((e) => e.c);
  let best: Rgb = [0, 0, 0],
    bestScore = -1;
  for (let t = 0; t < 12 && bestScore < 110; t++) {
    const c = hsv(rng.next(), rng.uniform(0.3, 1), rng.uniform(0.3, 1));
    let score = dist(c, mean);
    for (const oc of others) score = Math.min(score, dist(c, oc));
    if (score > bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

const TEXTURES = 4; // flat, stripes, checker, noise

/** Fills the object's coverage with its colour and a texture, light shading, and sometimes a darker rim. */
export function paintObject(rng: Rng, img: Float32Array, W: number, p: Painted, c: Rgb): void {
  const [bx, by, bw, bh] = p.bbox;
  const texture = rng.int(TEXTURES);
  // Second texture colour: a darker or lighter shade, so stripes and checks read as one object.
  const c2: Rgb = rng.next() < 0.5 ? (c.map((v) => v * rng.uniform(0.45, 0.7)) as Rgb) : (c.map((v) => v + (255 - v) * rng.uniform(0.3, 0.55)) as Rgb);
  const ta = rng.uniform(0, Math.PI),
    tc = Math.cos(ta),
    ts = Math.sin(ta);
  const period = rng.uniform(4, 14),
    duty = rng.uniform(0.35, 0.65),
    cell = rng.uniform(3, 11);
  const noise = texture === 3 ? valueNoise(rng, bw, bh, rng.uniform(2, 6)) : null;
  // Shading: a linear brightness ramp across the object, as if lit from one side.
  const sa = rng.uniform(0, 2 * Math.PI),
    shade = rng.uniform(0, 0.35) / Math.max(bw, bh);
  const sc = Math.cos(sa) * shade,
    ss = Math.sin(sa) * shade,
    mx = bx + bw / 2,
    my = by + bh / 2;
  const rim = rng.next() < 0.45 ? rimOf(p.coverage, W, p.bbox, 1 + rng.int(2)) : null;
  const rimDark = rng.uniform(0.45, 0.7);
  for (let y = by; y < by + bh; y++) {
    for (let x = bx; x < bx + bw; x++) {
      const i = y * W + x;
      if (!p.coverage[i]) continue;
      let m: number; // 0 = base colour, 1 = second colour
      if (texture === 1) {
        const u = (x * tc + y * ts) / period;
        m = u - Math.floor(u) < duty ? 0 : 1;
      } else if (texture === 2) {
        const u = Math.floor((x * tc + y * ts) / cell),
          v = Math.floor((-x * ts + y * tc) / cell);
        m = (u + v) & 1;
      } else if (noise) {
        m = 0.5 + 0.5 * noise[(y - by) * bw + (x - bx)]!;
      } else m = 0;
      let k = 1 + (x - mx) * sc + (y - my) * ss;
      if (rim && rim[(y - by) * bw + (x - bx)]) k *= rimDark;
      for (let ch = 0; ch < 3; ch++) img[3 * i + ch] = (c[ch]! + (c2[ch]! - c[ch]!) * m) * k;
    }
  }
}

/** Pixels of the coverage (within bbox, local row-major) within r steps (8-neighbourhood) of its outside. */
function rimOf(coverage: Uint8Array, W: number, bbox: number[], r: number): Uint8Array {
  const [bx, by, bw, bh] = bbox as [number, number, number, number];
  let cur = new Uint8Array(bw * bh);
  for (let y = 0; y < bh; y++) for (let x = 0; x < bw; x++) cur[y * bw + x] = coverage[(y + by) * W + x + bx]!;
  const full = cur.slice();
  for (let step = 0; step < r; step++) {
    const next = new Uint8Array(bw * bh);
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        if (!cur[y * bw + x]) continue;
        let keep = 1;
        for (let dy = -1; dy <= 1 && keep; dy++) {
          for (let dx = -1; dx <= 1; dx++) {
            const yy = y + dy,
              xx = x + dx;
            if (yy < 0 || yy >= bh || xx < 0 || xx >= bw || !cur[yy * bw + xx]) {
              keep = 0;
              break;
            }
          }
        }
        next[y * bw + x] = keep;
      }
    }
    cur = next;
  }
  for (let i = 0; i < full.length; i++) full[i] = full[i]! & (cur[i]! ^ 1);
  return full;
}

/** Adds sensor-like per-pixel noise and quantises to RGBA8 (opaque). */
export function finish(rng: Rng, img: Float32Array, W: number, H: number): Uint8Array {
  const amp = rng.uniform(2, 9) / 128;
  // A per-pixel Rng call costs more than the rest of the scene; an inline xorshift32 seeded from
  // the scene's Rng keeps the noise reproducible at a fraction of the cost.
  let z = rng.u32() | 1;
  const out = new Uint8Array(W * H * 4);
  for (let i = 0, q = 0; i < W * H; i++, q += 3) {
    z ^= z << 13;
    z ^= z >>> 17;
    z ^= z << 5;
    // One 32-bit draw gives three signed bytes of noise.
    const r = img[q]! + ((z & 255) - 127.5) * amp,
      g = img[q + 1]! + (((z >>> 8) & 255) - 127.5) * amp,
      b = img[q + 2]! + (((z >>> 16) & 255) - 127.5) * amp;
    out[4 * i] = r <= 0 ? 0 : r >= 255 ? 255 : Math.round(r);
    out[4 * i + 1] = g <= 0 ? 0 : g >= 255 ? 255 : Math.round(g);
    out[4 * i + 2] = b <= 0 ? 0 : b >= 255 ? 255 : Math.round(b);
    out[4 * i + 3] = 255;
  }
  return out;
}
