// SGD as one GPU kernel per parameter, with Torch optim.sgd semantics (see shaders/sgd.wgsl). Its
// state is keyed by parameter name, so that it survives a change of which parameters train.
import { sgdStep } from '../kernels/sgd.js';
import { Tensor, keep } from './tensor.js';
import type { HostTensor } from './module.js';

export interface SgdOptions {
  lr: number;
  momentum?: number;
  weightDecay?: number;
}

/** Step counts and velocities by parameter name (checkpoints). */
export interface OptimizerState {
  steps: Record<string, number>;
  velocities: Record<string, HostTensor | null>;
}

/** The state as checkpoints before names kept it: by position in the optimizer's parameter list. */
export interface IndexedOptimizerState {
  steps: number[];
  velocities: (HostTensor | null)[];
}

interface ParamState {
  velocity: Tensor | null;
  steps: number;
}

export class SGD {
  lr: number;
  readonly momentum: number;
  readonly weightDecay: number;
  /** The parameters' names (a tensor's `name`, or `#i` for an unnamed one). */
  readonly names: readonly string[];
  private readonly state: ParamState[];

  constructor(
    readonly params: readonly Tensor[],
    opts: SgdOptions,
  ) {
    this.lr = opts.lr;
    this.momentum = opts.momentum ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.names = params.map((p, i) => p.name || `#${i}`);
    const dup = this.names.find((n, i) => this.names.indexOf(n) !== i);
    if (dup) throw new Error(`SGD: two parameters are named '${dup}'`);
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

  /** Velocities and step counts by parameter name, for checkpoints. */
  async exportState(): Promise<OptimizerState> {
    const out: OptimizerState = { steps: {}, velocities: {} };
    for (let i = 0; i < this.params.length; i++) {
      const s = this.state[i]!,
        name = this.names[i]!;
      out.steps[name] = s.steps;
      out.velocities[name] = s.velocity ? { shape: [...s.velocity.shape], data: await s.velocity.read() } : null;
    }
    return out;
  }

  /** Loads state by name; an older checkpoint's state by index loads when it has as many parameters. */
  loadState(st: OptimizerState | IndexedOptimizerState): void {
    const byName = Array.isArray(st.steps) ? this.fromIndexed(st as IndexedOptimizerState) : (st as OptimizerState);
    for (const name of Object.keys(byName.steps)) {
      if (!this.names.includes(name))
        throw new Error(`optimizer state for '${name}', which this run does not train (was --freeze-trunk or the preset changed?)`);
    }
    this.params.forEach((p, i) => {
      const name = this.names[i]!;
      const steps = byName.steps[name];
      if (steps === undefined) throw new Error(`optimizer state has no entry for '${name}' (was --freeze-trunk or the preset changed?)`);
      const s = this.state[i]!;
      s.steps = steps;
      const v = byName.velocities[name];
      s.velocity?.dispose();
      s.velocity = null;
      if (v) {
        if (v.data.length !== p.size) throw new Error(`optimizer velocity of '${name}' has ${v.data.length} values, the parameter has ${p.size}`);
        s.velocity = keep(Tensor.from(v.data, p.shape, { rt: p.rt }));
      }
    });
  }

  dispose(): void {
    for (const s of this.state) s.velocity?.dispose();
  }

  private fromIndexed(st: IndexedOptimizerState): OptimizerState {
    if (st.steps.length !== this.params.length) {
      throw new Error(
        `optimizer state (an older checkpoint, by parameter index) has ${st.steps.length} parameters, this run trains ${this.params.length}: resume with the run's own --freeze-trunk setting`,
      );
    }
    const out: OptimizerState = { steps: {}, velocities: {} };
    this.names.forEach((name, i) => {
      out.steps[name] = st.steps[i]!;
      out.velocities[name] = st.velocities[i] ?? null;
    });
    return out;
  }
}
