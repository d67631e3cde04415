// Synthetic COCO-style scenes: overlapping, textured shapes of varied size, aspect and kind on
// textured backgrounds, with exact instance masks. The project's demo, tests and CI train on these,
// so everything is seeded (one Rng per scene) and universal (bytes and objects out, no file system).
//
// Masks are exact by construction: a pixel belongs to a shape when its centre (x + 0.5, y + 0.5)
// lies inside the shape (no antialiasing), shapes are painted back to front, and an object's mask
// is its coverage minus the coverage of every shape painted after it.
import { Rng } from '../graph/random.js';
import { area, encodeMask, toBbox, toCocoRle } from './rle.js';
import { encodePng } from './png.js';
import { hsv, type Rgb } from './draw.js';

export interface SynthOptions {
  /** Scene count. */
  images: number;
  /** Default 256. */
  width?: number;
  /** Default 192. */
  height?: number;
  /** Default 0. */
  seed?: number;
  /** Shapes painted per scene, default 2..6 (heavily occluded ones are painted but not annotated). */
  minObjects?: number;
  maxObjects?: number;
  /** Longest side of an object's full (unoccluded) extent in pixels, default 24..128. */
  minSize?: number;
  maxSize?: number;
  /** First image id (default 1), so train and validation sets can have disjoint ids. */
  firstId?: number;
  /** PNG encoder for SynthImage.png (default png.ts's encodePng). */
  pngEncoder?: (rgba: Uint8Array, width: number, height: number) => Uint8Array;
}

export interface SynthImage {
  id: number;
  file_name: string;
  width: number;
  height: number;
  png: Uint8Array;
  rgba: Uint8Array;
}

export interface SynthAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  iscrowd: 0;
  area: number;
  bbox: [number, number, number, number];
  segmentation: { size: [number, number]; counts: string };
}

export interface SynthDataset {
  images: SynthImage[];
  coco: {
    images: { id: number; file_name: string; width: number; height: number }[];
    annotations: SynthAnnotation[];
    categories: { id: number; name: string }[];
  };
}

/** Shape kinds; category id = index + 1. */
export const SHAPE_KINDS = ['ellipse', 'rectangle', 'triangle', 'star', 'polygon'] as const;
export type ShapeKind = (typeof SHAPE_KINDS)[number];

/** An object is annotated only if this much of it stays visible... */
export const MIN_VISIBLE_FRACTION = 0.4;
/** ...and at least this many pixels. */
export const MIN_VISIBLE_AREA = 80;

/** Geometry in image pixel coordinates (pixel (x, y) covers [x, x+1) × [y, y+1)). */
export type SynthShape =
  | { kind: 'ellipse'; cx: number; cy: number; rx: number; ry: number; angle: number }
  | { kind: Exclude<ShapeKind, 'ellipse'>; points: number[] };

export interface SceneObject {
  shape: SynthShape;
  category: number;
  /** Full coverage of the shape, row-major 0/1. */
  coverage: Uint8Array;
  fullArea: number;
  /** Tight box [x, y, w, h] of the coverage. */
  bbox: [number, number, number, number];
  /** Coverage minus everything painted later, row-major 0/1. */
  visible: Uint8Array;
  visibleArea: number;
  /** Whether the object is annotated (visible enough). */
  kept: boolean;
}

export interface Scene {
  width: number;
  height: number;
  rgba: Uint8Array;
  /** In paint order (back to front). */
  objects: SceneObject[];
}

interface Resolved {
  width: number;
  height: number;
  seed: number;
  minObjects: number;
  maxObjects: number;
  minSize: number;
  maxSize: number;
}

function resolve(opts: Omit<SynthOptions, 'images' | 'firstId' | 'pngEncoder'>): Resolved {
  const width = opts.width ?? 256, height = opts.height ?? 192, seed = opts.seed ?? 0;
  const minObjects = opts.minObjects ?? 2, maxObjects = opts.maxObjects ?? 6;
  const minSize = opts.minSize ?? 24;
  // A shape is kept fully inside the frame, so it can be no larger than the frame.
  const maxSize = Math.min(opts.maxSize ?? 128, width, height);
  const int = (name: string, v: number, lo: number): void => {
    if (!Number.isInteger(v) || v < lo) throw new Error(`synth: ${name} must be an integer >= ${lo}, got ${v}`);
  };
  int('width', width, 8);
  int('height', height, 8);
  if (!Number.isInteger(seed)) throw new Error(`synth: seed must be an integer, got ${seed}`);
  int('minObjects', minObjects, 0);
  int('maxObjects', maxObjects, minObjects);
  if (maxObjects > 32767) throw new Error(`synth: maxObjects must be <= 32767, got ${maxObjects}`); // owner map is Int16
  int('minSize', minSize, 4);
  if (!(maxSize >= minSize)) {
    throw new Error(`synth: maxSize (${opts.maxSize ?? 128}, capped to the frame ${width}x${height}) must be >= minSize (${minSize})`);
  }
  return { width, height, seed, minObjects, maxObjects, minSize, maxSize };
}

/** Generates `images` scenes with ids firstId.. and their COCO annotations (compressed RLE). */
export function generateScenes(opts: SynthOptions): SynthDataset {
  const o = resolve(opts);
  const firstId = opts.firstId ?? 1;
  if (!Number.isInteger(opts.images) || opts.images < 0) throw new Error(`synth: images must be a non-negative integer, got ${opts.images}`);
  if (!Number.isInteger(firstId) || firstId < 0) throw new Error(`synth: firstId must be a non-negative integer, got ${firstId}`);
  const { width, height } = o;
  const encode = opts.pngEncoder ?? encodePng;
  const images: SynthImage[] = [];
  const annotations: SynthAnnotation[] = [];
  for (let i = 0; i < opts.images; i++) {
    const id = firstId + i;
    const scene = renderScene(o, id);
    const file_name = `synth_${String(id).padStart(6, '0')}.png`;
    images.push({ id, file_name, width, height, png: encode(scene.rgba, width, height), rgba: scene.rgba });
    for (const obj of scene.objects) {
      if (!obj.kept) continue;
      const rle = encodeMask(obj.visible, height, width);
      annotations.push({
        id: annotations.length + 1,
        image_id: id,
        category_id: obj.category,
        iscrowd: 0,
        area: area(rle),
        bbox: toBbox(rle),
        segmentation: toCocoRle(rle),
      });
    }
  }
  return {
    images,
    coco: {
      images: images.map(({ id, file_name, width, height }) => ({ id, file_name, width, height })),
      annotations,
      categories: SHAPE_KINDS.map((name, i) => ({ id: i + 1, name })),
    },
  };
}

/**
 * One scene, with its objects' geometry and masks. Its Rng is seeded from (seed, id) alone, so
 * any scene can be re-rendered by itself and sets with disjoint ids differ even under one seed.
 */
export function renderScene(opts: Omit<SynthOptions, 'images' | 'firstId' | 'pngEncoder'>, id: number): Scene {
  const o = resolve(opts);
  const { width: W, height: H } = o;
  const rng = new Rng(fmix32((fmix32(o.seed >>> 0) + Math.imul(id >>> 0, 0x9e3779b1)) >>> 0));
  const img = new Float32Array(W * H * 3);
  paintBackground(rng, img, W, H);
  const placed = placeObjects(rng, o);
  // Paint back to front; the colour of each is chosen against what it covers.
  const baseColours: { bbox: number[]; c: Rgb }[] = [];
  for (const p of placed) {
    const c = pickColour(rng, img, W, p, baseColours);
    paintObject(rng, img, W, p, c);
    baseColours.push({ bbox: p.bbox, c });
  }
  const objects: SceneObject[] = placed.map((p, k) => {
    const visible = new Uint8Array(W * H);
    let visibleArea = 0;
    for (let i = 0; i < visible.length; i++) {
      if (p.owner[i] === k) {
        visible[i] = 1;
        visibleArea++;
      }
    }
    return {
      shape: p.shape,
      category: p.category,
      coverage: p.coverage,
      fullArea: p.fullArea,
      bbox: p.bbox,
      visible,
      visibleArea,
      kept: isKept(visibleArea, p.fullArea),
    };
  });
  return { width: W, height: H, rgba: finish(rng, img, W, H), objects };
}

const isKept = (visibleArea: number, fullArea: number): boolean =>
  visibleArea >= MIN_VISIBLE_AREA && visibleArea >= MIN_VISIBLE_FRACTION * fullArea;

/** murmur3's finaliser: spreads (seed, id) over all 32 bits before seeding the Rng. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// ---------------------------------------------------------------------------------------------
// Geometry

/**
 * Rasterises a shape at pixel centres into a row-major 0/1 mask of the whole frame. Polygons use
 * the even-odd rule with half-open crossings (an edge counts on row centre yc when exactly one
 * end lies above yc), so a pixel is in iff xa <= x + 0.5 < xb for some span [xa, xb).
 */
export function rasterizeShape(shape: SynthShape, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height);
  if (shape.kind === 'ellipse') {
    const { cx, cy, rx, ry, angle } = shape;
    const c = Math.cos(angle), s = Math.sin(angle);
    const ex = Math.sqrt(rx * rx * c * c + ry * ry * s * s), ey = Math.sqrt(rx * rx * s * s + ry * ry * c * c);
    const x0 = Math.max(0, Math.floor(cx - ex - 1)), x1 = Math.min(width, Math.ceil(cx + ex + 1));
    const y0 = Math.max(0, Math.floor(cy - ey - 1)), y1 = Math.min(height, Math.ceil(cy + ey + 1));
    for (let y = y0; y < y1; y++) {
      const dy = y + 0.5 - cy;
      for (let x = x0; x < x1; x++) {
        if (insideEllipse(x + 0.5 - cx, dy, rx, ry, c, s)) out[y * width + x] = 1;
      }
    }
    return out;
  }
  const p = shape.points, n = p.length / 2;
  let ymin = Infinity, ymax = -Infinity;
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
      const xa = p[2 * i]!, ya = p[2 * i + 1]!, xb = p[2 * j]!, yb = p[2 * j + 1]!;
      if (ya > yc !== yb > yc) xs.push(edgeCrossing(xa, ya, xb, yb, yc));
    }
    xs.sort((a, b) => a - b);
    for (let k = 0; k + 1 < xs.length; k += 2) {
      const xa = xs[k]!, xb = xs[k + 1]!;
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
export const edgeCrossing = (xa: number, ya: number, xb: number, yb: number, yc: number): number =>
  ((xb - xa) * (yc - ya)) / (yb - ya) + xa;

/** Whether offset (dx, dy) from the centre is inside the ellipse with radii rx, ry rotated by (c, s) = (cos, sin). */
export const insideEllipse = (dx: number, dy: number, rx: number, ry: number, c: number, s: number): boolean => {
  const u = (dx * c + dy * s) / rx, v = (-dx * s + dy * c) / ry;
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
    const k = 5 + rng.int(4), inner = rng.uniform(0.38, 0.65);
    for (let i = 0; i < 2 * k; i++) {
      const t = (Math.PI * i) / k, r = (i % 2 ? inner : 1) * rng.uniform(0.9, 1);
      pts.push(r * Math.cos(t), r * Math.sin(t));
    }
  } else {
    // Star-shaped about the origin (sorted angles), so never self-intersecting, often concave.
    const k = 5 + rng.int(6);
    for (let i = 0; i < k; i++) {
      const t = (2 * Math.PI * (i + rng.uniform(-0.3, 0.3))) / k, r = rng.uniform(0.45, 1);
      pts.push(r * Math.cos(t), r * Math.sin(t));
    }
    // Squash before rotating for elongated variants.
    const a = rng.uniform(0.5, 1);
    for (let i = 1; i < pts.length; i += 2) pts[i]! *= a;
  }
  return { points: rotate(pts, angle) };
}

function rotate(pts: number[], angle: number): number[] {
  const c = Math.cos(angle), s = Math.sin(angle);
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
function placeShape(rng: Rng, kind: ShapeKind, size: number, W: number, H: number, near?: [number, number]): SynthShape {
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
    const c = Math.cos(g.angle), s = Math.sin(g.angle);
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

interface Placed {
  shape: SynthShape;
  category: number;
  coverage: Uint8Array;
  fullArea: number;
  bbox: [number, number, number, number];
  /** Shared map of the top object index per pixel (-1 = background), as of the end of placement. */
  owner: Int16Array;
}

const ATTEMPTS = 24;
const OVERLAP_BIAS = 0.6;

/**
 * Chooses each object's shape and place. Later objects occlude earlier ones; a position that
 * would push an earlier, still-annotatable object under the visibility threshold is retried a
 * few times, so most painted objects end up annotated while overlaps stay common.
 */
function placeObjects(rng: Rng, o: Resolved): Placed[] {
  const { width: W, height: H, minSize, maxSize } = o;
  const n = o.minObjects + rng.int(o.maxObjects - o.minObjects + 1);
  const owner = new Int16Array(W * H).fill(-1);
  const placed: Placed[] = [];
  const vis: number[] = [];
  const lost = new Int32Array(n);
  for (let k = 0; k < n; k++) {
    const kind = SHAPE_KINDS[rng.int(SHAPE_KINDS.length)]!;
    // Log-uniform: as many small objects as large ones per octave. +1 because pixel-centre
    // coverage of an extent s spans about s pixels, give or take one.
    let size = Math.exp(rng.uniform(Math.log(minSize), Math.log(maxSize + 1)));
    let best: { shape: SynthShape; coverage: Uint8Array; fullArea: number; bbox: [number, number, number, number]; drops: number; lost: Int32Array } | null = null;
    for (let a = 0; a < ATTEMPTS && !(best && best.drops === 0); a++) {
      // Uniform positions rarely overlap; aim most attempts at an earlier object's edge region.
      let near: [number, number] | undefined;
      if (placed.length > 0 && rng.next() < OVERLAP_BIAS) {
        const [bx, by, bw, bh] = placed[rng.int(placed.length)]!.bbox;
        near = [bx + bw * rng.uniform(-0.3, 1.3), by + bh * rng.uniform(-0.3, 1.3)];
      }
      const shape = placeShape(rng, kind, size, W, H, near);
      const coverage = rasterizeShape(shape, W, H);
      const bbox = maskBox(coverage, W, H);
      const longest = Math.max(bbox[2], bbox[3]);
      // Pixel-centre coverage can miss the tips of an extent by a pixel: nudge the size and retry.
      if (longest < minSize || longest > maxSize) {
        size += longest < minSize ? 1 : -1;
        continue;
      }
      lost.fill(0);
      let fullArea = 0;
      for (let y = bbox[1]; y < bbox[1] + bbox[3]; y++) {
        for (let i = y * W + bbox[0], e = i + bbox[2]; i < e; i++) {
          if (!coverage[i]) continue;
          fullArea++;
          const t = owner[i]!;
          if (t >= 0) lost[t]!++;
        }
      }
      let drops = 0;
      for (let j = 0; j < placed.length; j++) {
        if (isKept(vis[j]!, placed[j]!.fullArea) && !isKept(vis[j]! - lost[j]!, placed[j]!.fullArea)) drops++;
      }
      if (!best || drops < best.drops) best = { shape, coverage, fullArea, bbox, drops, lost: lost.slice() };
    }
    if (!best) continue; // no attempt had an allowed size: leave this object out
    const idx = placed.length;
    for (let j = 0; j < idx; j++) vis[j]! -= best.lost[j]!;
    vis.push(best.fullArea);
    const { bbox, coverage } = best;
    for (let y = bbox[1]; y < bbox[1] + bbox[3]; y++) {
      for (let i = y * W + bbox[0], e = i + bbox[2]; i < e; i++) if (coverage[i]) owner[i] = idx;
    }
    placed.push({ shape: best.shape, category: SHAPE_KINDS.indexOf(kind) + 1, coverage, fullArea: best.fullArea, bbox, owner });
  }
  return placed;
}

/** Tight [x, y, w, h] of a row-major mask; zeros when empty. */
function maskBox(mask: Uint8Array, W: number, H: number): [number, number, number, number] {
  let x0 = W, y0 = H, x1 = -1, y1 = -1;
  for (let y = 0; y < H; y++) {
    const row = y * W;
    let first = -1, last = -1;
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
  const t = rng.uniform(0, 2 * Math.PI), c = Math.cos(t) / cell, s = Math.sin(t) / cell;
  const ou = rng.uniform(0, 64), ov = rng.uniform(0, 64);
  const out = new Float32Array(w * h);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = ou + x * c + y * s, v = ov - x * s + y * c;
      const iu = Math.floor(u), iv = Math.floor(v);
      let fu = u - iu, fv = v - iv;
      fu = fu * fu * (3 - 2 * fu);
      fv = fv * fv * (3 - 2 * fv);
      const u0 = iu & 63, u1 = (iu + 1) & 63, r0 = (iv & 63) << 6, r1 = ((iv + 1) & 63) << 6;
      const a = grid[r0 + u0]! + (grid[r0 + u1]! - grid[r0 + u0]!) * fu;
      const b = grid[r1 + u0]! + (grid[r1 + u1]! - grid[r1 + u0]!) * fu;
      out[y * w + x] = a + (b - a) * fv;
    }
  }
  return out;
}

/** A two-colour gradient at a random angle, plus smooth colour noise, soft blobs or both. */
function paintBackground(rng: Rng, img: Float32Array, W: number, H: number): void {
  const c0 = hsv(rng.next(), rng.uniform(0.05, 0.6), rng.uniform(0.2, 0.95));
  const c1 = hsv(rng.next(), rng.uniform(0.05, 0.6), rng.uniform(0.2, 0.95));
  const t = rng.uniform(0, 2 * Math.PI), gx = Math.cos(t) / Math.hypot(W, H), gy = Math.sin(t) / Math.hypot(W, H);
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
      const amp = rng.uniform(12, 40), d = hsv(rng.next(), rng.uniform(0, 0.7), 1);
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
      const cx = rng.uniform(-0.1, 1.1) * W, cy = rng.uniform(-0.1, 1.1) * H, sigma = rng.uniform(12, 50);
      const c = hsv(rng.next(), rng.uniform(0.1, 0.8), rng.uniform(0.2, 1)), strength = rng.uniform(0.3, 0.75);
      const r = 3 * sigma, inv = 1 / (2 * sigma * sigma);
      const xa = Math.max(0, Math.floor(cx - r)), xb = Math.min(W, Math.ceil(cx + r));
      // The Gaussian is separable: one exp per column and per row instead of per pixel.
      const wx = new Float32Array(Math.max(0, xb - xa));
      for (let x = xa; x < xb; x++) wx[x - xa] = Math.exp(-((x + 0.5 - cx) ** 2) * inv);
      for (let y = Math.max(0, Math.floor(cy - r)); y < Math.min(H, Math.ceil(cy + r)); y++) {
        const wy = strength * Math.exp(-((y + 0.5 - cy) ** 2) * inv);
        for (let x = xa; x < xb; x++) {
          const wgt = wy * wx[x - xa]!, p = 3 * (y * W + x);
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
function pickColour(rng: Rng, img: Float32Array, W: number, p: Placed, earlier: { bbox: number[]; c: Rgb }[]): Rgb {
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
  const others = earlier.filter((e) => e.bbox[0]! < bx + bw && bx < e.bbox[0]! + e.bbox[2]! && e.bbox[1]! < by + bh && by < e.bbox[1]! + e.bbox[3]!).map((e) => e.c);
  let best: Rgb = [0, 0, 0], bestScore = -1;
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
function paintObject(rng: Rng, img: Float32Array, W: number, p: Placed, c: Rgb): void {
  const [bx, by, bw, bh] = p.bbox;
  const texture = rng.int(TEXTURES);
  // Second texture colour: a darker or lighter shade, so stripes and checks read as one object.
  const c2: Rgb = rng.next() < 0.5
    ? (c.map((v) => v * rng.uniform(0.45, 0.7)) as Rgb)
    : (c.map((v) => v + (255 - v) * rng.uniform(0.3, 0.55)) as Rgb);
  const ta = rng.uniform(0, Math.PI), tc = Math.cos(ta), ts = Math.sin(ta);
  const period = rng.uniform(4, 14), duty = rng.uniform(0.35, 0.65), cell = rng.uniform(3, 11);
  const noise = texture === 3 ? valueNoise(rng, bw, bh, rng.uniform(2, 6)) : null;
  // Shading: a linear brightness ramp across the object, as if lit from one side.
  const sa = rng.uniform(0, 2 * Math.PI), shade = rng.uniform(0, 0.35) / Math.max(bw, bh);
  const sc = Math.cos(sa) * shade, ss = Math.sin(sa) * shade, mx = bx + bw / 2, my = by + bh / 2;
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
        const u = Math.floor((x * tc + y * ts) / cell), v = Math.floor((-x * ts + y * tc) / cell);
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
            const yy = y + dy, xx = x + dx;
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
function finish(rng: Rng, img: Float32Array, W: number, H: number): Uint8Array {
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
    const r = img[q]! + ((z & 255) - 127.5) * amp, g = img[q + 1]! + (((z >>> 8) & 255) - 127.5) * amp, b = img[q + 2]! + (((z >>> 16) & 255) - 127.5) * amp;
    out[4 * i] = r <= 0 ? 0 : r >= 255 ? 255 : Math.round(r);
    out[4 * i + 1] = g <= 0 ? 0 : g >= 255 ? 255 : Math.round(g);
    out[4 * i + 2] = b <= 0 ? 0 : b >= 255 ? 255 : Math.round(b);
    out[4 * i + 3] = 255;
  }
  return out;
}
