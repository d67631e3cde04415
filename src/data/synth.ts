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
import type { Rgb } from './draw.js';
import { maskBox, placeShape, rasterizeShape, SHAPE_KINDS, type SynthShape } from './synth/shapes.js';
import { finish, paintBackground, paintObject, pickColour } from './synth/paint.js';

// Shape geometry lives in synth/shapes.ts and painting in synth/paint.ts; the geometry is part of this API.
export { edgeCrossing, insideEllipse, rasterizeShape, SHAPE_KINDS, type ShapeKind, type SynthShape } from './synth/shapes.js';

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

/** An object is annotated only if this much of it stays visible... */
export const MIN_VISIBLE_FRACTION = 0.4;
/** ...and at least this many pixels. */
export const MIN_VISIBLE_AREA = 80;

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
  const width = opts.width ?? 256,
    height = opts.height ?? 192,
    seed = opts.seed ?? 0;
  const minObjects = opts.minObjects ?? 2,
    maxObjects = opts.maxObjects ?? 6;
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

const isKept = (visibleArea: number, fullArea: number): boolean => visibleArea >= MIN_VISIBLE_AREA && visibleArea >= MIN_VISIBLE_FRACTION * fullArea;

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
// Placement

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
    let best: { shape: SynthShape; coverage: Uint8Array; fullArea: number; bbox: [number, number, number, number]; drops: number; lost: Int32Array } | null =
      null;
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
