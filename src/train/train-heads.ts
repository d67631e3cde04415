// Training DeepMask's heads on a frozen trunk from a bank of feature maps (see feature-bank.ts): each
// step renders a batch of windows on the host (a crop of f16 maps and the objects' mask targets),
// runs the heads forward and backward in one submission and takes an SGD step. The loss is the
// model's own (DeepMask.loss): the mask term over positives only, the score term weighted by λ.
import type { HostTensor } from '../graph/module.js';
import { Rng } from '../graph/random.js';
import { scope, Tensor } from '../graph/tensor.js';
import type { DeepMask } from '../model/deepmask.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import type { FeatureWindows, WindowBatch } from './feature-bank.js';
import { SGD } from '../graph/optim.js';
import { learningRate, windowMetrics, type ValidationMetrics } from './trainer.js';

export interface HeadsTrainOptions {
  steps: number;
  batch: number;
  /** [step, lr] pairs: the rate from each step on. */
  lrSchedule: [number, number][];
  momentum: number;
  weightDecay: number;
  /** Weight of the score term (the paper's λ = 1/32). */
  lambda: number;
  /** Fraction of each batch that is positive windows (both terms); the rest are negatives (score only). */
  positiveFraction: number;
  logEvery: number;
  validateEvery: number;
  checkpointEvery: number;
  /**
   * Trunk stages trained with the heads (0: the trunk is frozen). The windows' features must then
   * come from the trunk cut that many stages short, with as many cells of context (cutTrunk).
   */
  trunkStages?: number;
}

export const DEFAULT_HEADS_TRAIN: HeadsTrainOptions = {
  steps: 6000,
  batch: 32,
  lrSchedule: [
    [0, 2e-3],
    [3000, 1e-3],
    [5000, 5e-4],
  ],
  momentum: 0.9,
  weightDecay: 5e-4,
  lambda: 1 / 32,
  positiveFraction: 0.5,
  logEvery: 50,
  validateEvery: 500,
  checkpointEvery: 500,
};

export interface HeadsTrainHooks {
  onLog?(e: { step: number; loss: number; lr: number; windowsPerSec: number }): void;
  onValidate?(m: ValidationMetrics): void;
  onCheckpoint?(bytes: Uint8Array, step: number): Promise<void> | void;
  /** Polled after every step: stop (after a checkpoint) when it says so. */
  shouldStop?(): boolean;
}

export class HeadsTrainer {
  readonly opt: SGD;
  /** Trunk stages trained with the heads. */
  readonly stages: number;
  step = 0;
  lastLoss = NaN;
  private readonly rng: Rng;

  constructor(
    readonly model: DeepMask,
    private readonly windows: FeatureWindows,
    readonly opts: HeadsTrainOptions,
    private readonly hooks: HeadsTrainHooks = {},
    private readonly validation: WindowBatch | null = null,
  ) {
    this.rng = windows.rng;
    this.stages = opts.trunkStages ?? 0;
    for (const p of model.trunk.parameters()) p.requiresGrad = false;
    let top: Tensor[] = [];
    if (this.stages > 0) {
      if (!model.trunk.lastParameters) throw new Error(`train-heads: the ${model.config.trunk.kind} trunk's stages cannot be trained from cached maps`);
      top = model.trunk.lastParameters(this.stages);
      for (const p of top) p.requiresGrad = true;
    }
    this.opt = new SGD([...top, ...model.heads.parameters()], { lr: learningRate(opts.lrSchedule, 0), momentum: opts.momentum, weightDecay: opts.weightDecay });
  }

  /** Predictions for `n` rendered windows' features (with the context the trained stages need). */
  private predict(b: WindowBatch, i0: number, n: number) {
    const side = this.model.featureSize + 2 * this.stages,
      per = b.features.length / b.n,
      cells = side * side;
    const x = Tensor.from(b.features.subarray(i0 * per, (i0 + n) * per), [n, side, side, per / cells]);
    return this.stages > 0 ? this.model.forwardFromCut(x, this.stages, b.onMap.subarray(i0 * cells, (i0 + n) * cells)) : this.model.forwardFeatures(x);
  }

  /** One step on a rendered batch; returns the (unread) loss. */
  trainStep(b: WindowBatch): Tensor {
    const { model, opts } = this;
    const { gtSize: G } = model.config;
    this.opt.lr = learningRate(opts.lrSchedule, this.step);
    const maskWeights = Array.from(b.labels, (l) => (l > 0 ? 1 / (G * G) : 0)); // per window, spread over its pixels
    return scope(() => {
      this.opt.zeroGrad();
      const pred = this.predict(b, 0, b.n);
      const loss = model.loss(pred, {
        masks: Tensor.from(b.targets, [b.n, G, G, 1]),
        maskWeights: Tensor.from(maskWeights, [b.n, 1, 1, 1]),
        scores: Tensor.from(b.labels, [b.n, 1]),
        scoreWeights: Tensor.from(new Float32Array(b.n).fill(opts.lambda), [b.n, 1]),
      });
      loss.backward();
      this.opt.step();
      return loss;
    });
  }

  async run(): Promise<void> {
    const { opts, model } = this;
    const rt = model.rt;
    model.train();
    try {
      if (this.validation && this.step === 0) this.hooks.onValidate?.(await this.evaluate(this.validation));
      let t0 = performance.now(),
        n0 = 0;
      // The next batch is rendered on the host while the GPU runs this one. A checkpoint keeps the
      // sampler's state from before that batch was drawn, so that a resumed run draws it again.
      let before = this.rng.state();
      let next: WindowBatch | null = this.step < opts.steps ? this.windows.render(this.windows.sample(opts.batch, opts.positiveFraction)) : null;
      while (next) {
        const batch: WindowBatch = next;
        this.step++;
        const loss = rt.batched(() => this.trainStep(batch)); // a step is one submission
        n0 += batch.n;
        before = this.rng.state();
        next = this.step < opts.steps ? this.windows.render(this.windows.sample(opts.batch, opts.positiveFraction)) : null;
        const value = await loss.item(); // one step in flight keeps memory bounded; the read is the step's sync
        loss.dispose();
        if (!Number.isFinite(value)) throw new Error(`the loss is ${value} at step ${this.step}: lower the learning rate (the last checkpoint is kept)`);
        this.lastLoss = value;
        if (this.step % opts.logEvery === 0 || this.step === opts.steps) {
          const now = performance.now();
          this.hooks.onLog?.({ step: this.step, loss: value, lr: this.opt.lr, windowsPerSec: (n0 * 1000) / (now - t0) });
          t0 = now;
          n0 = 0;
        }
        if (this.validation && (this.step % opts.validateEvery === 0 || this.step === opts.steps)) {
          model.eval();
          this.hooks.onValidate?.(await this.evaluate(this.validation));
          model.train();
        }
        const stop = this.hooks.shouldStop?.() ?? false;
        if (this.step % opts.checkpointEvery === 0 || this.step === opts.steps || stop)
          await this.hooks.onCheckpoint?.(await this.checkpoint(before), this.step);
        if (stop) break;
      }
    } finally {
      model.eval();
    }
  }

  /** Mask IoU (logit >= 0 at gtSize) over the positives and score accuracy over all windows. */
  evaluate(val: WindowBatch): Promise<ValidationMetrics> {
    return windowMetrics(this.model, val, this.opts.batch, this.step, (i0, n) => this.predict(val, i0, n));
  }

  /**
   * The trained parameters (heads and any trunk stages), the optimizer's velocities and the generators,
   * as one safetensors file; `rng` is the sampler's state to resume from (run() passes the state from
   * before the batch it rendered ahead).
   */
  async checkpoint(rng: number[] = this.rng.state()): Promise<Uint8Array> {
    const tensors = new Map<string, HostTensor>();
    for (const [name, p] of this.model.namedParameters()) if (p.requiresGrad) tensors.set(name, { shape: [...p.shape], data: await p.read() });
    const opt = await this.opt.exportState();
    for (const [name, v] of Object.entries(opt.velocities)) if (v) tensors.set(`optimizer.velocity.${name}`, v);
    const state = { step: this.step, steps: opt.steps, rng, modelRng: this.model.rng.state(), trunkStages: this.stages };
    return writeSafetensors(tensors, { format: 'deepmask-heads-checkpoint', state: JSON.stringify(state) });
  }

  /** Continues from a checkpoint's bytes: the same heads, velocities and random streams. */
  restore(bytes: Uint8Array, source: string): void {
    const file = readSafetensors(bytes, source);
    const meta = file.metadata;
    if (meta.format !== 'deepmask-heads-checkpoint' || typeof meta.state !== 'string') throw new Error(`${source}: not a heads checkpoint`);
    // Step counts by parameter name (older checkpoints: an array by index).
    const state = JSON.parse(meta.state) as { step: number; steps: number[] | Record<string, number>; rng: number[]; modelRng: number[]; trunkStages?: number };
    if ((state.trunkStages ?? 0) !== this.stages)
      throw new Error(`${source}: the checkpoint trained ${state.trunkStages ?? 0} trunk stage(s), this run ${this.stages}`);
    const trained = new Map([...file.tensors].filter(([k]) => !k.startsWith('optimizer.')));
    this.model.loadState(trained, { partial: true, source });
    const steps = state.steps;
    const velocity = (key: string | number) => file.tensors.get(`optimizer.velocity.${key}`) ?? null;
    this.opt.loadState(
      Array.isArray(steps)
        ? { steps, velocities: steps.map((_, i) => velocity(i)) }
        : { steps, velocities: Object.fromEntries(Object.keys(steps).map((name) => [name, velocity(name)])) },
    );
    this.rng.setState(state.rng);
    this.model.rng.setState(state.modelRng);
    this.step = state.step;
  }

  dispose(): void {
    this.opt.zeroGrad();
    this.opt.dispose();
  }
}
