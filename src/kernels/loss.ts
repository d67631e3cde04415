import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

const lossKernel = kernel<{ n: number }>({
  shader: 'loss',
  entry: 'soft_margin',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({ x: p.n, y: p.n, w: p.n, out: p.n }),
});

const gradKernel = kernel<{ n: number }>({
  shader: 'loss',
  entry: 'soft_margin_grad',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({ x: p.n, y: p.n, w: p.n, g: 1, out: p.n }),
});

/** out[i] = w[i] * log(1 + exp(-y[i] * x[i])). */
export function softMargin(rt: Runtime, x: BufferView, y: BufferView, w: BufferView, out: BufferView, n: number): void {
  rt.run(lossKernel, { params: { n }, bind: { x, y, w, out } });
}

/** out[i] = -g[0] * w[i] * y[i] * sigmoid(-y[i] * x[i]): the gradient of g * sum(softMargin). */
export function softMarginGrad(rt: Runtime, x: BufferView, y: BufferView, w: BufferView, g: BufferView, out: BufferView, n: number): void {
  rt.run(gradKernel, { params: { n }, bind: { x, y, w, g, out } });
}
