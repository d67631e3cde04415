// Trunks: VGG-style stacks and SqueezeNet 1.1, with parameters named as torchvision names them
// (`features.<index>.weight`), so ImageNet weights in torchvision's layout map one to one.
import { Conv2d } from '../graph/layers.js';
import { Module } from '../graph/module.js';
import { concatChannels, maxPool2d } from '../graph/ops.js';
import { Rng } from '../graph/random.js';
import type { Tensor } from '../graph/tensor.js';
import type { SqueezeTrunk, VggTrunk } from './presets.js';

/** He-uniform gain for convolutions followed by a ReLU (trunks train from scratch when no weights are given). */
const RELU_GAIN = Math.sqrt(6);

export interface Trunk extends Module {
  readonly outChannels: number;
  /** Side of the output map for a square input of side `size`. */
  outputSize(size: number): number;
  forward(x: Tensor): Tensor;
}

export class VggFeatures extends Module implements Trunk {
  /** Convolutions by torchvision `features` index (ReLU and pool entries take indices too). */
  readonly features: Record<string, Conv2d> = {};
  readonly outChannels: number;
  /** Layers in order; a private field, so parameters are listed once (under `features`). */
  readonly #plan: (Conv2d | 'M')[] = [];

  constructor(spec: VggTrunk, rng: Rng) {
    super();
    let cin = 3, index = 0;
    for (const l of spec.layers) {
      if (l === 'M') {
        this.#plan.push('M');
        index += 1;
      } else {
        const conv = new Conv2d(cin, l, 3, { pad: 1, relu: true, rng, gain: RELU_GAIN });
        this.features[String(index)] = conv;
        this.#plan.push(conv);
        cin = l;
        index += 2;
      }
    }
    this.outChannels = cin;
  }

  outputSize(size: number): number {
    return this.#plan.reduce((s, l) => (l === 'M' ? Math.floor(s / 2) : s), size);
  }

  forward(x: Tensor): Tensor {
    return this.#plan.reduce((h, l) => (l === 'M' ? maxPool2d(h) : l.forward(h)), x);
  }
}

/** SqueezeNet's Fire module: squeeze 1×1, then expand 1×1 and 3×3 side by side (1×1 first). */
export class Fire extends Module {
  readonly squeeze: Conv2d;
  readonly expand1x1: Conv2d;
  readonly expand3x3: Conv2d;

  constructor(cin: number, s: number, e1: number, e3: number, rng: Rng) {
    super();
    this.squeeze = new Conv2d(cin, s, 1, { relu: true, rng, gain: RELU_GAIN });
    this.expand1x1 = new Conv2d(s, e1, 1, { relu: true, rng, gain: RELU_GAIN });
    this.expand3x3 = new Conv2d(s, e3, 3, { pad: 1, relu: true, rng, gain: RELU_GAIN });
  }

  forward(x: Tensor): Tensor {
    const s = this.squeeze.forward(x);
    return concatChannels(this.expand1x1.forward(s), this.expand3x3.forward(s));
  }
}

/** torchvision `squeezenet1_1().features`: 512 channels at stride 16. */
export class SqueezeFeatures extends Module implements Trunk {
  readonly features: Record<string, Conv2d | Fire>;
  readonly outChannels = 512;

  constructor(_spec: SqueezeTrunk, rng: Rng) {
    super();
    const fire = (cin: number, s: number, e: number) => new Fire(cin, s, e, e, rng);
    this.features = {
      '0': new Conv2d(3, 64, 3, { stride: 2, relu: true, rng, gain: RELU_GAIN }),
      '3': fire(64, 16, 64),
      '4': fire(128, 16, 64),
      '6': fire(128, 32, 128),
      '7': fire(256, 32, 128),
      '9': fire(256, 48, 192),
      '10': fire(384, 48, 192),
      '11': fire(384, 64, 256),
      '12': fire(512, 64, 256),
    };
  }

  outputSize(size: number): number {
    const pool = (n: number) => {
      let out = Math.ceil((n - 3) / 2) + 1;
      if ((out - 1) * 2 >= n) out--;
      return out;
    };
    return pool(pool(pool(Math.floor((size - 3) / 2) + 1)));
  }

  forward(x: Tensor): Tensor {
    const f = this.features;
    const pool = (h: Tensor) => maxPool2d(h, { kernel: 3, stride: 2, ceil: true });
    let h = pool(f['0']!.forward(x));
    h = pool(f['4']!.forward(f['3']!.forward(h)));
    h = pool(f['7']!.forward(f['6']!.forward(h)));
    for (const k of ['9', '10', '11', '12']) h = f[k]!.forward(h);
    return h;
  }
}

export function buildTrunk(spec: VggTrunk | SqueezeTrunk, rng: Rng): Trunk {
  return spec.kind === 'vgg' ? new VggFeatures(spec, rng) : new SqueezeFeatures(spec, rng);
}
