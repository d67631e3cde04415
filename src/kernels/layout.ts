// Launchers for shaders/layout.wgsl: transposes and fine-stride interleaving.
import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

const transposeKernel = kernel<{ B: number; rows: number; cols: number }>({
  shader: 'layout',
  entry: 'transpose',
  workgroups: (p) => ceilDiv(p.B * p.rows * p.cols, 64),
  sizes: (p) => ({ src: p.B * p.rows * p.cols, dst: p.B * p.rows * p.cols }),
});

type InterleaveParams = { N: number; h: number; w: number; C: number };
const sizes = (p: InterleaveParams) => ({ src: p.N * 4 * p.h * p.w * p.C, dst: p.N * 4 * p.h * p.w * p.C });
const interleaveKernel = kernel<InterleaveParams>({ shader: 'layout', entry: 'interleave', workgroups: (p) => ceilDiv(sizes(p).dst, 64), sizes });
const deinterleaveKernel = kernel<InterleaveParams>({ shader: 'layout', entry: 'deinterleave', workgroups: (p) => ceilDiv(sizes(p).dst, 64), sizes });

/** dst[b, c, r] = src[b, r, c] for a batch of B row-major [rows, cols] matrices. */
export function transpose(rt: Runtime, src: BufferView, dst: BufferView, B: number, rows: number, cols: number): void {
  const per = rows * cols * 4;
  rt.run(transposeKernel, { params: { B, rows, cols }, bind: { src, dst }, split: { items: B, per: { src: per, dst: per }, chunk: (_, n) => ({ B: n }) } });
}

/** [N*4, h, w, C] (image n*4 + dy*2 + dx) -> [N, 2h, 2w, C], or back with `inverse`. */
export function interleave(rt: Runtime, src: BufferView, dst: BufferView, p: InterleaveParams, inverse = false): void {
  const per = 4 * p.h * p.w * p.C * 4;
  rt.run(inverse ? deinterleaveKernel : interleaveKernel, { params: p, bind: { src, dst }, split: { items: p.N, per: { src: per, dst: per }, chunk: (_, N) => ({ N }) } });
}
