// Node only: training windows for SharpMask's refinement, cut once from the frozen model's maps and
// kept on disk. The trunk and the heads do not change while the refinement learns, so for every
// positive object (an object at its canonical scale in the pyramid) the trunk runs once over the
// whole scaled image, exactly as inference runs it, and the cache keeps what the refinement reads:
// the mask embedding of each of the object's positive windows, and a region of every skip map that
// covers all of those windows with SKIP_CONTEXT cells of context (zeros off the map). A training
// step then costs only the refinement. One file per image: a u32 header length, a JSON header, then
// each entry's halves (embeddings, then the regions level by level).
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { trainableAnnotations } from '../data/coco.js';
import { decodeImage, paddedInput, resizeRgb, type RgbImage } from '../data/image.js';
import { renderTarget, type SampleAnnotation } from '../data/sampler.js';
import { noGrad } from '../graph/autograd.js';
import { f16ToF32, f32ToF16 } from '../graph/half.js';
import { cropWindows, gatherRows, reshape } from '../graph/ops.js';
import type { Rng } from '../graph/random.js';
import { Tensor } from '../graph/tensor.js';
import type { DeepMask } from '../model/deepmask.js';
import { writeFileAtomic } from '../model/files.js';
import { SKIP_CONTEXT } from '../model/refine.js';
import type { DataSet, SetImage } from './datasets.js';
import { canonicalAt, centredCells, learnable } from './feature-bank.js';

const FORMAT = 'deepmask-refine-windows';

/** One object at one pyramid scale: its positive windows' embeddings and the skip maps around them. */
export interface RefineEntry {
  set: number;
  image: number;
  ann: number;
  width: number;
  height: number;
  scale: number;
  /** Positive windows (r, c) on the scale's grid. */
  cells: [number, number][];
  /** The region's top-left window cell and side in cells (it holds every positive window). */
  r0: number;
  c0: number;
  side: number;
  /** Rows and columns of each skip map (stride 16 first), for what lies on the map. */
  maps: [number, number][];
  /** Where the entry's halves start in its file. */
  offset: number;
}

interface Header {
  format: typeof FORMAT;
  key: string;
  set: number;
  id: number;
  embedWidth: number;
  channels: number[];
  entries: Omit<RefineEntry, 'offset' | 'set' | 'image'>[];
}

/** Geometry of the cached windows, from the model. */
export interface RefineGeometry {
  featureSize: number;
  stride: number;
  inputSize: number;
  objectSize: number;
  embedWidth: number;
  /** Channels of each skip map. */
  channels: number[];
}

export function refineGeometry(model: DeepMask): RefineGeometry {
  const refine = model.refine;
  if (!refine) throw new Error('refinement training needs a model with config.refine');
  return {
    featureSize: model.featureSize,
    stride: model.config.stride,
    inputSize: model.config.inputSize,
    objectSize: model.config.objectSize,
    embedWidth: model.heads.embedWidth,
    channels: refine.skips.map((n) => model.trunk.tap!(n).channels),
  };
}

/** Halves per entry: the embeddings, then each level's region. */
function entryHalves(g: RefineGeometry, e: Pick<RefineEntry, 'cells' | 'side'>): { embedding: number; levels: number[] } {
  const levels = g.channels.map((C, i) => ((e.side << i) + 2 * SKIP_CONTEXT) ** 2 * C);
  return { embedding: e.cells.length * g.embedWidth, levels };
}

/**
 * What identifies a cache: the frozen weights (trunk and heads), the skips, the geometry and the
 * scales. A cache made another way is never read.
 */
export async function refineCacheKey(model: DeepMask, scales: readonly number[]): Promise<string> {
  const h = createHash('sha256');
  for (const [name, p] of model.namedParameters()) {
    if (name.startsWith('refine.')) continue;
    h.update(name);
    const d = await p.read();
    h.update(new Uint8Array(d.buffer, d.byteOffset, d.byteLength));
  }
  const c = model.config;
  return JSON.stringify({
    weights: h.digest('hex').slice(0, 16),
    skips: model.refine?.skips,
    norm: c.normalization,
    inputSize: c.inputSize,
    objectSize: c.objectSize,
    scales: scales.map((s) => +s.toFixed(6)),
  });
}

/**
 * The entries of one image: for each scale at which some learnable object is canonical, the trunk
 * over the whole scaled image (framed as inference frames it), the dense heads' embeddings, and the
 * skip regions of each such object.
 */
export async function extractImage(
  model: DeepMask,
  img: RgbImage,
  anns: readonly SampleAnnotation[],
  scales: readonly number[],
): Promise<{ entries: Omit<RefineEntry, 'offset' | 'set' | 'image'>[]; data: Uint16Array[] }> {
  const g = refineGeometry(model),
    refine = model.refine!;
  const { inputSize: S, stride: st, objectSize } = g,
    F = g.featureSize,
    pad = S / 2;
  const entries: Omit<RefineEntry, 'offset' | 'set' | 'image'>[] = [];
  const data: Uint16Array[] = [];
  const objects = anns.filter(learnable);
  model.eval();
  for (const scale of scales) {
    const here = objects.filter((a) => canonicalAt(Math.max(a.bbox[2]!, a.bbox[3]!), scale, objectSize));
    if (!here.length) continue;
    const hs = Math.max(1, Math.round(img.height * scale)),
      ws = Math.max(1, Math.round(img.width * scale));
    const x = Tensor.from(paddedInput(resizeRgb(img, ws, hs), pad, model.config.normalization), [1, hs + 2 * pad, ws + 2 * pad, 3], { rt: model.rt });
    const { features, taps } = noGrad(() => model.trunkTaps(x, refine.skips));
    x.dispose();
    const { embedding, scores } = noGrad(() => model.denseHeads(features));
    scores.dispose();
    if (!taps.includes(features)) features.dispose(); // a skip may be the trunk's output itself
    const [, gh, gw, E] = embedding.shape as [number, number, number, number];
    const flat = reshape(embedding, [gh * gw, E]);
    for (const a of here) {
      const [bx, by, bw, bh] = a.bbox as [number, number, number, number];
      const cells = centredCells((bx + bw / 2) * scale, (by + bh / 2) * scale, st, gh, gw);
      if (!cells.length) continue;
      const r0 = Math.min(...cells.map(([r]) => r)),
        c0 = Math.min(...cells.map(([, c]) => c));
      const side = Math.max(Math.max(...cells.map(([r]) => r)) - r0, Math.max(...cells.map(([, c]) => c)) - c0) + F;
      const parts = noGrad(() => [
        gatherRows(
          flat,
          cells.map(([r, c]) => r * gw + c),
        ),
        ...taps.map((t, i) => cropWindows(t, [{ image: 0, top: (r0 << i) - SKIP_CONTEXT, left: (c0 << i) - SKIP_CONTEXT }], (side << i) + 2 * SKIP_CONTEXT)),
      ]);
      const values = await Promise.all(parts.map((t) => t.read()));
      for (const t of parts) t.dispose();
      const total = values.reduce((n, v) => n + v.length, 0);
      const halves = new Uint16Array(total);
      let at = 0;
      for (const v of values) for (let i = 0; i < v.length; i++) halves[at++] = f32ToF16(v[i]!);
      entries.push({ ann: a.id, width: img.width, height: img.height, scale, cells, r0, c0, side, maps: taps.map((t) => [t.shape[1]!, t.shape[2]!]) });
      data.push(halves);
    }
    flat.dispose();
    embedding.dispose();
    for (const t of taps) t.dispose();
  }
  return { entries, data };
}

/** The cache file of one image of one set. */
const fileOf = (dir: string, set: number, id: number) => join(dir, `${set}-${id}.f16`);

function encodeFile(h: Header, data: readonly Uint16Array[]): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(h));
  const head = 4 + json.length + ((2 - ((4 + json.length) % 2)) % 2); // halves start 2-aligned
  const out = new Uint8Array(head + data.reduce((n, d) => n + d.byteLength, 0));
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 4);
  let p = head;
  for (const d of data) {
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}

/** An image's entries from its cache file, or null when the file was made another way. */
function readHeader(path: string, key: string, g: RefineGeometry, set: number, image: number): RefineEntry[] | null {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(4);
    readSync(fd, len, 0, 4, 0);
    const n = len.readUInt32LE(0);
    const json = Buffer.alloc(n);
    if (readSync(fd, json, 0, n, 4) !== n) throw new Error('it ends inside its header');
    const h = JSON.parse(json.toString('utf8')) as Header;
    if (h.format !== FORMAT || h.key !== key) return null;
    if (h.embedWidth !== g.embedWidth || h.channels.join() !== g.channels.join()) throw new Error('its widths do not match the model');
    let offset = 4 + n + ((2 - ((4 + n) % 2)) % 2);
    return h.entries.map((e) => {
      const entry = { ...e, set, image, offset };
      const halves = entryHalves(g, e);
      offset += 2 * (halves.embedding + halves.levels.reduce((a, b) => a + b, 0));
      return entry;
    });
  } catch (e) {
    throw new Error(`${path}: unreadable refinement cache (${(e as Error).message}); delete it to recompute`);
  } finally {
    closeSync(fd);
  }
}

export interface RefineCache {
  entries: RefineEntry[];
  /** Images that could not be decoded, with the reason. */
  skipped: string[];
}

/**
 * The cache for `images`: each image's entries from its file when present and made the same way,
 * otherwise extracted (and written atomically, so an interrupted extraction resumes where it stopped).
 */
export async function buildRefineCache(
  model: DeepMask,
  sets: readonly DataSet[],
  images: readonly SetImage[],
  o: { dir: string; key: string; scales: readonly number[]; onProgress?: (done: number, total: number, computed: number) => void; shouldStop?: () => boolean },
): Promise<RefineCache> {
  const g = refineGeometry(model);
  mkdirSync(o.dir, { recursive: true });
  const byImage = sets.map((s) => {
    const m = new Map<number, SampleAnnotation[]>();
    for (const a of trainableAnnotations(s.coco)) {
      const list = m.get(a.image_id) ?? [];
      list.push(a as SampleAnnotation);
      m.set(a.image_id, list);
    }
    return m;
  });
  const entries: RefineEntry[] = [];
  const skipped: string[] = [];
  let computed = 0;
  for (let i = 0; i < images.length; i++) {
    if (o.shouldStop?.()) throw new Error('cancelled');
    const im = images[i]!;
    const path = fileOf(o.dir, im.set, im.id);
    let got = existsSync(path) ? readHeader(path, o.key, g, im.set, im.id) : null;
    if (!got) {
      const anns = byImage[im.set]!.get(im.id) ?? [];
      if (!anns.some((a) => learnable(a) && o.scales.some((s) => canonicalAt(Math.max(a.bbox[2]!, a.bbox[3]!), s, g.objectSize)))) {
        got = [];
      } else {
        let img: RgbImage;
        try {
          img = decodeImage(readFileSync(im.file), im.file);
        } catch (e) {
          skipped.push(`${im.file}: ${(e as Error).message}`);
          o.onProgress?.(i + 1, images.length, computed);
          continue;
        }
        if (img.width !== im.width || img.height !== im.height) {
          skipped.push(`${im.file}: the image is ${img.width}x${img.height}, its annotations say ${im.width}x${im.height}`);
          o.onProgress?.(i + 1, images.length, computed);
          continue;
        }
        const { entries: es, data } = await extractImage(model, img, anns, o.scales);
        writeFileAtomic(
          path,
          encodeFile({ format: FORMAT, key: o.key, set: im.set, id: im.id, embedWidth: g.embedWidth, channels: g.channels, entries: es }, data),
        );
        computed++;
        got = readHeader(path, o.key, g, im.set, im.id)!;
      }
    }
    entries.push(...got);
    o.onProgress?.(i + 1, images.length, computed);
  }
  return { entries, skipped };
}

/** The cache files a folder holds (for messages). */
export const cacheFiles = (dir: string): number => (existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.f16')).length : 0);

/** A window to train on: an entry and one of its positive cells. */
export interface RefineWindowRef {
  entry: number;
  cell: number;
}

/** A batch of rendered windows: the refinement's inputs (see DeepMask.refineWindows) and mask targets. */
export interface RefineBatch {
  n: number;
  /** Mask embeddings [n, E]. */
  embedding: Float32Array;
  /** Per level: the skip maps around each window with context [n, s_i + 6, s_i + 6, C_i]. */
  crops: Float32Array[];
  /** Per level: [n, s_i + 6, s_i + 6], 1 on the map; null when every window's context is on it. */
  onMap: (Float32Array | null)[];
  /** Mask targets [n, S, S] of ±1 over the whole window at full resolution. */
  targets: Float32Array;
  /** What each window is: its entry and cell. */
  refs: RefineWindowRef[];
}

const HALF = (() => {
  const t = new Float32Array(65536);
  for (let i = 0; i < 65536; i++) t[i] = f16ToF32(i);
  return t;
})();

/** Samples positive windows of a cache (an object uniformly, then one of its windows) and renders them. */
export class RefineWindows {
  private readonly anns: Map<string, SampleAnnotation>;

  constructor(
    readonly entries: readonly RefineEntry[],
    sets: readonly DataSet[],
    private readonly g: RefineGeometry,
    private readonly dir: string,
    /** Every random choice of the sampler (saved with checkpoints). */
    readonly rng: Rng,
  ) {
    this.anns = new Map(sets.flatMap((s, set) => s.coco.annotations.map((a) => [`${set}:${a.id}`, a as SampleAnnotation] as const)));
    if (!entries.length) throw new Error('no object of the training images is at a canonical scale of the pyramid: nothing to train the refinement on');
  }

  /** `n` random windows. */
  sample(n: number): RefineWindowRef[] {
    return Array.from({ length: n }, () => {
      const entry = this.rng.int(this.entries.length);
      return { entry, cell: this.rng.int(this.entries[entry]!.cells.length) };
    });
  }

  /** One window per entry, the one nearest its object's centre (validation). */
  centred(): RefineWindowRef[] {
    return this.entries.map((e, entry) => {
      const a = this.anns.get(`${e.set}:${e.ann}`)!;
      const [x, y, w, h] = a.bbox as [number, number, number, number];
      const d = (k: number) => Math.hypot(this.g.stride * e.cells[k]![1] - (x + w / 2) * e.scale, this.g.stride * e.cells[k]![0] - (y + h / 2) * e.scale);
      let best = 0;
      for (let k = 1; k < e.cells.length; k++) if (d(k) < d(best)) best = k;
      return { entry, cell: best };
    });
  }

  /** Reads and renders windows: embeddings and skip crops from the cache files, targets from the annotations. */
  render(refs: readonly RefineWindowRef[]): RefineBatch {
    const { g } = this,
      F = g.featureSize,
      E = g.embedWidth,
      S = g.inputSize,
      ctx = SKIP_CONTEXT;
    const n = refs.length;
    const sides = g.channels.map((_, i) => (F << i) + 2 * ctx);
    const embedding = new Float32Array(n * E),
      targets = new Float32Array(n * S * S);
    const crops = g.channels.map((C, i) => new Float32Array(n * sides[i]! ** 2 * C));
    const onMap = g.channels.map((_, i) => new Float32Array(n * sides[i]! ** 2));
    const offMap = g.channels.map(() => false);
    refs.forEach((ref, k) => {
      const e = this.entries[ref.entry]!;
      const [r, c] = e.cells[ref.cell]!;
      const sizes = entryHalves(g, e);
      const buf = this.read(e, sizes.embedding + sizes.levels.reduce((a, b) => a + b, 0));
      for (let j = 0; j < E; j++) embedding[k * E + j] = HALF[buf[ref.cell * E + j]!]!;
      let at = sizes.embedding;
      g.channels.forEach((C, i) => {
        const side = sides[i]!,
          region = (e.side << i) + 2 * ctx;
        const dy = (r - e.r0) << i,
          dx = (c - e.c0) << i; // the window's place in the region
        const [mh, mw] = e.maps[i]!;
        const out = crops[i]!,
          on = onMap[i]!;
        for (let y = 0; y < side; y++) {
          const src = at + ((dy + y) * region + dx) * C,
            dst = (k * side + y) * side * C;
          for (let q = 0; q < side * C; q++) out[dst + q] = HALF[buf[src + q]!]!;
          const my = (r << i) - ctx + y;
          for (let x = 0; x < side; x++) {
            const mx = (c << i) - ctx + x;
            const inside = my >= 0 && mx >= 0 && my < mh && mx < mw;
            on[(k * side + y) * side + x] = inside ? 1 : 0;
            if (!inside) offMap[i] = true;
          }
        }
        at += sizes.levels[i]!;
      });
      const a = this.anns.get(`${e.set}:${e.ann}`)!;
      const sidePx = S / e.scale,
        x0 = (g.stride * c - S / 2) / e.scale,
        y0 = (g.stride * r - S / 2) / e.scale;
      targets.set(renderTarget(a, e.width, e.height, x0, y0, sidePx, S), k * S * S);
    });
    return { n, embedding, crops, onMap: onMap.map((m, i) => (offMap[i] ? m : null)), targets, refs: [...refs] };
  }

  private read(e: RefineEntry, halves: number): Uint16Array {
    const path = fileOf(this.dir, e.set, e.image);
    const fd = openSync(path, 'r');
    try {
      const out = new Uint16Array(halves);
      const bytes = new Uint8Array(out.buffer);
      const got = readSync(fd, bytes, 0, bytes.length, e.offset);
      if (got !== bytes.length) throw new Error(`${path}: the file is shorter than its header says; delete it to recompute`);
      return out;
    } finally {
      closeSync(fd);
    }
  }
}
