// The DeepMask model: a trunk to a stride-16 feature map, then mask and score heads. Patch form for
// training (B windows in, B masks and scores out); dense form for inference (one image in, an
// embedding and a score at every window position out, masks computed only where asked).
import { Module } from '../graph/module.js';
import { add, gatherRows, reshape, resizeBilinear, softMarginLoss } from '../graph/ops.js';
import { Rng } from '../graph/random.js';
import { Tensor } from '../graph/tensor.js';
import { PaperHeadsModule, SharedHeadsModule, type DenseOutput, type Heads } from './heads.js';
import { presetConfig, type DeepMaskConfig } from './presets.js';
import { buildTrunk, type Trunk } from './trunks.js';

export interface Prediction {
  /** Mask logits [B, maskSize, maskSize, 1]. */
  masks: Tensor;
  /** Objectness logits [B, 1]. */
  scores: Tensor;
}

export interface LossTargets {
  /** Ground-truth masks [B, gtSize, gtSize, 1] of +1 (object) and -1 (background). */
  masks: Tensor;
  /**
   * Per-pixel weights of the mask loss, [B, gtSize, gtSize, 1]: 1/gtSize² for positive windows and
   * 0 for negatives, so that the mask term is the pixel mean over positives only.
   */
  maskWeights: Tensor;
  /** Objectness labels [B, 1] of +1 / -1. */
  scores: Tensor;
  /** Per-window weights of the score loss [B, 1]: λ = 1/32 in the paper, 0 to skip a window. */
  scoreWeights: Tensor;
}

export class DeepMask extends Module {
  readonly config: DeepMaskConfig;
  readonly trunk: Trunk;
  readonly heads: Heads;
  /** Side of the trunk's output for one input window. */
  readonly featureSize: number;
  /** Seeds dropout masks; part of the training state. */
  readonly rng: Rng;

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
  }

  /** Patch form: x [B, S, S, 3] normalised windows -> mask logits and objectness logits. */
  forward(x: Tensor): Prediction {
    const { inputSize: S, maskSize: m } = this.config;
    if (x.shape.length !== 4 || x.shape[1] !== S || x.shape[2] !== S || x.shape[3] !== 3) {
      throw new Error(`DeepMask(${this.config.preset}).forward: expected [B, ${S}, ${S}, 3], got [${x.shape.join(', ')}]`);
    }
    const out = this.heads.patch(this.trunk.forward(x));
    return { masks: reshape(out.masks, [x.shape[0]!, m, m, 1]), scores: out.scores };
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
    const maskLoss = softMarginLoss(this.upsampleMasks(pred.masks), t.masks, t.maskWeights);
    const scoreLoss = softMarginLoss(pred.scores, t.scores, t.scoreWeights);
    return add(maskLoss, scoreLoss);
  }

  /**
   * Dense form over one normalised image [1, H, W, 3]: the trunk runs once over the whole image and
   * the heads run as convolutions, giving an embedding and an objectness logit for every window
   * position on the stride-16 grid (window (r, c) covers input pixels [16r, 16r + S) x [16c, 16c + S)).
   */
  dense(image: Tensor): DenseOutput & { rows: number; cols: number } {
    if (image.shape.length !== 4 || image.shape[0] !== 1 || image.shape[3] !== 3) throw new Error(`DeepMask.dense: expected [1, H, W, 3], got [${image.shape.join(', ')}]`);
    const features = this.trunk.forward(image);
    const [, fh, fw] = features.shape as [number, number, number, number];
    if (fh < this.featureSize || fw < this.featureSize) {
      throw new Error(`DeepMask.dense: image ${image.shape[1]}x${image.shape[2]} is smaller than one ${this.config.inputSize}-pixel window`);
    }
    const out = this.heads.dense(features);
    return { ...out, rows: fh - this.featureSize + 1, cols: fw - this.featureSize + 1 };
  }

  /** Mask logits [n, maskSize, maskSize, 1] for the window positions `cells` (row-major index r*cols + c) of a dense embedding. */
  masksAt(embedding: Tensor, cells: readonly number[]): Tensor {
    const [, gh, gw, e] = embedding.shape as [number, number, number, number];
    const rows = gatherRows(reshape(embedding, [gh * gw, e]), cells);
    const m = this.config.maskSize;
    return reshape(this.heads.masksFrom(rows), [cells.length, m, m, 1]);
  }
}
