// SharpMask's top-down refinement (Pinheiro, Lin, Collobert, Dollár, "Learning to Refine Object
// Segments", ECCV 2016; the official SharpMask.lua). The coarse mask's embedding is decoded into a
// small map at the trunk's stride; each stage adds a "horizontal" branch over an earlier, finer trunk
// map to a "vertical" branch over the mask so far, and doubles the resolution (nearest neighbour, as
// the official code does), down to a logit for every pixel of the window. The convolution after each
// doubling runs folded at the lower resolution (Conv2d.forwardUpsampled), the same function.
//
// The horizontal branches see only the trunk, so inference runs them once over each whole scaled
// image and cuts each window's part out of their small outputs. Training runs them on windows of
// the trunk maps cut with CONTEXT cells around them, unpadded, which gives exactly those parts.
import { Conv2d, Linear } from '../graph/layers.js';
import { Module } from '../graph/module.js';
import { add, addRelu, concatRows, conv2d, cropWindows, gatherRows, mul, reshape, resizeBilinear } from '../graph/ops.js';
import type { Rng } from '../graph/random.js';
import { Tensor } from '../graph/tensor.js';
import type { RefineSpec } from './presets.js';
import type { Trunk } from './trunks.js';

/** Cells of context around a window that its horizontal branches (three 3x3 convolutions) read. */
export const SKIP_CONTEXT = 3;

/**
 * He-uniform gain for the convolutions, every one of which feeds a ReLU (the stage sums are
 * rectified): with Torch's default (gain 1) the signal shrinks about threefold a layer, the eight
 * layers between the embedding and the mask leave a nearly constant output, and training settles
 * on the background prior with every ReLU dead.
 */
const RELU_GAIN = Math.sqrt(6);

/** One stage: vertical n -> n -> n/2 on the mask, horizontal C -> h -> n -> n/2 on a trunk map. */
export class RefineStage extends Module {
  readonly vertical: Conv2d[];
  readonly horizontal: Conv2d[];

  constructor(channels: number, n: number, width: number, rng: Rng) {
    super();
    const o = { pad: 1, rng, gain: RELU_GAIN };
    this.vertical = [new Conv2d(n, n, 3, { ...o, relu: true }), new Conv2d(n, n / 2, 3, o)];
    this.horizontal = [new Conv2d(channels, width, 3, { ...o, relu: true }), new Conv2d(width, n, 3, { ...o, relu: true }), new Conv2d(n, n / 2, 3, o)];
  }

  /** The horizontal branch with zero padding `pad` around its input (1: a whole map; 0: a window with context). */
  skip(x: Tensor, pad: 0 | 1, onMap?: Float32Array | null): Tensor {
    return this.horizontal.reduce((h, l, j) => {
      const out = conv2d(h, l.weight, l.bias, { ...l.options, pad });
      return onMap && j < this.horizontal.length - 1 ? mul(out, offMapZeroed(out, onMap, x.shape[1]!, j + 1)) : out;
    }, x);
  }
}

export class Refinement extends Module {
  /** The embedding decoded into an F x F map of `spec.mask` channels (the official M0). */
  readonly encode: Linear;
  readonly stages: RefineStage[];
  /** The last stage's output to one logit per pixel. */
  readonly out: Conv2d;
  /** Side of the window's map at the first stage (the trunk's output for one window). */
  readonly featureSize: number;
  readonly #spec: RefineSpec;

  constructor(spec: RefineSpec, trunk: Trunk, featureSize: number, embedWidth: number, rng: Rng) {
    super();
    checkRefineSpec(spec, trunk);
    this.#spec = spec;
    this.featureSize = featureSize;
    const F = featureSize,
      km = spec.mask;
    this.encode = new Linear(embedWidth, F * F * km, { rng });
    this.stages = spec.skips.map((name, i) => new RefineStage(trunk.tap!(name).channels, km >> i, spec.skipWidths[i]!, rng));
    this.out = new Conv2d(km >> spec.skips.length, 1, 3, { pad: 1, rng });
    // Adding to the coarse mask, the refinement starts as no change at all (a zero last layer, as
    // residual branches are started): training begins from the coarse masks' quality, and the
    // gradient reaches the last layer from the first step and the others once it has moved.
    if (spec.coarse) for (const t of [this.out.weight, this.out.bias!]) t.replaceStorage(Tensor.from(new Float32Array(t.size), t.shape, { rt: t.rt }));
  }

  /** The trunk layers the horizontal branches read, from the trunk's stride down by halves. */
  get skips(): readonly string[] {
    return this.#spec.skips;
  }

  /** Side of a window's map at stage i (F * 2^i); the mask's side is windowSide(stages). */
  windowSide(i: number): number {
    return this.featureSize << i;
  }

  /** Side of the refined mask (the whole window at full resolution when the skips reach stride 2). */
  get maskSize(): number {
    return this.windowSide(this.stages.length);
  }

  /**
   * Every stage's horizontal branch over a whole image's trunk maps (one per skip, [1, Hi, Wi, Ci]),
   * zero-padded as the trunk pads: [1, Hi, Wi, n_i / 2], small maps that windows are cut from.
   */
  skipMaps(taps: readonly Tensor[]): Tensor[] {
    return this.stages.map((s, i) => s.skip(taps[i]!, 1));
  }

  /**
   * The horizontal branches on windows cut from the trunk maps with SKIP_CONTEXT cells on every side
   * ([n, s_i + 6, s_i + 6, C_i], zeros off the map), unpadded: [n, s_i, s_i, n_i / 2], equal to
   * skipMaps() cut at the windows. Where a window's context leaves the map, `onMap[i]`
   * ([n, s_i + 6, s_i + 6], 1 on the map) zeroes the inner layers' outputs there, as the whole
   * map's zero padding does; null where every window's context lies on the map.
   */
  skipWindows(crops: readonly Tensor[], onMap?: readonly (Float32Array | null)[]): Tensor[] {
    return this.stages.map((s, i) => s.skip(crops[i]!, 0, onMap?.[i]));
  }

  /**
   * Windows cut from skipMaps() outputs for windows (r, c) on the trunk's grid: rows
   * [r 2^i, (r + F) 2^i) at stage i. Several images' maps are cut in one call (`image` indexes `maps`).
   */
  cropSkips(maps: readonly (readonly Tensor[])[], cells: readonly { image: number; r: number; c: number }[]): Tensor[] {
    // Each image's windows in one cut, then the rows put back in the order of `cells`.
    const order = maps.flatMap((_, k) => cells.flatMap((c, j) => (c.image === k ? [j] : [])));
    const inOrder = order.every((j, row) => j === row);
    const rowOf = new Array<number>(cells.length);
    order.forEach((j, row) => (rowOf[j] = row));
    return this.stages.map((_, i) => {
      const parts = maps.flatMap((m, k) => {
        const mine = cells.filter((c) => c.image === k);
        return mine.length
          ? [
              cropWindows(
                m[i]!,
                mine.map((c) => ({ image: 0, top: c.r << i, left: c.c << i })),
                this.windowSide(i),
              ),
            ]
          : [];
      });
      const joined = parts.length === 1 ? parts[0]! : concatRows(parts);
      return inOrder ? joined : gatherRows(joined, rowOf);
    });
  }

  /** Whether the refined logits add to the coarse mask's (RefineSpec.coarse). */
  get residual(): boolean {
    return !!this.#spec.coarse;
  }

  /**
   * The top-down pass: mask embeddings [n, E] and each stage's horizontal output for the same
   * windows ([n, s_i, s_i, n_i / 2]) to mask logits [n, S, S, 1] over the whole window. With
   * RefineSpec.coarse, `coarse` holds the windows' coarse mask logits [n, m, m, 1], resampled and added.
   */
  forward(embedding: Tensor, skips: readonly Tensor[], coarse?: Tensor): Tensor {
    const n = embedding.shape[0]!,
      F = this.featureSize;
    if (this.residual !== !!coarse)
      throw new Error(
        `refine: ${this.residual ? 'this refinement adds to the coarse masks: give them' : 'coarse masks given to a refinement that does not use them'}`,
      );
    // m is each stage's output before its x2 upsampling: the layer that reads the upsampled map
    // reads it through forwardUpsampled (the same sums at a quarter of the positions).
    let m = reshape(this.encode.forward(embedding), [n, F, F, this.#spec.mask]);
    this.stages.forEach((s, i) => {
      const [first, ...rest] = s.vertical;
      const v = rest.reduce((h, l) => l.forward(h), i === 0 ? first!.forward(m) : first!.forwardUpsampled(m));
      m = addRelu(v, skips[i]!);
    });
    const out = this.out.forwardUpsampled(m);
    // Half-pixel resampling: the coarse mask as the paste kernel would lay it over the window.
    return coarse ? add(out, resizeBilinear(coarse, [this.maskSize, this.maskSize], { alignCorners: false })) : out;
  }
}

/**
 * A mask of an unpadded layer's output [n, side, side, C] (its input inset by `inset` cells on
 * every side of the crop `onMap` [n, side0, side0] describes): 1 where the cell lies on the map.
 */
function offMapZeroed(out: Tensor, onMap: Float32Array, side0: number, inset: number): Tensor {
  const [n, side, , C] = out.shape as [number, number, number, number];
  if (onMap.length !== n * side0 * side0) throw new Error(`refine: onMap holds ${onMap.length} cells, expected [${n}, ${side0}, ${side0}]`);
  const keep = new Float32Array(n * side * side * C);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++)
        if (onMap[(i * side0 + y + inset) * side0 + x + inset]) keep.fill(1, ((i * side + y) * side + x) * C, ((i * side + y) * side + x + 1) * C);
  return Tensor.from(keep, out.shape, { rt: out.rt });
}

/** Checks a refinement spec against the trunk it refines (names, strides, widths). */
export function checkRefineSpec(spec: RefineSpec, trunk: Trunk): void {
  const fail = (why: string): never => {
    throw new Error(`refine: ${why}`);
  };
  if (!trunk.tap) fail('this trunk names no layers to take skip connections from (use a mobilenet or vgg trunk)');
  if (!Array.isArray(spec.skips) || spec.skips.length < 1 || spec.skips.length > 6)
    fail(`skips must list 1 to 6 trunk layers, got ${JSON.stringify(spec.skips)}`);
  if (
    !Array.isArray(spec.skipWidths) ||
    spec.skipWidths.length !== spec.skips.length ||
    !spec.skipWidths.every((w) => Number.isInteger(w) && w >= 1 && w <= 4096)
  ) {
    fail(`skipWidths must hold one integer in 1..4096 per skip (${spec.skips.length}), got ${JSON.stringify(spec.skipWidths)}`);
  }
  const k = spec.skips.length;
  if (!(Number.isInteger(spec.mask) && spec.mask >= 2 ** k && spec.mask % 2 ** k === 0 && spec.mask <= 4096))
    fail(`mask must be a multiple of 2^${k} = ${2 ** k} (halved at each of the ${k} stages), got ${JSON.stringify(spec.mask)}`);
  let stride = 0;
  spec.skips.forEach((name, i) => {
    let t: { stride: number };
    try {
      t = trunk.tap!(name);
    } catch (e) {
      return fail((e as Error).message);
    }
    if (i > 0 && t.stride * 2 !== stride)
      fail(`skip '${name}' is at stride ${t.stride}; each skip must be at half the stride of the one before (${stride / 2})`);
    stride = t.stride;
  });
}
