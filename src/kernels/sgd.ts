import { kernel, ceilDiv } from '../gpu/kernel.js';
import type { BufferView, Runtime } from '../gpu/runtime.js';
import { elementSplit } from './elementwise.js';

type SgdParams = { n: number; lr: number; momentum: number; weightDecay: number; first: number };

const sgdKernel = kernel<SgdParams>({
  shader: 'sgd',
  entry: 'sgd',
  workgroups: (p) => ceilDiv(p.n, 64),
  sizes: (p) => ({ theta: p.n, grad: p.n, velocity: p.momentum !== 0 ? p.n : 0 }),
});

export interface SgdStepArgs {
  theta: BufferView;
  grad: BufferView;
  velocity: BufferView;
  n: number;
  lr: number;
  momentum: number;
  weightDecay: number;
  /** The velocity is initialised to the gradient on a parameter's first step. */
  first: boolean;
}

/** One in-place Torch-semantics SGD update of theta (and its velocity). */
export function sgdStep(rt: Runtime, x: SgdStepArgs): void {
  rt.run(sgdKernel, {
    params: { n: x.n, lr: x.lr, momentum: x.momentum, weightDecay: x.weightDecay, first: x.first ? 1 : 0 },
    bind: { theta: x.theta, grad: x.grad, velocity: x.velocity },
    // Parameters over the binding limit (vgg-a's 205 MB mask weight) update in element chunks.
    split: elementSplit<SgdParams>(x.n, 'theta', { grad: x.n, velocity: x.momentum !== 0 ? x.n : 1 }, (n) => ({ n })),
  });
}
