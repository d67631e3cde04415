import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

/** Operation codes of shaders/elementwise.wgsl `map` (its OP override). */
export const MapOp = {
  ADD: 0, // alpha*a + beta*b
  MUL: 1, // alpha*a*b
  RELU: 2,
  RELU_GRAD: 3, // b where a > 0
  SIGMOID: 4,
  SIGMOID_GRAD: 5, // b * a * (1 - a), a = sigmoid output
  AFFINE: 6, // alpha*a + beta
  MAX: 7,
  FILL: 8, // beta
} as const;
export type MapOp = (typeof MapOp)[keyof typeof MapOp];

const mapKernel = kernel<{ n: number; na: number; nb: number; alpha: number; beta: number }>({
  shader: 'elementwise',
  entry: 'map',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({ a: p.na, b: p.nb, out: p.n }),
});

const accumulateKernel = kernel<{ n: number; na: number; alpha: number }>({
  shader: 'elementwise',
  entry: 'accumulate',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({ src: p.na, dst: p.n }),
});

export interface MapArgs {
  op: MapOp;
  out: BufferView;
  n: number;
  a: BufferView;
  /** Elements of a; a is read as a[i % na]. Defaults to n. */
  na?: number;
  b?: BufferView;
  nb?: number;
  alpha?: number;
  beta?: number;
}

/** out[i] = op(a[i % na], b[i % nb]) for i < n. */
export function map(rt: Runtime, x: MapArgs): void {
  rt.run(mapKernel, {
    params: { n: x.n, na: x.na ?? x.n, nb: x.b ? (x.nb ?? x.n) : 1, alpha: x.alpha ?? 1, beta: x.beta ?? 0 },
    bind: { a: x.a, b: x.b ?? x.a, out: x.out },
    constants: { OP: x.op },
  });
}

/** out[i] = value for i < n. */
export function fill(rt: Runtime, out: BufferView, n: number, value: number): void {
  map(rt, { op: MapOp.FILL, out, n, a: rt.empty, na: 1, beta: value });
}

/** dst[i] += alpha * src[i % nSrc], in place. */
export function accumulate(rt: Runtime, dst: BufferView, n: number, src: BufferView, nSrc = n, alpha = 1): void {
  rt.run(accumulateKernel, { params: { n, na: nSrc, alpha }, bind: { src, dst } });
}
