// Launchers for shaders/depthwise.wgsl. Activations NHWC, weights [KH, KW, C].
import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';
import type { ConvGeometry } from './conv2d.js';
import { reduceSplits, reluMax } from './matmul.js';

const PX = 4; // output pixels per lane along a row (PX in the shader)
/** Lanes the weight gradient aims for before it stops splitting the pixel range. */
const TARGET_LANES = 8192;

type DwParams = Omit<ConvGeometry, 'Cin' | 'Cout'> & { C: number; pChunk: number; splits: number };

const lanes = (n: number, rows: number, cols: number, C: number) => n * rows * ceilDiv(cols, PX) * ceilDiv(C, 4);
const vec = (p: DwParams) => p.C % 4 === 0;
const x4 = (c: Record<string, number | boolean>, n: number) => (c.VEC ? ceilDiv(n, 4) : 0);

const forwardKernel = kernel<DwParams>({
  shader: 'depthwise',
  entry: 'forward',
  workgroups: (p) => ceilDiv(lanes(p.N, p.OH, p.OW, p.C), 64),
  sizes: (p, c) => ({
    x: p.N * p.H * p.W * p.C,
    x4: x4(c, p.N * p.H * p.W * p.C),
    w: c.HALF_W || c.VEC ? 0 : p.KH * p.KW * p.C,
    w4: c.VEC && !c.HALF_W ? ceilDiv(p.KH * p.KW * p.C, 4) : 0,
    wh: c.HALF_W ? ceilDiv(p.KH * p.KW * p.C, 2) : 0,
    bias: c.BIAS ? p.C : 0,
    y: p.N * p.OH * p.OW * p.C,
  }),
});

const backwardInputKernel = kernel<DwParams>({
  shader: 'depthwise',
  entry: 'backward_input',
  workgroups: (p) => ceilDiv(lanes(p.N, p.H, p.W, p.C), 64),
  sizes: (p, c) => ({
    x: p.N * p.OH * p.OW * p.C,
    x4: x4(c, p.N * p.OH * p.OW * p.C),
    w: c.VEC ? 0 : p.KH * p.KW * p.C,
    w4: x4(c, p.KH * p.KW * p.C),
    wh: 0,
    y: p.N * p.H * p.W * p.C,
  }),
});

const backwardWeightKernel = kernel<DwParams>({
  shader: 'depthwise',
  entry: 'backward_weight',
  workgroups: (p) => ceilDiv(p.splits * p.KH * p.KW * ceilDiv(p.C, 4), 64),
  sizes: (p, c) => ({
    x: p.N * p.H * p.W * p.C,
    x4: x4(c, p.N * p.H * p.W * p.C),
    y: p.splits * p.KH * p.KW * p.C,
    dy4: x4(c, p.N * p.OH * p.OW * p.C),
    dy: c.VEC ? 0 : p.N * p.OH * p.OW * p.C,
  }),
});

function params(g: ConvGeometry): DwParams {
  const { Cin, Cout: _, ...rest } = g;
  return { ...rest, C: Cin, pChunk: 0, splits: 1 };
}

/** y [N, OH, OW, C] = depthwise conv of x [N, H, W, C] with w [KH, KW, C] (+ bias) (ReLU, clamped at reluMax); `half`: w holds packed halves. */
export function depthwiseForward(
  rt: Runtime,
  a: { x: BufferView; w: BufferView; half?: boolean; bias?: BufferView; y: BufferView; g: ConvGeometry; relu?: boolean; reluMax?: number },
): void {
  const p = params(a.g);
  rt.run(forwardKernel, {
    params: p,
    bind: {
      x: a.x,
      x4: vec(p) ? a.x : rt.empty,
      w: a.half || vec(p) ? rt.empty : a.w,
      w4: vec(p) && !a.half ? a.w : rt.empty,
      wh: a.half ? a.w : rt.empty,
      bias: a.bias ?? rt.empty,
      y: a.y,
    },
    constants: { VEC: vec(p), BIAS: !!a.bias, RELU: !!a.relu, ...reluMax(a.reluMax), HALF_W: !!a.half },
    split: { items: p.N, per: { x: p.H * p.W * p.C * 4, ...(vec(p) ? { x4: p.H * p.W * p.C * 4 } : {}), y: p.OH * p.OW * p.C * 4 }, chunk: (_, N) => ({ N }) },
  });
}

/** dx [N, H, W, C] from dy [N, OH, OW, C] (already masked by any fused activation) and w. */
export function depthwiseBackwardInput(rt: Runtime, a: { dy: BufferView; w: BufferView; dx: BufferView; g: ConvGeometry }): void {
  const p = params(a.g);
  rt.run(backwardInputKernel, {
    params: p,
    bind: { x: a.dy, x4: vec(p) ? a.dy : rt.empty, w: vec(p) ? rt.empty : a.w, w4: vec(p) ? a.w : rt.empty, wh: rt.empty, y: a.dx },
    constants: { VEC: vec(p) },
    split: {
      items: p.N,
      per: { x: p.OH * p.OW * p.C * 4, ...(vec(p) ? { x4: p.OH * p.OW * p.C * 4 } : {}), y: p.H * p.W * p.C * 4 },
      chunk: (_, N) => ({ N }),
    },
  });
}

/**
 * dw [KH, KW, C] from x and dy (already masked): each lane sums a range of output pixels for one
 * tap and 4 channels into partials, reduced in a fixed order.
 */
export function depthwiseBackwardWeight(rt: Runtime, a: { x: BufferView; dy: BufferView; dw: BufferView; g: ConvGeometry }): void {
  const p = params(a.g);
  const perSplit = p.KH * p.KW * ceilDiv(p.C, 4);
  const pixels = p.N * p.OH * p.OW;
  if (Math.max(pixels, p.N * p.H * p.W) * p.C * 4 > rt.limits.maxBindingBytes) {
    throw new Error(`depthwiseConv2d weight gradient: input ${p.N}x${p.H}x${p.W}x${p.C} exceeds the storage binding limit; use a smaller batch`);
  }
  let splits = Math.max(1, Math.min(ceilDiv(TARGET_LANES, perSplit), ceilDiv(pixels, 64)));
  const pChunk = ceilDiv(pixels, splits);
  splits = ceilDiv(pixels, pChunk);
  const n = p.KH * p.KW * p.C;
  // One split writes dW directly; several write partial sums (scratch) that one more pass adds up.
  const run = (y: BufferView) =>
    rt.run(backwardWeightKernel, {
      params: { ...p, pChunk, splits },
      bind: { x: a.x, x4: vec(p) ? a.x : rt.empty, y, dy4: vec(p) ? a.dy : rt.empty, dy: vec(p) ? rt.empty : a.dy },
      constants: { VEC: vec(p) },
    });
  if (splits === 1) return run(a.dw);
  rt.scratch(splits * n * 4, 'depthwise.dw.partial', (partial) => {
    run(partial);
    reduceSplits(rt, { partial, out: a.dw, n, cols: p.C, splits });
  });
}
