// The DeepMask model: a trunk to a stride-16 feature map, then mask and score heads. Patch form for
// training (B windows in, B masks and scores out); dense form for inference (one image in, an
// embedding and a score at every window position out, masks computed only where asked).
import { Module } from '../graph/module.js';
import { add, concatRows, gatherRows, reshape, resizeBilinear, sliceRows, softMarginLoss, stripRows } from '../graph/ops.js';
import { Rng } from '../graph/random.js';
import { scope, Tensor, type Runtime } from '../graph/tensor.js';
import { PaperHeadsModule, SharedHeadsModule, type DenseOutput, type Heads } from './heads.js';
import { presetConfig, type DeepMaskConfig } from './presets.js';
import { Refinement, SKIP_CONTEXT } from './refine.js';
import { buildTrunk, type Trunk } from './trunks.js';

/** What full-scene inference needs of a model (DeepMask implements it; tests plant outputs through it). */
export interface DenseModel {
  readonly config: DeepMaskConfig;
  /** Side of the trunk's output for one window. */
  readonly featureSize: number;
  readonly rt: Runtime;
  eval(): unknown;
  /** The trunk over a whole normalised image [1, H, W, 3]. */
  features(image: Tensor): Tensor;
  /** The heads in dense form over a feature map. */
  denseHeads(features: Tensor): DenseOutput;
  /** Mask logits [n, m, m, 1] at window positions (row-major cell indices) of an embedding map. */
  masksAt(embedding: Tensor, cells: readonly number[]): Tensor;
  /** Set when the model refines its masks (SharpMask): inference then keeps each scale's skip maps (featuresWithSkips). */
  readonly refine?: Pick<Refinement, 'cropSkips'> | null;
  /** A refining model's mask logits [n, S, S, 1] from embedding rows and the windows' skip crops (DeepMask.refineMasks). */
  refineMasks?(embedding: Tensor, skips: readonly Tensor[]): Tensor;
  /** A refining model's trunk over a whole image with its refinement's horizontal branches (Refinement.skipMaps). */
  featuresWithSkips?(image: Tensor): { features: Tensor; skips: Tensor[] };
}

export interface Prediction {
  /** Mask logits [B, maskSize, maskSize, 1]. */
  masks: Tensor;
  /** Objectness logits [B, 1]. */
  scores: Tensor;
}

/**
 * Targets of the DeepMask loss. A term whose targets are left out is not part of the loss (the
 * official code's mask-only and score-only batches): no gradient flows through its head.
 */
export interface LossTargets {
  /** Ground-truth masks [B, gtSize, gtSize, 1] of +1 (object) and -1 (background). */
  masks?: Tensor;
  /**
   * Weights of the mask loss: per window [B, 1, 1, 1] (spread over its pixels) or per pixel
   * [B, gtSize, gtSize, 1]; 1/gtSize² for positive windows and 0 for negatives, so that the mask
   * term is the pixel mean over positives only.
   */
  maskWeights?: Tensor;
  /** Objectness labels [B, 1] of +1 / -1. */
  scores?: Tensor;
  /** Per-window weights of the score loss [B, 1]: λ = 1/32 in the paper, 0 to skip a window. */
  scoreWeights?: Tensor;
}

export class DeepMask extends Module implements DenseModel {
  readonly config: DeepMaskConfig;
  readonly trunk: Trunk;
  readonly heads: Heads;
  /** Side of the trunk's output for one input window. */
  readonly featureSize: number;
  /** Seeds dropout masks; part of the training state. */
  readonly rng: Rng;
  /** SharpMask's refinement when the config asks for it (config.refine), else null. */
  readonly refine: Refinement | null;

  constructor(config: DeepMaskConfig | string, opts: { seed?: number } = {}) {
    super();
    this.config = typeof config === 'string' ? presetConfig(config) : structuredClone(config);
    const c = this.config;
    this.rng = new Rng(opts.seed ?? 0);
    this.trunk = buildTrunk(c.trunk, this.rng);
    this.featureSize = this.trunk.outputSize(c.inputSize);
    if (this.featureSize < 2) throw new Error(`input size ${c.inputSize} is too small for this trunk`);
    const ch = this.trunk.outChannels;
    this.heads =
      c.heads.kind === 'paper'
        ? new PaperHeadsModule(c.heads, this.featureSize, ch, c.maskSize, c.dropout, this.rng)
        : new SharedHeadsModule(c.heads, this.featureSize, ch, c.maskSize, c.dropout, this.rng);
    this.refine = c.refine ? new Refinement(c.refine, this.trunk, this.featureSize, this.heads.embedWidth, this.rng) : null;
    if (this.refine) {
      const first = this.trunk.tap!(c.refine!.skips[0]!).stride;
      if (first !== c.stride) throw new Error(`refine: the first skip '${c.refine!.skips[0]}' is at stride ${first}, the model's stride is ${c.stride}`);
      if (this.refine.maskSize !== c.inputSize)
        throw new Error(
          `refine: ${c.refine!.skips.length} stages refine a ${this.featureSize}-cell window to ${this.refine.maskSize} px, not the ${c.inputSize}-pixel window`,
        );
    }
    this.nameParameters();
  }

  /** Patch form: x [B, S, S, 3] normalised windows -> mask logits and objectness logits. */
  forward(x: Tensor): Prediction {
    const { inputSize: S } = this.config;
    if (x.shape.length !== 4 || x.shape[1] !== S || x.shape[2] !== S || x.shape[3] !== 3) {
      throw new Error(`DeepMask(${this.config.preset}).forward: expected [B, ${S}, ${S}, 3], got [${x.shape.join(', ')}]`);
    }
    return this.forwardFeatures(this.trunk.forward(x));
  }

  /** The heads in patch form on window features [B, F, F, C] (a frozen trunk's output, computed ahead). */
  forwardFeatures(features: Tensor): Prediction {
    const { maskSize: m } = this.config,
      F = this.featureSize,
      C = this.trunk.outChannels;
    const [B, h, w, c] = features.shape as [number, number, number, number];
    if (features.shape.length !== 4 || h !== F || w !== F || c !== C)
      throw new Error(`DeepMask(${this.config.preset}): window features must be [B, ${F}, ${F}, ${C}], got [${features.shape.join(', ')}]`);
    const out = this.heads.patch(features);
    return { masks: reshape(out.masks, [B, m, m, 1]), scores: out.scores };
  }

  /**
   * The patch form from features `k` trunk stages short of the output, with `k` cells of context
   * around each window ([B, F + 2k, F + 2k, C']): the trunk's last k stages, then the heads. Training
   * those stages with the heads needs only cached maps of the cut trunk (see cutTrunk). `onMap`
   * ([B, F + 2k, F + 2k], 1 where a cell lies on the map) is needed from two stages on.
   */
  forwardFromCut(features: Tensor, k: number, onMap?: Float32Array): Prediction {
    if (!this.trunk.forwardLast) throw new Error(`DeepMask(${this.config.preset}): its ${this.config.trunk.kind} trunk cannot be cut`);
    return this.forwardFeatures(this.trunk.forwardLast(features, k, onMap));
  }

  /** Mask logits upsampled (bilinear, align-corners) to the ground-truth size. */
  upsampleMasks(masks: Tensor, size = this.config.gtSize): Tensor {
    return size === masks.shape[1] ? masks : resizeBilinear(masks, [size, size], { alignCorners: true });
  }

  /**
   * The DeepMask loss: sum over windows of a per-pixel soft-margin loss on the masks of positives
   * (pixel mean at gtSize) plus the weighted soft-margin score loss (Pinheiro et al., eq. 1).
   */
  loss(pred: Prediction, t: LossTargets): Tensor {
    const pair = (a: Tensor | undefined, b: Tensor | undefined, what: string) => {
      if (!a !== !b) throw new Error(`DeepMask.loss: give both ${what} or neither`);
      return a && b ? ([a, b] as const) : null;
    };
    const mask = pair(t.masks, t.maskWeights, 'masks and maskWeights');
    const score = pair(t.scores, t.scoreWeights, 'scores and scoreWeights');
    const maskLoss = mask && softMarginLoss(this.upsampleMasks(pred.masks), mask[0], mask[1]);
    const scoreLoss = score && softMarginLoss(pred.scores, score[0], score[1]);
    if (maskLoss && scoreLoss) return add(maskLoss, scoreLoss);
    const only = maskLoss ?? scoreLoss;
    if (!only) throw new Error('DeepMask.loss: no targets (give masks, scores or both)');
    return only;
  }

  /**
   * Dense form over one normalised image [1, H, W, 3]: the trunk runs once over the whole image and
   * the heads run as convolutions, giving an embedding and an objectness logit for every window
   * position on the stride-16 grid (window (r, c) covers input pixels [16r, 16r + S) x [16c, 16c + S)).
   */
  dense(image: Tensor): DenseOutput & { rows: number; cols: number } {
    const features = this.features(image);
    const [, fh, fw] = features.shape as [number, number, number, number];
    if (fh < this.featureSize || fw < this.featureSize) {
      throw new Error(`DeepMask.dense: image ${image.shape[1]}x${image.shape[2]} is smaller than one ${this.config.inputSize}-pixel window`);
    }
    const out = this.heads.dense(features);
    return { ...out, rows: fh - this.featureSize + 1, cols: fw - this.featureSize + 1 };
  }

  /**
   * The trunk over one whole image [1, H, W, 3], in horizontal strips when a single pass would
   * exceed the storage binding limit (see trunkFeatures).
   */
  features(image: Tensor): Tensor {
    checkImage(image);
    return inStrips(this, image, this.trunk.margin, [this.config.stride], (x) => [this.trunk.forward(x)])[0]!;
  }

  /**
   * A refining model's trunk over one whole image [1, H, W, 3] and its refinement's horizontal
   * branches over the skip maps (Refinement.skipMaps), in strips like features() when needed.
   */
  featuresWithSkips(image: Tensor): { features: Tensor; skips: Tensor[] } {
    const refine = this.refine;
    if (!refine) throw new Error(`DeepMask(${this.config.preset}): this model does not refine its masks (no config.refine)`);
    checkImage(image);
    const strides = [this.config.stride, ...refine.skips.map((n) => this.trunk.tap!(n).stride)];
    const [features, ...skips] = inStrips(this, image, this.trunk.margin + SKIP_CONTEXT * this.config.stride, strides, (x) => {
      const { out, taps } = this.trunk.forwardTaps!(x, refine.skips);
      return [out, ...refine.skipMaps(taps)];
    });
    return { features: features!, skips };
  }

  /**
   * The trunk over one whole image [1, H, W, 3] with the outputs of the named layers (see
   * Trunk.tap), in strips like features() when needed: the maps refinement training cuts windows from.
   */
  trunkTaps(image: Tensor, names: readonly string[]): { features: Tensor; taps: Tensor[] } {
    if (!this.trunk.forwardTaps) throw new Error(`DeepMask(${this.config.preset}): its ${this.config.trunk.kind} trunk names no layers`);
    checkImage(image);
    const strides = [this.config.stride, ...names.map((n) => this.trunk.tap!(n).stride)];
    const [features, ...taps] = inStrips(this, image, this.trunk.margin, strides, (x) => {
      const { out, taps } = this.trunk.forwardTaps!(x, names);
      return [out, ...taps];
    });
    return { features: features!, taps };
  }

  /**
   * Refined mask logits [n, S, S, 1] for window features given as their mask embeddings [n, E] and
   * the trunk's skip maps cut around each window with SKIP_CONTEXT cells of context (training from
   * cached maps: Refinement.skipWindows).
   */
  refineWindows(embedding: Tensor, skipCrops: readonly Tensor[], onMap?: readonly (Float32Array | null)[]): Tensor {
    if (!this.refine) throw new Error(`DeepMask(${this.config.preset}): this model does not refine its masks (no config.refine)`);
    return this.refineMasks(embedding, this.refine.skipWindows(skipCrops, onMap));
  }

  /**
   * Refined mask logits [n, S, S, 1] from windows' mask embeddings [n, E] and their horizontal
   * branches' outputs (Refinement.skipWindows, or cropSkips of skipMaps), with the coarse masks
   * when the refinement adds to them.
   */
  refineMasks(embedding: Tensor, skips: readonly Tensor[]): Tensor {
    const refine = this.refine;
    if (!refine) throw new Error(`DeepMask(${this.config.preset}): this model does not refine its masks (no config.refine)`);
    const m = this.config.maskSize,
      n = embedding.shape[0]!;
    return refine.forward(embedding, skips, refine.residual ? reshape(this.heads.masksFrom(embedding), [n, m, m, 1]) : undefined);
  }

  denseHeads(features: Tensor): DenseOutput {
    return this.heads.dense(features);
  }

  /** Mask logits [n, maskSize, maskSize, 1] for the window positions `cells` (row-major index r*cols + c) of a dense embedding. */
  masksAt(embedding: Tensor, cells: readonly number[]): Tensor {
    const [, gh, gw, e] = embedding.shape as [number, number, number, number];
    const rows = gatherRows(reshape(embedding, [gh * gw, e]), cells);
    const m = this.config.maskSize;
    return reshape(this.heads.masksFrom(rows), [cells.length, m, m, 1]);
  }
}

function checkImage(image: Tensor): void {
  if (image.shape.length !== 4 || image.shape[0] !== 1 || image.shape[3] !== 3)
    throw new Error(`DeepMask: expected an image [1, H, W, 3], got [${image.shape.join(', ')}]`);
}

/**
 * Maps of the trunk (and what runs on them) over a whole image, in horizontal strips when one pass
 * would exceed the storage binding limit: strips overlap by `margin` input pixels (the receptive
 * field's radius, a multiple of the stride) and only their exact middle rows are kept, so the
 * stitched maps equal the one-pass maps. `run` gives maps at `strides` (the first the model's).
 */
function inStrips(model: DeepMask, x: Tensor, margin: number, strides: readonly number[], run: (x: Tensor) => Tensor[]): Tensor[] {
  const [, H, W] = x.shape as [number, number, number, number];
  const trunk = model.trunk,
    st = model.config.stride,
    M = margin;
  if (stripRows(x, H, (h) => trunk.largestActivation(h, W)) === H) return run(x);
  // Rows of output per strip: as many as fit with the margins.
  const rows = stripRows(x, Math.floor(H / st), (r) => trunk.largestActivation(r * st + 2 * M, W));
  if (rows === 0) throw new Error(`image ${W} px wide is too large for this device even in strips`);
  // Inference only (the strips are not differentiable): the scope frees every strip and piece.
  return scope(() => {
    const image = reshape(x, [H, W, 3]); // the image's rows lead
    const pieces: Tensor[][] = strides.map(() => []);
    for (let r0 = 0; ; r0 += rows) {
      const top = Math.max(0, r0 * st - M),
        bottom = Math.min(H, (r0 + rows) * st + M);
      const maps = run(reshape(sliceRows(image, top, bottom), [1, bottom - top, W, 3]));
      const sh = maps[0]!.shape[1]!;
      const skip = (r0 * st - top) / st; // rows of the model's stride belonging to the margin above
      const last = bottom >= H; // the last strip keeps every row down to the image's end
      const keep = last ? sh - skip : Math.min(rows, sh - skip);
      if (keep > 0) {
        maps.forEach((f, i) => {
          const k = st / strides[i]!; // rows of this map per row of the model's stride
          pieces[i]!.push(sliceRows(reshape(f, f.shape.slice(1)), skip * k, Math.min(f.shape[1]!, (skip + keep) * k)));
        });
      }
      if (last || keep < rows) break;
    }
    return pieces.map((p) => {
      const map = concatRows(p);
      return reshape(map, [1, ...map.shape]);
    });
  });
}
