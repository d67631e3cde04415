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
    for (let i = 0; i < m.length; i++) if (m[i]) blend(out, i, out, c, alpha);
  });
  if (opts.outline ?? true) masks.forEach((m, k) => paintOutline(out, m, edgeDistance(m, width, height), 1, colour(k)));
  return out;
}

/** out[pixel i] = base[i] * (1 - alpha) + c * alpha, alpha untouched. */
function blend(out: Uint8Array, i: number, base: Uint8Array, c: Rgb, alpha: number): void {
  for (let ch = 0; ch < 3; ch++) out[4 * i + ch] = Math.round(base[4 * i + ch]! * (1 - alpha) + c[ch]! * alpha);
}

/** Paints in `c` the pixels of a mask at most `thickness` steps inside its edge (edgeDistance 1..thickness). */
function paintOutline(out: Uint8Array, m: Uint8Array, dist: Int32Array, thickness: number, c: Rgb): void {
  for (let i = 0; i < m.length; i++) {
    const d = dist[i]!;
    if (d === 0 || d > thickness) continue;
    out[4 * i] = c[0];
    out[4 * i + 1] = c[1];
    out[4 * i + 2] = c[2];
  }
}

/**
 * City-block distance of each mask pixel to the nearest pixel off the mask or outside the image
 * (0 off the mask, 1 on its boundary: a 4-neighbour is off or outside). Two passes, O(pixels).
 */
export function edgeDistance(m: Uint8Array, width: number, height: number): Int32Array {
  const d = new Int32Array(m.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = y * width + x;
      if (!m[i]) continue;
      const left = x > 0 ? d[i - 1]! : 0,
        up = y > 0 ? d[i - width]! : 0;
      d[i] = 1 + (left < up ? left : up);
    }
  }
  for (let y = height - 1; y >= 0; y--) {
    for (let x = width - 1; x >= 0; x--) {
      const i = y * width + x;
      if (!m[i]) continue;
      const right = x < width - 1 ? d[i + 1]! : 0,
        down = y < height - 1 ? d[i + width]! : 0;
      const via = 1 + (right < down ? right : down);
      if (via < d[i]!) d[i] = via;
    }
  }
  return d;
}

/** Box [x, y, w, h] in pixels. */
export type Box = [number, number, number, number];

/** A label to place: its size, the box of what it names and, optionally, a point well inside that. */
export interface LabelRequest {
  w: number;
  h: number;
  box: Box;
  /** A point inside the object (its mask's deepest pixel, say): the last candidate centres the label on it. */
  inside?: [number, number];
}

/**
 * Top-left corners for labels, placed greedily in the given order (rank 1 first) so that no label
 * covers an earlier one: the first free spot among the box's outer and inner corners (above left,
 * inside top left, inside top right, above right, inside bottom left and right, below left and
 * right, beside the top), then centred on `inside` (or the box's centre), then the nearest free
 * spot on a grid around that. Every spot is moved inside the image. null: no free spot
 * (a crowded picture), so that label is left out rather than hide another. The first label always
 * gets its first candidate.
 */
export function placeLabels(width: number, height: number, labels: readonly LabelRequest[]): ([number, number] | null)[] {
  const taken: Box[] = [];
  const free = (x: number, y: number, w: number, h: number) => taken.every(([tx, ty, tw, th]) => x + w <= tx || tx + tw <= x || y + h <= ty || ty + th <= y);
  return labels.map(({ w, h, box: [bx, by, bw, bh], inside }) => {
    const clamp = ([x, y]: [number, number]): [number, number] => [
      Math.round(Math.max(0, Math.min(x, width - w))),
      Math.round(Math.max(0, Math.min(y, height - h))),
    ];
    const [cx, cy] = inside ?? [bx + bw / 2, by + bh / 2];
    const candidates: [number, number][] = [
      [bx, by - h],
      [bx, by],
      [bx + bw - w, by],
      [bx + bw - w, by - h],
      [bx, by + bh - h],
      [bx + bw - w, by + bh - h],
      [bx, by + bh],
      [bx + bw - w, by + bh],
      [bx - w, by],
      [bx + bw, by],
      [cx - w / 2, cy - h / 2],
    ];
    // Then spots on a grid around the centre (half a label wide, one high), nearest first.
    const near: [number, number][] = [];
    for (let j = -4; j <= 4; j++) for (let i = -4; i <= 4; i++) if (i || j) near.push([(i * w) / 2, j * h]);
    near.sort((a, b) => Math.hypot(a[0], a[1]) - Math.hypot(b[0], b[1]));
    const rings = near.map(([dx, dy]): [number, number] => [cx - w / 2 + dx, cy - h / 2 + dy]);
    for (const c of [...candidates, ...rings]) {
      const [x, y] = clamp(c);
      if (!free(x, y, w, h)) continue;
      taken.push([x, y, w, h]);
      return [x, y];
    }
    return null;
  });
}

/** Black or white, whichever reads better on `c`. */
export function inkOn(c: Rgb): Rgb {
  return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2] > 110 ? [0, 0, 0] : [255, 255, 255];
}

/**
 * The scale of the 5x7 font for labels on a width x height picture: a label line (9 font pixels)
 * about 1/35 of the longer side, so that labels read alike at any size once the picture is fitted
 * to a screen: 2 (14-px capitals) from 160 to 799 px, 3 at 800 to 1119 px, 6 at 1920 px; 1 below 160 px.
 */
export function labelScale(width: number, height: number): number {
  const side = Math.max(width, height);
  return side < 160 ? 1 : Math.max(2, Math.round(side / 320));
}

/** One mask of a ranked picture: drawMasks takes them best first. */
export interface RankedMask {
  /** Row-major, nonzero = on. */
  mask: Uint8Array;
  color: Rgb;
  /** Text put near the mask (its rank and score, say); none when absent. */
  label?: string;
}

export interface MaskPictureOptions {
  /** Fill opacity of a mask covering at most a quarter of the picture (larger ones fainter), default 0.25. */
  fillAlpha?: number;
  /** Outline width in pixels, inside the mask, default 2; 0 for none. */
  outlineWidth?: number;
  /** Font scale (labelSize/drawLabel), default labelScale(width, height). */
  fontScale?: number;
}

/**
 * A copy of an RGBA image with ranked masks (best first) drawn so that each stays visible: light
 * fills, the largest first so that smaller ones lie on top, each pixel tinted once by the smallest
 * mask over it (the photo shows through everywhere), and masks over a quarter of the picture
 * fainter; then each mask's inner edge as a solid `outlineWidth`-px line in its colour (again
 * largest first); then the labels, placed by placeLabels in rank order so that none covers
 * another (rank 1 first, so always there; a label with no free spot is left out).
 */
export function drawMasks(rgba: Uint8Array, width: number, height: number, masks: readonly RankedMask[], o: MaskPictureOptions = {}): Uint8Array {
  if (rgba.length !== width * height * 4) throw new Error(`drawMasks: ${rgba.length} bytes for ${width}x${height} RGBA`);
  masks.forEach(({ mask }, k) => {
    if (mask.length !== width * height) throw new Error(`drawMasks: mask ${k} has ${mask.length} pixels for ${width}x${height}`);
  });
  const fillAlpha = o.fillAlpha ?? 0.25,
    outlineWidth = o.outlineWidth ?? 2,
    scale = o.fontScale ?? labelScale(width, height);
  const areas = masks.map(({ mask }) => {
    let a = 0;
    for (let i = 0; i < mask.length; i++) if (mask[i]) a++;
    return a;
  });
  // Largest first; among equal areas the better rank last, on top.
  const order = masks.map((_, k) => k).sort((a, b) => areas[b]! - areas[a]! || b - a);
  const out = new Uint8Array(rgba);
  if (fillAlpha > 0) {
    const owner = new Int32Array(width * height).fill(-1);
    for (const k of order) {
      const m = masks[k]!.mask;
      for (let i = 0; i < m.length; i++) if (m[i]) owner[i] = k;
    }
    const alpha = areas.map((a) => fillAlpha * Math.max(1 / 3, Math.min(1, (0.25 * width * height) / Math.max(1, a))));
    for (let i = 0; i < owner.length; i++) {
      const k = owner[i]!;
      if (k >= 0) blend(out, i, rgba, masks[k]!.color, alpha[k]!);
    }
  }
  const dist = masks.map(({ mask }) => edgeDistance(mask, width, height));
  if (outlineWidth > 0) for (const k of order) paintOutline(out, masks[k]!.mask, dist[k]!, outlineWidth, masks[k]!.color);
  const labelled = masks.map((m, k) => ({ ...m, k })).filter((m) => m.label !== undefined && areas[m.k]! > 0);
  const spots = placeLabels(
    width,
    height,
    labelled.map(({ label, mask, k }) => labelFor(mask, width, height, ...labelSize(label!, scale), dist[k])),
  );
  labelled.forEach(({ label, color }, j) => {
    const spot = spots[j];
    if (spot) drawLabel(out, width, height, spot[0], spot[1], label!, color, inkOn(color), scale);
  });
  return out;
}

/** The box [x, y, w, h] of a mask's pixels ([0, 0, 0, 0] when empty). */
export function maskBox(m: Uint8Array, width: number, height: number): Box {
  let x0 = width,
    y0 = height,
    x1 = -1,
    y1 = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (!m[y * width + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      y1 = y;
    }
  }
  return x1 < 0 ? [0, 0, 0, 0] : [x0, y0, x1 - x0 + 1, y1 - y0 + 1];
}

/** A w x h label naming a mask, for placeLabels: the mask's box and its deepest pixel (`dist`: its edgeDistance, if at hand). */
export function labelFor(mask: Uint8Array, width: number, height: number, w: number, h: number, dist = edgeDistance(mask, width, height)): LabelRequest {
  return { w, h, box: maskBox(mask, width, height), inside: deepestPixel(dist, width) };
}

/** The pixel farthest inside a mask (the first of the largest edgeDistance): a label there sits on the object, not on a neighbour. */
function deepestPixel(dist: Int32Array, width: number): [number, number] {
  let best = 0;
  for (let i = 1; i < dist.length; i++) if (dist[i]! > dist[best]!) best = i;
  return [best % width, Math.floor(best / width)];
}

/** Width and height in pixels of `text` drawn by drawLabel at `scale` (5x7 glyphs, 1 px apart, and a 1-glyph-pixel margin). */
export function labelSize(text: string, scale = 2): [number, number] {
  return [(6 * [...text].length + 1) * scale, 9 * scale];
}

/**
 * Draws `text` in place on an RGBA image with the 5x7 font at `scale` (2: 10x14-px capitals), in
 * `ink` on an opaque box of `box`, with its top-left corner at (x, y) moved inside the image.
 */
export function drawLabel(
  rgba: Uint8Array,
  width: number,
  height: number,
  x: number,
  y: number,
  text: string,
  box: Rgb,
  ink: Rgb = [0, 0, 0],
  scale = 2,
): void {
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
