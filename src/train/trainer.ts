// The DeepMask trainer (universal: Node and browser). One step = one batch of windows, forward,
// the DeepMask loss, backward and SGD, recorded into a single GPU submission with no readback;
// the loss is read only every `logEvery` steps. The next batch renders while the GPU works.
import { noGrad } from '../graph/autograd.js';
import { SGD, type IndexedOptimizerState, type OptimizerState } from '../graph/optim.js';
import type { Rng } from '../graph/random.js';
import { scope, Tensor } from '../graph/tensor.js';
import type { DeepMask, LossTargets, Prediction } from '../model/deepmask.js';
import type { PatchSampler } from '../data/sampler.js';
import type { Batch, BatchMaker } from './batches.js';
import { NonFiniteError } from '../model/weights.js';

export interface TrainOptions {
  steps: number;
  batch: number;
  /** Learning rate by step: [[fromStep, lr], ...] (the official schedule by default). */
  lrSchedule: [number, number][];
  momentum: number;
  weightDecay: number;
  /** Weight of the score loss per window relative to a window's mask loss (1/32 in the paper). */
  lambda: number;
  /** 'joint': the paper's step (both losses, half positives); 'alternate': the official code's mask-only and score-only batches. */
  mode: 'joint' | 'alternate';
  /** Keep the (pretrained) trunk fixed and train only the heads. */
  freezeTrunk: boolean;
  logEvery: number;
  validateEvery: number;
  checkpointEvery: number;
}

/** The official code's schedule (epochs of 4000 batches): 1e-3, then 5e-4 from epoch 51, 1e-4 from epoch 121. */
export const OFFICIAL_SCHEDULE: [number, number][] = [
  [0, 1e-3],
  [200_000, 5e-4],
  [480_000, 1e-4],
];

export const DEFAULT_TRAIN: TrainOptions = {
  steps: 1000,
  batch: 32,
  lrSchedule: OFFICIAL_SCHEDULE,
  momentum: 0.9,
  weightDecay: 5e-4,
  lambda: 1 / 32,
  mode: 'joint',
  freezeTrunk: false,
  logEvery: 10,
  validateEvery: 200,
  checkpointEvery: 500,
};

export function learningRate(schedule: [number, number][], step: number): number {
  let lr = schedule[0]![1];
  for (const [from, v] of schedule) if (step >= from) lr = v;
  return lr;
}

export interface LogEntry {
  step: number;
  loss: number;
  lr: number;
  samplesPerSec: number;
  elapsed: number;
}

export interface ValidationMetrics {
  step: number;
  /** Mask IoU over positive windows (prediction: logit >= 0 at the ground-truth resolution). */
  iouMean: number;
  iouMedian: number;
  iou50: number;
  iou70: number;
  /** Fraction of windows whose objectness sign matches the label. */
  scoreAccuracy: number;
  windows: number;
}

/** Everything a resumed run needs besides the weights. */
export interface TrainState {
  step: number;
  samples: number;
  elapsed: number;
  /** Sampler generator state before the next batch is drawn. */
  samplerRng: number[];
  modelRng: number[];
  /** By parameter name; checkpoints from before names hold the indexed form. */
  optimizer: OptimizerState | IndexedOptimizerState;
  /** Images the sampler had stopped drawing (unreadable) when samplerRng was taken: resume replays them. */
  excluded?: number[];
}

export interface TrainerHooks {
  onLog?(e: LogEntry): void;
  onValidate?(m: ValidationMetrics): void;
  onCheckpoint?(step: number, state: TrainState): Promise<void>;
  /** Polled between steps (e.g. set on Ctrl-C): the run checkpoints and returns. */
  shouldStop?(): boolean;
}

export class Trainer {
  readonly opt: SGD;
  step = 0;
  samples = 0;
  elapsed = 0;
  lastLoss = NaN;

  constructor(
    readonly model: DeepMask,
    private readonly maker: BatchMaker,
    private readonly sampler: PatchSampler,
    private readonly rng: Rng,
    readonly opts: TrainOptions,
    private readonly hooks: TrainerHooks = {},
    private readonly validation: Batch | null = null,
  ) {
    if (opts.freezeTrunk) for (const p of model.trunk.parameters()) p.requiresGrad = false;
    const params = model.parameters().filter((p) => p.requiresGrad);
    this.opt = new SGD(params, { lr: learningRate(opts.lrSchedule, 0), momentum: opts.momentum, weightDecay: opts.weightDecay });
  }

  /** Trains until opts.steps (or until hooks.shouldStop()), validating, logging and checkpointing on schedule. */
  async run(): Promise<void> {
    const { opts } = this;
    const rt = this.model.rt;
    this.model.train();
    let next: Promise<Batch> | null = null;
    try {
      // A fresh run starts its curves with the untrained model's figures.
      if (this.validation && this.step === 0) this.hooks.onValidate?.(await this.evaluate(this.validation));
      let rngBefore = this.rng.state(),
        excludedBefore = this.sampler.excludedIds();
      next = this.step < opts.steps ? this.draw() : null;
      let t0 = performance.now(),
        samples0 = this.samples;
      while (next) {
        const batch = await next;
        this.step++;
        // Draw and render the next batch while the GPU runs this one.
        rngBefore = this.rng.state();
        excludedBefore = this.sampler.excludedIds();
        next = this.step < opts.steps ? this.draw() : null;
        const log = this.step % opts.logEvery === 0 || this.step === opts.steps;
        const loss = rt.batched(() => this.trainStep(batch)); // a step is one submission
        this.samples += batch.n;
        // Read every step (it also keeps one step in flight): a non-finite loss stops the run before
        // its weights reach a checkpoint.
        const value = await loss.item();
        loss.dispose();
        if (!Number.isFinite(value)) throw new NonFiniteError(`the loss is ${value} at step ${this.step} (learning rate ${this.opt.lr}): training diverged`);
        if (log) {
          this.lastLoss = value;
          const now = performance.now();
          this.elapsed += (now - t0) / 1000;
          this.hooks.onLog?.({
            step: this.step,
            loss: this.lastLoss,
            lr: this.opt.lr,
            samplesPerSec: ((this.samples - samples0) * 1000) / (now - t0),
            elapsed: this.elapsed,
          });
          t0 = now;
          samples0 = this.samples;
        }
        if (this.validation && (this.step % opts.validateEvery === 0 || this.step === opts.steps))
          this.hooks.onValidate?.(await this.evaluate(this.validation));
        const stop = this.hooks.shouldStop?.() ?? false;
        if (this.step % opts.checkpointEvery === 0 || this.step === opts.steps || stop) {
          await this.hooks.onCheckpoint?.(this.step, await this.state(rngBefore, excludedBefore));
        }
        if (stop) break;
      }
    } finally {
      if (next) await next.catch(() => {}); // let an in-flight render settle (and never reject unhandled)
    }
  }

  private draw(): Promise<Batch> {
    const kind = this.opts.mode === 'joint' ? 'joint' : this.rng.next() < 0.5 ? 'mask' : 'score';
    return this.maker.make(this.opts.batch, kind);
  }

  /** Records one training step on `batch`; returns the (unread) loss. */
  trainStep(batch: Batch): Tensor {
    const { model, opts } = this;
    const S = model.config.inputSize;
    this.opt.lr = learningRate(opts.lrSchedule, this.step);
    return scope(() => {
      this.opt.zeroGrad();
      const loss = model.loss(model.forward(Tensor.from(batch.inputs, [batch.n, S, S, 3])), lossTargets(batch, model.config.gtSize, opts.lambda));
      loss.backward();
      this.opt.step();
      return loss;
    });
  }

  /** Mask IoU and score accuracy of the model (evaluation mode) on a fixed set of windows. */
  async evaluate(val: Batch): Promise<ValidationMetrics> {
    const { model } = this;
    const S = model.config.inputSize;
    const wasTraining = model.training;
    model.eval();
    const m = await windowMetrics(model, val, this.opts.batch, this.step, (i0, n) =>
      model.forward(Tensor.from(val.inputs.subarray(i0 * S * S * 3, (i0 + n) * S * S * 3), [n, S, S, 3])),
    );
    if (wasTraining) model.train();
    return m;
  }

  async state(samplerRng = this.rng.state(), excluded = this.sampler.excludedIds()): Promise<TrainState> {
    return {
      step: this.step,
      samples: this.samples,
      elapsed: this.elapsed,
      samplerRng,
      modelRng: this.model.rng.state(),
      optimizer: await this.opt.exportState(),
      excluded,
    };
  }

  restore(s: TrainState): void {
    this.step = s.step;
    this.samples = s.samples;
    this.elapsed = s.elapsed;
    this.rng.setState(s.samplerRng);
    this.model.rng.setState(s.modelRng);
    this.opt.loadState(s.optimizer);
    for (const id of s.excluded ?? []) this.sampler.exclude(id);
  }

  dispose(): void {
    this.opt.zeroGrad();
    this.opt.dispose();
  }
}

/**
 * The DeepMask loss targets of a batch (tensors in the current scope): the mask term over positives
 * (weight 1/G² per pixel of a positive window, 0 for negatives: each window's term a pixel mean, the
 * paper's 1/(w·h)) and the score term weighted by λ. Joint batches carry both terms; the official
 * alternation's mask-only and score-only batches one, and a batch with no positive no mask term.
 */
export function lossTargets(batch: Batch, G: number, lambda: number): LossTargets {
  const n = batch.n;
  const t: LossTargets = {};
  const positive = Array.from(batch.labels, (l) => (l > 0 ? 1 / (G * G) : 0));
  if (batch.kind !== 'score' && positive.some((w) => w > 0)) {
    t.masks = Tensor.from(batch.targets, [n, G, G, 1]);
    t.maskWeights = Tensor.from(positive, [n, 1, 1, 1]);
  }
  if (batch.kind !== 'mask') {
    t.scores = Tensor.from(batch.labels, [n, 1]);
    t.scoreWeights = Tensor.from(new Float32Array(n).fill(lambda), [n, 1]);
  }
  return t;
}

/**
 * Mask IoU (logit >= 0 at gtSize) over the positive windows and score accuracy over all of them,
 * `batch` windows at a time; `forward` predicts windows [i0, i0 + n).
 */
export async function windowMetrics(
  model: DeepMask,
  val: { n: number; labels: Float32Array; targets: Float32Array },
  batch: number,
  step: number,
  forward: (i0: number, n: number) => Prediction,
): Promise<ValidationMetrics> {
  const G = model.config.gtSize;
  const ious: number[] = [];
  let correct = 0;
  // Always measured without dropout (which would also draw from the model's generator, and so change training).
  const training = model.training;
  model.eval();
  try {
    for (let i0 = 0; i0 < val.n; i0 += batch) {
      const n = Math.min(batch, val.n - i0);
      const [m, s] = noGrad(() => {
        const p = forward(i0, n);
        return [model.upsampleMasks(p.masks), p.scores] as const;
      });
      const masks = await m.read(),
        scores = await s.read();
      m.dispose();
      s.dispose();
      for (let k = 0; k < n; k++) {
        const label = val.labels[i0 + k]!;
        if (Math.sign(scores[k]!) === label) correct++;
        if (label > 0) ious.push(maskIou(masks.subarray(k * G * G, (k + 1) * G * G), val.targets.subarray((i0 + k) * G * G, (i0 + k + 1) * G * G)));
      }
    }
  } finally {
    if (training) model.train();
  }
  ious.sort((a, b) => a - b);
  const frac = (t: number) => (ious.length ? ious.filter((v) => v >= t).length / ious.length : 0);
  return {
    step,
    iouMean: ious.length ? ious.reduce((a, b) => a + b, 0) / ious.length : 0,
    iouMedian: ious.length ? ious[Math.floor(ious.length / 2)]! : 0,
    iou50: frac(0.5),
    iou70: frac(0.7),
    scoreAccuracy: val.n ? correct / val.n : 0,
    windows: val.n,
  };
}

/** IoU of logits >= 0 against a ±1 target; two empty masks count as a perfect match. */
export function maskIou(logits: ArrayLike<number>, target: ArrayLike<number>): number {
  let inter = 0,
    union = 0;
  for (let i = 0; i < target.length; i++) {
    const p = logits[i]! >= 0,
      t = target[i]! > 0;
    if (p && t) inter++;
    if (p || t) union++;
  }
  return union ? inter / union : 1;
}
