// DeepMask presets: the paper's VGG-A model, the same heads on VGG-16, a SqueezeNet 1.1 trunk with
// the official code's lighter heads, and a tiny model for tests, demos and CI. Every preset is
// plain data (saved with the weights as config.json).

/** A VGG-style trunk: 3×3 convolutions (padding 1, ReLU) by width, 'M' for a 2×2 max pool. */
export interface VggTrunk {
  kind: 'vgg';
  layers: (number | 'M')[];
}

/** SqueezeNet 1.1 features (torchvision `squeezenet1_1().features`), through Fire module 12. */
export interface SqueezeTrunk {
  kind: 'squeeze';
}

/**
 * MobileNetV1 (width 1.0) through depthwise-separable block `blocks` (11: 512 channels at stride 16):
 * TensorFlow SAME padding and ReLU6 after every convolution, batch norm folded into the biases.
 */
export interface MobileTrunk {
  kind: 'mobilenet';
  blocks: number;
}

/**
 * The paper's heads: mask = 1×1 conv + ReLU, FC to `lowRank` (no ReLU), FC to the mask;
 * score = 2×2 max pool, FCs of `scoreHidden` widths (ReLU + dropout), FC to one logit.
 */
export interface PaperHeads {
  kind: 'paper';
  maskConv: number;
  lowRank: number;
  scoreHidden: number[];
}

/**
 * The official code's heads: 1×1 conv + ReLU, one FC to a shared `embed`-d vector (no ReLU), a mask
 * FC from it, and score = dropout, FC to `scoreHidden` + ReLU, dropout, FC to one logit.
 */
export interface SharedHeads {
  kind: 'shared';
  conv: number;
  embed: number;
  scoreHidden: number;
}

/**
 * SharpMask's refinement (see refine.ts): horizontal branches over the trunk layers `skips` (the
 * first at the trunk's stride, each next at half the stride of the one before), a mask encoding of
 * `mask` channels halved at every stage, and each horizontal branch's first width in `skipWidths`.
 */
export interface RefineSpec {
  skips: string[];
  mask: number;
  skipWidths: number[];
  /**
   * Add the coarse mask's logits (resampled to the window as inference pastes them) to the refined
   * ones, so that the refinement learns a correction of the coarse mask instead of a mask from
   * scratch. Absent in the official design.
   */
  coarse?: boolean;
}

/** How raw RGB pixels in [0, 1] become the trunk's input. */
export interface InputNormalization {
  /**
   * 'rgb': (v - mean) / std on RGB in [0, 1] (ImageNet, torchvision; mean 0.5, std 0.5 is TF's x/127.5 - 1);
   * 'bgr255': Caffe-style BGR in 0..255 minus mean.
   */
  space: 'rgb' | 'bgr255';
  mean: [number, number, number];
  std: [number, number, number];
}

/** Inference settings chosen for a trained model (stored in its config.json); options override them. */
export interface InferenceDefaults {
  /** Pyramid 2^min .. 2^max in steps of 2^step (log2 units). */
  scales?: [number, number, number];
  /** Mask probability threshold. */
  threshold?: number;
  /** Proposals per image. */
  proposals?: number;
  /** Mask-IoU threshold of non-maximum suppression; 1 keeps every proposal. */
  nms?: number;
  /**
   * Ranking by objectness x confidence^power instead of objectness alone, where a mask's confidence
   * is the mean probability of the pixels it claims (those at or above the threshold): the best
   * `pool` windows by objectness get masks, and the best of them by that product are returned.
   */
  rerank?: { pool: number; power: number };
}

export interface DeepMaskConfig {
  preset: string;
  /** Side of the square input window (patch) in pixels; the mask covers the whole window. */
  inputSize: number;
  /** Network stride: the trunk output cell spacing, and the sliding-window stride at inference. */
  stride: number;
  /** Side of the predicted mask (logits), before upsampling. */
  maskSize: number;
  /** Side of the ground-truth mask the loss is computed at (the logits are upsampled to it). */
  gtSize: number;
  /** Longest side of a canonical (centred) object in the window, in pixels. */
  objectSize: number;
  trunk: VggTrunk | SqueezeTrunk | MobileTrunk;
  heads: PaperHeads | SharedHeads;
  normalization: InputNormalization;
  dropout: number;
  /** Refinement of the masks to full window resolution (SharpMask); absent: the coarse masks. */
  refine?: RefineSpec;
  inference?: InferenceDefaults;
}

const IMAGENET: InputNormalization = { space: 'rgb', mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };
const TF_INCEPTION: InputNormalization = { space: 'rgb', mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const CAFFE_BGR: InputNormalization = { space: 'bgr255', mean: [103.939, 116.779, 123.68], std: [1, 1, 1] };

export const PRESETS = {
  /** The NIPS 2015 model: VGG-A convolutions (8 layers, 4 pools), 75,844,545 parameters. */
  'vgg-a': {
    preset: 'vgg-a',
    inputSize: 224,
    stride: 16,
    maskSize: 56,
    gtSize: 224,
    objectSize: 128,
    trunk: { kind: 'vgg', layers: [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512] },
    heads: { kind: 'paper', maskConv: 512, lowRank: 512, scoreHidden: [512, 1024] },
    normalization: IMAGENET,
    dropout: 0.5,
  },
  /** The paper's heads on the 13-layer VGG-16 trunk (through conv5_3, no pool5). */
  vgg16: {
    preset: 'vgg16',
    inputSize: 224,
    stride: 16,
    maskSize: 56,
    gtSize: 224,
    objectSize: 128,
    trunk: { kind: 'vgg', layers: [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512] },
    heads: { kind: 'paper', maskConv: 512, lowRank: 512, scoreHidden: [512, 1024] },
    normalization: IMAGENET,
    dropout: 0.5,
  },
  /** ImageNet SqueezeNet 1.1 trunk (13×13×512 at 224) with the official code's shared 512-d heads. */
  squeeze: {
    preset: 'squeeze',
    inputSize: 224,
    stride: 16,
    maskSize: 56,
    gtSize: 112,
    objectSize: 128,
    trunk: { kind: 'squeeze' },
    heads: { kind: 'shared', conv: 128, embed: 512, scoreHidden: 1024 },
    normalization: CAFFE_BGR,
    dropout: 0.5,
  },
  /**
   * ImageNet MobileNetV1 trunk cut after block 11 (512 channels at stride 16) with the official code's
   * heads and geometry: a 160-pixel canonical window (10x10 features), objects of 92 px, 56x56 masks
   * compared at 112x112. In dense form each window's trunk features also see the image around it.
   */
  mobile: {
    preset: 'mobile',
    inputSize: 160,
    stride: 16,
    maskSize: 56,
    gtSize: 112,
    objectSize: 92,
    trunk: { kind: 'mobilenet', blocks: 11 },
    heads: { kind: 'shared', conv: 128, embed: 512, scoreHidden: 1024 },
    normalization: TF_INCEPTION,
    dropout: 0.5,
    // The official code's pyramid for a 160 window (facebookresearch/deepmask, computeProposals.lua: 2^-2.5..2^0.5).
    inference: { scales: [-2.5, 0.5, 0.5] },
  },
  /** The paper's topology at reduced widths and a 112-pixel window: trains in minutes on a CPU. */
  tiny: {
    preset: 'tiny',
    inputSize: 112,
    stride: 16,
    maskSize: 56,
    gtSize: 112,
    objectSize: 64,
    trunk: { kind: 'vgg', layers: [8, 'M', 16, 'M', 32, 'M', 48, 'M', 48] },
    heads: { kind: 'paper', maskConv: 48, lowRank: 96, scoreHidden: [96, 96] },
    normalization: IMAGENET,
    dropout: 0.5,
  },
} satisfies Record<string, DeepMaskConfig>;

export type PresetName = keyof typeof PRESETS;

export function presetConfig(name: string): DeepMaskConfig {
  const p = (PRESETS as Record<string, DeepMaskConfig>)[name];
  if (!p) throw new Error(`unknown preset '${name}' (have ${Object.keys(PRESETS).join(', ')})`);
  return structuredClone(p);
}
