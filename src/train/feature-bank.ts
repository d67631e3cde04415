// Training windows read from trunk feature maps instead of pixels. With the trunk frozen, a window's
// features are a crop of the feature map of the whole scaled image, so the trunk runs once per image
// and pyramid scale (f16 maps kept on the host) and every training step costs only the heads. The
// windows are exactly those inference scores: stride-16 cells of the same pyramid, each seeing the
// image around it. Positives are the cells within ±stride px of an object's centre at the pyramid
// scale that brings it within 2^±1/4 of the canonical size (the paper's jitter); negatives are at
// least 2·stride px or one octave from every object (the paper's rule).
import { noGrad } from '../graph/autograd.js';
import { f16ToF32, f32ToF16 } from '../graph/half.js';
import type { Rng } from '../graph/random.js';
import { Tensor } from '../graph/tensor.js';
import { flipRgb, paddedInput, resizeRgb, type RgbImage } from '../data/image.js';
import { renderTarget, type SampleAnnotation } from '../data/sampler.js';
import type { DeepMask } from '../model/deepmask.js';

/** One scale's trunk output [rows, cols, channels] as IEEE halves. */
export interface FeatureMap {
  scale: number;
  rows: number;
  cols: number;
  data: Uint16Array;
}

/** An image's (or its mirror image's) feature maps over the pyramid. */
export interface BankImage {
  id: number;
  width: number;
  height: number;
  flip: boolean;
  maps: FeatureMap[];
}

/**
 * The trunk's feature maps of one image at each scale, on the grid inference uses: the scaled image
 * padded by half a window of grey on every side (see propose()).
 */
export async function extractFeatureMaps(model: DeepMask, img: RgbImage, scales: readonly number[], flip = false): Promise<FeatureMap[]> {
  const src = flip ? flipRgb(img) : img;
  const pad = model.config.inputSize / 2;
  const maps: FeatureMap[] = [];
  model.eval();
  for (const scale of scales) {
    const hs = Math.max(1, Math.round(src.height * scale)),
      ws = Math.max(1, Math.round(src.width * scale));
    const x = Tensor.from(paddedInput(resizeRgb(src, ws, hs), pad, model.config.normalization), [1, hs + 2 * pad, ws + 2 * pad, 3], { rt: model.rt });
    const f = noGrad(() => model.features(x));
    x.dispose();
    const [, rows, cols] = f.shape as [number, number, number, number];
    const v = await f.read();
    f.dispose();
    const data = new Uint16Array(v.length);
    for (let i = 0; i < v.length; i++) data[i] = f32ToF16(v[i]!);
    maps.push({ scale, rows, cols, data });
  }
  return maps;
}

/** A window: a cell of one map of one bank image, and for positives the object it is centred on. */
export interface WindowRef {
  image: number;
  map: number;
  r: number;
  c: number;
  ann?: SampleAnnotation;
}

export interface WindowBatch {
  n: number;
  /** Window features [n, F + 2k, F + 2k, C] (k cells of context, 0 unless asked for). */
  features: Float32Array;
  /** [n, F + 2k, F + 2k]: 1 where a cell lies on the map, 0 past its edge. */
  onMap: Float32Array;
  /** Mask targets [n, G, G] of ±1 (zeros for negatives). */
  targets: Float32Array;
  /** +1 / -1. */
  labels: Float32Array;
}

const MIN_AREA = 100; // the official code's filters for objects a mask is learnt from
const MIN_SIDE = 5;
const SCALE_JITTER = 0.25; // octaves

/** Whether masks are learnt from an object: not a crowd, and past the official code's size filters. */
export function learnable(a: SampleAnnotation): boolean {
  const [, , w, h] = a.bbox as number[];
  return !a.iscrowd && w! >= MIN_SIDE && h! >= MIN_SIDE && w! * h! >= MIN_AREA;
}

/** Whether an object whose longest side is `side` px is canonical at pyramid scale `scale`: within 2^±1/4 of `objectSize`. */
export function canonicalAt(side: number, scale: number, objectSize: number): boolean {
  return Math.abs(Math.log2((side * scale) / objectSize)) <= SCALE_JITTER + 1e-9;
}

/**
 * The windows (r, c) of a grid of rows x cols centred within ±stride px of scaled pixel (x, y), per
 * axis: window (r, c) is centred on scaled pixel (stride c, stride r) (the paper's positives).
 */
export function centredCells(x: number, y: number, stride: number, rows: number, cols: number): [number, number][] {
  const out: [number, number][] = [];
  for (let r = Math.max(0, Math.ceil((y - stride) / stride)); r <= Math.min(rows - 1, Math.floor((y + stride) / stride)); r++) {
    for (let c = Math.max(0, Math.ceil((x - stride) / stride)); c <= Math.min(cols - 1, Math.floor((x + stride) / stride)); c++) out.push([r, c]);
  }
  return out;
}
const NEG_TRIES = 1000;
const HALF = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f16ToF32(i);
  return t;
})();

interface Geometry {
  inputSize: number;
  stride: number;
  objectSize: number;
  gtSize: number;
  featureSize: number;
  /**
   * Cells of context rendered around each window's F×F features (for trunk stages trained from a
   * cut trunk's maps, see cutTrunk); zeros past the map's edge, as the whole-image pass pads.
   */
  context?: number;
}

/** Samples positive and negative windows from a bank of feature maps and renders their targets. */
export class FeatureWindows {
  /** Positive windows by object (an object with none at any scale is absent). */
  readonly positives: WindowRef[][] = [];
  private readonly anns: Map<number, SampleAnnotation[]>;

  constructor(
    readonly bank: readonly BankImage[],
    annotations: readonly SampleAnnotation[],
    private readonly geo: Geometry,
    /** Every random choice of the sampler (saved with checkpoints). */
    readonly rng: Rng,
  ) {
    this.anns = new Map();
    for (const a of annotations) {
      const list = this.anns.get(a.image_id) ?? [];
      list.push(a);
      this.anns.set(a.image_id, list);
    }
    bank.forEach((im, image) => {
      for (const a of this.anns.get(im.id) ?? []) {
        if (!learnable(a)) continue;
        const wins = this.centredWindows(im, image, a);
        if (wins.length) this.positives.push(wins);
      }
    });
  }

  /** Object centre in the bank image's (possibly mirrored) pixels and its longest side. */
  private centre(im: BankImage, a: SampleAnnotation): [number, number, number] {
    const [x, y, w, h] = a.bbox as [number, number, number, number];
    const cx = x + w / 2;
    return [im.flip ? im.width - cx : cx, y + h / 2, Math.max(w, h)];
  }

  private centredWindows(im: BankImage, image: number, a: SampleAnnotation): WindowRef[] {
    const { stride: st, objectSize, featureSize: F } = this.geo;
    const [cx, cy, side] = this.centre(im, a);
    const out: WindowRef[] = [];
    im.maps.forEach((m, map) => {
      if (!canonicalAt(side, m.scale, objectSize)) return;
      for (const [r, c] of centredCells(cx * m.scale, cy * m.scale, st, m.rows - F + 1, m.cols - F + 1)) out.push({ image, map, r, c, ann: a });
    });
    return out;
  }

  /** Whether a cell is at least 2·stride px (per axis) or an octave away from every object of its image. */
  isNegative(im: BankImage, m: FeatureMap, r: number, c: number): boolean {
    const st = this.geo.stride;
    for (const a of this.anns.get(im.id) ?? []) {
      const [cx, cy, side] = this.centre(im, a);
      if (!(side > 0) || Math.abs(Math.log2((side * m.scale) / this.geo.objectSize)) >= 1) continue;
      if (Math.max(Math.abs(st * c - cx * m.scale), Math.abs(st * r - cy * m.scale)) < 2 * st) return false;
    }
    return true;
  }

  /** A random positive: a uniformly chosen object, then one of its windows. */
  positive(): WindowRef {
    const wins = this.positives[this.rng.int(this.positives.length)]!;
    return wins[this.rng.int(wins.length)]!;
  }

  /** A random negative: image, scale and cell uniformly, rejected while near an object. */
  negative(): WindowRef {
    const F = this.geo.featureSize;
    let ref: WindowRef | null = null;
    for (let t = 0; t < NEG_TRIES; t++) {
      const image = this.rng.int(this.bank.length);
      const im = this.bank[image]!;
      const map = this.rng.int(im.maps.length);
      const m = im.maps[map]!;
      if (m.rows < F || m.cols < F) continue;
      ref = { image, map, r: this.rng.int(m.rows - F + 1), c: this.rng.int(m.cols - F + 1) };
      if (this.isNegative(im, m, ref.r, ref.c)) return ref;
    }
    if (!ref) throw new Error('no image of the training set has a window at any scale');
    return ref;
  }

  /** `n` windows, positives first (a fraction `positiveFraction` of them). */
  sample(n: number, positiveFraction = 0.5): WindowRef[] {
    const p = Math.round(n * positiveFraction);
    return Array.from({ length: n }, (_, i) => (i < p ? this.positive() : this.negative()));
  }

  /** Features, targets and labels of windows (targets rendered at gtSize from the annotations). */
  render(refs: readonly WindowRef[]): WindowBatch {
    const { featureSize: F, gtSize: G, inputSize: S, stride: st } = this.geo;
    const ctx = this.geo.context ?? 0,
      side = F + 2 * ctx;
    const C = this.bank[0]!.maps[0]!.data.length / (this.bank[0]!.maps[0]!.rows * this.bank[0]!.maps[0]!.cols);
    const n = refs.length;
    const features = new Float32Array(n * side * side * C),
      onMap = new Float32Array(n * side * side),
      targets = new Float32Array(n * G * G),
      labels = new Float32Array(n);
    refs.forEach((w, i) => {
      const im = this.bank[w.image]!,
        m = im.maps[w.map]!;
      // The map's cells in [c0, c1) of each row; the rest of the window stays zero.
      const c0 = Math.max(0, w.c - ctx),
        c1 = Math.min(m.cols, w.c + F + ctx);
      for (let y = 0; y < side; y++) {
        const r = w.r - ctx + y;
        if (r < 0 || r >= m.rows) continue;
        const src = (r * m.cols + c0) * C,
          dst = ((i * side + y) * side + c0 - (w.c - ctx)) * C;
        for (let k = 0; k < (c1 - c0) * C; k++) features[dst + k] = HALF[m.data[src + k]!]!;
        onMap.fill(1, (i * side + y) * side + c0 - (w.c - ctx), (i * side + y) * side + c1 - (w.c - ctx));
      }
      labels[i] = w.ann ? 1 : -1;
      if (w.ann) {
        // The window in the original (unmirrored) image's pixels; a mirrored bank image mirrors the target.
        const side = S / m.scale,
          y0 = (st * w.r - S / 2) / m.scale;
        const x0f = (st * w.c - S / 2) / m.scale;
        const x0 = im.flip ? im.width - x0f - side : x0f;
        targets.set(renderTarget(w.ann, im.width, im.height, x0, y0, side, G, im.flip), i * G * G);
      }
    });
    return { n, features, onMap, targets, labels };
  }
}
