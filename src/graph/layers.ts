// Layers built from ops. Weight layouts are the engine's: Linear [in, out].
import { linear } from './ops.js';
import { Module, parameter } from './module.js';
import { Rng } from './random.js';
import { Tensor } from './tensor.js';

/** Torch's default init: U(-1/sqrt(fanIn), 1/sqrt(fanIn)). */
export function uniformInit(shape: readonly number[], fanIn: number, rng: Rng): Tensor {
  const bound = 1 / Math.sqrt(fanIn);
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
    opts: { bias?: boolean; rng?: Rng; relu?: boolean } = {},
  ) {
    super();
    const rng = opts.rng ?? new Rng(0);
    this.weight = parameter(uniformInit([inFeatures, outFeatures], inFeatures, rng));
    this.bias = opts.bias === false ? null : parameter(uniformInit([outFeatures], inFeatures, rng));
    this.relu = !!opts.relu;
  }

  forward(x: Tensor): Tensor {
    return linear(x, this.weight, this.bias, { relu: this.relu });
  }
}
