// Node: a full training run from a COCO-format data set on disk, with a held-out split, worker
// data loading, progress, a JSONL log, a PNG of the curves, atomic checkpoints and exact resume.
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCoco, subset, summary, type CocoDataset } from '../data/coco.js';
import { WorkerLoader } from '../data/loader.js';
import { NothingLeftError, PatchSampler, type SamplingRule } from '../data/sampler.js';
import { Rng } from '../graph/random.js';
import { DeepMask } from '../model/deepmask.js';
import { loadTrunk, WEIGHTS_FILE, CONFIG_FILE } from '../model/files.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import { exportModel, importModel, NonFiniteError, parseModelConfig, type ModelFileConfig } from '../model/weights.js';
import { presetConfig } from '../model/presets.js';
import type { HostTensor } from '../graph/module.js';
import { lossPanel, plotPanels } from './plot.js';
import { BatchMaker, type Batch } from './batches.js';
import {
  checkpointsDir,
  claimRunFolder,
  CURVES,
  findCheckpoint,
  LATEST,
  lockRunFolder,
  makeRunFolder,
  modelDir,
  OptionError,
  RunLog,
  StopFlag,
  stoppedLine,
  TRAINER_CHECKPOINT,
  writeCheckpoint,
  writeCurves,
  writeFinalModel,
  type StopReason,
} from './run-folder.js';
import { DEFAULT_TRAIN, Trainer, type LogEntry, type TrainOptions, type TrainState, type ValidationMetrics } from './trainer.js';

export interface RunOptions extends Partial<TrainOptions> {
  /** COCO instances JSON. */
  data: string;
  /** Folder of the images named in it. */
  images: string;
  /** Required for a new run; a resumed run takes its checkpoint's. */
  preset?: string;
  out: string;
  /** ImageNet trunk in torchvision's layout (safetensors). */
  init?: string;
  resume?: boolean;
  /** Start a new run in an --out that holds one, deleting it (without it, that is refused). */
  force?: boolean;
  /** Resume even though run-defining options differ from the run's (the differences are logged). */
  allowChanges?: boolean;
  rule?: SamplingRule;
  /** Held-out images: a count (>= 1) or a fraction (< 1) of the data set. */
  holdOut?: number;
  /** Windows in the validation set (half positives). */
  valWindows?: number;
  workers?: number;
  seed?: number;
  /** Store the final model's weights in f16 (half the size; checkpoints stay f32). */
  saveF16?: boolean;
}

export interface RunResult {
  steps: number;
  /** Validation figures of the last evaluation, and of every evaluation in this run (the first at step 0 for a fresh run). */
  metrics: ValidationMetrics | null;
  validations: ValidationMetrics[];
  /** Where the final model is written (only when training completed: not after an interruption). */
  modelDir: string;
  skippedImages: number;
  /** Why the run stopped early (after a checkpoint), or null when it completed. */
  interrupted: StopReason | null;
}

/** How a caller (the CLI) follows and steers a run: training prints nothing and handles no signal itself. */
export interface RunHooks {
  /** Informational lines (data summary, where the model went). Warnings go to console.warn. */
  log?(line: string): void;
  /** Every logged training step (a progress line). */
  onStep?(e: LogEntry, run: { steps: number; batch: number }): void;
  /** Every validation. */
  onValidate?(m: ValidationMetrics): void;
  /** Polled between steps: a reason stops the run after a checkpoint (RunResult.interrupted). */
  stopReason?(): StopReason | null;
  /** Called once the run folder is locked, with what releases it (for a caller that must exit at once). */
  onLocked?(release: () => void): void;
}

/** What defines a run: stored with every checkpoint and compared on --resume. */
export interface RunRecord {
  data: string;
  images: string;
  preset: string;
  seed: number;
  holdOut: number;
  valWindows: number;
  rule: SamplingRule;
  batch: number;
  lrSchedule: [number, number][];
  mode: TrainOptions['mode'];
  freezeTrunk: boolean;
  momentum: number;
  weightDecay: number;
  lambda: number;
}

const FLAGS: Record<keyof RunRecord, string> = {
  data: '--data',
  images: '--images',
  preset: '--preset',
  seed: '--seed',
  holdOut: '--hold-out',
  valWindows: '--val-windows',
  rule: '--rule',
  batch: '--batch',
  lrSchedule: '--lr/--lr-schedule',
  mode: '--mode',
  freezeTrunk: '--freeze-trunk',
  momentum: 'momentum',
  weightDecay: 'weightDecay',
  lambda: 'lambda',
};
/** Options a resumed run can never change, even with allowChanges (the model and its optimizer depend on them). */
const FIXED: (keyof RunRecord)[] = ['preset', 'freezeTrunk'];

/** Checks every option's value and range before any work; throws OptionError naming the option. */
export function checkRunOptions(o: Partial<RunOptions>): void {
  const int = (v: number | undefined, flag: string, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
      throw new OptionError(`--${flag} must be an integer from ${min} to ${max}, got ${v}`);
  };
  int(o.steps, 'steps', 1, 1e9);
  int(o.batch, 'batch', 1, 65536);
  int(o.valWindows, 'val-windows', 2, 1e6);
  int(o.validateEvery, 'validate-every', 1, 1e9);
  int(o.checkpointEvery, 'checkpoint-every', 1, 1e9);
  int(o.logEvery, 'log-every', 1, 1e9);
  int(o.workers, 'workers', 1, 256);
  int(o.seed, 'seed', 0, 2 ** 31 - 1);
  const h = o.holdOut;
  if (h !== undefined && !(Number.isFinite(h) && h > 0 && (h < 1 || Number.isInteger(h))))
    throw new OptionError(`--hold-out must be a count of images (an integer >= 1) or a fraction in (0, 1), got ${h}`);
  if (o.lrSchedule !== undefined) checkSchedule(o.lrSchedule);
  const num = (v: number | undefined, name: string, ok: (x: number) => boolean, range: string) => {
    if (v !== undefined && !(Number.isFinite(v) && ok(v))) throw new OptionError(`${name} must be ${range}, got ${v}`);
  };
  num(o.momentum, 'momentum', (x) => x >= 0 && x < 1, 'in [0, 1)');
  num(o.weightDecay, 'weightDecay', (x) => x >= 0, '>= 0');
  num(o.lambda, 'lambda', (x) => x > 0, 'above 0');
  if (o.mode !== undefined && o.mode !== 'joint' && o.mode !== 'alternate') throw new OptionError(`--mode must be joint or alternate, got '${o.mode}'`);
  if (o.rule !== undefined && o.rule !== 'paper' && o.rule !== 'official') throw new OptionError(`--rule must be paper or official, got '${o.rule}'`);
  if (o.preset !== undefined) {
    try {
      presetConfig(o.preset);
    } catch (e) {
      throw new OptionError(`--preset: ${(e as Error).message}`);
    }
  }
}

/** A learning-rate schedule: [[0, lr], [step, lr], ...], steps increasing, rates finite and above 0. */
export function checkSchedule(s: [number, number][]): void {
  if (!Array.isArray(s) || s.length === 0) throw new OptionError('--lr-schedule must hold at least one STEP:LR entry');
  s.forEach(([step, lr], i) => {
    if (!Number.isInteger(step) || step < 0) throw new OptionError(`--lr-schedule: step ${step} must be an integer >= 0`);
    if (!(Number.isFinite(lr) && lr > 0)) throw new OptionError(`--lr-schedule: the learning rate at step ${step} must be a number above 0, got ${lr}`);
    if (i === 0 && step !== 0) throw new OptionError(`--lr-schedule must start at step 0, got ${step}`);
    if (i > 0 && step <= s[i - 1]![0]) throw new OptionError(`--lr-schedule: steps must increase, got ${step} after ${s[i - 1]![0]}`);
  });
}

export async function runTraining(o: RunOptions, hooks: RunHooks = {}): Promise<RunResult> {
  checkRunOptions(o);
  if (!o.resume && o.preset === undefined) throw new OptionError('--preset is required for a new run');
  if (!existsSync(o.data)) throw new Error(`${o.data}: annotation file not found`);
  if (!existsSync(o.images)) throw new Error(`${o.images}: image folder not found`);
  if (o.init && !existsSync(o.init)) throw new Error(`${o.init}: not found`);
  const all = parseCoco(readFileSync(o.data, 'utf8'), o.data);
  for (const w of all.warnings.slice(0, 5)) warn(w);
  const missing = new Set(all.images.filter((im) => !existsSync(join(o.images, im.file_name))));
  if (missing.size === all.images.length)
    throw new Error(`${o.images}: none of the ${all.images.length} images named in ${o.data} is there (e.g. ${all.images[0]?.file_name})`);
  if (missing.size) warn(`${missing.size} images named in ${o.data} are missing from ${o.images} and are skipped (e.g. ${[...missing][0]!.file_name})`);
  const present = subset(
    all,
    all.images.filter((im) => !missing.has(im)).map((im) => im.id),
  );

  makeRunFolder(o.out);
  const unlock = lockRunFolder(o.out, warn);
  try {
    hooks.onLocked?.(unlock);
    return await runLocked(o, present, hooks);
  } finally {
    unlock();
  }
}

const warn = (s: string) => console.warn(`warning: ${s}`);

/** The run itself, holding the run folder's lock: the steps below, in order. */
async function runLocked(o: RunOptions, present: CocoDataset, hooks: RunHooks): Promise<RunResult> {
  const log = (s: string) => hooks.log?.(s);
  const from = restoreOrClaim(o);
  const { run, changes } = settleRunRecord(o, from);
  const order = heldOutOrder(present, run);
  const opts: TrainOptions = {
    ...DEFAULT_TRAIN,
    ...definedOnly(o),
    batch: run.batch,
    lrSchedule: run.lrSchedule,
    mode: run.mode,
    freezeTrunk: run.freezeTrunk,
    momentum: run.momentum,
    weightDecay: run.weightDecay,
    lambda: run.lambda,
  };
  const model = startModel(o, run, from, log);
  const data = openData(o, present, run, model, from);
  let trainer: Trainer | null = null;
  try {
    const split = await holdOut(o, present, run, order, data, from, changes);
    log(`data: ${summary(split.train)} for training, ${summary(split.val)} held out`);
    const rng = new Rng(run.seed);
    const sampler = data.sampling(split.train, rng);
    const maker = new BatchMaker(sampler, data.loader.render, data.config, data.onSkip);
    const runLog = new RunLog(o.out, from?.state.step ?? 0, warn);
    if (changes.length) runLog.add({ type: 'allow-changes', step: from?.state.step ?? 0, changes });
    const stop = new StopFlag(hooks.stopReason);
    const validations: ValidationMetrics[] = [];
    const training = { preset: model.config.preset, data: o.data, valImages: split.valIds, options: opts };
    trainer = new Trainer(
      model,
      maker,
      sampler,
      rng,
      opts,
      {
        onLog: (e: LogEntry) => {
          runLog.add({ type: 'train', ...e });
          hooks.onStep?.(e, { steps: opts.steps, batch: opts.batch });
        },
        onValidate: (m) => {
          validations.push(m);
          runLog.add({ type: 'val', ...m });
          hooks.onValidate?.(m);
          writeCurves(o.out, curves(runLog.records));
        },
        onCheckpoint: async (_step, st) => writeCheckpoint(o.out, st.step, await checkpointFiles(model, st, training, { run, skipped: data.skipped })),
        shouldStop: stop.poll,
      },
      split.valBatch,
    );
    if (from) trainer.restore(from.state);
    const t0 = performance.now();
    await trainLoop(o, trainer, runLog);
    return await finish(o, { trainer, model, opts, run, runLog, validations, valIds: split.valIds, skipped: data.skipped, stop: stop.reason, t0, log });
  } finally {
    trainer?.dispose();
    await data.loader.close();
  }
}

/** The checkpoint --resume continues from; for a new run, the folder claimed (a previous run refused, or deleted with --force). */
function restoreOrClaim(o: RunOptions): Checkpoint | null {
  claimRunFolder(o.out, { resume: o.resume, force: o.force, what: 'a training run' }, warn);
  return o.resume ? readLatest(o.out) : null;
}

/** What defines the run: this call's options, or on --resume the checkpoint's, which given ones must match (or, with --allow-changes, the changes). */
function settleRunRecord(o: RunOptions, from: Checkpoint | null): { run: RunRecord; changes: string[] } {
  const given = givenRecord(o);
  const changes: string[] = [];
  if (!from) return { run: withDefaults(given), changes };
  const preset = from.config.model.preset;
  const saved: RunRecord = from.run ?? withDefaults({ ...given, preset });
  if (!from.run) warn(`${from.dir}: this checkpoint does not record its run's options; the given ones are not checked against it`);
  const fixed: string[] = [];
  for (const k of Object.keys(FLAGS) as (keyof RunRecord)[]) {
    if (given[k] === undefined || same(given[k], saved[k])) continue;
    // Paths are recorded as typed; the same file reached from another spelling is the same run.
    if ((k === 'data' || k === 'images') && resolve(String(given[k])) === resolve(String(saved[k]))) continue;
    const line = `${FLAGS[k]} ${show(given[k])} (the run has ${show(saved[k])})`;
    (FIXED.includes(k) ? fixed : changes).push(line);
  }
  if (fixed.length) throw new OptionError(`${o.out}: --resume cannot change ${fixed.join('; ')}; start a new run in another --out instead`);
  if (changes.length && !o.allowChanges) {
    throw new OptionError(
      `${o.out}: --resume with options that differ from the run's: ${changes.join('; ')}. Leave them out (or give the run's values), start a new run in another --out, or pass --allow-changes to resume with them anyway`,
    );
  }
  return { run: { ...saved, ...(Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<RunRecord>) }, changes };
}

/** A reproducible order of the image ids (held-out ones first) and how many are held out. */
function heldOutOrder(present: CocoDataset, run: RunRecord): { ids: number[]; nVal: number } {
  const ids = present.images.map((im) => im.id).sort((a, b) => a - b);
  const split = new Rng(run.seed ^ 0x5eed);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = split.int(i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const h = run.holdOut;
  const nVal = h >= 1 ? h : Math.max(1, Math.round(ids.length * h));
  if (nVal >= ids.length)
    throw new OptionError(
      `--hold-out ${h} leaves no image for training: the data has ${ids.length} usable image(s), so at most ${ids.length - 1} can be held out`,
    );
  return { ids, nVal };
}

/** The model: the checkpoint's on --resume, else a new one (its trunk from --init when given). */
function startModel(o: RunOptions, run: RunRecord, from: Checkpoint | null, log: (s: string) => void): DeepMask {
  if (from) {
    const model = importModel(from.config, readFileSync(join(from.dir, WEIGHTS_FILE)), join(from.dir, WEIGHTS_FILE));
    log(`resuming from ${from.dir} (step ${from.state.step})`);
    return model;
  }
  const model = new DeepMask(run.preset, { seed: run.seed });
  if (o.init) log(`trunk: ${loadTrunk(model, o.init)} tensors from ${o.init}`);
  else if (model.config.trunk.kind === 'squeeze') warn('no --init: the SqueezeNet trunk starts from random weights');
  return model;
}

interface RunData {
  loader: WorkerLoader;
  config: DeepMask['config'];
  /** Images skipped as unreadable (the checkpoint's, then this run's). */
  skipped: string[];
  onSkip(file: string, error: string): void;
  sampling(ds: CocoDataset, r: Rng): PatchSampler;
}

/** The image loader (worker threads) and the sampler of windows, skipping unreadable images with a warning. */
function openData(o: RunOptions, present: CocoDataset, run: RunRecord, model: DeepMask, from: Checkpoint | null): RunData {
  const files = new Map(present.images.map((im) => [im.id, im.file_name]));
  const sizes = new Map(present.images.map((im) => [im.id, [im.width, im.height] as [number, number]]));
  const loader = new WorkerLoader({ imagesDir: o.images, files, sizes, geo: model.config, norm: model.config.normalization, workers: o.workers ?? 1 });
  const skipped: string[] = [...(from?.skipped ?? [])];
  return {
    loader,
    config: model.config,
    skipped,
    onSkip: (file, error) => {
      if (skipped.includes(file)) return;
      skipped.push(file);
      warn(`skipping ${file}: ${error}`);
    },
    sampling: (ds, r) => {
      try {
        return new PatchSampler(ds, model.config, r, run.rule);
      } catch (e) {
        throw new Error(`${o.data}: ${(e as Error).message}`);
      }
    },
  };
}

/**
 * The held-out images and their validation windows: fixed (their own seed), rendered once.
 * Unreadable held-out images are skipped; if none can be read, the next images of the shuffled
 * order are held out as well (the same ones again on --resume), a few times at most. On --resume a
 * split that differs from the checkpoint's is refused (or, with --allow-changes, one more change).
 */
async function holdOut(
  o: RunOptions,
  present: CocoDataset,
  run: RunRecord,
  order: { ids: number[]; nVal: number },
  data: RunData,
  from: Checkpoint | null,
  changes: string[],
): Promise<{ valBatch: Batch; val: CocoDataset; train: CocoDataset; valIds: number[] }> {
  const { ids } = order;
  let nVal = order.nVal;
  let valBatch: Batch | null = null;
  let val = subset(present, []),
    train = val;
  for (let round = 0, n0 = nVal; !valBatch; round++) {
    val = subset(present, ids.slice(0, nVal));
    train = subset(present, ids.slice(nVal));
    const valSampler = data.sampling(val.annotations.length ? val : train, new Rng(run.seed + 7));
    try {
      valBatch = await new BatchMaker(valSampler, data.loader.render, data.config, data.onSkip).make(run.valWindows, 'joint');
    } catch (e) {
      if (!(e instanceof NothingLeftError)) throw e;
      if (round === 4 || nVal + n0 >= ids.length)
        throw new Error(`${o.data}: no held-out image for validation can be read (${e.message}, ${nVal} image(s) tried); see the warnings above`);
      warn(`no held-out image can be read (${e.message}): holding out ${n0} more image(s) (${ids.slice(nVal, nVal + n0).join(', ')})`);
      nVal += n0;
    }
  }
  const valIds = ids.slice(0, nVal).sort((a, b) => a - b);
  if (from?.valImages && !same(from.valImages, valIds)) {
    const moved = valIds.filter((id) => !from.valImages!.includes(id)).length + from.valImages.filter((id) => !valIds.includes(id)).length;
    const line = `the held-out split differs from the run's (${moved} image(s) moved: the data changed?)`;
    if (!o.allowChanges) throw new OptionError(`${o.out}: --resume: ${line}; pass --allow-changes to resume anyway`);
    changes.push(line);
  }
  for (const c of changes) warn(`--allow-changes: ${c}`);
  return { valBatch, val, train, valIds };
}

/** Trains to opts.steps or a stop; a diverged run is logged and refused with the last finite checkpoint named. */
async function trainLoop(o: RunOptions, trainer: Trainer, runLog: RunLog): Promise<void> {
  try {
    await trainer.run();
  } catch (e) {
    if (e instanceof NothingLeftError) throw new Error(`${o.data}: training images: ${e.message}; see the warnings above`);
    if (!(e instanceof NonFiniteError)) throw e;
    // Diverged: nothing non-finite is saved; the checkpoint latest.json names is the last finite one.
    runLog.add({ type: 'error', step: trainer.step, message: e.message });
    const last = findCheckpoint(o.out)?.dir ?? null;
    throw new Error(
      `${e.message}; stopped without saving it. ${last ? `The last finite checkpoint is ${last}` : 'No checkpoint was written'}; lower the learning rate (--lr) and start again${last ? ' (or --resume --allow-changes with a lower --lr)' : ''}`,
    );
  }
}

/** The curves, then the final model with its training record (or, after a stop, the line that says how to continue). */
async function finish(
  o: RunOptions,
  r: {
    trainer: Trainer;
    model: DeepMask;
    opts: TrainOptions;
    run: RunRecord;
    runLog: RunLog;
    validations: ValidationMetrics[];
    valIds: number[];
    skipped: string[];
    stop: StopReason | null;
    t0: number;
    log: (s: string) => void;
  },
): Promise<RunResult> {
  const { trainer, opts, log, skipped } = r;
  writeCurves(o.out, curves(r.runLog.records));
  const lastMetrics = r.validations.at(-1) ?? null;
  const interrupted = r.stop !== null && trainer.step < opts.steps ? r.stop : null;
  if (interrupted) log(stoppedLine(interrupted, trainer.step, opts.steps, o.out));
  else {
    const training = {
      steps: trainer.step,
      samples: trainer.samples,
      seconds: Math.round(trainer.elapsed),
      data: o.data,
      heldOutImages: r.valIds,
      options: opts,
      run: r.run,
      validation: lastMetrics,
      skippedImages: skipped,
    };
    const dir = await writeFinalModel(o.out, r.model, training, o.saveF16);
    log(
      `trained ${trainer.step} steps in ${((performance.now() - r.t0) / 1000).toFixed(0)} s this run; model in ${dir}, log ${r.runLog.file}, curves ${join(o.out, CURVES)}`,
    );
  }
  if (skipped.length) log(`skipped ${skipped.length} unreadable image(s)`);
  return { steps: trainer.step, metrics: lastMetrics, validations: r.validations, modelDir: modelDir(o.out), skippedImages: skipped.length, interrupted };
}

/** The options this call gives (undefined: not given); paths as typed (compared resolved). */
function givenRecord(o: RunOptions): Partial<RunRecord> {
  return {
    data: o.data,
    images: o.images,
    preset: o.preset,
    seed: o.seed,
    holdOut: o.holdOut,
    valWindows: o.valWindows,
    rule: o.rule,
    batch: o.batch,
    lrSchedule: o.lrSchedule,
    mode: o.mode,
    freezeTrunk: o.freezeTrunk,
    momentum: o.momentum,
    weightDecay: o.weightDecay,
    lambda: o.lambda,
  };
}

function withDefaults(g: Partial<RunRecord>): RunRecord {
  const d = DEFAULT_TRAIN;
  return {
    data: g.data!,
    images: g.images!,
    preset: g.preset!,
    seed: g.seed ?? 1,
    holdOut: g.holdOut ?? 0.1,
    valWindows: g.valWindows ?? 256,
    rule: g.rule ?? 'paper',
    batch: g.batch ?? d.batch,
    lrSchedule: g.lrSchedule ?? d.lrSchedule,
    mode: g.mode ?? d.mode,
    freezeTrunk: g.freezeTrunk ?? d.freezeTrunk,
    momentum: g.momentum ?? d.momentum,
    weightDecay: g.weightDecay ?? d.weightDecay,
    lambda: g.lambda ?? d.lambda,
  };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const show = (v: unknown): string => (Array.isArray(v) ? v.map((e) => (Array.isArray(e) ? e.join(':') : String(e))).join(',') : String(v));

interface Checkpoint {
  dir: string;
  state: TrainState;
  config: ModelFileConfig;
  run?: RunRecord;
  valImages?: number[];
  skipped?: string[];
}

/** The checkpoint latest.json names, with errors that name the file at fault. */
function readLatest(out: string): Checkpoint {
  const ref = findCheckpoint(out);
  if (!ref) throw new Error(`${join(checkpointsDir(out), LATEST)}: no checkpoint to resume from`);
  if (existsSync(join(ref.dir, TRAINER_CHECKPOINT)))
    throw new OptionError(
      `${ref.dir}: holds a train-heads or train-refine checkpoint (${TRAINER_CHECKPOINT}), not one of deepmask train: resume it with the command that made it`,
    );
  const dir = ref.dir;
  const cfgPath = join(dir, CONFIG_FILE);
  const config = parseModelConfig(readFileSync(cfgPath, 'utf8'), cfgPath);
  const { state, extra } = readState(dir);
  const valImages = (config.training as { valImages?: number[] } | undefined)?.valImages;
  return { dir, state, config, run: extra.run as RunRecord | undefined, valImages, skipped: extra.skipped as string[] | undefined };
}

function definedOnly(o: Partial<TrainOptions>): Partial<TrainOptions> {
  const keys: (keyof TrainOptions)[] = [
    'steps',
    'batch',
    'lrSchedule',
    'momentum',
    'weightDecay',
    'lambda',
    'mode',
    'freezeTrunk',
    'logEvery',
    'validateEvery',
    'checkpointEvery',
  ];
  const out: Partial<TrainOptions> = {};
  for (const k of keys) if (o[k] !== undefined) (out as Record<string, unknown>)[k] = o[k];
  return out;
}

/**
 * A train checkpoint's files: the model (weights and config, with `training`), the optimizer's
 * velocities by parameter name, and the rest of the state with `extra` (the run record, skipped images).
 */
async function checkpointFiles(
  model: DeepMask,
  st: TrainState,
  training: Record<string, unknown>,
  extra: Record<string, unknown>,
): Promise<[string, Uint8Array | string][]> {
  const { weights, config } = await exportModel(model, { training }); // refuses non-finite weights
  const velocities = new Map<string, HostTensor>();
  for (const [name, v] of Object.entries(st.optimizer.velocities)) if (v) velocities.set(`velocity.${name}`, v);
  const { optimizer, ...rest } = st;
  return [
    [WEIGHTS_FILE, weights],
    [CONFIG_FILE, JSON.stringify(config, null, 2)],
    ['optimizer.safetensors', writeSafetensors(velocities)],
    ['state.json', JSON.stringify({ ...rest, optimizerSteps: optimizer.steps, ...extra })],
  ];
}

function readState(dir: string): { state: TrainState; extra: Record<string, unknown> } {
  const file = join(dir, 'state.json');
  // optimizerSteps by name; checkpoints before names keep arrays by index (with a `velocities` flag list).
  let s: Omit<TrainState, 'optimizer'> & { optimizerSteps: number[] | Record<string, number>; velocities?: boolean[] } & Record<string, unknown>;
  try {
    s = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: cannot read the training state (${(e as Error).message})`);
  }
  const v = readSafetensors(readFileSync(join(dir, 'optimizer.safetensors')), join(dir, 'optimizer.safetensors')).tensors;
  const steps = s.optimizerSteps;
  const optimizer: TrainState['optimizer'] = Array.isArray(steps)
    ? { steps, velocities: (s.velocities ?? []).map((has, i) => (has ? (v.get(`velocity.${i}`) ?? null) : null)) }
    : { steps, velocities: Object.fromEntries(Object.keys(steps).map((name) => [name, v.get(`velocity.${name}`) ?? null])) };
  const state: TrainState = {
    step: s.step,
    samples: s.samples,
    elapsed: s.elapsed,
    samplerRng: s.samplerRng,
    modelRng: s.modelRng,
    optimizer,
    excluded: s.excluded,
  };
  return { state, extra: { run: s.run, skipped: s.skipped } };
}

/** Loss and held-out mask IoU / score accuracy of a DeepMask run's log (train and train-heads). */
export function curves(history: readonly Record<string, unknown>[]): Uint8Array {
  const tr = history.filter((e) => e.type === 'train') as unknown as LogEntry[];
  const va = history.filter((e) => e.type === 'val') as unknown as ValidationMetrics[];
  return plotPanels([
    lossPanel(tr),
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
// The run folder's shared pieces, as the other trainers, the CLI and infer import them from here.
export { lockRunFolder, OptionError, type StopReason } from './run-folder.js';
