// Differentiable vision ops over NHWC tensors: convolution, pooling (incl. OverFeat fine-stride),
// bilinear resampling, dropout, channel concatenation. Re-exported through ops.
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward, convGeometry, type Padding } from '../kernels/conv2d.js';
import { depthwiseBackwardInput, depthwiseBackwardWeight, depthwiseForward } from '../kernels/depthwise.js';
import { map, MapOp } from '../kernels/elementwise.js';
import {
  concatChannels as concatKernel,
  cropWindows as cropKernel,
  depthToSpace as depthToSpaceKernel,
  interleave as interleaveKernel,
  sliceChannels,
  transpose,
  upsampleNearest as upsampleKernel,
} from '../kernels/layout.js';
import { maxPoolBackward, maxPoolForward, poolOutputSize, type PoolGeometry } from '../kernels/pool.js';
import {
  resampleImage as resampleKernel,
  resizeBilinear as resizeKernel,
  resizeBilinearBackward,
  type ImageFraming,
  type ResizeGeometry,
} from '../kernels/resize.js';
import { dropout as dropoutKernel } from '../kernels/dropout.js';
import { meanSigmoidAbove as confidenceKernel, sumRows } from '../kernels/reduce.js';
import { record } from './autograd.js';
import { linear, reshape } from './core.js';
import { concatRows } from './rows.js';
import { shapeStr, Tensor } from './tensor.js';

function nhwc(op: string, x: Tensor): [number, number, number, number] {
  if (x.shape.length !== 4) throw new Error(`${op}: expected an NHWC tensor, got ${shapeStr(x.shape)}`);
  return x.shape as unknown as [number, number, number, number];
}

/** A transposed copy: out[b, c, r] = t[b, r, c] (not differentiable; used for weight gradients). */
export function transposed(t: Tensor, B: number, rows: number, cols: number, shape: readonly number[]): Tensor {
  const out = Tensor.empty(shape, { rt: t.rt });
  transpose(t.rt, t.view(), out.view(), B, rows, cols);
  return out;
}

export interface Conv2dOptions {
  stride?: number;
  /** Zeros on every side, or 'same' (TensorFlow: out = ceil(in / stride), the odd extra row/column below and right). */
  pad?: Padding;
  dilation?: number;
  relu?: boolean;
  /** ReLU6: the fused ReLU clamped at 6 (MobileNet). */
  relu6?: boolean;
}

/** ReLU6's upper clamp. */
const RELU6 = 6;
const F32_MAX = 3.4e38;

/** The upstream gradient where a clamped ReLU's output lies strictly inside (0, max). */
function clampedReluGrad(out: Tensor, g: Tensor, max: number): Tensor {
  const gz = Tensor.empty(g.shape, { rt: g.rt });
  map(g.rt, { op: MapOp.RELU_CAP_GRAD, out: gz.view(), n: g.size, a: out.view(), b: g.view(), alpha: max });
  return gz;
}

/**
 * 2-D convolution: x [N, H, W, Cin], w [KH, KW, Cin, Cout] (our layout; PyTorch's [Cout, Cin, KH, KW]
 * is converted at import), b [Cout]; zero padding, dilation, optional fused ReLU or ReLU6. 1×1
 * convolutions with stride 1 run as a plain GEMM. w may be f16 (see half()): inference only.
 */
export function conv2d(x: Tensor, w: Tensor, b?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  const [N, H, W, Cin] = nhwc('conv2d', x);
  if (w.shape.length !== 4 || w.shape[2] !== Cin)
    throw new Error(`conv2d: weight ${shapeStr(w.shape)} does not match input ${shapeStr(x.shape)} ([KH, KW, Cin, Cout])`);
  const [KH, KW, , Cout] = w.shape as [number, number, number, number];
  const g = convGeometry({ N, H, W, Cin, Cout, KH, KW }, o);
  if (b && b.size !== Cout) throw new Error(`conv2d: bias has ${b.size} elements, expected ${Cout}`);
  if (g.OH <= 0 || g.OW <= 0) throw new Error(`conv2d: a ${KH}x${KW} kernel (dilation ${g.dil}, padding ${o.pad ?? 0}) does not fit a ${H}x${W} input`);
  const relu = !!o.relu || !!o.relu6;

  if (KH === 1 && KW === 1 && g.stride === 1 && g.padY === 0 && g.padX === 0 && g.OH === H && g.OW === W) {
    const y = linear(reshape(x, [N * H * W, Cin]), reshape(w, [Cin, Cout]), b, { relu: o.relu, relu6: o.relu6 });
    return reshape(y, [N, H, W, Cout]);
  }

  const out = Tensor.empty([N, g.OH, g.OW, Cout], { rt: x.rt });
  const weights = w.dtype === 'f16' ? { w: w.halfView(), half: true } : { w: w.view() };
  conv2dForward(x.rt, { x: x.view(), ...weights, ...(b ? { bias: b.view() } : {}), y: out.view(), g, relu, ...(o.relu6 ? { reluMax: RELU6 } : {}) });
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, o.relu6 ? 'conv2d_relu6' : relu ? 'conv2d_relu' : 'conv2d', inputs, (gy) => {
    // With a fused ReLU the kernels read gy only where the output was positive (no masked copy);
    // ReLU6 masks the gradient once first.
    const masked = o.relu6 ? clampedReluGrad(out, gy, RELU6) : gy;
    const act = relu && !o.relu6 ? { act: out.view() } : {};
    let dx: Tensor | null = null,
      dw: Tensor | null = null,
      db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape, { rt: x.rt });
      conv2dBackwardInput(x.rt, { dy: masked.view(), w: w.view(), dx: dx.view(), g, ...act });
    }
    if (w.requiresGrad) {
      dw = Tensor.empty(w.shape, { rt: x.rt });
      conv2dBackwardWeight(x.rt, { x: x.view(), dy: masked.view(), dw: dw.view(), g, ...act });
    }
    if (b?.requiresGrad) {
      db = Tensor.empty([Cout], { rt: x.rt });
      sumRows(x.rt, masked.view(), db.view(), N * g.OH * g.OW, Cout, 1, act.act);
    }
    return b ? [dx, dw, db] : [dx, dw];
  });
}

/**
 * Depthwise 2-D convolution (one filter per channel, PyTorch's groups = C): x [N, H, W, C],
 * w [KH, KW, C], b [C]; stride, dilation, zero or SAME padding, optional fused ReLU or ReLU6. w may be
 * f16 (see half()): inference only.
 */
export function depthwiseConv2d(x: Tensor, w: Tensor, b?: Tensor | null, o: Conv2dOptions = {}): Tensor {
  const [N, H, W, C] = nhwc('depthwiseConv2d', x);
  if (w.shape.length !== 3 || w.shape[2] !== C)
    throw new Error(`depthwiseConv2d: weight ${shapeStr(w.shape)} does not match input ${shapeStr(x.shape)} ([KH, KW, C])`);
  const [KH, KW] = w.shape as [number, number, number];
  const g = convGeometry({ N, H, W, Cin: C, Cout: C, KH, KW }, o);
  if (b && b.size !== C) throw new Error(`depthwiseConv2d: bias has ${b.size} elements, expected ${C}`);
  if (g.OH <= 0 || g.OW <= 0)
    throw new Error(`depthwiseConv2d: a ${KH}x${KW} kernel (dilation ${g.dil}, padding ${o.pad ?? 0}) does not fit a ${H}x${W} input`);
  const relu = !!o.relu || !!o.relu6,
    max = o.relu6 ? RELU6 : undefined;
  const out = Tensor.empty([N, g.OH, g.OW, C], { rt: x.rt });
  depthwiseForward(x.rt, {
    x: x.view(),
    ...(w.dtype === 'f16' ? { w: w.halfView(), half: true } : { w: w.view() }),
    ...(b ? { bias: b.view() } : {}),
    y: out.view(),
    g,
    relu,
    ...(max ? { reluMax: max } : {}),
  });
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, 'depthwise_conv2d', inputs, (gy) => {
    const masked = relu ? clampedReluGrad(out, gy, max ?? F32_MAX) : gy;
    let dx: Tensor | null = null,
      dw: Tensor | null = null,
      db: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape, { rt: x.rt });
      depthwiseBackwardInput(x.rt, { dy: masked.view(), w: w.view(), dx: dx.view(), g });
    }
    if (w.requiresGrad) {
      dw = Tensor.empty(w.shape, { rt: x.rt });
      depthwiseBackwardWeight(x.rt, { x: x.view(), dy: masked.view(), dw: dw.view(), g });
    }
    if (b?.requiresGrad) {
      db = Tensor.empty([C], { rt: x.rt });
      sumRows(x.rt, masked.view(), db.view(), N * g.OH * g.OW, C, 1);
    }
    return b ? [dx, dw, db] : [dx, dw];
  });
}

function maxPool(x: Tensor, g: PoolGeometry, op: string): Tensor {
  const out = Tensor.empty([g.N * g.offsets, g.OH, g.OW, g.C], { rt: x.rt });
  const argmax = Tensor.empty(out.shape, { rt: x.rt, dtype: 'u32' });
  maxPoolForward(x.rt, { x: x.view(), y: out.view(), argmax: argmax.view(), g });
  return record(
    out,
    op,
    [x],
    (gy) => {
      const dx = Tensor.empty(x.shape, { rt: x.rt });
      maxPoolBackward(x.rt, { dy: gy.view(), argmax: argmax.view(), dx: dx.view(), g });
      return [dx];
    },
    [argmax],
  );
}

export interface PoolOptions {
  kernel?: number;
  stride?: number;
  /** Keep a last partial window (PyTorch ceil_mode), as SqueezeNet's pools do. */
  ceil?: boolean;
}

/** Max pooling (default 2×2, stride 2); the backward pass gathers through stored argmax positions. */
export function maxPool2d(x: Tensor, o: PoolOptions = {}): Tensor {
  const [N, H, W, C] = nhwc('maxPool2d', x);
  const k = o.kernel ?? 2,
    stride = o.stride ?? k;
  const OH = poolOutputSize(H, k, stride, !!o.ceil),
    OW = poolOutputSize(W, k, stride, !!o.ceil);
  if (OH <= 0 || OW <= 0) throw new Error(`maxPool2d: a ${k}x${k} window does not fit a ${H}x${W} input`);
  return maxPool(x, { N, H, W, C, OH, OW, k, stride, offsets: 1 }, 'max_pool2d');
}

/**
 * OverFeat fine-stride pooling: 2×2 stride-2 max pooling at each offset (dy, dx) in {0,1}², as four
 * images per input image: [N, H, W, C] -> [N*4, h, w, C] with image n*4 + dy*2 + dx and
 * h = floor((H-1)/2). Layers applied to the result and then `interleave`d produce a map at twice the
 * pooled resolution.
 */
export function fineStridePool(x: Tensor): Tensor {
  const [N, H, W, C] = nhwc('fineStridePool', x);
  const OH = Math.floor((H - 1) / 2),
    OW = Math.floor((W - 1) / 2);
  if (OH <= 0 || OW <= 0) throw new Error(`fineStridePool: input ${H}x${W} is too small`);
  return maxPool(x, { N, H, W, C, OH, OW, k: 2, stride: 2, offsets: 4 }, 'fine_stride_pool');
}

/** [N*4, h, w, C] (offset images from fineStridePool) -> [N, 2h, 2w, C]: out[n, 2i+dy, 2j+dx] = x[n*4+dy*2+dx, i, j]. */
export function interleave(x: Tensor): Tensor {
  const [N4, h, w, C] = nhwc('interleave', x);
  if (N4 % 4 !== 0) throw new Error(`interleave: batch ${N4} is not a multiple of 4`);
  const p = { N: N4 / 4, h, w, C };
  const out = Tensor.empty([N4 / 4, 2 * h, 2 * w, C], { rt: x.rt });
  interleaveKernel(x.rt, x.view(), out.view(), p);
  return record(out, 'interleave', [x], (g) => {
    const dx = Tensor.empty(x.shape, { rt: x.rt });
    interleaveKernel(x.rt, g.view(), dx.view(), p, true);
    return [dx];
  });
}

/** Bilinear resampling of [N, H, W, C] to [N, OH, OW, C], align-corners or half-pixel. */
export function resizeBilinear(x: Tensor, size: readonly [number, number], o: { alignCorners?: boolean } = {}): Tensor {
  const [N, IH, IW, C] = nhwc('resizeBilinear', x);
  const [OH, OW] = size;
  if (!(OH >= 1 && OW >= 1)) throw new Error(`resizeBilinear: invalid output size ${OH}x${OW}`);
  const g: ResizeGeometry = { N, IH, IW, C, OH, OW, alignCorners: o.alignCorners ?? true };
  const out = Tensor.empty([N, OH, OW, C], { rt: x.rt });
  resizeKernel(x.rt, x.view(), out.view(), g);
  return record(out, 'resize_bilinear', [x], (gy) => {
    const dx = Tensor.empty(x.shape, { rt: x.rt });
    resizeBilinearBackward(x.rt, gy.view(), dx.view(), g);
    return [dx];
  });
}

/** Nearest-neighbour upsampling of [N, H, W, C] by an integer factor: [N, f H, f W, C] (each value repeated f x f times). */
export function upsampleNearest(x: Tensor, factor = 2): Tensor {
  const [N, h, w, C] = nhwc('upsampleNearest', x);
  if (!(Number.isInteger(factor) && factor >= 1)) throw new Error(`upsampleNearest: the factor must be a positive integer, got ${factor}`);
  const p = { N, h, w, C, f: factor };
  const out = Tensor.empty([N, h * factor, w * factor, C], { rt: x.rt });
  if (out.size > 0) upsampleKernel(x.rt, x.view(), out.view(), p);
  return record(out, 'upsample_nearest', [x], (g) => {
    const dx = Tensor.empty(x.shape, { rt: x.rt });
    if (dx.size > 0) upsampleKernel(x.rt, g.view(), dx.view(), p, true);
    return [dx];
  });
}

/** Pixel shuffle: [N, h, w, 4C] -> [N, 2h, 2w, C], out[n, 2y + a, 2x + b, c] = x[n, y, x, (2a + b) C + c]. */
export function depthToSpace(x: Tensor): Tensor {
  const [N, h, w, C4] = nhwc('depthToSpace', x);
  if (C4 % 4 !== 0) throw new Error(`depthToSpace: ${C4} channels is not a multiple of 4`);
  const p = { N, h, w, C: C4 / 4 };
  const out = Tensor.empty([N, 2 * h, 2 * w, C4 / 4], { rt: x.rt });
  if (out.size > 0) depthToSpaceKernel(x.rt, x.view(), out.view(), p);
  return record(out, 'depth_to_space', [x], (g) => {
    const dx = Tensor.empty(x.shape, { rt: x.rt });
    if (dx.size > 0) depthToSpaceKernel(x.rt, g.view(), dx.view(), p, true);
    return [dx];
  });
}

const folds = new Map<number, Float32Array>();

/**
 * conv2dUpsampled's constant [36 Cin, 9 Cin] (made once per Cin): its row (r Cin + ci) 4 + phase
 * sums the taps k of input channel ci that land on offset r of x in that phase.
 */
function foldMatrix(Cin: number): Float32Array {
  let fold = folds.get(Cin);
  if (fold) return fold;
  fold = new Float32Array(36 * Cin * 9 * Cin);
  for (let a = 0; a < 2; a++)
    for (let bx = 0; bx < 2; bx++)
      for (let ky = 0; ky < 3; ky++)
        for (let kx = 0; kx < 3; kx++) {
          // Tap (ky, kx) of phase (a, bx) reads the upsampled map at 2y + a + ky - 1, i.e. x's row y + floor((a + ky - 1) / 2).
          const r = (Math.floor((a + ky - 1) / 2) + 1) * 3 + Math.floor((bx + kx - 1) / 2) + 1;
          const k = ky * 3 + kx;
          for (let ci = 0; ci < Cin; ci++) fold[((r * Cin + ci) * 4 + a * 2 + bx) * 9 * Cin + k * Cin + ci] = 1;
        }
  folds.set(Cin, fold);
  return fold;
}

/**
 * conv2d(upsampleNearest(x, 2), w, b, { pad: 1, relu }) for a 3x3 kernel w, computed at x's
 * resolution. Each pixel (2y + a, 2x + b) of the upsampled map sees only x's rows y - 1 .. y + 1 and
 * columns x - 1 .. x + 1, its taps that fall on the same pixel of x adding up; so w folds into one
 * 3x3 kernel per output phase (a, b), the four side by side as 4 Cout channels over x, which
 * depthToSpace lays out as the 2x larger map. The same sums, a quarter of the positions with four
 * times the channels (the GEMM's columns filled where Cout is 1 to 4), and the upsampled map is
 * never written. Equal to the plain form up to the order of additions, gradients included.
 */
export function conv2dUpsampled(x: Tensor, w: Tensor, b?: Tensor | null, o: { relu?: boolean } = {}): Tensor {
  const Cin = nhwc('conv2dUpsampled', x)[3];
  if (w.shape.length !== 4 || w.shape[0] !== 3 || w.shape[1] !== 3 || w.shape[2] !== Cin)
    throw new Error(`conv2dUpsampled: weight ${shapeStr(w.shape)} is not a 3x3 kernel over input ${shapeStr(x.shape)} ([3, 3, Cin, Cout])`);
  const Cout = w.shape[3]!;
  if (b && b.size !== Cout) throw new Error(`conv2dUpsampled: bias has ${b.size} elements, expected ${Cout}`);
  // The folded kernel [3, 3, Cin, 4 Cout] = foldMatrix(Cin) · w viewed as [9 Cin, Cout].
  const fold = foldMatrix(Cin);
  const folded = reshape(linear(Tensor.from(fold, [36 * Cin, 9 * Cin], { rt: x.rt }), reshape(w, [9 * Cin, Cout])), [3, 3, Cin, 4 * Cout]);
  const bias = b ? reshape(concatRows([0, 1, 2, 3].map(() => reshape(b, [1, Cout]))), [4 * Cout]) : null;
  return depthToSpace(conv2d(x, folded, bias, { pad: 1, relu: o.relu }));
}

/** A square window cut from a map: which map of the batch, and its top-left cell (may lie off the map). */
export interface WindowBox {
  image: number;
  top: number;
  left: number;
}

/**
 * Square windows of side `size` cut from maps [B, H, W, C]: [n, size, size, C], zero where a window
 * leaves its map. The gradient sums into the maps (overlapping windows add up).
 */
export function cropWindows(x: Tensor, boxes: readonly WindowBox[], size: number): Tensor {
  const [B, H, W, C] = nhwc('cropWindows', x);
  if (!(Number.isInteger(size) && size >= 1)) throw new Error(`cropWindows: the size must be a positive integer, got ${size}`);
  const table = new Int32Array(Math.max(1, boxes.length) * 3);
  boxes.forEach((b, i) => {
    if (!(Number.isInteger(b.image) && b.image >= 0 && b.image < B) || !Number.isInteger(b.top) || !Number.isInteger(b.left)) {
      throw new Error(`cropWindows: window ${i} (image ${b.image}, top ${b.top}, left ${b.left}) is not an integer position on one of ${B} maps`);
    }
    table.set([b.image, b.top, b.left], i * 3);
  });
  const n = boxes.length;
  const out = Tensor.empty([n, size, size, C], { rt: x.rt });
  if (out.size === 0) return out;
  const p = { n, s: size, B, H, W, C };
  const boxesT = Tensor.from(table, [table.length], { rt: x.rt, dtype: 'i32' });
  cropKernel(x.rt, x.view(), boxesT.view(), out.view(), p);
  return record(
    out,
    'crop_windows',
    [x],
    (g) => {
      const dx = Tensor.empty(x.shape, { rt: x.rt });
      cropKernel(x.rt, g.view(), boxesT.view(), dx.view(), p, true);
      return [dx];
    },
    [boxesT],
  );
}

/** One axis of a separable resampling: output index o is the sum of weights[o][k] * input[start[o] + k]. */
export interface ResampleAxis {
  start: ArrayLike<number>;
  weights: ArrayLike<number>[];
}

export interface ResampleImageOptions extends ImageFraming {
  rows: ResampleAxis;
  cols: ResampleAxis;
}

/**
 * An RGB image [1, IH, IW, 3] resampled by per-axis weight tables into the middle of a frame `pad`
 * pixels wide filled with `fill`, and normalised: [1, OH + 2 pad, OW + 2 pad, 3] (a network's input
 * made on the GPU from one upload of the image). No gradient.
 */
export function resampleImage(x: Tensor, o: ResampleImageOptions): Tensor {
  const [N, IH, IW, C] = nhwc('resampleImage', x);
  if (N !== 1 || C !== 3) throw new Error(`resampleImage: expects one RGB image [1, H, W, 3], got ${shapeStr(x.shape)}`);
  const OH = o.rows.start.length,
    OW = o.cols.start.length;
  if (!(OH >= 1 && OW >= 1) || o.rows.weights.length !== OH || o.cols.weights.length !== OW)
    throw new Error(`resampleImage: each axis needs one start and one weight list per output (rows ${OH}, cols ${OW})`);
  if (!(Number.isInteger(o.pad) && o.pad >= 0)) throw new Error(`resampleImage: invalid pad ${o.pad}`);
  const taps = new Uint32Array(3 * (OH + OW));
  const flat: number[] = [];
  [o.rows, o.cols].forEach((axis, a) => {
    const size = a === 0 ? IH : IW;
    for (let i = 0; i < axis.start.length; i++) {
      const w = axis.weights[i]!,
        s = axis.start[i]!;
      if (!(s >= 0 && s + w.length <= size && w.length >= 1))
        throw new Error(`resampleImage: ${a ? 'column' : 'row'} ${i} reads ${s}..${s + w.length - 1} of ${size}`);
      taps.set([s, w.length, flat.length], 3 * (a * OH + i));
      for (let k = 0; k < w.length; k++) flat.push(w[k]!);
    }
  });
  const out = Tensor.empty([1, OH + 2 * o.pad, OW + 2 * o.pad, 3], { rt: x.rt });
  const tapsT = Tensor.from(taps, [taps.length], { rt: x.rt, dtype: 'u32' });
  const weightsT = Tensor.from(Float32Array.from(flat), [flat.length], { rt: x.rt });
  resampleKernel(x.rt, { src: x.view(), dst: out.view(), table: tapsT.view(), weights: weightsT.view() }, { ...o, IH, IW, OH, OW, weightCount: flat.length });
  tapsT.dispose();
  weightsT.dispose();
  return out;
}

/**
 * Dropout in training: kept elements are scaled by 1/(1-p); the mask is a hash of (seed, index), so
 * the backward pass recomputes it. In inference (training false) it is the identity.
 */
export function dropout(x: Tensor, p: number, o: { training: boolean; seed: number }): Tensor {
  if (!o.training || p === 0) return x;
  if (!(p > 0 && p < 1)) throw new Error(`dropout: p must be in [0, 1), got ${p}`);
  const out = Tensor.empty(x.shape, { rt: x.rt });
  dropoutKernel(x.rt, x.view(), out.view(), x.size, p, o.seed);
  return record(out, 'dropout', [x], (g) => {
    const dx = Tensor.empty(x.shape, { rt: x.rt });
    dropoutKernel(x.rt, g.view(), dx.view(), x.size, p, o.seed);
    return [dx];
  });
}

/** Concatenation along the channel (last) dimension of tensors that agree in every other one. */
export function concatChannels(a: Tensor, b: Tensor): Tensor {
  const lead = a.shape.slice(0, -1);
  if (lead.join() !== b.shape.slice(0, -1).join())
    throw new Error(`concatChannels: ${shapeStr(a.shape)} and ${shapeStr(b.shape)} differ before the last dimension`);
  const ca = a.shape[a.shape.length - 1]!,
    cb = b.shape[b.shape.length - 1]!;
  const rows = a.size / ca;
  const out = Tensor.empty([...lead, ca + cb], { rt: a.rt });
  concatKernel(a.rt, a.view(), b.view(), out.view(), rows, ca, cb);
  return record(out, 'concat_channels', [a, b], (g) => {
    const ga = a.requiresGrad ? Tensor.empty(a.shape, { rt: a.rt }) : null;
    const gb = b.requiresGrad ? Tensor.empty(b.shape, { rt: a.rt }) : null;
    if (ga) sliceChannels(a.rt, g.view(), ga.view(), rows, ca + cb, 0, ca);
    if (gb) sliceChannels(a.rt, g.view(), gb.view(), rows, ca + cb, ca, cb);
    return [ga, gb];
  });
}

/**
 * Per row of x ([n, ...], rows flattened): the mean of sigmoid(x) over the entries with x >= threshold,
 * 0 where there are none: a [n] tensor. For mask logits, how sure a mask is of the pixels it claims.
 * Not differentiable.
 */
export function meanSigmoidAbove(x: Tensor, threshold: number): Tensor {
  const n = x.shape[0] ?? 1;
  if (x.dtype !== 'f32') throw new Error(`meanSigmoidAbove: expected f32 values, got ${x.dtype}`);
  if (!Number.isFinite(threshold)) throw new Error(`meanSigmoidAbove: threshold must be finite, got ${threshold}`);
  const out = Tensor.empty([n], { rt: x.rt });
  confidenceKernel(x.rt, x.view(), out.view(), n, n ? x.size / n : 0, threshold);
  return out;
}
