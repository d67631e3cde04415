// Node: a full training run from a COCO-format data set on disk, with a held-out split, worker
// data loading, progress, a JSONL log, a PNG of the curves, atomic checkpoints and exact resume.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseCoco, subset, summary, type CocoDataset } from '../data/coco.js';
import { WorkerLoader } from '../data/loader.js';
import { PatchSampler, type SamplingRule } from '../data/sampler.js';
import { Rng } from '../graph/random.js';
import { DeepMask } from '../model/deepmask.js';
import { loadTrunk, saveModel, writeFileAtomic, WEIGHTS_FILE, CONFIG_FILE } from '../model/files.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import { exportModel, importModel, parseModelConfig } from '../model/weights.js';
import type { HostTensor } from '../graph/module.js';
import { plotPanels } from './plot.js';
import { BatchMaker } from './batches.js';
import { DEFAULT_TRAIN, Trainer, type LogEntry, type TrainOptions, type TrainState, type ValidationMetrics } from './trainer.js';
import { Progress } from '../cli/progress.js';

export interface RunOptions extends Partial<TrainOptions> {
  /** COCO instances JSON. */
  data: string;
  /** Folder of the images named in it. */
  images: string;
  preset: string;
  out: string;
  /** ImageNet trunk in torchvision's layout (safetensors). */
  init?: string;
  resume?: boolean;
  rule?: SamplingRule;
  /** Held-out images: a count (>= 1) or a fraction (< 1) of the data set. */
  holdOut?: number;
  /** Windows in the validation set (half positives). */
  valWindows?: number;
  workers?: number;
  seed?: number;
  /** Quiet: no progress line (tests). */
  quiet?: boolean;
  /** Store the final model's weights in f16 (half the size; checkpoints stay f32). */
  saveF16?: boolean;
}

export interface RunResult {
  steps: number;
  /** Validation figures of the last evaluation, and of every evaluation in this run (the first at step 0 for a fresh run). */
  metrics: ValidationMetrics | null;
  validations: ValidationMetrics[];
  modelDir: string;
  skippedImages: number;
}

const CKPT = 'checkpoints';
const stepDir = (step: number) => `step-${String(step).padStart(7, '0')}`;

export async function runTraining(o: RunOptions): Promise<RunResult> {
  const log = (s: string) => !o.quiet && console.log(s);
  const warn = (s: string) => console.warn(`warning: ${s}`);
  if (!existsSync(o.data)) throw new Error(`${o.data}: annotation file not found`);
  if (!existsSync(o.images)) throw new Error(`${o.images}: image folder not found`);
  const all = parseCoco(readFileSync(o.data, 'utf8'), o.data);
  for (const w of all.warnings.slice(0, 5)) warn(w);
  const missing = all.images.filter((im) => !existsSync(join(o.images, im.file_name)));
  if (missing.length === all.images.length) throw new Error(`${o.images}: none of the ${all.images.length} images named in ${o.data} is there (e.g. ${missing[0]?.file_name})`);
  if (missing.length) warn(`${missing.length} images named in ${o.data} are missing from ${o.images} and are skipped (e.g. ${missing[0]!.file_name})`);
  const present = subset(all, all.images.filter((im) => !missing.includes(im)).map((im) => im.id));

  // A reproducible held-out split by image.
  const seed = o.seed ?? 1;
  const ids = present.images.map((im) => im.id).sort((a, b) => a - b);
  const split = new Rng(seed ^ 0x5eed);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = split.int(i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const h = o.holdOut ?? 0.1;
  const nVal = Math.min(ids.length - 1, h >= 1 ? Math.round(h) : Math.max(1, Math.round(ids.length * h)));
  const valIds = ids.slice(0, nVal).sort((a, b) => a - b);
  const train = subset(present, ids.slice(nVal));
  const val = subset(present, valIds);
  log(`data: ${summary(train)} for training, ${summary(val)} held out`);

  const opts: TrainOptions = { ...DEFAULT_TRAIN, ...definedOnly(o) };
  const ckptRoot = join(o.out, CKPT);
  const latest = join(ckptRoot, 'latest.json');
  let model: DeepMask;
  let state: TrainState | null = null;
  if (o.resume) {
    if (!existsSync(latest)) throw new Error(`${latest}: no checkpoint to resume from`);
    const dir = join(ckptRoot, (JSON.parse(readFileSync(latest, 'utf8')) as { dir: string }).dir);
    model = importModel(parseModelConfig(readFileSync(join(dir, CONFIG_FILE), 'utf8'), join(dir, CONFIG_FILE)), readFileSync(join(dir, WEIGHTS_FILE)), join(dir, WEIGHTS_FILE));
    state = readState(dir);
    log(`resuming from ${dir} (step ${state.step})`);
  } else {
    model = new DeepMask(o.preset, { seed });
    if (o.init) log(`trunk: ${loadTrunk(model, o.init)} tensors from ${o.init}`);
    else if (model.config.trunk.kind === 'squeeze') warn('no --init: the SqueezeNet trunk starts from random weights');
  }

  const files = new Map(present.images.map((im) => [im.id, im.file_name]));
  const loader = new WorkerLoader({ imagesDir: o.images, files, geo: model.config, norm: model.config.normalization, workers: o.workers ?? 1 });
  const rng = new Rng(seed);
  const sampler = new PatchSampler(train, model.config, rng, o.rule ?? 'paper');
  const skipped: string[] = [];
  const onSkip = (file: string, error: string) => {
    skipped.push(file);
    warn(`skipping ${file}: ${error}`);
  };
  const maker = new BatchMaker(sampler, loader.render, model.config, onSkip);
  // The validation windows: fixed (their own seed), rendered once.
  const valSampler = new PatchSampler(val.annotations.length ? val : train, model.config, new Rng(seed + 7), o.rule ?? 'paper');
  const valBatch = await new BatchMaker(valSampler, loader.render, model.config, onSkip).make(o.valWindows ?? 256, 'joint');

  mkdirSync(o.out, { recursive: true });
  const logFile = join(o.out, 'log.jsonl');
  const history = readHistory(logFile, state?.step ?? 0);
  writeFileSync(logFile, history.map((e) => JSON.stringify(e)).join('\n') + (history.length ? '\n' : ''));
  const record = (e: Record<string, unknown>) => {
    history.push(e);
    appendFileSync(logFile, `${JSON.stringify(e)}\n`);
  };
  const progress = new Progress(opts.steps);
  let lastMetrics: ValidationMetrics | null = null;
  const validations: ValidationMetrics[] = [];
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    console.error('\ninterrupted: writing a checkpoint (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);

  const trainer = new Trainer(
    model,
    maker,
    sampler,
    rng,
    opts,
    {
      onLog: (e: LogEntry) => {
        record({ type: 'train', ...e });
        if (!o.quiet) progress.update(e.step, e.step * opts.batch, { loss: e.loss, lr: e.lr });
      },
      onValidate: (m) => {
        lastMetrics = m;
        validations.push(m);
        record({ type: 'val', ...m });
        if (!o.quiet) {
          progress.done();
          log(`validation @${m.step}: mask IoU mean ${m.iouMean.toFixed(3)} median ${m.iouMedian.toFixed(3)}, IoU>=0.5 ${(100 * m.iou50).toFixed(1)}%, IoU>=0.7 ${(100 * m.iou70).toFixed(1)}%, score accuracy ${(100 * m.scoreAccuracy).toFixed(1)}%`);
        }
        writeFileSync(join(o.out, 'curves.png'), curves(history));
      },
      onCheckpoint: async (step, st) => {
        await writeCheckpoint(ckptRoot, model, st, { preset: model.config.preset, data: o.data, valImages: valIds, options: opts });
      },
      shouldStop: () => stop,
    },
    valBatch,
  );
  if (state) trainer.restore(state);
  const t0 = performance.now();
  try {
    await trainer.run();
  } finally {
    process.off('SIGINT', onSigint);
    progress.done();
    await loader.close();
  }
  writeFileSync(join(o.out, 'curves.png'), curves(history));
  const modelDir = join(o.out, 'model');
  const training = {
    steps: trainer.step,
    samples: trainer.samples,
    seconds: Math.round(trainer.elapsed),
    data: o.data,
    heldOutImages: valIds,
    options: opts,
    validation: lastMetrics,
    skippedImages: skipped,
  };
  await saveModel(model, modelDir, { training, dtype: o.saveF16 ? 'F16' : 'F32' });
  log(`trained ${trainer.step} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s this run; model in ${modelDir}, log ${logFile}, curves ${join(o.out, 'curves.png')}`);
  if (skipped.length) log(`skipped ${skipped.length} unreadable image(s)`);
  trainer.dispose();
  return { steps: trainer.step, metrics: lastMetrics, validations, modelDir, skippedImages: skipped.length };
}

function definedOnly(o: Partial<TrainOptions>): Partial<TrainOptions> {
  const keys: (keyof TrainOptions)[] = ['steps', 'batch', 'lrSchedule', 'momentum', 'weightDecay', 'lambda', 'mode', 'freezeTrunk', 'logEvery', 'validateEvery', 'checkpointEvery'];
  const out: Partial<TrainOptions> = {};
  for (const k of keys) if (o[k] !== undefined) (out as Record<string, unknown>)[k] = o[k];
  return out;
}

/** Writes a checkpoint directory atomically (temporary directory, then rename), then points latest.json at it. */
async function writeCheckpoint(root: string, model: DeepMask, st: TrainState, training: Record<string, unknown>): Promise<void> {
  const name = stepDir(st.step);
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  const { weights, config } = await exportModel(model, { training });
  writeFileSync(join(tmp, WEIGHTS_FILE), weights);
  writeFileSync(join(tmp, CONFIG_FILE), JSON.stringify(config, null, 2));
  const velocities = new Map<string, HostTensor>();
  st.optimizer.velocities.forEach((v, i) => v && velocities.set(`velocity.${i}`, v));
  writeFileSync(join(tmp, 'optimizer.safetensors'), writeSafetensors(velocities));
  const { optimizer, ...rest } = st;
  writeFileSync(join(tmp, 'state.json'), JSON.stringify({ ...rest, optimizerSteps: optimizer.steps, velocities: optimizer.velocities.map((v) => !!v) }));
  const final = join(root, name);
  rmSync(final, { recursive: true, force: true });
  renameSync(tmp, final);
  writeFileAtomic(join(root, 'latest.json'), JSON.stringify({ dir: name, step: st.step }));
  // Keep the two newest checkpoints.
  const dirs = readdirSync(root).filter((d) => d.startsWith('step-')).sort();
  for (const d of dirs.slice(0, -2)) rmSync(join(root, d), { recursive: true, force: true });
}

function readState(dir: string): TrainState {
  const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as Omit<TrainState, 'optimizer'> & { optimizerSteps: number[]; velocities: boolean[] };
  const v = readSafetensors(readFileSync(join(dir, 'optimizer.safetensors')), join(dir, 'optimizer.safetensors')).tensors;
  const velocities = s.velocities.map((has, i) => (has ? v.get(`velocity.${i}`) ?? null : null));
  return { step: s.step, samples: s.samples, elapsed: s.elapsed, samplerRng: s.samplerRng, modelRng: s.modelRng, optimizer: { steps: s.optimizerSteps, velocities } };
}

/** Log entries up to `step` (a resumed run rewrites what came after its checkpoint). */
function readHistory(file: string, step: number): Record<string, unknown>[] {
  if (!existsSync(file) || step === 0) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((e) => (e.step as number) <= step);
}

function curves(history: Record<string, unknown>[]): Uint8Array {
  const tr = history.filter((e) => e.type === 'train') as unknown as LogEntry[];
  const va = history.filter((e) => e.type === 'val') as unknown as ValidationMetrics[];
  // Smooth the noisy per-batch loss with a running mean over ~20 entries.
  const k = Math.max(1, Math.round(tr.length / 50));
  const smooth = tr.map((e, i) => [e.step, tr.slice(Math.max(0, i - k + 1), i + 1).reduce((a, b) => a + b.loss, 0) / Math.min(k, i + 1)] as [number, number]);
  return plotPanels([
    { title: 'train loss', logY: true, series: [{ name: 'loss', color: [200, 60, 40], points: smooth }] },
    {
      title: 'validation',
      yRange: [0, 1],
      series: [
        { name: 'mask IoU', color: [40, 90, 200], points: va.map((m) => [m.step, m.iouMean]) },
        { name: 'score acc', color: [30, 150, 60], points: va.map((m) => [m.step, m.scoreAccuracy]) },
      ],
    },
  ]);
}

export type { CocoDataset };
