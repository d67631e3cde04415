// DeepMask's heads over the trunk's feature map, in patch form (fully connected layers, for
// training) and dense form (the same weights run as convolutions over a whole image's features).
import { Dropout, Linear, Conv2d } from '../graph/layers.js';
import { Module } from '../graph/module.js';
import { conv2d, flatten, maxPool2d, reshape } from '../graph/ops.js';
import type { Rng } from '../graph/random.js';
import type { Tensor } from '../graph/tensor.js';
import type { PaperHeads, SharedHeads } from './presets.js';

export interface PatchOutput {
  /** Mask logits [B, maskSize * maskSize] (row-major). */
  masks: Tensor;
  /** Objectness logits [B, 1]. */
  scores: Tensor;
}

export interface DenseOutput {
  /** The mask embedding at every window position [1, gh, gw, E]; masks come from `masksFrom`. */
  embedding: Tensor;
  /** Objectness logits [1, sh, sw, 1] with sh >= gh and sw >= gw (only [0, gh) x [0, gw) are windows). */
  scores: Tensor;
}

export interface Heads extends Module {
  /** Side of the feature window one patch sees (the trunk's output for the input size). */
  readonly window: number;
  /** Width of the mask embedding. */
  readonly embedWidth: number;
  patch(features: Tensor): PatchOutput;
  dense(features: Tensor): DenseOutput;
  /** Mask logits [n, maskSize²] from embedding rows [n, E]. */
  masksFrom(embedding: Tensor): Tensor;
}

/** A fully connected weight [F*F*C, out] viewed as the F×F convolution it equals over NHWC maps. */
const asConv = (l: Linear, f: number, c: number): Tensor => reshape(l.weight, [f, f, c, l.outFeatures]);

/** The NIPS paper's heads. */
export class PaperHeadsModule extends Module implements Heads {
  readonly maskConv: Conv2d;
  readonly maskLowRank: Linear;
  readonly maskOut: Linear;
  readonly scoreHidden: Linear[];
  readonly scoreOut: Linear;
  readonly dropout: Dropout;
  readonly embedWidth: number;
  private readonly pooled: number;

  constructor(
    spec: PaperHeads,
    readonly window: number,
    private readonly channels: number,
    maskSize: number,
    dropout: number,
    rng: Rng,
  ) {
    super();
    this.maskConv = new Conv2d(channels, spec.maskConv, 1, { relu: true, rng });
    this.maskLowRank = new Linear(window * window * spec.maskConv, spec.lowRank, { rng }); // no ReLU: a low-rank factorisation
    this.maskOut = new Linear(spec.lowRank, maskSize * maskSize, { rng });
    this.pooled = Math.floor(window / 2);
    let w = this.pooled * this.pooled * channels;
    this.scoreHidden = spec.scoreHidden.map((h) => {
      const l = new Linear(w, h, { relu: true, rng });
      w = h;
      return l;
    });
    this.scoreOut = new Linear(w, 1, { rng });
    this.dropout = new Dropout(dropout, rng);
    this.embedWidth = spec.lowRank;
  }

  patch(features: Tensor): PatchOutput {
    const masks = this.maskOut.forward(this.maskLowRank.forward(flatten(this.maskConv.forward(features))));
    let s = flatten(maxPool2d(features));
    for (const l of this.scoreHidden) s = this.dropout.forward(l.forward(s));
    return { masks, scores: this.scoreOut.forward(s) };
  }

  dense(features: Tensor): DenseOutput {
    const m = this.maskConv.forward(features);
    const embedding = conv2d(m, asConv(this.maskLowRank, this.window, this.maskConv.outChannels), this.maskLowRank.bias);
    // Fine-stride score map: 2×2 max pool with stride 1, then the first FC as a dilation-2
    // convolution (OverFeat's interleaved pooling in one pass), then the others as 1×1 convolutions.
    let s = maxPool2d(features, { kernel: 2, stride: 1 });
    this.scoreHidden.forEach((l, i) => {
      const w = i === 0 ? asConv(l, this.pooled, this.channels) : reshape(l.weight, [1, 1, l.inFeatures, l.outFeatures]);
      s = conv2d(s, w, l.bias, { dilation: i === 0 ? 2 : 1, relu: true });
    });
    const scores = conv2d(s, reshape(this.scoreOut.weight, [1, 1, this.scoreOut.inFeatures, 1]), this.scoreOut.bias);
    return { embedding, scores };
  }

  masksFrom(embedding: Tensor): Tensor {
    return this.maskOut.forward(embedding);
  }
}

/** The official code's heads ("head C"): one shared embedding for both outputs. */
export class SharedHeadsModule extends Module implements Heads {
  readonly conv: Conv2d;
  readonly embed: Linear;
  readonly maskOut: Linear;
  readonly scoreHidden: Linear;
  readonly scoreOut: Linear;
  readonly dropout: Dropout;
  readonly embedWidth: number;

  constructor(
    spec: SharedHeads,
    readonly window: number,
    channels: number,
    maskSize: number,
    dropout: number,
    rng: Rng,
  ) {
    super();
    this.conv = new Conv2d(channels, spec.conv, 1, { relu: true, rng });
    this.embed = new Linear(window * window * spec.conv, spec.embed, { rng }); // shared, no ReLU
    this.maskOut = new Linear(spec.embed, maskSize * maskSize, { rng });
    this.scoreHidden = new Linear(spec.embed, spec.scoreHidden, { relu: true, rng });
    this.scoreOut = new Linear(spec.scoreHidden, 1, { rng });
    this.dropout = new Dropout(dropout, rng);
    this.embedWidth = spec.embed;
  }

  patch(features: Tensor): PatchOutput {
    const e = this.embed.forward(flatten(this.conv.forward(features)));
    const s = this.dropout.forward(this.scoreHidden.forward(this.dropout.forward(e)));
    return { masks: this.maskOut.forward(e), scores: this.scoreOut.forward(s) };
  }

  dense(features: Tensor): DenseOutput {
    const c = this.conv.forward(features);
    const embedding = conv2d(c, asConv(this.embed, this.window, this.conv.outChannels), this.embed.bias);
    const h = conv2d(embedding, reshape(this.scoreHidden.weight, [1, 1, this.scoreHidden.inFeatures, this.scoreHidden.outFeatures]), this.scoreHidden.bias, {
      relu: true,
    });
    const scores = conv2d(h, reshape(this.scoreOut.weight, [1, 1, this.scoreOut.inFeatures, 1]), this.scoreOut.bias);
    return { embedding, scores };
  }

  masksFrom(embedding: Tensor): Tensor {
    return this.maskOut.forward(embedding);
  }
}
