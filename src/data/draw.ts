// Drawing on RGBA images: colours, mask overlays and text labels (proposal visualisations, synthetic scenes).
import { glyph } from './font.js';

export type Rgb = [number, number, number];

/** HSV in [0, 1] to RGB in [0, 255]. */
export function hsv(h: number, s: number, v: number): Rgb {
  const f = (n: number): number => {
    const k = (n + h * 6) % 6;
    return 255 * (v - v * s * Math.max(0, Math.min(k, 4 - k, 1)));
  };
  return [f(5), f(3), f(1)];
}

export interface OverlayOptions {
  /** Fill opacity, default 0.4. */
  alpha?: number;
  /** Per-mask colours; default overlayColor(i). */
  colors?: Rgb[];
  /** Draw the 1-px outline (default true). */
  outline?: boolean;
}

/** Well-separated colours: hues stepped by the golden angle. */
export function overlayColor(i: number): Rgb {
  return hsv((i * 0.618033988749895 + 0.05) % 1, 0.85, 1).map((v) => Math.round(v)) as Rgb;
}

/**
 * A copy of an RGBA image with each mask (row-major, nonzero = on) drawn as a translucent fill
 * and a solid 1-px outline along its inner boundary. Fills go first so that no fill veils another
 * mask's outline.
 */
export function drawOverlay(rgba: Uint8Array, width: number, height: number, masks: Uint8Array[], opts: OverlayOptions = {}): Uint8Array {
  if (rgba.length !== width * height * 4) throw new Error(`drawOverlay: ${rgba.length} bytes for ${width}x${height} RGBA`);
  const alpha = opts.alpha ?? 0.4;
  const colour = (i: number): Rgb => opts.colors?.[i] ?? overlayColor(i);
  const out = new Uint8Array(rgba);
  masks.forEach((m, k) => {
    if (m.length !== width * height) throw new Error(`drawOverlay: mask ${k} has ${m.length} pixels for ${width}x${height}`);
    const c = colour(k);
    for (let i = 0; i < m.length; i++) {
      if (!m[i]) continue;
      for (let ch = 0; ch < 3; ch++) out[4 * i + ch] = Math.round(out[4 * i + ch]! * (1 - alpha) + c[ch]! * alpha);
    }
  });
  if (opts.outline ?? true) {
    masks.forEach((m, k) => {
      const c = colour(k);
      for (let y = 0; y < height; y++) {
        for (let x = 0; x < width; x++) {
          const i = y * width + x;
          if (!m[i]) continue;
          // On the boundary when a 4-neighbour is off or outside the image.
          const edge = x === 0 || y === 0 || x === width - 1 || y === height - 1 || !m[i - 1] || !m[i + 1] || !m[i - width] || !m[i + width];
          if (!edge) continue;
          out[4 * i] = c[0];
          out[4 * i + 1] = c[1];
          out[4 * i + 2] = c[2];
        }
      }
    });
  }
  return out;
}


/** Width and height in pixels of `text` drawn by drawLabel at `scale` (5x7 glyphs, 1 px apart, and a 1-glyph-pixel margin). */
export function labelSize(text: string, scale = 2): [number, number] {
  return [(6 * [...text].length + 1) * scale, 9 * scale];
}

/**
 * Draws `text` in place on an RGBA image with the 5x7 font at `scale` (2: 10x14-px capitals), in
 * `ink` on an opaque box of `box`, with its top-left corner at (x, y) moved inside the image.
 */
export function drawLabel(rgba: Uint8Array, width: number, height: number, x: number, y: number, text: string, box: Rgb, ink: Rgb = [0, 0, 0], scale = 2): void {
  const [lw, lh] = labelSize(text, scale);
  x = Math.round(Math.max(0, Math.min(x, width - lw)));
  y = Math.round(Math.max(0, Math.min(y, height - lh)));
  const put = (px: number, py: number, c: Rgb) => {
    if (px < 0 || py < 0 || px >= width || py >= height) return;
    rgba.set([c[0], c[1], c[2], 255], (py * width + px) * 4);
  };
  for (let dy = 0; dy < lh; dy++) for (let dx = 0; dx < lw; dx++) put(x + dx, y + dy, box);
  [...text].forEach((ch, k) => {
    glyph(ch).forEach((row, r) => {
      for (let b = 0; b < 5; b++) {
        if (!(row & (0x10 >> b))) continue;
        for (let sy = 0; sy < scale; sy++) for (let sx = 0; sx < scale; sx++) put(x + (1 + 6 * k + b) * scale + sx, y + (1 + r) * scale + sy, ink);
      }
    });
  });
}
