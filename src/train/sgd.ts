// SGD as one GPU kernel per parameter, with Torch optim.sgd semantics (see shaders/sgd.wgsl).
import { sgdStep } from '../kernels/sgd.js';
import { Tensor, keep } from '../graph/tensor.js';
import type { HostTensor } from '../graph/module.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

interface ParamState {
  velocity: Tensor | null;
  steps: number;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  private readonly state: ParamState[];

  constructor(
    readonly params: readonly Tensor[],
    opts: SgdOptions,
  ) {
    this.lr = opts.lr;
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.state = params.map(() => ({ velocity: null, steps: 0 }));
  }

  /** Updates every parameter that has a gradient, in place on the GPU (no readback). */
  step(): void {
    this.params.forEach((p, i) => {
      if (!p.grad) return;
      const s = this.state[i]!;
      if (this.momentum !== 0 && !s.velocity) s.velocity = keep(Tensor.empty(p.shape, { rt: p.rt, label: 'sgd.velocity' }));
      sgdStep(p.rt, {
        theta: p.view(),
        grad: p.grad.view(),
        velocity: s.velocity ? s.velocity.view() : p.rt.empty,
        n: p.size,
        lr: this.lr,
        momentum: this.momentum,
        weightDecay: this.weightDecay,
        first: s.steps === 0,
      });
      s.steps++;
    });
  }

  zeroGrad(): void {
    for (const p of this.params) {
      p.grad?.dispose();
      p.grad = null;
    }
  }

  /** Velocities and step counts, by parameter index, for checkpoints. */
  async exportState(): Promise<{ steps: number[]; velocities: (HostTensor | null)[] }> {
    const velocities: (HostTensor | null)[] = [];
    for (const s of this.state) velocities.push(s.velocity ? { shape: [...s.velocity.shape], data: await s.velocity.read() } : null);
    return { steps: this.state.map((s) => s.steps), velocities };
  }

  loadState(st: { steps: number[]; velocities: (HostTensor | null)[] }): void {
    if (st.steps.length !== this.params.length) throw new Error(`optimizer state has ${st.steps.length} parameters, the model ${this.params.length}`);
    this.params.forEach((p, i) => {
      const s = this.state[i]!;
      s.steps = st.steps[i]!;
      const v = st.velocities[i];
      s.velocity?.dispose();
      s.velocity = null;
      if (v) {
        if (v.data.length !== p.size) throw new Error(`optimizer velocity ${i} has ${v.data.length} values, parameter has ${p.size}`);
        s.velocity = keep(Tensor.from(v.data, p.shape, { rt: p.rt }));
      }
    });
  }

  dispose(): void {
    for (const s of this.state) s.velocity?.dispose();
  }
}
