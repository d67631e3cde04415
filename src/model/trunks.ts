// Trunks: VGG-style stacks and SqueezeNet 1.1, with parameters named as torchvision names them
// (`features.<index>.weight`), so ImageNet weights in torchvision's layout map one to one.
import { Conv2d, DepthwiseConv2d } from '../graph/layers.js';
import { Module } from '../graph/module.js';
import { concatChannels, conv2d, depthwiseConv2d, maxPool2d, mul } from '../graph/ops.js';
import { Rng } from '../graph/random.js';
import { Tensor } from '../graph/tensor.js';
import type { MobileTrunk, SqueezeTrunk, VggTrunk } from './presets.js';

/** The shape with the most elements. */
function largest(shapes: readonly (readonly number[])[]): readonly number[] {
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  return shapes.reduce((a, b) => (size(b) > size(a) ? b : a));
}

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
  /** The shape of the largest tensor the forward pass makes for one h x w input image (for stripRows). */
  largestActivation(h: number, w: number): readonly number[];
  forward(x: Tensor): Tensor;
  /**
   * The stride and channels of a named layer's output (`blocks.3`, `features.7`), for refinement's
   * skip connections; absent where the trunk names no such layers (SqueezeNet).
   */
  tap?(name: string): { stride: number; channels: number };
  /** The trunk's output and the outputs of the named layers (see tap()), in the order given, from one forward pass. */
  forwardTaps?(x: Tensor, names: readonly string[]): { out: Tensor; taps: Tensor[] };
  /**
   * For training the top of the trunk from cached features: its last `k` stages, run unpadded on
   * the features before them with `k` cells of context on every side, so each output cell equals the
   * whole-image pass's. Absent where the trunk cannot be cut so (see `cutTrunk`). With two or more
   * stages, `onMap` ([n, F + 2k, F + 2k], 1 where an input cell lies on the map) zeroes the inner
   * stages' outputs past the map's edge, as the whole-image pass pads them.
   */
  forwardLast?(x: Tensor, k: number, onMap?: Float32Array): Tensor;
  /** The parameters of the last `k` stages. */
  lastParameters?(k: number): Tensor[];
}

/**
 * The trunk spec `k` stages short, whose output the last `k` stages (3×3, stride 1) turn into the
 * whole trunk's: VGG convolutions, MobileNet blocks. SqueezeNet's Fire modules are not cut.
 */
export function cutTrunk<T extends VggTrunk | SqueezeTrunk | MobileTrunk>(spec: T, k: number): T {
  const fail = (why: string): never => {
    throw new Error(`cannot train the last ${k} stage(s) of a ${spec.kind} trunk: ${why}`);
  };
  if (!(Number.isInteger(k) && k >= 1)) fail('the count must be a positive integer');
  if (spec.kind === 'mobilenet') {
    if (k >= spec.blocks) fail(`it has ${spec.blocks} blocks`);
    for (let b = spec.blocks - k + 1; b <= spec.blocks; b++) if (MOBILE_BLOCKS[b - 1]![1] !== 1) fail(`block ${b} has stride 2`);
    return { ...spec, blocks: spec.blocks - k };
  }
  if (spec.kind === 'vgg') {
    const tail = spec.layers.slice(-k);
    if (spec.layers.length <= k || tail.includes('M')) fail('a pooling layer is among them');
    return { ...spec, layers: spec.layers.slice(0, -k) };
  }
  return fail('Fire modules are not cut');
}

/** Receptive-field radius of a stack of (kernel, stride) layers, rounded up to a multiple of 16. */
function marginOf(layers: [number, number][]): number {
  let r = 1,
    j = 1;
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
    let cin = 3,
      index = 0;
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

  largestActivation(h: number, w: number): readonly number[] {
    const shapes = [[1, h, w, 3]];
    for (const l of this.#plan) {
      if (l === 'M') [h, w] = [Math.floor(h / 2), Math.floor(w / 2)];
      else shapes.push([1, h, w, l.outChannels]);
    }
    return largest(shapes);
  }

  forward(x: Tensor): Tensor {
    return this.#plan.reduce((h, l) => (l === 'M' ? maxPool2d(h) : l.forward(h)), x);
  }

  tap(name: string): { stride: number; channels: number } {
    const conv = this.features[name.replace(/^features\./, '')];
    if (!name.startsWith('features.') || !conv)
      throw new Error(
        `vgg trunk: no convolution '${name}' (have ${Object.keys(this.features)
          .map((k) => `features.${k}`)
          .join(', ')})`,
      );
    const at = this.#plan.indexOf(conv);
    return { stride: 2 ** this.#plan.slice(0, at).filter((l) => l === 'M').length, channels: conv.outChannels };
  }

  forwardTaps(x: Tensor, names: readonly string[]): { out: Tensor; taps: Tensor[] } {
    const wanted = names.map((n) => (this.tap(n), this.features[n.slice('features.'.length)]!));
    const at = new Map<Conv2d, Tensor>();
    let h = x;
    for (const l of this.#plan) {
      h = l === 'M' ? maxPool2d(h) : l.forward(h);
      if (l !== 'M') at.set(l, h);
    }
    return { out: h, taps: wanted.map((l) => at.get(l)!) };
  }

  #last(k: number): Conv2d[] {
    const tail = this.#plan.slice(-k);
    if (k < 1 || k >= this.#plan.length || tail.includes('M')) throw new Error(`VggFeatures: cannot run the last ${k} layer(s) alone (cutTrunk)`);
    return tail as Conv2d[];
  }

  forwardLast(x: Tensor, k: number, onMap?: Float32Array): Tensor {
    return runStages(this.#last(k), x, onMap, (h, l) => conv2d(h, l.weight, l.bias, { ...l.options, pad: 0 }));
  }

  lastParameters(k: number): Tensor[] {
    return this.#last(k).flatMap((l) => l.parameters());
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
  readonly margin = marginOf([
    [3, 2],
    [3, 2],
    [3, 1],
    [3, 1],
    [3, 2],
    [3, 1],
    [3, 1],
    [3, 2],
    [3, 1],
    [3, 1],
    [3, 1],
    [3, 1],
  ]);

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

  largestActivation(h: number, w: number): readonly number[] {
    // The widest tensor is a Fire output (512 ch at stride 16) or conv0's (64 ch at stride 2).
    const c0 = (n: number) => Math.floor((n - 3) / 2) + 1;
    const s2 = (n: number) => Math.ceil((n - 3) / 2) + 1;
    const [h1, w1] = [c0(h), c0(w)];
    const [h2, w2] = [s2(h1), s2(w1)];
    return largest([
      [1, h, w, 3],
      [1, h1, w1, 64],
      [1, h2, w2, 128],
      [1, s2(h2), s2(w2), 256],
      [1, s2(s2(h2)), s2(s2(w2)), 512],
    ]);
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

/** MobileNetV1's depthwise-separable block: 3x3 depthwise (stride 1 or 2), then 1x1 pointwise, each with ReLU6. */
export class MobileBlock extends Module {
  readonly depthwise: DepthwiseConv2d;
  readonly pointwise: Conv2d;

  constructor(
    cin: number,
    cout: number,
    readonly stride: number,
    rng: Rng,
  ) {
    super();
    this.depthwise = new DepthwiseConv2d(cin, 3, { stride, pad: 'same', relu6: true, rng, gain: RELU_GAIN });
    this.pointwise = new Conv2d(cin, cout, 1, { relu6: true, rng, gain: RELU_GAIN });
  }

  forward(x: Tensor): Tensor {
    return this.pointwise.forward(this.depthwise.forward(x));
  }
}

/** MobileNetV1 width 1.0: (output channels, stride) of blocks 1..13. */
const MOBILE_BLOCKS: [number, number][] = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/**
 * MobileNetV1 through block `blocks`, named as the ImageNet weights file names it (`conv0`,
 * `blocks.<k>.depthwise`, `blocks.<k>.pointwise`). TensorFlow SAME padding, ReLU6 everywhere.
 *
 * SAME pads a stride-2 layer's odd-sized input on both sides but an even one only below/right, so
 * features would shift with the input size's parity (and strips of one image would not stitch).
 * The first convolution therefore treats the input as zero-padded below/right to a multiple of the
 * trunk's stride: every later stride-2 layer then sees even sizes. Zero is mid-grey after x/127.5 - 1,
 * DeepMask's value for "no image". For inputs that are already multiples it is exactly SAME.
 */
export class MobileFeatures extends Module implements Trunk {
  readonly conv0: Conv2d;
  readonly blocks: Record<string, MobileBlock> = {};
  readonly outChannels: number;
  readonly margin: number;
  /** Product of the strides: inputs are padded to a multiple of it. */
  readonly stride: number;
  readonly #order: MobileBlock[] = [];

  constructor(spec: MobileTrunk, rng: Rng) {
    super();
    if (!(Number.isInteger(spec.blocks) && spec.blocks >= 1 && spec.blocks <= 13)) throw new Error(`mobilenet trunk: blocks must be 1..13, got ${spec.blocks}`);
    this.conv0 = new Conv2d(3, 32, 3, { stride: 2, relu6: true, rng, gain: RELU_GAIN });
    let cin = 32,
      stride = 2;
    const rf: [number, number][] = [[3, 2]];
    for (let k = 1; k <= spec.blocks; k++) {
      const [cout, s] = MOBILE_BLOCKS[k - 1]!;
      const b = new MobileBlock(cin, cout, s, rng);
      this.blocks[String(k)] = b;
      this.#order.push(b);
      rf.push([3, s]);
      cin = cout;
      stride *= s;
    }
    this.outChannels = cin;
    this.stride = stride;
    this.margin = marginOf(rf);
  }

  outputSize(size: number): number {
    return Math.ceil(size / this.stride);
  }

  largestActivation(h: number, w: number): readonly number[] {
    const up = (n: number) => Math.ceil(n / this.stride) * this.stride;
    let [H, W] = [up(h) / 2, up(w) / 2];
    const shapes = [
      [1, h, w, 3],
      [1, H, W, 32],
    ];
    let cin = 32;
    for (const b of this.#order) {
      [H, W] = [H / b.stride, W / b.stride];
      shapes.push([1, H, W, Math.max(cin, b.pointwise.outChannels)]);
      cin = b.pointwise.outChannels;
    }
    return largest(shapes);
  }

  forward(x: Tensor): Tensor {
    return this.forwardTaps(x, []).out;
  }

  tap(name: string): { stride: number; channels: number } {
    if (name === 'conv0') return { stride: 2, channels: 32 };
    const k = /^blocks\.(\d+)$/.exec(name) ? Number(name.slice(7)) : NaN;
    if (!(k >= 1 && k <= this.#order.length)) throw new Error(`mobilenet trunk: no layer '${name}' (have conv0 and blocks.1 to blocks.${this.#order.length})`);
    return { stride: 2 * MOBILE_BLOCKS.slice(0, k).reduce((s, [, st]) => s * st, 1), channels: MOBILE_BLOCKS[k - 1]![0] };
  }

  forwardTaps(x: Tensor, names: readonly string[]): { out: Tensor; taps: Tensor[] } {
    for (const n of names) this.tap(n);
    const [, H, W] = x.shape as [number, number, number, number];
    const up = (n: number) => Math.ceil(n / this.stride) * this.stride;
    // SAME on the padded input: nothing above/left, the rest below/right (see the class comment).
    const pad = [0, 0, up(H) - H + 1, up(W) - W + 1] as const;
    const out = new Map<string, Tensor>();
    let h = conv2d(x, this.conv0.weight, this.conv0.bias, { stride: 2, pad, relu6: true });
    out.set('conv0', h);
    this.#order.forEach((b, i) => {
      h = b.forward(h);
      out.set(`blocks.${i + 1}`, h);
    });
    return { out: h, taps: names.map((n) => out.get(n)!) };
  }

  #last(k: number): MobileBlock[] {
    const tail = this.#order.slice(-k);
    if (k < 1 || k >= this.#order.length || tail.some((b) => b.stride !== 1))
      throw new Error(`MobileFeatures: cannot run the last ${k} block(s) alone (cutTrunk)`);
    return tail;
  }

  forwardLast(x: Tensor, k: number, onMap?: Float32Array): Tensor {
    const dw = (h: Tensor, l: DepthwiseConv2d) => depthwiseConv2d(h, l.weight, l.bias, { ...l.options, pad: 0 });
    return runStages(this.#last(k), x, onMap, (h, b) => b.pointwise.forward(dw(h, b.depthwise)));
  }

  lastParameters(k: number): Tensor[] {
    return this.#last(k).flatMap((b) => b.parameters());
  }
}

/**
 * Stage outputs of the last `k` stages run unpadded (forwardLast): between stages, the cells past the
 * map's edge are zeroed (the whole-image pass pads each stage's input with zeros there).
 */
function runStages<L>(stages: readonly L[], x: Tensor, onMap: Float32Array | undefined, run: (h: Tensor, l: L) => Tensor): Tensor {
  const k = stages.length;
  const [n, side0] = x.shape as [number, number];
  if (k > 1 && onMap?.length !== n * side0 * side0) throw new Error(`forwardLast: ${k} stages need onMap, [${n}, ${side0}, ${side0}]`);
  return stages.reduce((h, l, j) => {
    const out = run(h, l);
    if (j === k - 1) return out;
    // The output's cells are the input's inset by j + 1 on every side.
    const [, side, , C] = out.shape as [number, number, number, number];
    const inset = j + 1,
      keep = new Float32Array(n * side * side * C);
    for (let i = 0; i < n; i++)
      for (let y = 0; y < side; y++)
        for (let x0 = 0; x0 < side; x0++) {
          if (onMap![(i * side0 + y + inset) * side0 + x0 + inset]) keep.fill(1, ((i * side + y) * side + x0) * C, ((i * side + y) * side + x0 + 1) * C);
        }
    return mul(out, Tensor.from(keep, out.shape));
  }, x);
}

export function buildTrunk(spec: VggTrunk | SqueezeTrunk | MobileTrunk, rng: Rng): Trunk {
  if (spec.kind === 'vgg') return new VggFeatures(spec, rng);
  if (spec.kind === 'mobilenet') return new MobileFeatures(spec, rng);
  return new SqueezeFeatures(spec, rng);
}
