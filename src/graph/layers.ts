// Layers built from ops. Weight layouts are the engine's: Linear [in, out].
import { conv2d, conv2dUpsampled, depthwiseConv2d, dropout, linear, type Conv2dOptions } from './ops.js';
import { Module, parameter } from './module.js';
import { Rng } from './random.js';
import { Tensor } from './tensor.js';

/**
 * U(-gain/sqrt(fanIn), gain/sqrt(fanIn)): gain 1 is Torch's default init, gain sqrt(6) He's uniform
 * init for layers followed by a ReLU (used where a network trains from scratch).
 */
export function uniformInit(shape: readonly number[], fanIn: number, rng: Rng, gain = 1): Tensor {
  const bound = gain / Math.sqrt(fanIn);
  const n = shape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.uniform(-bound, bound);
  return Tensor.from(data, shape);
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly relu: boolean;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    opts: { bias?: boolean; rng?: Rng; relu?: boolean; gain?: number } = {},
  ) {
    super();
    const rng = opts.rng ?? new Rng(0);
    this.weight = parameter(uniformInit([inFeatures, outFeatures], inFeatures, rng, opts.gain));
    this.bias = opts.bias === false ? null : parameter(uniformInit([outFeatures], inFeatures, rng));
    this.relu = !!opts.relu;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, { relu: this.relu });
  }
}

/** 2-D convolution over NHWC input; weight [KH, KW, Cin, Cout]. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Conv2dOptions;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    kernel: number | [number, number],
    opts: Conv2dOptions & { bias?: boolean; rng?: Rng; gain?: number } = {},
  ) {
    super();
    const [KH, KW] = typeof kernel === 'number' ? [kernel, kernel] : kernel;
    const rng = opts.rng ?? new Rng(0);
    const fanIn = KH * KW * inChannels;
    this.weight = parameter(uniformInit([KH, KW, inChannels, outChannels], fanIn, rng, opts.gain));
    this.bias = opts.bias === false ? null : parameter(uniformInit([outChannels], fanIn, rng));
    this.options = { stride: opts.stride ?? 1, pad: opts.pad ?? 0, dilation: opts.dilation ?? 1, relu: !!opts.relu, relu6: !!opts.relu6 };
  }

  forward(x: Tensor): Tensor {
    return conv2d(x, this.weight, this.bias, this.options);
  }

  /** forward(upsampleNearest(x, 2)) without the upsampled map (conv2dUpsampled): 3x3 layers of stride 1 and padding 1 only. */
  forwardUpsampled(x: Tensor): Tensor {
    const o = this.options;
    if (o.stride !== 1 || o.pad !== 1 || o.dilation !== 1 || o.relu6)
      throw new Error(`Conv2d.forwardUpsampled: needs stride 1, padding 1, dilation 1 and no ReLU6 (options ${JSON.stringify(o)})`);
    return conv2dUpsampled(x, this.weight, this.bias, { relu: o.relu });
  }
}

/** Depthwise 2-D convolution (one filter per channel) over NHWC input; weight [KH, KW, C]. */
export class DepthwiseConv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Conv2dOptions;

  constructor(
    readonly channels: number,
    kernel: number,
    opts: Conv2dOptions & { bias?: boolean; rng?: Rng; gain?: number } = {},
  ) {
    super();
    const rng = opts.rng ?? new Rng(0);
    const fanIn = kernel * kernel;
    this.weight = parameter(uniformInit([kernel, kernel, channels], fanIn, rng, opts.gain));
    this.bias = opts.bias === false ? null : parameter(uniformInit([channels], fanIn, rng));
    const { rng: _r, gain: _g, bias: _b, ...conv } = opts;
    this.options = conv;
  }

  forward(x: Tensor): Tensor {
    return depthwiseConv2d(x, this.weight, this.bias, this.options);
  }
}

/** Dropout whose masks come from a seeded generator (saved with checkpoints for exact resumes). */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    private readonly rng: Rng,
  ) {
    super();
  }

  forward(x: Tensor): Tensor {
    return dropout(x, this.p, { training: this.training, seed: this.training ? this.rng.u32() : 0 });
  }
}
