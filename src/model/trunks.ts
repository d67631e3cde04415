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
  /**
   * Input pixels of context around a region whose features must come out exactly as on the whole
   * image (the receptive field's radius, a multiple of the stride): strips overlapping by this much
   * can be run one at a time and stitched.
   */
  readonly margin: number;
  /** Side of the output map for a square input of side `size`. */
  outputSize(size: number): number;
  /** Bytes of the largest tensor the forward pass makes for one h x w input image. */
  activationBytes(h: number, w: number): number;
  forward(x: Tensor): Tensor;
}

/** Receptive-field radius of a stack of (kernel, stride) layers, rounded up to a multiple of 16. */
function marginOf(layers: [number, number][]): number {
  let r = 1, j = 1;
  for (const [k, s] of layers) {
    r += (k - 1) * j;
    j *= s;
  }
  return Math.ceil((r - 1) / 2 / 16) * 16;
}

export class VggFeatures extends Module implements Trunk {
  /** Convolutions by torchvision `features` index (ReLU and pool entries take indices too). */
  readonly features: Record<string, Conv2d> = {};
  readonly outChannels: number;
  readonly margin: number;
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
    this.margin = marginOf(this.#plan.map((l) => (l === 'M' ? [2, 2] : [3, 1])));
  }

  outputSize(size: number): number {
    return this.#plan.reduce((s, l) => (l === 'M' ? Math.floor(s / 2) : s), size);
  }

  activationBytes(h: number, w: number): number {
    let most = h * w * 3 * 4;
    for (const l of this.#plan) {
      if (l === 'M') [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
      else most = Math.max(most, h * w * l.outChannels * 4);
    }
    return most;
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
  // conv 3x3/2, pool 3x3/2, fire, fire, pool, fire, fire, pool, four fires (a Fire's widest kernel is 3x3).
  readonly margin = marginOf([[3, 2], [3, 2], [3, 1], [3, 1], [3, 2], [3, 1], [3, 1], [3, 2], [3, 1], [3, 1], [3, 1], [3, 1]]);

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

  activationBytes(h: number, w: number): number {
    // The widest tensor is a Fire output (512 ch at stride 16) or conv0's (64 ch at stride 2).
    const c0 = (n: number) => Math.floor((n - 3) / 2) + 1;
    const s2 = (n: number) => Math.ceil((n - 3) / 2) + 1;
    const [h1, w1] = [c0(h), c0(w)];
    const [h2, w2] = [s2(h1), s2(w1)];
    return 4 * Math.max(h * w * 3, h1 * w1 * 64, h2 * w2 * 128, s2(h2) * s2(w2) * 256, s2(s2(h2)) * s2(s2(w2)) * 512);
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
