import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime, Split } from '../gpu/runtime.js';
import type { Params } from '../gpu/kernel.js';
import { lcm } from '../gpu/chunks.js';

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
  RELU_CAP_GRAD: 9, // b where 0 < a < alpha
  ADD_RELU: 10, // max(alpha*a + beta*b, 0)
} as const;
export type MapOp = (typeof MapOp)[keyof typeof MapOp];

type MapParams = { n: number; na: number; nb: number; alpha: number; beta: number };
type AccParams = { n: number; na: number; alpha: number };

const mapKernel = kernel<MapParams>({
  shader: 'elementwise',
  entry: 'map',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({ a: p.na, b: p.nb, out: p.n }),
});

const accumulateKernel = kernel<AccParams>({
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
  const na = x.na ?? x.n,
    nb = x.b ? (x.nb ?? x.n) : 1;
  rt.run(mapKernel, {
    params: { n: x.n, na, nb, alpha: x.alpha ?? 1, beta: x.beta ?? 0 },
    bind: { a: x.a, b: x.b ?? rt.empty, out: x.out },
    constants: { OP: x.op, BCAST_A: na !== x.n, BCAST_B: nb !== x.n },
    split: elementSplit<MapParams>(x.n, 'out', { a: na, b: x.b ? nb : 1 }, (n) => ({ n, ...(na === x.n ? { na: n } : {}), ...(nb === x.n ? { nb: n } : {}) })),
  });
}

/** Elementwise work splits by element; full-length operands split with it, broadcast ones stay whole. */
export function elementSplit<P extends Params>(n: number, out: string, operands: Record<string, number>, chunk: (n: number) => Partial<P>): Split<P> {
  const per: Record<string, number> = { [out]: 4 };
  let quantum = 1;
  for (const [binding, len] of Object.entries(operands)) {
    if (len === n) per[binding] = 4;
    else quantum = lcm(quantum, len);
  }
  return { items: n, per, quantum, chunk: (_, c) => chunk(c) };
}

/** out[i] = value for i < n. */
export function fill(rt: Runtime, out: BufferView, n: number, value: number): void {
  map(rt, { op: MapOp.FILL, out, n, a: rt.empty, na: 1, beta: value });
}

/** dst[i] += alpha * src[i % nSrc], in place. */
export function accumulate(rt: Runtime, dst: BufferView, n: number, src: BufferView, nSrc = n, alpha = 1): void {
  rt.run(accumulateKernel, {
    params: { n, na: nSrc, alpha },
    bind: { src, dst },
    split: elementSplit<AccParams>(n, 'dst', { src: nSrc }, (c) => ({ n: c, ...(nSrc === n ? { na: c } : {}) })),
  });
}
