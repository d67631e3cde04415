// DeepMask's training windows (the paper §3.2; the official code's DataSampler.lua). The sampler decides every random choice (which object,
// jitter, flip, negative placement) from one seeded generator, so a batch is reproducible and a
// resumed run continues exactly; renderSample() turns a decision into pixels and targets as a pure
// function, in a worker or in a browser page.
import type { Rng } from '../graph/random.js';
import type { DeepMaskConfig } from '../model/presets.js';
import { normalizeRgb, type RgbImage } from './image.js';
import { annToRle, decodeMask, frPoly, merge, type Segmentation } from './rle.js';
import { boxOutsideImage } from './coco.js';

export interface SampleImage {
  id: number;
  width: number;
  height: number;
}

export interface SampleAnnotation {
  id: number;
  image_id: number;
  category_id: number;
  iscrowd: 0 | 1 | boolean;
  bbox: [number, number, number, number] | number[];
  segmentation: Segmentation;
}

export interface SamplerDataset {
  images: SampleImage[];
  annotations: SampleAnnotation[];
}

/**
 * 'paper': positives are objects centred within ±stride px and scaled to objectSize within 2^±1/4,
 * negatives are at least 2·stride px or one octave from every object's canonical window.
 * 'official': the official code's rules for score windows (positives exactly centred at a
 * quarter-octave scale; negatives more than 3·stride px from objects at nearby scales).
 */
export type SamplingRule = 'paper' | 'official';

export interface SampleSpec {
  imageId: number;
  /** Window centre and side in image pixels (the window is square). */
  cx: number;
  cy: number;
  side: number;
  flip: boolean;
  /** +1: an object is centred at the canonical scale; -1: no object is. */
  label: 1 | -1;
  /** The centred object (positives): its mask is the target. */
  annId?: number;
}

export type Geometry = Pick<DeepMaskConfig, 'inputSize' | 'gtSize' | 'objectSize' | 'stride'>;

/** Filters of the official code for objects a mask can be learnt from. */
const MIN_AREA = 100;
const MIN_SIDE = 5;
const SCALE_JITTER = 0.25; // octaves
const NEG_TRIES = 100;

/** Every image that could serve has been excluded (e.g. none could be read): sampling cannot go on. */
export class NothingLeftError extends Error {
  override name = 'NothingLeftError';
}

export class PatchSampler {
  private readonly byCategory: SampleAnnotation[][];
  private readonly imageById = new Map<number, SampleImage>();
  private readonly annsByImage = new Map<number, SampleAnnotation[]>();
  private readonly annById = new Map<number, SampleAnnotation>();
  private readonly excluded = new Set<number>();
  private readonly images: SampleImage[];
  /** Annotations left out because their box lies entirely outside their image (parseCoco warns of them). */
  readonly dropped: number[] = [];

  constructor(
    data: SamplerDataset,
    private readonly geo: Geometry,
    private readonly rng: Rng,
    readonly rule: SamplingRule = 'paper',
  ) {
    for (const im of data.images) {
      this.imageById.set(im.id, im);
      this.annsByImage.set(im.id, []);
    }
    const cats = new Map<number, SampleAnnotation[]>();
    for (const a of data.annotations) {
      // A window centred on such a box shows none of the object: as a positive it would teach an
      // empty mask, and it should not veto negatives either. Dropped whole.
      const im = this.imageById.get(a.image_id);
      if (im && boxOutsideImage(a.bbox as number[], im.width, im.height)) {
        this.dropped.push(a.id);
        continue;
      }
      this.annById.set(a.id, a);
      this.annsByImage.get(a.image_id)?.push(a);
      const [, , w, h] = a.bbox as number[];
      if (crowd(a) || w! < MIN_SIDE || h! < MIN_SIDE || w! * h! < MIN_AREA) continue;
      if (!cats.has(a.category_id)) cats.set(a.category_id, []);
      cats.get(a.category_id)!.push(a);
    }
    this.byCategory = [...cats.keys()].sort((a, b) => a - b).map((k) => cats.get(k)!);
    this.images = data.images;
    if (this.byCategory.length === 0) {
      const why = this.dropped.length ? `; ${this.dropped.length} annotation(s) have a box entirely outside their image` : '';
      throw new Error(`no annotation can serve as a positive (need non-crowd objects of area >= 100 and sides >= 5 px, inside their image${why})`);
    }
  }

  /** Stops sampling from an image (e.g. one that failed to decode). */
  exclude(imageId: number): void {
    this.excluded.add(imageId);
    if (this.images.every((im) => this.excluded.has(im.id))) throw new NothingLeftError(`none of the ${this.images.length} images could be read`);
    // Without this check positive() would draw forever once no object is left.
    if (!this.byCategory.some((list) => list.some((a) => !this.excluded.has(a.image_id)))) {
      throw new NothingLeftError(
        `every image with a usable object (${new Set(this.byCategory.flat().map((a) => a.image_id)).size} of ${this.images.length} images) could not be read`,
      );
    }
  }

  /** The images no longer drawn from, in exclusion order (part of a checkpoint, so resume is exact). */
  excludedIds(): number[] {
    return [...this.excluded];
  }

  annotation(id: number): SampleAnnotation | undefined {
    return this.annById.get(id);
  }

  annotationsOf(imageId: number): SampleAnnotation[] {
    return this.annsByImage.get(imageId) ?? [];
  }

  /**
   * A batch of window decisions: 'joint' has equal numbers of positives and negatives (the paper's
   * joint step), 'mask' only positives, 'score' a positive or a negative each with probability 1/2.
   */
  batch(n: number, kind: 'joint' | 'mask' | 'score'): SampleSpec[] {
    const out: SampleSpec[] = [];
    for (let i = 0; i < n; i++) {
      const positive = kind === 'mask' || (kind === 'joint' ? i < Math.ceil(n / 2) : this.rng.next() < 0.5);
      out.push(positive ? this.positive(kind === 'score') : this.negative());
    }
    return out;
  }

  /** A window on an object picked category-balanced (a category, then one of its objects). */
  positive(exact = false): SampleSpec {
    for (;;) {
      const list = this.byCategory[this.rng.int(this.byCategory.length)]!;
      const a = list[this.rng.int(list.length)]!;
      if (this.excluded.has(a.image_id)) continue;
      const [x, y, w, h] = a.bbox as number[];
      const maxSide = Math.max(w!, h!);
      let side = (this.geo.inputSize * maxSide) / this.geo.objectSize;
      let cx = x! + w! / 2,
        cy = y! + h! / 2;
      if (exact && this.rule === 'official') {
        // Quarter-octave scale so that the object's longest side is in (objectSize, objectSize·2^¼].
        const L = Math.log2(maxSide / this.geo.objectSize);
        side = this.geo.inputSize * 2 ** (Math.ceil(4 * L - 1) / 4);
      } else {
        side *= 2 ** this.rng.uniform(-SCALE_JITTER, SCALE_JITTER);
        const shift = (this.geo.stride * side) / this.geo.inputSize; // ±stride window pixels
        cx += this.rng.uniform(-shift, shift);
        cy += this.rng.uniform(-shift, shift);
      }
      return { imageId: a.image_id, cx, cy, side, flip: this.rng.next() < 0.5, label: 1, annId: a.id };
    }
  }

  /** A window far, in position or scale, from every object's canonical window. */
  negative(): SampleSpec {
    const images = this.images.filter((im) => !this.excluded.has(im.id));
    let spec: SampleSpec | null = null;
    for (let t = 0; t < NEG_TRIES; t++) {
      const im = images[this.rng.int(images.length)]!;
      // Window side S·2^e for e in [-3, 2]: from a quarter of the window to eight times it.
      const e = this.rule === 'official' ? this.rng.int(21) / 4 - 3 : this.rng.uniform(-3, 2);
      const side = this.geo.inputSize * 2 ** -e;
      spec = { imageId: im.id, cx: this.rng.uniform(0, im.width), cy: this.rng.uniform(0, im.height), side, flip: this.rng.next() < 0.5, label: -1 };
      if (this.farFromObjects(spec)) break;
    }
    return spec!;
  }

  /** True when no object is centred in the window near its canonical scale (the negative rule). */
  farFromObjects(s: Pick<SampleSpec, 'imageId' | 'cx' | 'cy' | 'side'>): boolean {
    const { inputSize: S, objectSize, stride } = this.geo;
    const [minShift, octaves] = this.rule === 'official' ? [3 * stride, 2.5] : [2 * stride, 1];
    for (const a of this.annsByImage.get(s.imageId) ?? []) {
      const [x, y, w, h] = a.bbox as number[];
      const canonical = (S * Math.max(w!, h!)) / objectSize;
      if (!(canonical > 0)) continue;
      const dScale = Math.abs(Math.log2(s.side / canonical));
      const dist = (Math.hypot(s.cx - (x! + w! / 2), s.cy - (y! + h! / 2)) * S) / s.side; // in window pixels
      if (dScale < octaves && dist < minShift) return false;
    }
    return true;
  }
}

const crowd = (a: SampleAnnotation): boolean => a.iscrowd === 1 || a.iscrowd === true;

export interface RenderedSample {
  /** Normalised input window [S, S, 3]. */
  input: Float32Array;
  /** Mask target [G, G] of +1 / -1 (positives), or null. */
  target: Float32Array | null;
}

/** A rendered window, or why its image could not be used. */
export type RenderResult = RenderedSample | { error: string; file: string };
/** Turns sampler decisions into windows (worker threads in Node, in-page in a browser). */
export type Renderer = (specs: SampleSpec[], anns: (SampleAnnotation | undefined)[]) => Promise<RenderResult[]>;

/**
 * Pixels and target of one window: the image region is resampled to S×S (area averaging when
 * shrinking, bilinear when enlarging, grey 0.5 outside the image), normalised for the model; the
 * centred object's mask is rasterised directly at the ground-truth resolution (polygons with COCO's
 * rasteriser, RLE masks by area resampling) as ±1.
 */
export function renderSample(
  img: RgbImage,
  spec: SampleSpec,
  ann: SampleAnnotation | undefined,
  geo: Geometry,
  norm: DeepMaskConfig['normalization'],
): RenderedSample {
  const S = geo.inputSize;
  const x0 = spec.cx - spec.side / 2,
    y0 = spec.cy - spec.side / 2;
  const rgb = cropResize(img.data, img.width, img.height, 3, x0, y0, spec.side, S, 0.5, spec.flip);
  const input = normalizeRgb(rgb, norm);
  if (spec.label < 0 || !ann) return { input, target: null };
  return { input, target: renderTarget(ann, img.width, img.height, x0, y0, spec.side, geo.gtSize, spec.flip) };
}

/**
 * The mask of `ann` over the square [x0, x0 + side) x [y0, y0 + side) of its W x H image, as G x G
 * values +1 (object) / -1, optionally mirrored left-right: polygons are mapped into target pixels and
 * rasterised there with COCO's rasteriser (as the official code does), RLE masks area-resampled.
 */
export function renderTarget(
  ann: Pick<SampleAnnotation, 'segmentation'>,
  W: number,
  H: number,
  x0: number,
  y0: number,
  side: number,
  G: number,
  flip = false,
): Float32Array {
  const target = new Float32Array(G * G);
  const seg = ann.segmentation;
  let mask: Uint8Array;
  if (Array.isArray(seg)) {
    const k = G / side;
    const polys = (typeof seg[0] === 'number' ? [seg as unknown as number[]] : (seg as number[][])).map((p) =>
      p.map((v, i) => (i % 2 === 0 ? (flip ? G - (v - x0) * k : (v - x0) * k) : (v - y0) * k)),
    );
    mask = decodeMask(merge(polys.map((p) => frPoly(p, G, G))));
  } else {
    const full = decodeMask(annToRle(seg, H, W));
    const f = new Float32Array(full.length);
    for (let i = 0; i < full.length; i++) f[i] = full[i]!;
    const r = cropResize(f, W, H, 1, x0, y0, side, G, 0, flip);
    mask = new Uint8Array(G * G);
    for (let i = 0; i < mask.length; i++) mask[i] = r[i]! > 0.5 ? 1 : 0;
  }
  for (let i = 0; i < target.length; i++) target[i] = mask[i] ? 1 : -1;
  return target;
}

/**
 * Resamples the square region [x0, x0 + side) x [y0, y0 + side) of an interleaved image with `ch`
 * channels to out x out, reading `fill` outside the image, optionally mirrored left-right.
 */
export function cropResize(
  src: Float32Array,
  W: number,
  H: number,
  ch: number,
  x0: number,
  y0: number,
  side: number,
  out: number,
  fill: number,
  flip: boolean,
): Float32Array {
  const wx = axis(x0, side, out, W),
    wy = axis(y0, side, out, H);
  // Rows first (only the source rows the window touches), then columns.
  const rowLo = wy.lo,
    rowHi = wy.hi;
  const tmp = new Float32Array((rowHi - rowLo + 1) * out * ch);
  for (let r = rowLo; r <= rowHi; r++) {
    const inside = r >= 0 && r < H;
    for (let o = 0; o < out; o++) {
      const ws = wx.w[o]!,
        start = wx.start[o]!;
      const dst = ((r - rowLo) * out + (flip ? out - 1 - o : o)) * ch;
      for (let c = 0; c < ch; c++) {
        let v = 0;
        for (let k = 0; k < ws.length; k++) {
          const x = start + k;
          v += ws[k]! * (inside && x >= 0 && x < W ? src[(r * W + x) * ch + c]! : fill);
        }
        tmp[dst + c] = v;
      }
    }
  }
  const res = new Float32Array(out * out * ch);
  for (let o = 0; o < out; o++) {
    const ws = wy.w[o]!,
      start = wy.start[o]!;
    for (let q = 0; q < out * ch; q++) {
      let v = 0;
      for (let k = 0; k < ws.length; k++) v += ws[k]! * tmp[(start + k - rowLo) * out * ch + q]!;
      res[o * out * ch + q] = v;
    }
  }
  return res;
}

/** Source indices and weights per output pixel along one axis (pixel centres aligned). */
function axis(origin: number, side: number, out: number, size: number): { start: Int32Array; w: Float32Array[]; lo: number; hi: number } {
  const r = side / out;
  const start = new Int32Array(out);
  const w: Float32Array[] = [];
  let lo = Infinity,
    hi = -Infinity;
  for (let o = 0; o < out; o++) {
    let s: number, ws: Float32Array;
    if (r > 1) {
      // Shrinking: average the source interval the output pixel covers.
      const a = origin + o * r,
        b = a + r;
      s = Math.floor(a);
      const e = Math.ceil(b);
      ws = new Float32Array(e - s);
      for (let i = s; i < e; i++) ws[i - s] = (Math.min(b, i + 1) - Math.max(a, i)) / r;
    } else {
      // Enlarging: interpolate between the two nearest source pixel centres (clamped at the image edge).
      const c = Math.min(Math.max(origin + (o + 0.5) * r - 0.5, -1), size);
      s = Math.floor(c);
      const t = c - s;
      ws = Float32Array.of(1 - t, t);
    }
    start[o] = s;
    w.push(ws);
    lo = Math.min(lo, s);
    hi = Math.max(hi, s + ws.length - 1);
  }
  return { start, w, lo, hi };
}
