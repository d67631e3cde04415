// Full-scene inference (the paper §3.3; the official code's InferDeepMask.lua): an image pyramid, the trunk once over each whole scaled image,
// the heads in dense form (objectness at every window on the stride-16 grid), the global top-N
// windows across scales, masks only for those N (one matrix product for all scales from their embedding
// maps), and the masks resampled, thresholded and pasted into image coordinates on the GPU.
import { noGrad } from '../graph/autograd.js';
import { concatRows, gatherRows, meanSigmoidAbove, pasteMasks, resampleImage, reshape, type PasteWindow } from '../graph/ops.js';
import { fits, settled, Tensor } from '../graph/tensor.js';
import type { DenseModel } from '../model/deepmask.js';
import type { InferenceDefaults } from '../model/presets.js';
import { axisWeights, paddedInput, resizeRgb } from '../data/image.js';
import { imageFromInput, type ImageInput } from '../data/image-input.js';
import { area, contains, toBbox, type RLE } from '../data/rle.js';
import { rleToPolygons, type PolygonOptions } from '../data/polygon.js';
import { checkAbort } from './abort.js';
import { survivesNms } from './results.js';

export interface InferOptions {
  /** Proposals to keep per image (global top-N by objectness over all scales). */
  proposals?: number;
  /** Scale factors of the pyramid (default: defaultScales(model)). */
  scales?: number[];
  /** Mask probability threshold (0.2 for COCO in the paper). */
  threshold?: number;
  /** Largest side of the largest scaled image; bigger images are downscaled first (with a notice). */
  maxScaledSide?: number;
  /** Wait for the GPU at each stage boundary so `timings` are per stage. */
  timeStages?: boolean;
  /** Also give each proposal its mask as COCO polygons (`true`: at most 64 vertices; see rleToPolygons). */
  polygons?: boolean | PolygonOptions;
  /** Rank by objectness x mask confidence^power among the best `pool` windows (default: the model's config.inference.rerank); false: objectness alone. */
  rerank?: Rerank | false;
  /**
   * Drop a proposal whose mask IoU with a better one exceeds this, in (0, 1] (default: the model's
   * config.inference.nms; 1 keeps every one): the best `proposals` survivors of a ten times longer
   * ranking (at most 2000, or the rerank pool). Chosen on the coarse masks; a refining model then
   * refines only the survivors.
   */
  nms?: number;
}

/** See InferenceDefaults.rerank. */
export type Rerank = NonNullable<InferenceDefaults['rerank']>;

export interface Proposal {
  /** What proposals are ranked by: the objectness probability, times confidence^power when re-ranked. */
  score: number;
  /** Objectness probability of the window. */
  objectness: number;
  /** Mean probability of the pixels the mask claims (those at or above the threshold); set when re-ranked. */
  confidence?: number;
  /** Mask as COCO RLE over the image. */
  rle: RLE;
  /** Box of the mask [x, y, w, h] (COCO toBbox; empty masks give zeros). */
  bbox: [number, number, number, number];
  area: number;
  /** Pyramid scale, and the window in image pixels [x, y, side] its mask covers. */
  scale: number;
  window: [number, number, number];
  /** Window position on that scale's grid. */
  cell: [number, number];
  /** The mask as COCO polygons [[x1, y1, x2, y2, ...], ...] (holes filled), when asked for. */
  polygons?: number[][];
}

export interface Timings {
  pyramid: number;
  trunk: number;
  heads: number;
  topN: number;
  masks: number;
  /** Refinement of the kept windows' masks (refining models). */
  refine: number;
  paste: number;
  rle: number;
  total: number;
}

export interface InferResult {
  proposals: Proposal[];
  timings: Timings;
  /** Set when the image had to be downscaled to fit the device. */
  notice?: string;
  /** Windows scored over all scales. */
  windows: number;
}

/**
 * The model's own pyramid when its config names one (config.inference.scales); otherwise the paper's
 * scales 2^-2 ... 2^1 in steps of 2^(1/2) for a 224 window whose canonical object is 128 px, shifted
 * for other presets so that the same object sizes (64 to 512 px) are covered.
 */
export function defaultScales(model: Pick<DenseModel, 'config'>): number[] {
  const own = model.config.inference?.scales;
  if (own) return scalesFromRange(...own);
  const shift = Math.log2(model.config.objectSize / 128);
  return scalesFromRange(-2 + shift, 1 + shift, 0.5);
}

/** Settings a model's config chooses for inference, with the paper's where it chooses none. */
export function inferenceDefaults(model: Pick<DenseModel, 'config'>): {
  scales: number[];
  threshold: number;
  proposals: number;
  nms: number;
  rerank: Rerank | null;
} {
  const i = model.config.inference ?? {};
  return { scales: defaultScales(model), threshold: i.threshold ?? 0.2, proposals: i.proposals ?? 100, nms: i.nms ?? 1, rerank: i.rerank ?? null };
}

/** 2^e for e from min to max (inclusive) in steps of `step`, in log2 units. */
export function scalesFromRange(min: number, max: number, step: number): number[] {
  if (!(step > 0) || max < min) throw new Error(`invalid scale range ${min}:${max}:${step}`);
  const out: number[] = [];
  for (let e = min; e <= max + 1e-9; e += step) out.push(2 ** e);
  return out;
}

const logit = (p: number) => Math.log(p / (1 - p));
const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

interface Candidate {
  score: number; // logit
  scale: number; // index into scales
  r: number;
  c: number;
}

/** Where a long call is: events arrive in order, per scale for the pyramid stages. */
export interface InferProgress {
  /** 'compile': a runtime's first inference, which compiles the GPU kernels as it reaches them (done 0 of 1, before any other stage). */
  stage: 'compile' | 'trunk' | 'heads' | 'scores' | 'masks' | 'paste' | 'rle';
  /** The pyramid scale (trunk and heads). */
  scale?: number;
  done: number;
  total: number;
}

export interface EncodeOptions {
  /** Scale factors of the pyramid (default: defaultScales(model)). */
  scales?: number[];
  /** false: a refining model gives its coarse masks (no skip maps, no refinement: faster, blobbier). */
  refine?: boolean;
  /** Largest side of the largest scaled image; bigger images are downscaled first (with a notice). */
  maxScaledSide?: number;
  /** Wait for the GPU at each stage boundary so `timings` are per stage. */
  timeStages?: boolean;
  onProgress?: (e: InferProgress) => void;
  /** Stops the work between stages (the promise rejects with an AbortError, GPU memory is freed). */
  signal?: AbortSignal;
}

export interface PointOptions {
  /** Masks to return, best first (default 3). */
  count?: number;
  /** Windows whose centre is within this many grid cells of the point, at each scale (default 1). */
  radius?: number;
  threshold?: number;
  /** Order the candidates by objectness x confidence^power (default: the model's config.inference.rerank); false: objectness alone. */
  rerank?: Rerank | false;
  /** Also give each mask as COCO polygons (`true`: at most 64 vertices; see rleToPolygons). */
  polygons?: boolean | PolygonOptions;
  /**
   * Points [x, y] the mask should leave out (a negative click): among the candidates, masks that
   * cover fewer of them come first (after covering the point itself), and more candidates are weighed.
   */
  negative?: [number, number][];
  /**
   * A box [x, y, w, h] drawn around the object. DeepMask's windows are boxes (an object centred in
   * its window, its longer side the model's objectSize), so the candidates become the windows
   * nearest the box in position and scale instead of those near the point, nearest first; the point
   * and the negative points then choose among them. Pass the box's centre when there is no point.
   */
  box?: [number, number, number, number];
  signal?: AbortSignal;
}

interface ScaleMap {
  /** Embedding [1, rows, cols, E] on the GPU. */
  embedding: Tensor;
  /** A refining model's skip maps (Refinement.skipMaps) on the GPU. */
  skips?: Tensor[];
  rows: number;
  cols: number;
  scale: number;
  /** Objectness logits, row-major [rows * cols]. */
  scores: Float32Array;
}

/**
 * An image encoded once: the pyramid, the trunk and the dense heads have run, and every window's
 * embedding stays on the GPU with its objectness read back. Queries then cost only the masks they
 * return: `everything()` (the global top-N, as propose()) and `at()` (a click). dispose() frees it.
 */
export class ImageEncoding {
  /** Windows scored over all scales. */
  readonly windows: number;
  private disposed = false;

  constructor(
    private readonly model: DenseModel,
    private readonly maps: ScaleMap[],
    /** The caller's image size. */
    readonly width: number,
    readonly height: number,
    /** Pyramid scales, relative to the analysed image. */
    readonly scales: number[],
    /** Analysed pixels -> the caller's pixels (1 unless the image was downscaled to fit). */
    private readonly f: number,
    readonly timings: Timings,
    readonly notice: string | undefined,
  ) {
    this.windows = maps.reduce((n, m) => n + m.rows * m.cols, 0);
  }

  /** The global top-N windows over all scales by objectness, their masks pasted into the image (as propose()). */
  async everything(
    o: {
      proposals?: number;
      threshold?: number;
      rerank?: Rerank | false;
      nms?: number;
      timeStages?: boolean;
      polygons?: boolean | PolygonOptions;
      onProgress?: (e: InferProgress) => void;
      signal?: AbortSignal;
    } = {},
  ): Promise<InferResult> {
    this.check();
    checkQuery(o);
    const defaults = inferenceDefaults(this.model);
    const n = o.proposals ?? defaults.proposals;
    const rerank = o.rerank === undefined ? defaults.rerank : o.rerank || null; // false: objectness alone
    const t = { ...this.timings };
    const t0 = performance.now();
    const cands: Candidate[] = [];
    this.maps.forEach((m, k) => {
      for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.cols; c++) cands.push({ score: m.scores[r * m.cols + c]!, scale: k, r, c });
    });
    cands.sort(byRank);
    const nmsAt = o.nms ?? defaults.nms,
      suppress = nmsAt < 1;
    const pool = Math.max(n, rerank ? rerank.pool : suppress ? Math.min(10 * n, 2000) : n);
    const top = cands.slice(0, pool);
    t.topN += performance.now() - t0;
    const threshold = o.threshold ?? defaults.threshold;
    let proposals: Proposal[];
    if (!suppress) proposals = await this.materialize(top, threshold, t, { ...o, keep: n, power: rerank?.power });
    else {
      // The survivors are chosen on the coarse masks of the whole ranked pool (the official order:
      // score, then refine the kept windows), so refinement costs only what is returned.
      // Greedy NMS keeps a prefix's survivors, so the pool is pasted a chunk at a time, until n survive.
      const origin = new Map<Proposal, Candidate>();
      const kept: Proposal[] = [];
      let seen = 0;
      const enough = (ps: Proposal[]): boolean => {
        const t1 = performance.now();
        for (; seen < ps.length && kept.length < n; seen++) if (survivesNms(ps[seen]!, kept, nmsAt)) kept.push(ps[seen]!);
        t.topN += performance.now() - t1;
        return kept.length >= n;
      };
      await this.materialize(top, threshold, t, { ...o, keep: pool, power: rerank?.power, coarse: true, origin, chunk: Math.max(2 * n, 64), enough });
      if (!this.refining) proposals = kept;
      else {
        const refined = await this.materialize(
          kept.map((p) => origin.get(p)!),
          threshold,
          t,
          { ...o, keep: kept.length },
        );
        // The ranking stays the coarse one (score and confidence as chosen); the masks are refined.
        proposals = refined.map((p, i) => ({ ...p, score: kept[i]!.score, ...(kept[i]!.confidence !== undefined ? { confidence: kept[i]!.confidence } : {}) }));
      }
    }
    addPolygons(proposals, o.polygons);
    t.total = this.timings.total + (performance.now() - t0); // encoding included
    return { proposals, timings: t, windows: this.windows, ...(this.notice ? { notice: this.notice } : {}) };
  }

  /**
   * Masks for a click at (x, y) in the caller's pixels: the windows at every scale whose centre lies
   * within `radius` cells of the point (so the point is near the middle of their mask), best
   * objectness first, and among the best few those whose mask covers the clicked pixel first (the
   * user clicked on the object), then those that cover fewer `negative` points. With a `box`, the
   * windows nearest the box instead (see PointOptions.box).
   */
  async at(x: number, y: number, o: PointOptions = {}): Promise<Proposal[]> {
    this.check();
    checkQuery(o);
    if (!(x >= 0 && x < this.width && y >= 0 && y < this.height)) throw new Error(`point (${x}, ${y}) is outside the ${this.width}x${this.height} image`);
    const negative = this.checkNegative(o.negative);
    const box = o.box === undefined ? null : this.checkBox(o.box);
    const { stride, objectSize } = this.model.config;
    const radius = o.radius ?? 1;
    // Windows within `radius` cells of (x, y) at every scale; window (r, c) is centred on analysed
    // pixel (stride * c, stride * r) / scale, i.e. on the caller's (stride * c, stride * r) / s.
    const near = (x: number, y: number, take: (c: Candidate, s: number) => void) =>
      this.maps.forEach((m, k) => {
        const s = this.scales[k]! / this.f;
        const cx = (x * s) / stride,
          cy = (y * s) / stride;
        for (let r = Math.max(0, Math.ceil(cy - radius)); r <= Math.min(m.rows - 1, Math.floor(cy + radius)); r++) {
          for (let c = Math.max(0, Math.ceil(cx - radius)); c <= Math.min(m.cols - 1, Math.floor(cx + radius)); c++)
            take({ score: m.scores[r * m.cols + c]!, scale: k, r, c }, s);
        }
      });
    const cands: Candidate[] = [];
    if (box) {
      // Distance of a window's object box (centred on the window, side objectSize / s) to the drawn
      // box, squared up as DeepMask frames objects: centre offset in box sides plus the size ratio in octaves.
      const [bx, by, bw, bh] = box,
        side = Math.max(bw, bh),
        bcx = bx + bw / 2,
        bcy = by + bh / 2;
      const dist = new Map<Candidate, number>();
      near(bcx, bcy, (c, s) => {
        dist.set(c, Math.hypot((stride * c.c) / s - bcx, (stride * c.r) / s - bcy) / side + Math.abs(Math.log2(objectSize / s / side)));
        cands.push(c);
      });
      cands.sort((a, b) => dist.get(a)! - dist.get(b)! || byRank(a, b));
    } else {
      near(x, y, (c) => cands.push(c));
      cands.sort(byRank);
    }
    const count = o.count ?? 3;
    const t: Timings = { pyramid: 0, trunk: 0, heads: 0, topN: 0, masks: 0, refine: 0, paste: 0, rle: 0, total: 0 };
    const defaults = inferenceDefaults(this.model);
    // A box orders the candidates by nearness: re-ranking by confidence would undo that.
    const power = box ? undefined : o.rerank === undefined ? defaults.rerank?.power : o.rerank ? o.rerank.power : undefined;
    const threshold = o.threshold ?? defaults.threshold;
    // The choice is made on the coarse masks; a refining model then refines only the masks it returns.
    // A negative point says the best masks were wrong: more candidates are weighed.
    const pool = cands.slice(0, Math.max(8, 4 * count) * (negative.length ? 4 : 1));
    const masks = await this.materialize(pool, threshold, t, { ...o, power, coarse: true });
    const pixel = (x: number, px: number) => Math.min(px - 1, Math.floor(x));
    const covers = (p: Proposal, [x, y]: [number, number]) => contains(p.rle, pixel(x, this.width), pixel(y, this.height));
    // Covering the point first, then leaving out the negative points; ties keep the candidates' order.
    const misses = (p: Proposal) => (covers(p, [x, y]) ? 0 : negative.length + 1) + negative.filter((n) => covers(p, n)).length;
    const order = (ps: Proposal[]) =>
      ps
        .map((p, i) => ({ p, i, m: misses(p) }))
        .sort((a, b) => a.m - b.m || a.i - b.i)
        .map((e) => e.p);
    // A refined mask can reach a negative point its coarse mask left out: a few more are refined and ordered again.
    const chosen = order(masks).slice(0, negative.length && this.refining ? count + 3 : count);
    if (!this.refining) return addPolygons(chosen, o.polygons);
    const candidate = (p: Proposal) => pool.find((c) => c.r === p.cell[0] && c.c === p.cell[1] && this.scales[c.scale]! / this.f === p.scale)!;
    const refined = (await this.materialize(chosen.map(candidate), threshold, t, { signal: o.signal })).map((p, i) => ({
      ...p,
      score: chosen[i]!.score,
      ...(chosen[i]!.confidence !== undefined ? { confidence: chosen[i]!.confidence } : {}),
    }));
    return addPolygons((negative.length ? order(refined) : refined).slice(0, count), o.polygons);
  }

  /** at()'s negative points, checked: pairs of numbers inside the image. */
  private checkNegative(points: PointOptions['negative']): [number, number][] {
    if (points === undefined) return [];
    const ok = (p: unknown) =>
      Array.isArray(p) && p.length === 2 && p.every((v) => typeof v === 'number') && p[0] >= 0 && p[0] < this.width && p[1] >= 0 && p[1] < this.height;
    if (!Array.isArray(points) || !points.every(ok))
      throw new Error(`negative must be a list of points [x, y] inside the ${this.width}x${this.height} image, got ${JSON.stringify(points)}`);
    return points;
  }

  /** at()'s box, checked: [x, y, w, h] with a positive size, overlapping the image. */
  private checkBox(box: unknown): [number, number, number, number] {
    const b = box as number[];
    if (!(
      Array.isArray(b) &&
      b.length === 4 &&
      b.every((v) => typeof v === 'number' && Number.isFinite(v)) &&
      b[2]! > 0 &&
      b[3]! > 0 &&
      b[0]! < this.width &&
      b[1]! < this.height &&
      b[0]! + b[2]! > 0 &&
      b[1]! + b[3]! > 0
    )) {
      throw new Error(`box must be [x, y, w, h] with w, h > 0, overlapping the ${this.width}x${this.height} image, got ${JSON.stringify(box)}`);
    }
    return b as [number, number, number, number];
  }

  /** Whether this encoding refines its masks (a refining model encoded with its skip maps). */
  get refining(): boolean {
    return !!this.model.refine && !!this.model.refineMasks && this.maps.length > 0 && this.maps.every((m) => m.skips);
  }

  /** Frees the embeddings on the GPU. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const m of this.maps) {
      m.embedding.dispose();
      for (const t of m.skips ?? []) t.dispose();
    }
  }

  private check(): void {
    if (this.disposed) throw new Error('this image encoding was disposed');
  }

  /**
   * The mask embeddings [top.length, E] of the chosen windows, row i for top[i]: each scale's rows
   * gathered, stacked, and put in rank order, so that one head product serves every scale (a
   * product per scale cost a click up to six of 2-5 rows).
   */
  private embeddingRows(top: Candidate[]): Tensor {
    const perScale = this.maps.map(() => [] as number[]);
    top.forEach((cand, i) => perScale[cand.scale]!.push(i));
    return noGrad(() => {
      const parts: Tensor[] = [],
        order: number[] = [];
      perScale.forEach((idx, k) => {
        if (!idx.length) return;
        const map = this.maps[k]!;
        const [, gh, gw, E] = map.embedding.shape as [number, number, number, number];
        parts.push(
          gatherRows(
            reshape(map.embedding, [gh * gw, E]),
            idx.map((i) => top[i]!.r * map.cols + top[i]!.c),
          ),
        );
        order.push(...idx);
      });
      const chosen = parts.length === 1 ? parts[0]! : concatRows(parts);
      if (order.every((i, row) => i === row)) return chosen;
      const rowOf = new Array<number>(top.length);
      order.forEach((i, row) => (rowOf[i] = row));
      return gatherRows(chosen, rowOf);
    });
  }

  /** Coarse mask logits [n, m*m] from embedding rows [n, E] (the mask head). */
  private coarseMasks(rows: Tensor): Tensor {
    const m = this.model.config.maskSize,
      n = rows.shape[0]!;
    return noGrad(() => reshape(this.model.masksAt(reshape(rows, [1, 1, n, rows.shape[1]!]), [...Array(n).keys()]), [n, m * m]));
  }

  /** Refined mask logits [n, S*S] of windows `top` from their embedding rows (the refinement, with the skip maps cut at each window). */
  private refinedMasks(rows: Tensor, top: Candidate[]): Tensor {
    const S = this.model.config.inputSize,
      n = top.length;
    const refine = this.model.refine!;
    return noGrad(() =>
      reshape(
        this.model.refineMasks!(
          rows,
          refine.cropSkips(
            this.maps.map((m) => m.skips!),
            top.map((c) => ({ image: c.scale, r: c.r, c: c.c })),
          ),
        ),
        [n, S * S],
      ),
    );
  }

  /**
   * Masks for the chosen windows, pasted on the GPU, as RLE. With `power`, the windows are first
   * re-ranked by objectness x confidence^power (the coarse masks' confidence) and the best `keep` of
   * them kept. A refining model then refines only the windows kept (the official code's order), a
   * chunk at a time so that full-resolution masks of many windows never share one binding.
   */
  private async materialize(
    top: Candidate[],
    threshold: number,
    t: Timings,
    o: {
      keep?: number;
      power?: number;
      coarse?: boolean;
      /** Filled with each proposal's window. */
      origin?: Map<Proposal, Candidate>;
      /** Masks pasted at once (default: all, or REFINE_CHUNK when refining). */
      chunk?: number;
      /** Asked after each chunk with the proposals so far: true stops (the rest are not pasted). */
      enough?: (proposals: Proposal[]) => boolean;
      timeStages?: boolean;
      onProgress?: (e: InferProgress) => void;
      signal?: AbortSignal;
    },
  ): Promise<Proposal[]> {
    const rt = this.model.rt;
    const { inputSize: S, stride } = this.model.config;
    const refining = this.refining && !o.coarse;
    const stage = async (key: keyof Timings, t0: number) => {
      if (o.timeStages) await settled(rt);
      t[key] += performance.now() - t0;
    };
    checkAbort(o.signal);
    let t0 = performance.now();
    let rows = top.length ? this.embeddingRows(top) : null;
    let coarse: Tensor | null = null;
    // Per kept window, when re-ranked: its ranking score and confidence.
    let ranked: { i: number; score: number; confidence: number }[] | null = null;
    try {
      if (rows && o.power !== undefined) {
        // Only the confidences come back (a float per window); the kept rows stay on the GPU.
        coarse = this.coarseMasks(rows);
        const conf = meanSigmoidAbove(coarse, logit(threshold));
        const c = await conf.read();
        conf.dispose();
        ranked = top.map((cand, i) => ({ i, score: sigmoid(cand.score) * c[i]! ** o.power!, confidence: c[i]! }));
        ranked.sort((a, b) => b.score - a.score || a.i - b.i);
        ranked = ranked.slice(0, o.keep ?? top.length);
        if (ranked.some((e, j) => e.i !== j) || ranked.length < top.length) {
          const idx = ranked.map((e) => e.i);
          const keptRows = noGrad(() => gatherRows(rows!, idx));
          rows.dispose();
          rows = keptRows;
          if (!refining) {
            const keptCoarse = noGrad(() => gatherRows(coarse!, idx));
            coarse.dispose();
            coarse = keptCoarse;
          }
        }
        top = ranked.map((e) => top[e.i]!);
      }
      if (refining) {
        coarse?.dispose();
        coarse = null;
      } else if (rows && !coarse) coarse = this.coarseMasks(rows);
      await stage('masks', t0);
      o.onProgress?.({ stage: 'masks', done: 1, total: 1 });
      checkAbort(o.signal);

      const H = this.height,
        W = this.width;
      const scales = this.scales.map((s) => s / this.f);
      const chunk = o.chunk ?? (refining ? REFINE_CHUNK : Math.max(1, top.length));
      const proposals: Proposal[] = [];
      for (let i0 = 0; i0 < top.length; i0 += chunk) {
        const part = top.slice(i0, i0 + chunk);
        t0 = performance.now();
        // The windows in the order of the logits' rows: a refinement takes them scale by scale, so
        // that each scale's windows are cut from its skip maps in one piece, with no reordering copy.
        const order = [...part.keys()];
        if (refining) order.sort((a, b) => part[a]!.scale - part[b]!.scale || a - b);
        let logits: Tensor;
        if (refining) {
          const partRows = noGrad(() =>
            gatherRows(
              rows!,
              order.map((j) => i0 + j),
            ),
          );
          logits = this.refinedMasks(
            partRows,
            order.map((j) => part[j]!),
          );
          partRows.dispose();
          await stage('refine', t0);
          t0 = performance.now();
        } else
          logits =
            part.length === top.length
              ? coarse!
              : noGrad(() =>
                  gatherRows(
                    coarse!,
                    order.map((j) => i0 + j),
                  ),
                );
        const wins = part.map((cand) => windowOf(cand, scales[cand.scale]!, S, stride));
        const runs: RLE[] = new Array(part.length);
        try {
          const pasted = await pasteMasks(
            logits,
            order.map((j) => wins[j]!),
            { width: W, height: H },
            logit(threshold),
          );
          order.forEach((j, k) => (runs[j] = pasted[k]!));
        } finally {
          if (logits !== coarse) logits.dispose();
        }
        t.paste += performance.now() - t0;
        checkAbort(o.signal);

        t0 = performance.now();
        part.forEach((cand, j) => {
          const rle = runs[j]!,
            win = wins[j]!;
          const [bx, by, bw, bh] = toBbox(rle);
          const objectness = sigmoid(cand.score);
          const r = ranked?.[i0 + j];
          const p: Proposal = {
            ...(r ? { score: r.score, confidence: r.confidence } : { score: objectness }),
            objectness,
            rle,
            bbox: [bx, by, bw, bh],
            area: area(rle),
            scale: scales[cand.scale]!,
            window: [win.x, win.y, win.side],
            cell: [cand.r, cand.c],
          };
          proposals.push(p);
          o.origin?.set(p, cand);
        });
        t.rle += performance.now() - t0;
        if (o.enough?.(proposals)) break;
      }
      o.onProgress?.({ stage: 'paste', done: 1, total: 1 });
      o.onProgress?.({ stage: 'rle', done: 1, total: 1 });
      return proposals;
    } finally {
      rows?.dispose();
      coarse?.dispose();
    }
  }
}

/** Windows refined (and pasted) at once: 128 masks of 160x160 logits take 13 MB. */
const REFINE_CHUNK = 128;

/** A window's square in the caller's pixels: cell (r, c) of the grid at `scale` (analysed -> caller pixels folded in). */
function windowOf(cand: Candidate, scale: number, S: number, stride: number): PasteWindow {
  return { x: (stride * cand.c - S / 2) / scale, y: (stride * cand.r - S / 2) / scale, side: S / scale };
}

/** The pyramid scales encode() takes (those of `deepmask infer --scales`). */
const MIN_SCALE = 2 ** -8,
  MAX_SCALE = 2 ** 8;

/**
 * Checks query options at the door, naming the option and the value: a NaN threshold or a count of
 * -1 would otherwise pass silently (as an empty mask, or as a slice index).
 */
export function checkQuery(o: { proposals?: number; count?: number; threshold?: number; radius?: number; rerank?: Rerank | false; nms?: number }): void {
  const bad = (name: string, want: string, v: unknown): never => {
    throw new Error(`${name} must be ${want}, got ${String(v)}`);
  };
  for (const k of ['proposals', 'count'] as const) if (o[k] !== undefined && !(Number.isInteger(o[k]) && o[k]! >= 1)) bad(k, 'a positive integer', o[k]);
  if (o.threshold !== undefined && !(typeof o.threshold === 'number' && o.threshold > 0 && o.threshold < 1))
    bad('threshold', 'a probability in (0, 1)', o.threshold);
  if (o.radius !== undefined && !(typeof o.radius === 'number' && o.radius >= 0 && o.radius <= 64))
    bad('radius', 'a number of grid cells from 0 to 64', o.radius);
  if (o.nms !== undefined && !(typeof o.nms === 'number' && o.nms > 0 && o.nms <= 1)) bad('nms', 'a mask IoU in (0, 1] (1: no suppression)', o.nms);
  const r = o.rerank;
  if (
    r !== undefined &&
    r !== false &&
    !(r && typeof r === 'object' && Number.isInteger(r.pool) && r.pool >= 1 && typeof r.power === 'number' && Number.isFinite(r.power) && r.power >= 0)
  )
    bad('rerank', 'false or { pool: a positive integer, power: a finite number >= 0 }', JSON.stringify(r));
}

/** Ranking of windows: objectness, then scale, row and column (a total order: results are reproducible). */
const byRank = (a: Candidate, b: Candidate) => b.score - a.score || a.scale - b.scale || a.r - b.r || a.c - b.c;

/**
 * Encodes an image: the pyramid, the trunk once over each whole scaled image and the dense heads,
 * with every scale's work submitted before one wait for all the score maps.
 */
export async function encode(model: DenseModel, source: ImageInput, o: EncodeOptions = {}): Promise<ImageEncoding> {
  const rt = model.rt;
  const input = await imageFromInput(source); // an RgbImage as it is; pixels, bytes, paths, DOM images converted
  const t: Timings = { pyramid: 0, trunk: 0, heads: 0, topN: 0, masks: 0, refine: 0, paste: 0, rle: 0, total: 0 };
  const t00 = performance.now();
  const { inputSize: S } = model.config;
  const scales = o.scales ?? inferenceDefaults(model).scales;
  if (!Array.isArray(scales) || !scales.length || !scales.every((s) => typeof s === 'number' && s >= MIN_SCALE && s <= MAX_SCALE)) {
    throw new Error(
      `scales: each pyramid scale must be a number from 2^-8 to 2^8 (${MIN_SCALE} to ${MAX_SCALE}), got [${Array.isArray(scales) ? scales.join(', ') : String(scales)}]`,
    );
  }
  if (o.maxScaledSide !== undefined && !(Number.isFinite(o.maxScaledSide) && o.maxScaledSide >= 16))
    throw new Error(`maxScaledSide must be a number of pixels >= 16, got ${o.maxScaledSide}`);
  const stage = async (key: keyof Timings, t0: number) => {
    await settled(rt);
    t[key] += performance.now() - t0;
  };
  checkAbort(o.signal);
  // A runtime's first inference compiles its GPU kernels as it first dispatches them (lavapipe: LLVM,
  // one pipeline at a time, about 20 s on a 2-core CPU with an empty shader cache), so its first stage event
  // comes late: the 'compile' stage says why beforehand.
  if (!inferredOn.has(rt)) {
    inferredOn.add(rt);
    o.onProgress?.({ stage: 'compile', done: 0, total: 1 });
  }

  // Oversized images are downscaled so that the largest scale stays within the device's reach.
  let image = input,
    notice: string | undefined;
  const maxSide = o.maxScaledSide ?? 4096;
  const biggest = Math.max(input.width, input.height) * Math.max(...scales);
  if (biggest > maxSide) {
    const f = maxSide / biggest;
    image = resizeRgb(input, Math.max(1, Math.round(input.width * f)), Math.max(1, Math.round(input.height * f)));
    notice = `image ${input.width}x${input.height} downscaled by ${f.toFixed(3)} to fit the largest scale in ${maxSide} px`;
  }
  const f = input.width / image.width; // analysis pixels -> the caller's pixels

  model.eval();
  const norm = model.config.normalization;
  const bgr = norm.space === 'bgr255';
  const pad = S / 2;
  const sizes = scales.map((s) => ({ h: Math.max(1, Math.round(image.height * s)), w: Math.max(1, Math.round(image.width * s)) }));
  // The pyramid on the GPU: the image goes up once and each scale is resampled from it with
  // resizeRgb's weight tables, framed and normalised by one kernel. An image or a frame past one
  // storage binding is resampled on the host instead (the same weights, in f64).
  const onGpu = fits([1, image.height, image.width, 3], 'f32', rt) && sizes.every(({ h, w }) => fits([1, h + 2 * pad, w + 2 * pad, 3], 'f32', rt));
  const src = onGpu ? Tensor.from(image.data, [1, image.height, image.width, 3], { rt }) : null;
  const level = (k: number): Tensor => {
    const { h, w } = sizes[k]!;
    if (!src) return Tensor.from(paddedInput(resizeRgb(image, w, h), pad, norm), [1, h + 2 * pad, w + 2 * pad, 3], { rt });
    return resampleImage(src, {
      rows: axisWeights(image.height, h),
      cols: axisWeights(image.width, w),
      pad,
      fill: 0.5,
      gain: bgr ? 255 : 1,
      mean: norm.mean,
      std: norm.std,
      reverse: bgr,
    });
  };
  // A refining model's trunk also gives the skip maps its refinement cuts windows from.
  const refining = !!model.refine && !!model.featuresWithSkips && o.refine !== false;
  const trunk = (x: Tensor): { features: Tensor; skips?: Tensor[] } => {
    const out = noGrad(() => (refining ? model.featuresWithSkips!(x) : { features: model.features(x) }));
    x.dispose();
    return out;
  };
  const pending: { embedding: Tensor; scores: Tensor; skips?: Tensor[]; rows: number; cols: number; scale: number }[] = [];
  const heads = ({ features, skips }: { features: Tensor; skips?: Tensor[] }, k: number): void => {
    const F = model.featureSize;
    const [, fh, fw] = features.shape as [number, number, number, number];
    const dense = noGrad(() => model.denseHeads(features));
    features.dispose();
    pending.push({ ...dense, ...(skips ? { skips } : {}), rows: fh - F + 1, cols: fw - F + 1, scale: scales[k]! });
  };
  const progress = (stage: 'trunk' | 'heads', k: number) => o.onProgress?.({ stage, scale: scales[k]!, done: k + 1, total: scales.length });
  try {
    if (o.timeStages) {
      // A wait at each stage boundary, so that each stage's time is its own.
      for (let k = 0; k < scales.length; k++) {
        let t0 = performance.now();
        const x = level(k);
        await stage('pyramid', t0);
        t0 = performance.now();
        const features = trunk(x);
        await stage('trunk', t0);
        progress('trunk', k);
        t0 = performance.now();
        heads(features, k);
        await stage('heads', t0);
        progress('heads', k);
        checkAbort(o.signal);
      }
    } else {
      // Consecutive scales share one submission while their frames hold no more pixels than the
      // largest one's (so the memory they hold at once stays about the largest scale's). Each run is
      // recorded while the GPU works on the one before; its progress events come when the GPU has
      // finished it, and a cancel stops before the next run is recorded.
      const t0 = performance.now();
      let previous: { group: number[]; done: Promise<void> } | null = null;
      const finished = async (p: { group: number[]; done: Promise<void> }) => {
        await p.done;
        for (const k of p.group) {
          progress('trunk', k);
          progress('heads', k);
          checkAbort(o.signal);
        }
      };
      for (const group of submissionGroups(sizes.map(({ h, w }) => (h + 2 * pad) * (w + 2 * pad)))) {
        rt.batched(() => {
          for (const k of group) heads(trunk(level(k)), k);
        });
        const current = { group, done: settled(rt) };
        if (previous) await finished(previous);
        previous = current;
      }
      if (previous) await finished(previous);
      t.trunk += performance.now() - t0; // the pyramid, trunk and heads of every scale
    }
    src?.dispose();
    // One readback for every scale's score map: the maps are stacked on the GPU and read at once.
    const t0 = performance.now();
    const stacked = noGrad(() => {
      const flat = pending.map((p) => reshape(p.scores, [p.scores.size, 1]));
      if (flat.length === 1) return flat[0]!;
      const joined = concatRows(flat);
      for (const f of flat) f.dispose();
      return joined;
    });
    let all: Float32Array;
    try {
      all = await stacked.read();
    } finally {
      stacked.dispose();
    }
    let at = 0;
    const maps = pending.map((p): ScaleMap => {
      const sm = all.subarray(at, (at += p.scores.size));
      const sw = p.scores.shape[2]!;
      const scores = new Float32Array(p.rows * p.cols);
      for (let r = 0; r < p.rows; r++) scores.set(sm.subarray(r * sw, r * sw + p.cols), r * p.cols);
      return { embedding: p.embedding, ...(p.skips ? { skips: p.skips } : {}), rows: p.rows, cols: p.cols, scale: p.scale, scores };
    });
    for (const p of pending) p.scores.dispose();
    t.heads += performance.now() - t0;
    o.onProgress?.({ stage: 'scores', done: 1, total: 1 });
    checkAbort(o.signal);
    t.total = performance.now() - t00;
    return new ImageEncoding(model, maps, input.width, input.height, scales, f, t, notice);
  } catch (e) {
    if (src && !src.disposed) src.dispose();
    for (const p of pending) {
      p.embedding.dispose();
      if (!p.scores.disposed) p.scores.dispose();
      for (const t of p.skips ?? []) t.dispose();
    }
    throw e;
  }
}

/**
 * Runs of consecutive pyramid levels (by frame pixels) to record into one submission each: a run
 * grows while its pixels stay within the largest level's.
 */
export function submissionGroups(pixels: number[]): number[][] {
  const budget = Math.max(...pixels);
  const groups: number[][] = [];
  let sum = Infinity;
  pixels.forEach((n, k) => {
    if (sum + n > budget) {
      groups.push([]);
      sum = 0;
    }
    groups[groups.length - 1]!.push(k);
    sum += n;
  });
  return groups;
}

/** Runtimes that have run an inference (and so compiled its kernels). */
const inferredOn = new WeakSet<DenseModel['rt']>();

/** Proposals for one image: encode() then everything(), in one call. */
export async function propose(
  model: DenseModel,
  input: ImageInput,
  o: InferOptions & Pick<EncodeOptions, 'onProgress' | 'signal' | 'refine'> = {},
): Promise<InferResult> {
  checkQuery(o); // before the expensive part
  const enc = await encode(model, input, o);
  try {
    return await enc.everything(o);
  } finally {
    enc.dispose();
  }
}

/** Sets `polygons` on each proposal when asked for. */
function addPolygons(ps: Proposal[], o: boolean | PolygonOptions | undefined): Proposal[] {
  if (o) for (const p of ps) p.polygons = rleToPolygons(p.rle, o === true ? {} : o);
  return ps;
}
