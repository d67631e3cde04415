// Training SharpMask's refinement with the trunk and the heads frozen (the official recipe): positive
// windows only, a per-pixel soft-margin loss over the whole window at full resolution, and SGD on the
// refinement's parameters alone. Batches come rendered from the cache (refine-data.ts); the next one
// is rendered on the host while the GPU runs this one.
import { noGrad } from '../graph/autograd.js';
import type { HostTensor } from '../graph/module.js';
import { reshape, resizeBilinear, softMarginLoss } from '../graph/ops.js';
import { SGD } from '../graph/optim.js';
import { scope, Tensor } from '../graph/tensor.js';
import type { DeepMask } from '../model/deepmask.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import { learningRate } from './trainer.js';

export interface RefineTrainOptions {
  steps: number;
  batch: number;
  /** [step, lr] pairs: the rate from each step on. */
  lrSchedule: [number, number][];
  momentum: number;
  weightDecay: number;
  logEvery: number;
  validateEvery: number;
  checkpointEvery: number;
}

export const DEFAULT_REFINE_TRAIN: RefineTrainOptions = {
  steps: 6000,
  batch: 16,
  lrSchedule: [
    [0, 0.05],
    [4000, 0.025],
    [5200, 0.0125],
  ],
  momentum: 0.9,
  weightDecay: 5e-4,
  logEvery: 25,
  validateEvery: 500,
  checkpointEvery: 250,
};

/** Mask quality over held-out windows, refined and (for comparison) the coarse mask it starts from. */
export interface RefineMetrics {
  step: number;
  windows: number;
  /** Mask IoU at full window resolution, the mask being the pixels at or above the model's threshold. */
  iouMean: number;
  iouMedian: number;
  /** Fractions of windows with IoU >= 0.5, 0.75 and 0.85. */
  iou50: number;
  iou75: number;
  iou85: number;
  /** The same for the coarse masks, resampled to the window as inference pastes them. */
  coarse: { iouMean: number; iou50: number; iou75: number; iou85: number };
}

/** What a training batch must hold (RefineWindows.render). */
export interface RefineBatchLike {
  n: number;
  embedding: Float32Array;
  crops: Float32Array[];
  onMap: (Float32Array | null)[];
  targets: Float32Array;
}

export interface RefineSource<B extends RefineBatchLike = RefineBatchLike> {
  /** Draws and renders the next batch (its random choices come from the source's generator). */
  next(n: number): B;
  /** The generator's state (checkpoints) and its restoration. */
  rngState(): number[];
  setRngState(s: number[]): void;
}

/** Held-out windows, rendered a chunk at a time (a few hundred windows of skip maps do not fit in memory at once). */
export interface RefineValidation {
  n: number;
  render(i0: number, n: number): RefineBatchLike;
}

export interface RefineTrainHooks {
  onLog?(e: { step: number; loss: number; lr: number; windowsPerSec: number }): void;
  onValidate?(m: RefineMetrics): void;
  onCheckpoint?(bytes: Uint8Array, step: number): Promise<void> | void;
  /** Polled after every step: stop (after a checkpoint) when it says so. */
  shouldStop?(): boolean;
}

const FORMAT = 'deepmask-refine-checkpoint';

export class RefineTrainer {
  readonly opt: SGD;
  step = 0;
  lastLoss = NaN;

  constructor(
    readonly model: DeepMask,
    private readonly source: RefineSource,
    readonly opts: RefineTrainOptions,
    private readonly hooks: RefineTrainHooks = {},
    private readonly validation: RefineValidation | null = null,
  ) {
    if (!model.refine) throw new Error('RefineTrainer: the model has no refinement (config.refine)');
    for (const p of model.parameters()) p.requiresGrad = false;
    const params = model.refine.parameters();
    for (const p of params) p.requiresGrad = true;
    this.opt = new SGD(params, { lr: learningRate(opts.lrSchedule, 0), momentum: opts.momentum, weightDecay: opts.weightDecay });
  }

  /** Refined logits [n, S, S, 1] of rows [i0, i0 + n) of a batch. */
  private predict(b: RefineBatchLike, i0: number, n: number): Tensor {
    const { embedWidth: E } = this.model.heads,
      refine = this.model.refine!;
    const emb = Tensor.from(b.embedding.subarray(i0 * E, (i0 + n) * E), [n, E]);
    const crops = b.crops.map((c, i) => {
      const per = c.length / b.n,
        side = refine.windowSide(i) + 6;
      return Tensor.from(c.subarray(i0 * per, (i0 + n) * per), [n, side, side, per / (side * side)]);
    });
    const onMap = b.onMap.map((m) => (m ? m.subarray((i0 * m.length) / b.n, ((i0 + n) * m.length) / b.n) : null));
    return this.model.refineWindows(emb, crops, onMap);
  }

  /** One SGD step on a rendered batch; returns the (unread) loss: the mean over windows of the per-pixel mean. */
  trainStep(b: RefineBatchLike): Tensor {
    const S = this.model.config.inputSize;
    this.opt.lr = learningRate(this.opts.lrSchedule, this.step);
    return scope(() => {
      this.opt.zeroGrad();
      const logits = this.predict(b, 0, b.n);
      const loss = softMarginLoss(logits, Tensor.from(b.targets, [b.n, S, S, 1]), Tensor.from(new Float32Array(b.n).fill(1 / (b.n * S * S)), [b.n, 1, 1, 1]));
      loss.backward();
      this.opt.step();
      return loss;
    });
  }

  async run(): Promise<void> {
    const { opts, model } = this;
    const rt = model.rt;
    model.eval(); // no dropout anywhere: the heads are frozen and the refinement has none
    if (this.validation && this.step === 0) this.hooks.onValidate?.(await this.evaluate(this.validation));
    let t0 = performance.now(),
      n0 = 0;
    // The generator's state before the batch rendered ahead was drawn: what a checkpoint keeps, so
    // that a resumed run draws that batch again.
    let before = this.source.rngState();
    let next = this.step < opts.steps ? this.source.next(opts.batch) : null;
    while (next) {
      const batch = next;
      this.step++;
      const loss = rt.batched(() => this.trainStep(batch)); // a step is one submission
      n0 += batch.n;
      before = this.source.rngState();
      next = this.step < opts.steps ? this.source.next(opts.batch) : null; // rendered while the GPU works
      const value = await loss.item();
      loss.dispose();
      if (!Number.isFinite(value)) throw new Error(`the loss is ${value} at step ${this.step}: lower the learning rate (the last checkpoint is kept)`);
      this.lastLoss = value;
      if (this.step % opts.logEvery === 0 || this.step === opts.steps) {
        const now = performance.now();
        this.hooks.onLog?.({ step: this.step, loss: value, lr: this.opt.lr, windowsPerSec: (n0 * 1000) / (now - t0) });
        t0 = now;
        n0 = 0;
      }
      if (this.validation && (this.step % opts.validateEvery === 0 || this.step === opts.steps)) this.hooks.onValidate?.(await this.evaluate(this.validation));
      const stop = this.hooks.shouldStop?.() ?? false;
      if (this.step % opts.checkpointEvery === 0 || this.step === opts.steps || stop) await this.hooks.onCheckpoint?.(await this.checkpoint(before), this.step);
      if (stop) break;
    }
  }

  /** Mask IoU of the refined and the coarse masks over held-out windows. */
  async evaluate(val: RefineValidation): Promise<RefineMetrics> {
    const { model } = this,
      S = model.config.inputSize,
      m = model.config.maskSize;
    const p = model.config.inference?.threshold ?? 0.2,
      t = Math.log(p / (1 - p));
    const fine: number[] = [],
      coarse: number[] = [];
    const iou = (logits: Float32Array, targets: Float32Array, k: number) => {
      let inter = 0,
        union = 0;
      for (let i = 0; i < S * S; i++) {
        const a = logits[k * S * S + i]! >= t,
          b = targets[k * S * S + i]! > 0;
        if (a && b) inter++;
        if (a || b) union++;
      }
      return union ? inter / union : 1;
    };
    const B = this.opts.batch;
    for (let i0 = 0; i0 < val.n; i0 += B) {
      const n = Math.min(B, val.n - i0);
      const b = val.render(i0, n);
      const [f, c] = noGrad(() => {
        const emb = Tensor.from(b.embedding, [n, model.heads.embedWidth]);
        const rough = resizeBilinear(reshape(model.heads.masksFrom(emb), [n, m, m, 1]), [S, S], { alignCorners: false });
        return [this.predict(b, 0, n), rough];
      });
      const fv = await f.read(),
        cv = await c.read();
      f.dispose();
      c.dispose();
      for (let k = 0; k < n; k++) {
        fine.push(iou(fv, b.targets, k));
        coarse.push(iou(cv, b.targets, k));
      }
    }
    const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / Math.max(1, a.length);
    const frac = (a: number[], v: number) => a.filter((x) => x >= v).length / Math.max(1, a.length);
    const sorted = [...fine].sort((a, b) => a - b);
    return {
      step: this.step,
      windows: val.n,
      iouMean: mean(fine),
      iouMedian: sorted[Math.floor(sorted.length / 2)] ?? 0,
      iou50: frac(fine, 0.5),
      iou75: frac(fine, 0.75),
      iou85: frac(fine, 0.85),
      coarse: { iouMean: mean(coarse), iou50: frac(coarse, 0.5), iou75: frac(coarse, 0.75), iou85: frac(coarse, 0.85) },
    };
  }

  /** The refinement's parameters, the optimizer's velocities, the step and the sampler's generator, as one safetensors file. */
  async checkpoint(rng: number[] = this.source.rngState()): Promise<Uint8Array> {
    const tensors = new Map<string, HostTensor>();
    for (const [name, p] of this.model.namedParameters()) if (name.startsWith('refine.')) tensors.set(name, { shape: [...p.shape], data: await p.read() });
    const opt = await this.opt.exportState();
    for (const [name, v] of Object.entries(opt.velocities)) if (v) tensors.set(`optimizer.velocity.${name}`, v);
    return writeSafetensors(tensors, { format: FORMAT, state: JSON.stringify({ step: this.step, steps: opt.steps, rng }) });
  }

  /** Continues from a checkpoint's bytes: the same refinement, velocities and random stream. */
  restore(bytes: Uint8Array, source: string): void {
    const file = readSafetensors(bytes, source);
    if (file.metadata.format !== FORMAT || typeof file.metadata.state !== 'string') throw new Error(`${source}: not a refinement checkpoint`);
    const state = JSON.parse(file.metadata.state) as { step: number; steps: Record<string, number>; rng: number[] };
    this.model.loadState(new Map([...file.tensors].filter(([k]) => k.startsWith('refine.'))), { partial: true, source });
    this.opt.loadState({
      steps: state.steps,
      velocities: Object.fromEntries(Object.keys(state.steps).map((name) => [name, file.tensors.get(`optimizer.velocity.${name}`) ?? null])),
    });
    this.source.setRngState(state.rng);
    this.step = state.step;
  }

  dispose(): void {
    this.opt.zeroGrad();
    this.opt.dispose();
  }
}
