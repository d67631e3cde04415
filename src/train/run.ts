// Node: a full training run from a COCO-format data set on disk, with a held-out split, worker
// data loading, progress, a JSONL log, a PNG of the curves, atomic checkpoints and exact resume.
import { appendFileSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseCoco, subset, summary, type CocoDataset } from '../data/coco.js';
import { WorkerLoader } from '../data/loader.js';
import { NothingLeftError, PatchSampler, type SamplingRule } from '../data/sampler.js';
import { Rng } from '../graph/random.js';
import { DeepMask } from '../model/deepmask.js';
import { loadTrunk, saveModel, writeFileAtomic, writeFileSynced, WEIGHTS_FILE, CONFIG_FILE } from '../model/files.js';
import { readSafetensors, writeSafetensors } from '../model/safetensors.js';
import { exportModel, importModel, NonFiniteError, parseModelConfig, type ModelFileConfig } from '../model/weights.js';
import { presetConfig } from '../model/presets.js';
import type { HostTensor } from '../graph/module.js';
import { lossPanel, plotPanels } from './plot.js';
import { BatchMaker, type Batch } from './batches.js';
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

/** Why a run stopped before its last step (the CLI maps signals to these). */
export type StopReason = 'SIGINT' | 'SIGTERM';

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

/** A bad option value or a conflict between options and the run on disk; the CLI reports it as a usage error (exit 2). */
export class OptionError extends Error {
  override name = 'OptionError';
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
  data: '--data', images: '--images', preset: '--preset', seed: '--seed', holdOut: '--hold-out', valWindows: '--val-windows', rule: '--rule', batch: '--batch',
  lrSchedule: '--lr/--lr-schedule', mode: '--mode', freezeTrunk: '--freeze-trunk', momentum: 'momentum', weightDecay: 'weightDecay', lambda: 'lambda',
};
/** Options a resumed run can never change, even with allowChanges (the model and its optimizer depend on them). */
const FIXED: (keyof RunRecord)[] = ['preset', 'freezeTrunk'];

/** Checks every option's value and range before any work; throws OptionError naming the option. */
export function checkRunOptions(o: Partial<RunOptions>): void {
  const int = (v: number | undefined, flag: string, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max)) throw new OptionError(`--${flag} must be an integer from ${min} to ${max}, got ${v}`);
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
  if (h !== undefined && !(Number.isFinite(h) && h > 0 && (h < 1 || Number.isInteger(h)))) throw new OptionError(`--hold-out must be a count of images (an integer >= 1) or a fraction in (0, 1), got ${h}`);
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

const CKPT = 'checkpoints';
const LOCK = 'train.lock';
const stepDir = (step: number) => `step-${String(step).padStart(7, '0')}`;

export async function runTraining(o: RunOptions, hooks: RunHooks = {}): Promise<RunResult> {
  const warn = (s: string) => console.warn(`warning: ${s}`);
  checkRunOptions(o);
  if (!o.resume && o.preset === undefined) throw new OptionError('--preset is required for a new run');
  if (!existsSync(o.data)) throw new Error(`${o.data}: annotation file not found`);
  if (!existsSync(o.images)) throw new Error(`${o.images}: image folder not found`);
  if (o.init && !existsSync(o.init)) throw new Error(`${o.init}: not found`);
  const all = parseCoco(readFileSync(o.data, 'utf8'), o.data);
  for (const w of all.warnings.slice(0, 5)) warn(w);
  const missing = new Set(all.images.filter((im) => !existsSync(join(o.images, im.file_name))));
  if (missing.size === all.images.length) throw new Error(`${o.images}: none of the ${all.images.length} images named in ${o.data} is there (e.g. ${all.images[0]?.file_name})`);
  if (missing.size) warn(`${missing.size} images named in ${o.data} are missing from ${o.images} and are skipped (e.g. ${[...missing][0]!.file_name})`);
  const present = subset(all, all.images.filter((im) => !missing.has(im)).map((im) => im.id));

  try {
    mkdirSync(o.out, { recursive: true });
  } catch (e) {
    throw new Error(`${o.out}: cannot create the run folder (${(e as Error).message})`);
  }
  const unlock = lockRunFolder(o.out, warn);
  try {
    hooks.onLocked?.(unlock);
    return await runLocked(o, present, hooks);
  } finally {
    unlock();
  }
}

/** The run itself, holding the run folder's lock. */
async function runLocked(o: RunOptions, present: CocoDataset, hooks: RunHooks): Promise<RunResult> {
  const log = (s: string) => hooks.log?.(s);
  const warn = (s: string) => console.warn(`warning: ${s}`);
  const ckptRoot = join(o.out, CKPT);
  const latest = join(ckptRoot, 'latest.json');

  // A previous run in --out is continued (--resume), replaced on request (--force), or left alone.
  let from: Checkpoint | null = null;
  if (o.resume) from = readLatest(ckptRoot);
  else {
    const existing = ['log.jsonl', CKPT, 'model'].filter((f) => existsSync(join(o.out, f)));
    if (existing.length) {
      if (!o.force) throw new Error(`${o.out} already holds a training run (${existing.join(', ')}): continue it with --resume, replace it with --force, or choose another --out`);
      for (const f of [...existing, 'curves.png']) rmSync(join(o.out, f), { recursive: true, force: true });
      warn(`--force: deleted the previous run in ${o.out} (${existing.join(', ')})`);
    }
  }
  removeTemporaries(o.out);

  // What defines the run: this run's options, or on --resume the stored ones, which given options must match.
  const given = givenRecord(o);
  let run: RunRecord;
  const changes: string[] = [];
  if (from) {
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
      throw new OptionError(`${o.out}: --resume with options that differ from the run's: ${changes.join('; ')}. Leave them out (or give the run's values), start a new run in another --out, or pass --allow-changes to resume with them anyway`);
    }
    run = { ...saved, ...(Object.fromEntries(Object.entries(given).filter(([, v]) => v !== undefined)) as Partial<RunRecord>) };
  } else run = withDefaults(given);

  // A reproducible held-out split by image.
  const ids = present.images.map((im) => im.id).sort((a, b) => a - b);
  const split = new Rng(run.seed ^ 0x5eed);
  for (let i = ids.length - 1; i > 0; i--) {
    const j = split.int(i + 1);
    [ids[i], ids[j]] = [ids[j]!, ids[i]!];
  }
  const h = run.holdOut;
  let nVal = h >= 1 ? h : Math.max(1, Math.round(ids.length * h));
  if (nVal >= ids.length) throw new OptionError(`--hold-out ${h} leaves no image for training: the data has ${ids.length} usable image(s), so at most ${ids.length - 1} can be held out`);

  const opts: TrainOptions = {
    ...DEFAULT_TRAIN,
    ...definedOnly(o),
    batch: run.batch, lrSchedule: run.lrSchedule, mode: run.mode, freezeTrunk: run.freezeTrunk, momentum: run.momentum, weightDecay: run.weightDecay, lambda: run.lambda,
  };
  let model: DeepMask;
  if (from) {
    model = importModel(from.config, readFileSync(join(from.dir, WEIGHTS_FILE)), join(from.dir, WEIGHTS_FILE));
    log(`resuming from ${from.dir} (step ${from.state.step})`);
  } else {
    model = new DeepMask(run.preset, { seed: run.seed });
    if (o.init) log(`trunk: ${loadTrunk(model, o.init)} tensors from ${o.init}`);
    else if (model.config.trunk.kind === 'squeeze') warn('no --init: the SqueezeNet trunk starts from random weights');
  }

  const files = new Map(present.images.map((im) => [im.id, im.file_name]));
  const sizes = new Map(present.images.map((im) => [im.id, [im.width, im.height] as [number, number]]));
  const loader = new WorkerLoader({ imagesDir: o.images, files, sizes, geo: model.config, norm: model.config.normalization, workers: o.workers ?? 1 });
  const skipped: string[] = [...(from?.skipped ?? [])];
  const onSkip = (file: string, error: string) => {
    if (skipped.includes(file)) return;
    skipped.push(file);
    warn(`skipping ${file}: ${error}`);
  };
  const sampling = (ds: CocoDataset, r: Rng) => {
    try {
      return new PatchSampler(ds, model.config, r, run.rule);
    } catch (e) {
      throw new Error(`${o.data}: ${(e as Error).message}`);
    }
  };
  let stop: StopReason | null = null;
  let trainer: Trainer | null = null;
  try {
    // The validation windows: fixed (their own seed), rendered once. Unreadable held-out images are
    // skipped; if none can be read, the next images of the shuffled order are held out as well (the
    // same ones again on --resume), a few times at most.
    let valBatch: Batch | null = null;
    let val = subset(present, []), train = val;
    for (let round = 0, n0 = nVal; !valBatch; round++) {
      val = subset(present, ids.slice(0, nVal));
      train = subset(present, ids.slice(nVal));
      const valSampler = sampling(val.annotations.length ? val : train, new Rng(run.seed + 7));
      try {
        valBatch = await new BatchMaker(valSampler, loader.render, model.config, onSkip).make(run.valWindows, 'joint');
      } catch (e) {
        if (!(e instanceof NothingLeftError)) throw e;
        if (round === 4 || nVal + n0 >= ids.length) throw new Error(`${o.data}: no held-out image for validation can be read (${e.message}, ${nVal} image(s) tried); see the warnings above`);
        warn(`no held-out image can be read (${e.message}): holding out ${n0} more image(s) (${ids.slice(nVal, nVal + n0).join(', ')})`);
        nVal += n0;
      }
    }
    const valIds = ids.slice(0, nVal).sort((a, b) => a - b);
    if (from?.valImages && !same(from.valImages, valIds)) {
      const moved = valIds.filter((id) => !from!.valImages!.includes(id)).length + from.valImages.filter((id) => !valIds.includes(id)).length;
      const line = `the held-out split differs from the run's (${moved} image(s) moved: the data changed?)`;
      if (!o.allowChanges) throw new OptionError(`${o.out}: --resume: ${line}; pass --allow-changes to resume anyway`);
      changes.push(line);
    }
    for (const c of changes) warn(`--allow-changes: ${c}`);
    log(`data: ${summary(train)} for training, ${summary(val)} held out`);
    const rng = new Rng(run.seed);
    const sampler = sampling(train, rng);
    const maker = new BatchMaker(sampler, loader.render, model.config, onSkip);

    const logFile = join(o.out, 'log.jsonl');
    const history = resumeLog(logFile, from?.state.step ?? 0, warn);
    const record = (e: Record<string, unknown>) => {
      history.push(e);
      appendFileSync(logFile, `${JSON.stringify(e)}\n`);
    };
    if (changes.length) record({ type: 'allow-changes', step: from?.state.step ?? 0, changes });
    let lastMetrics: ValidationMetrics | null = null;
    const validations: ValidationMetrics[] = [];

    trainer = new Trainer(
      model,
      maker,
      sampler,
      rng,
      opts,
      {
        onLog: (e: LogEntry) => {
          record({ type: 'train', ...e });
          hooks.onStep?.(e, { steps: opts.steps, batch: opts.batch });
        },
        onValidate: (m) => {
          lastMetrics = m;
          validations.push(m);
          record({ type: 'val', ...m });
          hooks.onValidate?.(m);
          writeFileAtomic(join(o.out, 'curves.png'), curves(history));
        },
        onCheckpoint: async (step, st) => {
          await writeCheckpoint(ckptRoot, model, st, { preset: model.config.preset, data: o.data, valImages: valIds, options: opts }, { run, skipped });
        },
        shouldStop: () => (stop ??= hooks.stopReason?.() ?? null) !== null,
      },
      valBatch,
    );
    if (from) trainer.restore(from.state);
    const t0 = performance.now();
    try {
      await trainer.run();
    } catch (e) {
      if (e instanceof NothingLeftError) throw new Error(`${o.data}: training images: ${e.message}; see the warnings above`);
      if (!(e instanceof NonFiniteError)) throw e;
      // Diverged: nothing non-finite is saved; the checkpoint latest.json names is the last finite one.
      record({ type: 'error', step: trainer.step, message: e.message });
      const last = existsSync(latest) ? readLatest(ckptRoot).dir : null;
      throw new Error(`${e.message}; stopped without saving it. ${last ? `The last finite checkpoint is ${last}` : 'No checkpoint was written'}; lower the learning rate (--lr) and start again${last ? ' (or --resume --allow-changes with a lower --lr)' : ''}`);
    }
    writeFileAtomic(join(o.out, 'curves.png'), curves(history));
    const modelDir = join(o.out, 'model');
    const interrupted = stop !== null && trainer.step < opts.steps ? stop : null;
    if (interrupted) {
      log(`${interrupted === 'SIGINT' ? 'interrupted' : 'terminated'} at step ${trainer.step} of ${opts.steps}: checkpoint in ${ckptRoot}; continue with --resume (no final model written)`);
    } else {
      const training = {
        steps: trainer.step,
        samples: trainer.samples,
        seconds: Math.round(trainer.elapsed),
        data: o.data,
        heldOutImages: valIds,
        options: opts,
        run,
        validation: lastMetrics,
        skippedImages: skipped,
      };
      await saveModel(model, modelDir, { training, dtype: o.saveF16 ? 'F16' : 'F32' });
      log(`trained ${trainer.step} steps in ${((performance.now() - t0) / 1000).toFixed(0)} s this run; model in ${modelDir}, log ${logFile}, curves ${join(o.out, 'curves.png')}`);
    }
    if (skipped.length) log(`skipped ${skipped.length} unreadable image(s)`);
    return { steps: trainer.step, metrics: lastMetrics, validations, modelDir, skippedImages: skipped.length, interrupted };
  } finally {
    trainer?.dispose();
    await loader.close();
  }
}

/** The options this call gives (undefined: not given); paths as typed (compared resolved). */
function givenRecord(o: RunOptions): Partial<RunRecord> {
  return {
    data: o.data, images: o.images, preset: o.preset, seed: o.seed, holdOut: o.holdOut, valWindows: o.valWindows, rule: o.rule, batch: o.batch,
    lrSchedule: o.lrSchedule, mode: o.mode, freezeTrunk: o.freezeTrunk, momentum: o.momentum, weightDecay: o.weightDecay, lambda: o.lambda,
  };
}

function withDefaults(g: Partial<RunRecord>): RunRecord {
  const d = DEFAULT_TRAIN;
  return {
    data: g.data!, images: g.images!, preset: g.preset!, seed: g.seed ?? 1, holdOut: g.holdOut ?? 0.1, valWindows: g.valWindows ?? 256, rule: g.rule ?? 'paper',
    batch: g.batch ?? d.batch, lrSchedule: g.lrSchedule ?? d.lrSchedule, mode: g.mode ?? d.mode, freezeTrunk: g.freezeTrunk ?? d.freezeTrunk,
    momentum: g.momentum ?? d.momentum, weightDecay: g.weightDecay ?? d.weightDecay, lambda: g.lambda ?? d.lambda,
  };
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);
const show = (v: unknown): string => (Array.isArray(v) ? v.map((e) => (Array.isArray(e) ? e.join(':') : String(e))).join(',') : String(v));

/**
 * Takes the run folder's lock file, so a second run into the same --out is refused instead of
 * interleaving with this one; a lock left by a dead process on this machine is taken over.
 */
export function lockRunFolder(out: string, warn: (s: string) => void): () => void {
  const file = join(out, LOCK);
  const me = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  for (;;) {
    try {
      writeFileSync(file, JSON.stringify(me), { flag: 'wx' });
      let held = true;
      return () => {
        if (held) rmSync(file, { force: true });
        held = false;
      };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw new Error(`${out}: cannot write to the run folder (${(e as Error).message})`);
    }
    let other: { pid?: number; host?: string; started?: string } = {};
    try {
      other = JSON.parse(readFileSync(file, 'utf8'));
    } catch {
      // unreadable: treated as held
    }
    if (other.host === me.host && typeof other.pid === 'number' && !alive(other.pid)) {
      warn(`${file}: taking over the lock of a run that ended without releasing it (pid ${other.pid})`);
      rmSync(file, { force: true });
      continue;
    }
    throw new Error(`${out} is in use by another training run (${file}: pid ${other.pid ?? '?'} on ${other.host ?? '?'}, since ${other.started ?? '?'}); wait for it to end, or delete ${file} if no run is active`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes what interrupted writes left behind: .tmp-* checkpoint folders and files (this run holds the lock). */
function removeTemporaries(out: string): void {
  for (const dir of [join(out, CKPT), join(out, 'model'), out]) {
    if (!existsSync(dir)) continue;
    for (const f of readdirSync(dir)) if (f.startsWith('.tmp-') || /\.tmp-\d+$/.test(f)) rmSync(join(dir, f), { recursive: true, force: true });
  }
}

interface Checkpoint {
  dir: string;
  state: TrainState;
  config: ModelFileConfig;
  run?: RunRecord;
  valImages?: number[];
  skipped?: string[];
}

/** The checkpoint latest.json names, with errors that name the file at fault. */
function readLatest(root: string): Checkpoint {
  const latest = join(root, 'latest.json');
  if (!existsSync(latest)) throw new Error(`${latest}: no checkpoint to resume from`);
  let name: unknown;
  try {
    name = (JSON.parse(readFileSync(latest, 'utf8')) as { dir?: unknown }).dir;
  } catch (e) {
    throw new Error(`${latest}: not valid JSON (${(e as Error).message}); it should name the newest checkpoint, e.g. {"dir": "step-0000500"}`);
  }
  if (typeof name !== 'string' || !/^step-\d+$/.test(name)) throw new Error(`${latest}: "dir" must name a checkpoint folder such as "step-0000500", got ${JSON.stringify(name)}`);
  const dir = join(root, name);
  if (!existsSync(dir)) throw new Error(`${latest}: names ${name}, which is not in ${root}`);
  const cfgPath = join(dir, CONFIG_FILE);
  const config = parseModelConfig(readFileSync(cfgPath, 'utf8'), cfgPath);
  const { state, extra } = readState(dir);
  const valImages = (config.training as { valImages?: number[] } | undefined)?.valImages;
  return { dir, state, config, run: extra.run as RunRecord | undefined, valImages, skipped: extra.skipped as string[] | undefined };
}

function definedOnly(o: Partial<TrainOptions>): Partial<TrainOptions> {
  const keys: (keyof TrainOptions)[] = ['steps', 'batch', 'lrSchedule', 'momentum', 'weightDecay', 'lambda', 'mode', 'freezeTrunk', 'logEvery', 'validateEvery', 'checkpointEvery'];
  const out: Partial<TrainOptions> = {};
  for (const k of keys) if (o[k] !== undefined) (out as Record<string, unknown>)[k] = o[k];
  return out;
}

/**
 * Writes a checkpoint directory atomically (temporary directory, then rename), then points latest.json
 * at it. Older checkpoints are pruned by write order (latest.json keeps the list), never the one it names.
 */
async function writeCheckpoint(root: string, model: DeepMask, st: TrainState, training: Record<string, unknown>, extra: Record<string, unknown>): Promise<void> {
  const name = stepDir(st.step);
  const { weights, config } = await exportModel(model, { training }); // refuses non-finite weights
  const tmp = join(root, `.tmp-${name}-${process.pid}`);
  mkdirSync(tmp, { recursive: true });
  // Each file checked in full and synced (a full disk wrote short files that were renamed into a
  // checkpoint); on an error the temporary folder goes and latest.json still names the last good one.
  try {
    const write = (file: string, data: Uint8Array | string) => writeFileSynced(join(tmp, file), data, join(root, name, file));
    write(WEIGHTS_FILE, weights);
    write(CONFIG_FILE, JSON.stringify(config, null, 2));
    // Optimizer state by parameter name: velocity.<name> tensors, step counts by name.
    const velocities = new Map<string, HostTensor>();
    for (const [name, v] of Object.entries(st.optimizer.velocities)) if (v) velocities.set(`velocity.${name}`, v);
    write('optimizer.safetensors', writeSafetensors(velocities));
    const { optimizer, ...rest } = st;
    write('state.json', JSON.stringify({ ...rest, optimizerSteps: optimizer.steps, ...extra }));
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw new Error(`checkpoint ${name} not written: ${(e as Error).message}; ${join(root, 'latest.json')} still names the previous checkpoint, if any`);
  }
  const latestFile = join(root, 'latest.json');
  let kept: string[] = [];
  try {
    const prev = JSON.parse(readFileSync(latestFile, 'utf8')) as { dir?: string; kept?: string[] };
    kept = Array.isArray(prev.kept) ? prev.kept : typeof prev.dir === 'string' ? [prev.dir] : [];
  } catch {
    // first checkpoint (or an unreadable latest.json, which is replaced): nothing to prune
  }
  const final = join(root, name);
  if (existsSync(final)) renameSync(final, join(root, `.tmp-old-${name}-${process.pid}`)); // replaced only once the new one is in place
  renameSync(tmp, final);
  kept = [...kept.filter((d) => d !== name), name];
  writeFileAtomic(latestFile, JSON.stringify({ dir: name, step: st.step, kept: kept.slice(-2) }));
  for (const d of kept.slice(0, -2)) if (/^step-\d+$/.test(d)) rmSync(join(root, d), { recursive: true, force: true });
  rmSync(join(root, `.tmp-old-${name}-${process.pid}`), { recursive: true, force: true });
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
    ? { steps, velocities: (s.velocities ?? []).map((has, i) => (has ? v.get(`velocity.${i}`) ?? null : null)) }
    : { steps, velocities: Object.fromEntries(Object.keys(steps).map((name) => [name, v.get(`velocity.${name}`) ?? null])) };
  const state: TrainState = { step: s.step, samples: s.samples, elapsed: s.elapsed, samplerRng: s.samplerRng, modelRng: s.modelRng, optimizer, excluded: s.excluded };
  return { state, extra: { run: s.run, skipped: s.skipped } };
}

/**
 * A run's JSONL log as it resumes at `step` (0: a new run): the entries up to that step, the file
 * rewritten (atomically) to hold just those, since what came after the checkpoint is redone; a
 * torn last line (a kill mid-write) is dropped with a warning. Every trainer's run folder uses it.
 */
export function resumeLog(file: string, step: number, warn: (s: string) => void): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  if (existsSync(file) && step > 0) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      if (!line) continue;
      try {
        const e = JSON.parse(line) as Record<string, unknown>;
        if ((e.step as number) <= step) out.push(e);
      } catch {
        warn(`${file}: dropping an unreadable line (${line.slice(0, 40)})`);
      }
    }
  }
  writeFileAtomic(file, out.map((e) => JSON.stringify(e)).join('\n') + (out.length ? '\n' : ''));
  return out;
}

/** Loss and held-out mask IoU / score accuracy of a DeepMask run's log (`tag`: the field naming an entry's kind). */
export function curves(history: Record<string, unknown>[], tag: 'type' | 'kind' = 'type'): Uint8Array {
  const tr = history.filter((e) => e[tag] === 'train') as unknown as LogEntry[];
  const va = history.filter((e) => e[tag] === 'val') as unknown as ValidationMetrics[];
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
