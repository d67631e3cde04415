import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';

const dropoutKernel = kernel<{ n: number; seed: number; rate: number; scale: number }>({
  shader: 'dropout',
  entry: 'dropout',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({ x: p.n, y: p.n }),
});

/**
 * y = x / (1 - p) where the hash of (seed, index) keeps the element, else 0. Called with the upstream
 * gradient as x and the same seed, it is the backward pass.
 */
export function dropout(rt: Runtime, x: BufferView, y: BufferView, n: number, p: number, seed: number): void {
  if (n > 2 ** 32 - 1) throw new Error('dropout: too many elements');
  // Not split: the hash takes the element's global index (dropout follows small FC layers).
  rt.run(dropoutKernel, { params: { n, seed: seed >>> 0, rate: p, scale: 1 / (1 - p) }, bind: { x, y } });
}
