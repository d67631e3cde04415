// Launchers for shaders/conv2d.wgsl. Activations NHWC, weights [KH, KW, Cin, Cout].
import { kernel, ceilDiv, type Constants } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';
import { epilogue, reduceSplits, type Epilogue } from './matmul.js';
import { transpose } from './layout.js';
import { laneArgs, lanesOf, lanesOn, ROWS, tiles } from './tiling.js';
import { planChunks } from '../gpu/chunks.js';

const TARGET_WORKGROUPS = 256;

/** A convolution's shape; padding is given as the zeros above and left of the input (padY, padX), and
 * the output size says how far the zeros reach below and right (TF's SAME pads more there). */
export type ConvGeometry = {
  N: number;
  H: number;
  W: number;
  Cin: number;
  Cout: number;
  KH: number;
  KW: number;
  stride: number;
  dil: number;
  padY: number;
  padX: number;
  OH: number;
  OW: number;
};

/**
 * Zero padding: the same on every side; TensorFlow's SAME (out = ceil(in / stride), any odd extra row
 * or column below and right); or explicit [top, left, bottom, right].
 */
export type Padding = number | 'same' | readonly [number, number, number, number];

/** The geometry of a convolution of an H x W input with a KH x KW kernel; OH or OW may be 0 or less when the kernel does not fit. */
export function convGeometry(
  s: { N: number; H: number; W: number; Cin: number; Cout: number; KH: number; KW: number },
  o: { stride?: number; dilation?: number; pad?: Padding } = {},
): ConvGeometry {
  const stride = o.stride ?? 1,
    dil = o.dilation ?? 1,
    pad = o.pad ?? 0;
  const axis = (n: number, k: number, before: number, after: number): [number, number] => {
    const span = dil * (k - 1) + 1;
    if (pad === 'same') {
      const out = Math.ceil(n / stride);
      return [out, Math.floor(Math.max((out - 1) * stride + span - n, 0) / 2)];
    }
    return [Math.floor((n + before + after - span) / stride) + 1, before];
  };
  const [t, l, b, r] = typeof pad === 'number' ? [pad, pad, pad, pad] : pad === 'same' ? [0, 0, 0, 0] : pad;
  if (![t, l, b, r].every((v) => Number.isInteger(v) && v >= 0)) throw new Error(`convolution padding must be whole numbers >= 0, got ${JSON.stringify(pad)}`);
  const [OH, padY] = axis(s.H, s.KH, t, b),
    [OW, padX] = axis(s.W, s.KW, l, r);
  return { ...s, stride, dil, padY, padX, OH, OW };
}

type ConvParams = ConvGeometry & { pChunk: number; splits: number; split0: number; tap0: number; taps: number; yOff: number; colLanes: number } & Epilogue;

const on = (c: Constants, k: string): boolean => c[k] === true;

const forwardKernel = kernel<ConvParams>({
  shader: 'conv2d',
  entry: 'forward',
  workgroups: (p, c) => tiles(p.N * p.OH * p.OW, p.Cout, lanesOf(c, p)),
  sizes: (p, c) => ({
    x: p.N * p.H * p.W * p.Cin,
    w: on(c, 'HALF_W') ? 0 : ceilDiv(p.taps * p.Cin * p.Cout, 4),
    wh: on(c, 'HALF_W') ? ceilDiv(p.taps * p.Cin * p.Cout, 2) : 0,
    bias: p.hasBias ? p.Cout : 0,
    y: p.yOff + p.N * p.OH * p.OW * p.Cout,
  }),
});

const backwardInputKernel = kernel<ConvParams>({
  shader: 'conv2d',
  entry: 'backward_input',
  workgroups: (p, c) => tiles(p.N * p.H * p.W, p.Cin, lanesOf(c, p)),
  sizes: (p, c) => ({
    w: ceilDiv(p.KH * p.KW * p.Cin * p.Cout, 4),
    wh: 0,
    bias: 0,
    y: p.N * p.H * p.W * p.Cin,
    dy: p.N * p.OH * p.OW * p.Cout,
    act: on(c, 'RELU_MASK') ? p.N * p.OH * p.OW * p.Cout : 0,
  }),
});

const backwardInputNarrowKernel = kernel<ConvParams>({
  shader: 'conv2d',
  entry: 'backward_input_narrow',
  workgroups: (p) => ceilDiv(p.N * p.H * p.W, 64),
  sizes: (p, c) => ({
    w: ceilDiv(p.KH * p.KW * p.Cin * p.Cout, 4),
    wh: 0,
    y: p.N * p.H * p.W * p.Cin,
    dy: p.N * p.OH * p.OW * p.Cout,
    dy4: on(c, 'VEC') ? ceilDiv(p.N * p.OH * p.OW * p.Cout, 4) : 0,
    act: on(c, 'RELU_MASK') ? p.N * p.OH * p.OW * p.Cout : 0,
    act4: on(c, 'RELU_MASK') && on(c, 'VEC') ? ceilDiv(p.N * p.OH * p.OW * p.Cout, 4) : 0,
  }),
});

const backwardWeightKernel = kernel<ConvParams>({
  shader: 'conv2d',
  entry: 'backward_weight',
  workgroups: (p, c) => tiles(p.KH * p.KW * p.Cin, p.Cout, lanesOf(c, p)) * p.splits,
  sizes: (p, c) => ({
    x: p.N * p.H * p.W * p.Cin,
    bias: 0,
    y: (p.split0 + p.splits) * p.KH * p.KW * p.Cin * p.Cout,
    dy4: ceilDiv(p.N * p.OH * p.OW * p.Cout, 4),
    act4: on(c, 'RELU_MASK') ? ceilDiv(p.N * p.OH * p.OW * p.Cout, 4) : 0,
  }),
});

function params(g: ConvGeometry): ConvParams {
  return { ...g, pChunk: 0, splits: 1, split0: 0, tap0: 0, taps: g.KH * g.KW, yOff: 0, colLanes: 0, ...epilogue(false, false) };
}

/**
 * y = conv(x, w) (+ bias) (ReLU); x [N,H,W,Cin], y [N,OH,OW,Cout]; with `half` the weights are IEEE
 * halves packed two per word (f32 arithmetic). Weights over the storage binding limit (a fully
 * connected layer run as a 14x14 convolution) are taken a range of taps at a time, each range a
 * contiguous slice, into partial sums reduced in a fixed order.
 */
export function conv2dForward(
  rt: Runtime,
  a: { x: BufferView; w: BufferView; half?: boolean; bias?: BufferView; y: BufferView; g: ConvGeometry; relu?: boolean; reluMax?: number },
): void {
  const lanes = laneArgs(lanesOn(rt, a.g.Cout));
  const p = { ...params(a.g), colLanes: lanes.colLanes };
  const half = !!a.half;
  const weights = (w: BufferView) => (half ? { w: rt.empty, wh: w } : { w, wh: rt.empty });
  const split = { items: p.N, per: { x: p.H * p.W * p.Cin * 4, y: p.OH * p.OW * p.Cout * 4 }, chunk: (_: number, N: number) => ({ N }) };
  const tapBytes = p.Cin * p.Cout * (half ? 2 : 4),
    taps = p.KH * p.KW;
  if (taps * tapBytes <= rt.limits.maxBindingBytes) {
    rt.run(forwardKernel, {
      params: { ...p, ...epilogue(!!a.bias, a.relu, a.reluMax) },
      bind: { x: a.x, ...weights(a.w), bias: a.bias ?? rt.empty, y: a.y },
      constants: { VEC: p.Cout % 4 === 0, HALF_W: half, ...lanes.constants },
      split,
    });
    return;
  }
  // Tap ranges whose weight slices fit a binding at aligned offsets, into partial sums.
  const per = planChunks(`conv2d ${p.KH}x${p.KW} weights`, taps, [tapBytes], rt.limits);
  const slices = ceilDiv(taps, per);
  const out = p.N * p.OH * p.OW * p.Cout;
  if (!rt.fits(slices * out * 4)) throw new Error(`conv2d: output ${p.N}x${p.OH}x${p.OW}x${p.Cout} too large for split weights`);
  rt.scratch(slices * out * 4, 'conv2d.tap-partials', (partial) => {
    for (let s = 0; s < slices; s++) {
      const tap0 = s * per,
        n = Math.min(per, taps - tap0);
      const w = rt.subView(a.w, tap0 * tapBytes, n * tapBytes).view;
      rt.run(forwardKernel, {
        params: { ...p, tap0, taps: n, yOff: s * out },
        bind: { x: a.x, ...weights(w), bias: rt.empty, y: partial },
        constants: { VEC: p.Cout % 4 === 0, HALF_W: half, ...lanes.constants },
      });
    }
    reduceSplits(rt, { partial, out: a.y, n: out, cols: p.Cout, splits: slices, ...(a.bias ? { bias: a.bias } : {}), relu: a.relu, reluMax: a.reluMax });
  });
}

/**
 * dx = gradient of conv w.r.t. its input, from dy and the weights w [KH,KW,Cin,Cout]; with `act`
 * (the output of a conv with fused ReLU) dy counts only where act > 0.
 */
export function conv2dBackwardInput(rt: Runtime, a: { dy: BufferView; w: BufferView; dx: BufferView; g: ConvGeometry; act?: BufferView }): void {
  const p = params(a.g);
  const act = a.act ? { act: a.act, act4: a.act } : { act: rt.empty, act4: rt.empty };
  const per = { y: p.H * p.W * p.Cin * 4, dy: p.OH * p.OW * p.Cout * 4, ...(a.act ? { act: p.OH * p.OW * p.Cout * 4, act4: p.OH * p.OW * p.Cout * 4 } : {}) };
  const chunk = (_: number, N: number) => ({ N });
  if (p.Cin <= 4) {
    // Few input channels: a lane per pixel instead of mostly idle column lanes.
    rt.run(backwardInputNarrowKernel, {
      params: p,
      bind: { w: a.w, wh: rt.empty, y: a.dx, dy: a.dy, dy4: a.dy, ...act },
      constants: { VEC: p.Cout % 4 === 0, RELU_MASK: !!a.act },
      split: { items: p.N, per: { ...per, dy4: per.dy }, chunk },
    });
    return;
  }
  // Columns are input channels: the weights transposed per tap to [KH, KW, Cout, Cin] read along Cin.
  // Whole vec4s: the kernel binds wT as array<vec4f> (an odd KH*KW*Cin*Cout left the last one short).
  const lanes = laneArgs(lanesOn(rt, p.Cin));
  rt.scratch(ceilDiv(p.KH * p.KW * p.Cin * p.Cout, 4) * 16, 'conv2d.wT', (wT) => {
    transpose(rt, a.w, wT, p.KH * p.KW, p.Cin, p.Cout);
    rt.run(backwardInputKernel, {
      params: { ...p, colLanes: lanes.colLanes },
      bind: { w: wT, wh: rt.empty, bias: rt.empty, y: a.dx, dy: a.dy, act: act.act },
      constants: { VEC: p.Cin % 4 === 0, RELU_MASK: !!a.act, ...lanes.constants },
      split: { items: p.N, per: { y: per.y, dy: per.dy, ...(a.act ? { act: per.dy } : {}) }, chunk },
    });
  });
}

/**
 * dw [KH,KW,Cin,Cout] = gradient of conv w.r.t. its weights: a GEMM over output pixels, split over
 * them (and over batch chunks past the binding limit) into partials reduced in a fixed order.
 */
export function conv2dBackwardWeight(rt: Runtime, a: { x: BufferView; dy: BufferView; dw: BufferView; g: ConvGeometry; act?: BufferView }): void {
  const layout = lanesOn(rt, a.g.Cout),
    lanes = laneArgs(layout);
  const full = { ...params(a.g), colLanes: lanes.colLanes };
  const rows = full.KH * full.KW * full.Cin;
  const perX = full.H * full.W * full.Cin * 4,
    perDy = full.OH * full.OW * full.Cout * 4;
  // Images per dispatch: all of them unless a binding would exceed the limit.
  const imagesPerChunk = planChunks('conv2d weight gradient', full.N, [perX, perDy], rt.limits);
  const chunks = ceilDiv(full.N, imagesPerChunk);
  const pixelsPerImage = full.OH * full.OW;
  const t = tiles(rows, full.Cout, layout);
  const splitsPerChunk = Math.max(1, Math.min(ceilDiv(TARGET_WORKGROUPS, t * chunks), ceilDiv(imagesPerChunk * pixelsPerImage, 512)));
  const total = chunks * splitsPerChunk;
  const out = rows * full.Cout;
  const partialBytes = total * out * 4;
  // One split writes dW directly; several write partial sums (scratch) that one more pass adds up.
  const run = (partial: BufferView) => {
    for (let c = 0; c < chunks; c++) {
      const n = Math.min(imagesPerChunk, full.N - c * imagesPerChunk);
      const n0 = c * imagesPerChunk;
      const pChunk = ceilDiv(n * pixelsPerImage, splitsPerChunk);
      const x = rt.subView(a.x, n0 * perX, n * perX).view;
      const slice = (v: BufferView) => rt.subView(v, n0 * perDy, n * perDy).view;
      rt.run(backwardWeightKernel, {
        params: { ...full, N: n, pChunk, splits: splitsPerChunk, split0: c * splitsPerChunk }, // empty splits write zeros
        bind: { x, bias: rt.empty, y: partial, dy4: slice(a.dy), act4: a.act ? slice(a.act) : rt.empty },
        constants: { VEC: full.Cout % 4 === 0, SAME_TAP: full.Cin % ROWS === 0, RELU_MASK: !!a.act, ...lanes.constants },
      });
    }
    if (total > 1) reduceSplits(rt, { partial, out: a.dw, n: out, cols: full.Cout, splits: total });
  };
  if (total === 1) run(a.dw);
  else rt.scratch(partialBytes, 'conv2d.dw.partial', run);
}
