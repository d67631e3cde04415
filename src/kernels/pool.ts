// Launchers for shaders/pool.wgsl (NHWC max pooling with argmax, and fine-stride pooling).
import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

export type PoolGeometry = {
  N: number;
  H: number;
  W: number;
  C: number;
  OH: number;
  OW: number;
  k: number;
  stride: number;
  /** 1, or 4 for fine-stride pooling (one output image per offset). */
  offsets: number;
};

const forwardKernel = kernel<PoolGeometry>({
  shader: 'pool',
  entry: 'max_forward',
  workgroups: (p) => ceilDiv(p.N * p.offsets * p.OH * p.OW, 64),
  sizes: (p) => ({ x: p.N * p.H * p.W * p.C, y: p.N * p.offsets * p.OH * p.OW * p.C, argmax: p.N * p.offsets * p.OH * p.OW * p.C }),
});

const backwardKernel = kernel<PoolGeometry>({
  shader: 'pool',
  entry: 'max_backward',
  workgroups: (p) => ceilDiv(p.N * p.H * p.W, 64),
  sizes: (p) => ({ dy: p.N * p.offsets * p.OH * p.OW * p.C, amax: p.N * p.offsets * p.OH * p.OW * p.C, dx: p.N * p.H * p.W * p.C }),
});

/** Output size of a k×k, stride-s pool; ceil mode keeps a last partial window (starting inside the input). */
export function poolOutputSize(size: number, k: number, stride: number, ceil: boolean): number {
  if (!ceil) return Math.floor((size - k) / stride) + 1;
  let out = Math.ceil((size - k) / stride) + 1;
  if ((out - 1) * stride >= size) out--;
  return out;
}

const perImage = (g: PoolGeometry) => ({
  x: g.H * g.W * g.C * 4,
  out: g.offsets * g.OH * g.OW * g.C * 4,
});

export function maxPoolForward(rt: Runtime, a: { x: BufferView; y: BufferView; argmax: BufferView; g: PoolGeometry }): void {
  const per = perImage(a.g);
  rt.run(forwardKernel, {
    params: a.g,
    bind: { x: a.x, y: a.y, argmax: a.argmax },
    split: { items: a.g.N, per: { x: per.x, y: per.out, argmax: per.out }, chunk: (_, N) => ({ N }) },
  });
}

export function maxPoolBackward(rt: Runtime, a: { dy: BufferView; argmax: BufferView; dx: BufferView; g: PoolGeometry }): void {
  const per = perImage(a.g);
  rt.run(backwardKernel, {
    params: a.g,
    bind: { dy: a.dy, amax: a.argmax, dx: a.dx },
    split: { items: a.g.N, per: { dx: per.x, dy: per.out, amax: per.out }, chunk: (_, N) => ({ N }) },
  });
}
