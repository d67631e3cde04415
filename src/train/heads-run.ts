// Node: a heads training run (train-heads) in the run folder every trainer writes (run-folder.ts):
// a lock, run.json (the run-defining options, checked on --resume), the JSONL log, curves.png,
// atomic checkpoints, exact resume, a stop on request after a checkpoint, and the final model with
// its training record. The trunk's feature maps are cached first
// (feature-cache.ts, OUT/features), so a run interrupted while caching loses nothing.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseCoco, trainableAnnotations } from '../data/coco.js';
import { Rng } from '../graph/random.js';
import { defaultScales, scalesFromRange } from '../infer/proposals.js';
import { DeepMask } from '../model/deepmask.js';
import { loadTrunk, WEIGHTS_FILE } from '../model/files.js';
import { presetConfig } from '../model/presets.js';
import { readSafetensors } from '../model/safetensors.js';
import { cutTrunk } from '../model/trunks.js';
import { FeatureWindows, type BankImage, type WindowRef } from './feature-bank.js';
import { cacheKey, loadBank } from './feature-cache.js';
import {
  claimRunFolder,
  existingRun,
  lockRunFolder,
  makeRunFolder,
  modelDir,
  OptionError,
  readRunRecord,
  RunLog,
  runFolderTaken,
  RUN,
  StopFlag,
  stoppedLine,
  stopWord,
  TRAINER_CHECKPOINT,
  trainerCheckpoint,
  writeCheckpoint,
  writeCurves,
  writeFinalModel,
  writeRunRecord,
  type StopReason,
} from './run-folder.js';
import { checkSchedule, curves } from './run.js';
import type { ValidationMetrics } from './trainer.js';
import { DEFAULT_HEADS_TRAIN, HeadsTrainer, type HeadsTrainOptions } from './train-heads.js';

export interface HeadsRunOptions extends Partial<Omit<HeadsTrainOptions, 'trunkStages'>> {
  /** COCO instances JSON (required for a new run; a resumed run takes its run.json's when left out, as every option below). */
  data?: string;
  /** Folder of the images it names. */
  images?: string;
  preset?: string;
  /** The ImageNet trunk (torchvision layout, safetensors). */
  init?: string;
  out: string;
  /** JSON array of held-out image ids (default: a seeded tenth of the images). */
  valIds?: string;
  /** Pyramid 2^A..2^B in steps of 2^S (default: the preset's inference scales). */
  scales?: [number, number, number];
  /** The official heads' widths: 1x1 conv, shared embedding, score hidden (default: the preset's). */
  heads?: [number, number, number];
  /** Trunk stages trained with the heads (default 0: the trunk is frozen). */
  tuneLast?: number;
  /** A model folder or a train-heads checkpoint the heads (and tuned stages) start from. */
  initHeads?: string;
  /** Also cache and train on every photo's mirror image. */
  flips?: boolean;
  seed?: number;
  resume?: boolean;
  /** Start a new run in an --out that holds one, deleting that run (the feature cache is kept). */
  force?: boolean;
  saveF16?: boolean;
}

export interface HeadsRunHooks {
  /** Informational lines. Warnings go to console.warn. */
  log?(line: string): void;
  onExtract?(done: number, total: number, computed: number): void;
  /** Training begins (the maps cached), at this step (0, or a resumed run's). */
  onTrainStart?(step: number, run: { steps: number; batch: number }): void;
  onStep?(e: { step: number; loss: number; lr: number; windowsPerSec: number }, run: { steps: number; batch: number }): void;
  onValidate?(m: ValidationMetrics): void;
  /** Polled between images and steps: a reason stops the run (after a checkpoint once training has begun). */
  stopReason?(): StopReason | null;
  /** Called once the run folder is locked, with what releases it (for a caller that must exit at once). */
  onLocked?(release: () => void): void;
}

export interface HeadsRunResult {
  steps: number;
  metrics: ValidationMetrics | null;
  modelDir: string;
  /** Images skipped (file: reason): unreadable, missing, or of another size than the annotation file's. */
  skippedImages: string[];
  interrupted: StopReason | null;
}

/** What defines a run: stored in OUT/run.json and compared on --resume (paths resolved). */
interface HeadsRecord extends Pick<HeadsTrainOptions, 'batch' | 'lrSchedule' | 'momentum' | 'weightDecay' | 'lambda' | 'positiveFraction'> {
  data: string;
  images: string;
  preset: string;
  init: string;
  valIds: string | null;
  seed: number;
  scales: [number, number, number] | null;
  heads: [number, number, number] | null;
  tuneLast: number;
  initHeads: string | null;
  flips: boolean;
}

const FLAGS: Record<keyof HeadsRecord, string> = {
  data: '--data',
  images: '--images',
  preset: '--preset',
  init: '--init',
  valIds: '--val-ids',
  seed: '--seed',
  batch: '--batch',
  lrSchedule: '--lr-schedule',
  momentum: 'momentum',
  weightDecay: 'weightDecay',
  lambda: 'lambda',
  positiveFraction: 'positiveFraction',
  scales: '--scales',
  heads: '--heads',
  tuneLast: '--tune-last',
  initHeads: '--init-heads',
  flips: '--flips',
};

export async function runHeadsTraining(o: HeadsRunOptions, hooks: HeadsRunHooks = {}): Promise<HeadsRunResult> {
  const log = (s: string) => hooks.log?.(s);
  const warn = (s: string) => console.warn(`warning: ${s}`);
  checkHeadsOptions(o);
  const out = o.out;
  const runFile = join(out, RUN);
  if (o.resume && o.force) throw new OptionError('give --resume (continue the run in --out) or --force (replace it), not both');
  if (o.resume && !trainerCheckpoint(out)) throw new OptionError(`--resume: ${out} holds no checkpoint to resume from`);
  if (!o.resume && !o.force && existingRun(out).length) throw runFolderTaken(out, existingRun(out), 'a run'); // at once; checked again under the lock

  // The run's options: this call's, or on --resume the recorded ones, which given options must match.
  const given = givenRecord(o);
  let saved: (HeadsRecord & { steps?: number }) | null = null;
  if (o.resume) {
    saved = readRecord(out);
    if (!saved) warn(`${out}: no ${RUN} (a run from before it was written): the given options are not checked against the run's`);
  }
  if (o.resume && !saved)
    for (const k of ['data', 'images', 'preset', 'init'] as const) if (!o[k]) throw new OptionError(`--${k} is required to resume a run without ${RUN}`);
  if (saved) {
    const differ = (Object.keys(FLAGS) as (keyof HeadsRecord)[]).filter(
      (k) => given[k] !== undefined && JSON.stringify(given[k]) !== JSON.stringify(saved![k]),
    );
    if (differ.length) {
      const lines = differ.map((k) => `${FLAGS[k]} ${show(k, given[k])} (the run has ${show(k, saved![k])})`);
      throw new OptionError(
        `${out}: --resume with options that differ from the run's (${runFile}): ${lines.join('; ')}. Leave them out (or give the run's values), or start a new run in another --out`,
      );
    }
  }
  const run = withDefaults({ ...(saved ?? {}), ...definedOnly(given) });
  const steps = o.steps ?? (o.resume ? saved?.steps : undefined) ?? DEFAULT_HEADS_TRAIN.steps;
  const opts: HeadsTrainOptions = {
    ...DEFAULT_HEADS_TRAIN,
    ...definedOnly({ logEvery: o.logEvery, validateEvery: o.validateEvery, checkpointEvery: o.checkpointEvery }),
    steps,
    batch: run.batch,
    lrSchedule: run.lrSchedule,
    momentum: run.momentum,
    weightDecay: run.weightDecay,
    lambda: run.lambda,
    positiveFraction: run.positiveFraction,
    trunkStages: run.tuneLast,
  };

  // Inputs, before any work: each refusal names the option and the file.
  const config = presetConfig(run.preset);
  if (run.heads) config.heads = { kind: 'shared', conv: run.heads[0], embed: run.heads[1], scoreHidden: run.heads[2] };
  let cut = config.trunk;
  if (run.tuneLast > 0) {
    try {
      cut = cutTrunk(config.trunk, run.tuneLast);
    } catch (e) {
      throw new OptionError(`--tune-last: ${(e as Error).message}`);
    }
  }
  const isDir = (p: string) => statSync(p).isDirectory();
  if (!existsSync(run.data)) throw new OptionError(`--data ${run.data}: not found`);
  if (isDir(run.data)) throw new OptionError(`--data ${run.data}: a folder; give the COCO instances JSON file`);
  if (!existsSync(run.images) || !isDir(run.images)) throw new OptionError(`--images ${run.images}: image folder not found`);
  if (!existsSync(run.init)) throw new OptionError(`--init ${run.init}: not found`);
  if (isDir(run.init)) throw new OptionError(`--init ${run.init}: a folder; give the ImageNet trunk's .safetensors file`);
  let initFile: string | null = null;
  if (run.initHeads) {
    if (!existsSync(run.initHeads)) throw new OptionError(`--init-heads ${run.initHeads}: not found`);
    initFile = isDir(run.initHeads) ? join(run.initHeads, WEIGHTS_FILE) : run.initHeads;
    if (!existsSync(initFile) || isDir(initFile))
      throw new OptionError(`--init-heads ${run.initHeads}: a folder without ${WEIGHTS_FILE}; give a model folder or a train-heads checkpoint file`);
  }
  const ds = parseCoco(readFileSync(run.data, 'utf8'), run.data);
  for (const w of ds.warnings.slice(0, 5)) warn(w);
  const trainable = trainableAnnotations(ds);
  const rng = new Rng(run.seed);
  const valIds = run.valIds
    ? readValIds(run.valIds, new Set(ds.images.map((im) => im.id)), run.data)
    : seededSplit(
        ds.images.map((im) => im.id),
        rng,
      );
  const missing = ds.images.filter((im) => !existsSync(join(run.images, im.file_name)));
  if (missing.length === ds.images.length)
    throw new Error(`${run.images}: none of the ${ds.images.length} images named in ${run.data} is there (e.g. ${ds.images[0]?.file_name})`);

  let model: DeepMask;
  try {
    model = new DeepMask(config, { seed: run.seed });
  } catch (e) {
    throw new OptionError((e as Error).message);
  }
  try {
    log(`trunk: ${loadTrunk(model, run.init)} tensors from ${run.init}`);
    const scales = run.scales ? scalesFromRange(...run.scales) : defaultScales(model);
    if (initFile) {
      // Trained tensors only: the heads and, when tuned, the trunk's last stages (the rest stays the ImageNet trunk's).
      const tuned = new Set(run.tuneLast > 0 ? model.trunk.lastParameters!(run.tuneLast) : []);
      const keep = new Set(
        model
          .namedParameters()
          .filter(([n, p]) => n.startsWith('heads.') || tuned.has(p))
          .map(([n]) => n),
      );
      const file = readSafetensors(readFileSync(initFile), initFile);
      const start = new Map([...file.tensors].filter(([n]) => keep.has(n)));
      if (![...start.keys()].some((n) => n.startsWith('heads.'))) throw new Error(`${initFile}: no heads.* tensors to start from`);
      model.loadState(start, { partial: true, source: initFile });
      log(`init: ${start.size} tensors from ${initFile}`);
    }

    makeRunFolder(out);
    const unlock = lockRunFolder(out, warn);
    try {
      hooks.onLocked?.(unlock);
      claimRunFolder(out, { resume: o.resume, force: o.force, what: 'a run', kept: 'the feature cache is kept' }, warn);
      log(`data: ${ds.images.length} images (${valIds.size} held out), scales ${scales.map((s) => s.toFixed(3)).join(' ')}`);

      // Feature maps: computed once, cached, reused. A stop while caching keeps the maps done.
      const stop = new StopFlag(hooks.stopReason);
      const bankModel = run.tuneLast > 0 ? new DeepMask({ ...config, trunk: cut }, { seed: run.seed }) : model; // the maps cached: the trunk's output, or the cut trunk's
      const abort = new AbortController();
      let loaded: { bank: BankImage[]; skipped: string[] } | null;
      try {
        if (bankModel !== model) loadTrunk(bankModel, run.init);
        const sources = ds.images.map((im) => ({ id: im.id, file: join(run.images, im.file_name), width: im.width, height: im.height }));
        loaded = await loadBank(bankModel, sources, {
          scales,
          dir: join(out, 'features'),
          key: cacheKey(bankModel, scales, run.init),
          flips: run.flips,
          signal: abort.signal,
          onProgress: (done, total, computed) => {
            hooks.onExtract?.(done, total, computed);
            if (stop.poll()) abort.abort();
          },
        }).catch((e: Error) => {
          if (abort.signal.aborted) return null;
          throw e;
        });
      } finally {
        if (bankModel !== model) bankModel.dispose();
      }
      if (!loaded) {
        log(`${stopWord(stop.reason!)} while caching feature maps (the images done are kept in ${join(out, 'features')}); run again to continue`);
        return { steps: 0, metrics: null, modelDir: modelDir(out), skippedImages: [], interrupted: stop.reason };
      }
      const { bank, skipped } = loaded;
      for (const s of skipped) warn(`skipped ${s}`);
      const trainBank = bank.filter((b) => !valIds.has(b.id)),
        valBank = bank.filter((b) => valIds.has(b.id) && !b.flip);
      if (!trainBank.length)
        throw new Error(
          `${run.data}: no usable image left to train on (${skipped.length} skipped${skipped.length ? `, e.g. ${skipped[0]}` : ''}; ${valIds.size} held out)`,
        );
      const geo = { ...model.config, featureSize: model.featureSize, context: run.tuneLast };
      const windows = new FeatureWindows(trainBank, trainable, geo, rng);
      if (!windows.positives.length)
        throw new Error(
          `${run.data}: no training object has a window at the canonical size at these scales (${scales.map((s) => s.toFixed(3)).join(' ')}): check --scales`,
        );
      const val = valBank.length ? new FeatureWindows(valBank, trainable, geo, new Rng(run.seed + 1)) : null;
      log(`windows: ${windows.positives.length} training objects with positive windows, ${val?.positives.length ?? 0} held out`);
      // Windows are only rendered once some are chosen (render reads the bank's first map).
      const valRefs = val && val.positives.length ? validationWindows(val, valBank, geo.stride) : [];
      const valBatch = val && valRefs.length ? val.render(valRefs) : null;
      if (!valBatch) warn('no held-out object has a window at the canonical size: no validation');

      // The run is defined from here on: its options are recorded (a stop while caching leaves none).
      if (!saved) writeRunRecord(out, { ...run, steps });
      else if (saved.steps !== steps) writeRunRecord(out, { ...saved, steps });
      let runLog: RunLog | null = null; // opened once the step resumed from is known
      let last: ValidationMetrics | null = null;
      const t0 = performance.now();
      const trainer = new HeadsTrainer(
        model,
        windows,
        opts,
        {
          onLog: (e) => {
            runLog!.add({ type: 'train', ...e });
            hooks.onStep?.(e, { steps: opts.steps, batch: opts.batch });
          },
          onValidate: (m) => {
            last = m;
            runLog!.add({ type: 'val', ...m });
            hooks.onValidate?.(m);
            writeCurves(out, curves(runLog!.records));
          },
          onCheckpoint: (bytes, step) => writeCheckpoint(out, step, [[TRAINER_CHECKPOINT, bytes]]),
          shouldStop: stop.poll,
        },
        valBatch,
      );
      try {
        if (o.resume) {
          const ckpt = trainerCheckpoint(out)!;
          trainer.restore(readFileSync(ckpt), ckpt);
          log(`resumed at step ${trainer.step}`);
        }
        runLog = new RunLog(out, trainer.step, warn); // the log keeps what the checkpoint covers
        hooks.onTrainStart?.(trainer.step, { steps: opts.steps, batch: opts.batch });
        await trainer.run();
        writeCurves(out, curves(runLog.records));
        if (stop.reason && trainer.step < opts.steps) {
          log(stoppedLine(stop.reason, trainer.step, opts.steps, out));
          return { steps: trainer.step, metrics: last, modelDir: modelDir(out), skippedImages: skipped, interrupted: stop.reason };
        }
        const metrics = valBatch ? await trainer.evaluate(valBatch) : null;
        const stages = run.tuneLast;
        const dir = await writeFinalModel(
          out,
          model,
          {
            method:
              stages > 0
                ? `heads and the trunk's last ${stages} stage(s), windows from cached maps of the trunk cut short`
                : 'heads on a frozen trunk, windows from cached feature maps',
            ...(stages > 0 ? { tunedStages: stages } : {}),
            ...(initFile ? { initHeads: initFile } : {}),
            steps: opts.steps,
            batch: opts.batch,
            lrSchedule: opts.lrSchedule,
            momentum: opts.momentum,
            weightDecay: opts.weightDecay,
            lambda: opts.lambda,
            seed: run.seed,
            data: run.data,
            trunk: run.init,
            scales,
            flips: run.flips,
            trainImages: new Set(trainBank.map((b) => b.id)).size,
            heldOutImages: [...valIds].sort((a, b) => a - b),
            skippedImages: skipped,
            validation: metrics,
            seconds: Math.round((performance.now() - t0) / 1000),
          },
          o.saveF16,
        );
        if (skipped.length) log(`skipped ${skipped.length} image(s) (see the warnings above; listed in the model's training record)`);
        log(`model: ${dir}`);
        return { steps: trainer.step, metrics, modelDir: dir, skippedImages: skipped, interrupted: null };
      } finally {
        trainer.dispose();
      }
    } finally {
      unlock();
    }
  } finally {
    model.dispose();
  }
}

/** Every option's value and range, before any work; throws OptionError naming the option. */
export function checkHeadsOptions(o: HeadsRunOptions): void {
  if (!o.out) throw new OptionError('--out is required');
  if (!o.resume) for (const k of ['data', 'images', 'preset', 'init'] as const) if (!o[k]) throw new OptionError(`--${k} is required for a new run`);
  const int = (v: number | undefined, flag: string, min: number, max: number) => {
    if (v !== undefined && !(Number.isInteger(v) && v >= min && v <= max))
      throw new OptionError(`--${flag} must be an integer from ${min} to ${max}, got ${v}`);
  };
  int(o.steps, 'steps', 1, 1e9);
  int(o.batch, 'batch', 2, 65536);
  int(o.seed, 'seed', 0, 2 ** 31 - 1);
  int(o.tuneLast, 'tune-last', 0, 64);
  int(o.logEvery, 'log-every', 1, 1e9);
  int(o.validateEvery, 'validate-every', 1, 1e9);
  int(o.checkpointEvery, 'checkpoint-every', 1, 1e9);
  if (o.lrSchedule !== undefined) checkSchedule(o.lrSchedule);
  const num = (v: number | undefined, name: string, ok: (x: number) => boolean, range: string) => {
    if (v !== undefined && !(Number.isFinite(v) && ok(v))) throw new OptionError(`${name} must be ${range}, got ${v}`);
  };
  num(o.momentum, 'momentum', (x) => x >= 0 && x < 1, 'in [0, 1)');
  num(o.weightDecay, 'weightDecay', (x) => x >= 0, '>= 0');
  num(o.lambda, 'lambda', (x) => x > 0, 'above 0');
  num(o.positiveFraction, 'positiveFraction', (x) => x > 0 && x < 1, 'in (0, 1)');
  if (o.scales) {
    const [a, b, s] = o.scales;
    if (![a, b, s].every(Number.isFinite) || !(s >= 0.05) || b < a || b - a > 10)
      throw new OptionError(
        `--scales must be MIN:MAX:STEP in log2 units with MIN <= MAX <= MIN + 10 and STEP >= 0.05, e.g. -2.5:0.5:0.5; got '${o.scales.join(':')}'`,
      );
  }
  if (o.heads && !(o.heads.length === 3 && o.heads.every((x) => Number.isInteger(x) && x >= 1 && x <= 4096)))
    throw new OptionError(`--heads must be CONV:EMBED:HIDDEN, three integers in 1..4096, e.g. 64:256:512; got '${o.heads.join(':')}'`);
  if (o.preset !== undefined) {
    let trunk;
    try {
      trunk = presetConfig(o.preset).trunk;
    } catch (e) {
      throw new OptionError(`--preset: ${(e as Error).message}`);
    }
    try {
      if (o.tuneLast) cutTrunk(trunk, o.tuneLast);
    } catch (e) {
      throw new OptionError(`--tune-last: ${(e as Error).message}`);
    }
  }
}

/** The run-defining options this call gives (undefined: not given); paths resolved. */
function givenRecord(o: HeadsRunOptions): Partial<HeadsRecord> {
  const path = (p: string | undefined) => (p === undefined ? undefined : resolve(p));
  return {
    data: path(o.data),
    images: path(o.images),
    preset: o.preset,
    init: path(o.init),
    valIds: path(o.valIds),
    seed: o.seed,
    batch: o.batch,
    lrSchedule: o.lrSchedule,
    momentum: o.momentum,
    weightDecay: o.weightDecay,
    lambda: o.lambda,
    positiveFraction: o.positiveFraction,
    scales: o.scales,
    heads: o.heads,
    tuneLast: o.tuneLast,
    initHeads: path(o.initHeads),
    flips: o.flips,
  };
}

function withDefaults(g: Partial<HeadsRecord>): HeadsRecord {
  const d = DEFAULT_HEADS_TRAIN;
  return {
    data: g.data!,
    images: g.images!,
    preset: g.preset!,
    init: g.init!,
    valIds: g.valIds ?? null,
    seed: g.seed ?? 1,
    batch: g.batch ?? d.batch,
    lrSchedule: g.lrSchedule ?? d.lrSchedule,
    momentum: g.momentum ?? d.momentum,
    weightDecay: g.weightDecay ?? d.weightDecay,
    lambda: g.lambda ?? d.lambda,
    positiveFraction: g.positiveFraction ?? d.positiveFraction,
    scales: g.scales ?? null,
    heads: g.heads ?? null,
    tuneLast: g.tuneLast ?? 0,
    initHeads: g.initHeads ?? null,
    flips: g.flips ?? false,
  };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function show(k: keyof HeadsRecord, v: unknown): string {
  if (v === null || v === undefined) return k === 'scales' || k === 'heads' ? "the preset's" : 'none';
  if (k === 'lrSchedule') return (v as [number, number][]).map((e) => e.join(':')).join(',');
  if (Array.isArray(v)) return v.join(':');
  return String(v);
}

/** The run's run.json as a train-heads record (null when there is none). */
function readRecord(out: string): (HeadsRecord & { steps?: number }) | null {
  const r = readRunRecord(out);
  if (r && (typeof r.data !== 'string' || typeof r.preset !== 'string'))
    throw new Error(`${join(out, RUN)}: cannot read the run's options (not a train-heads run record)`);
  return r as (HeadsRecord & { steps?: number }) | null;
}

/** The held-out ids of a --val-ids file, with errors that name the file. */
function readValIds(file: string, known: Set<number>, data: string): Set<number> {
  if (!existsSync(file)) throw new OptionError(`--val-ids ${file}: not found`);
  if (statSync(file).isDirectory()) throw new OptionError(`--val-ids ${file}: a folder; give a JSON file holding an array of image ids`);
  let ids: unknown;
  try {
    ids = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new OptionError(`--val-ids ${file}: not valid JSON (${(e as Error).message}); expected an array of image ids`);
  }
  if (!Array.isArray(ids) || !ids.every((x) => Number.isInteger(x)))
    throw new OptionError(`--val-ids ${file}: expected a JSON array of integer image ids, e.g. [139, 285]`);
  const set = new Set(ids as number[]);
  if (![...set].some((id) => known.has(id))) throw new OptionError(`--val-ids ${file}: none of its ${set.size} ids is an image of ${data}`);
  return set;
}

/**
 * A seeded tenth of the images, drawn from the sampler's own generator (which then goes on to
 * sample the training windows: runs from before run.json existed draw the same windows).
 */
function seededSplit(ids: number[], rng: Rng): Set<number> {
  const order = [...ids].sort((a, b) => a - b);
  for (let i = order.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return new Set(order.slice(0, Math.max(1, Math.round(order.length * 0.1))));
}

/** One window per held-out object (its centre cell at its scale) and as many negatives. */
function validationWindows(val: FeatureWindows, bank: readonly BankImage[], stride: number): WindowRef[] {
  const pos = val.positives.map((wins) => {
    // The window nearest the object's centre.
    const score = (w: WindowRef) => {
      const a = w.ann!,
        m = bank[w.image]!.maps[w.map]!;
      const [x, y, bw, bh] = a.bbox as [number, number, number, number];
      return Math.hypot(stride * w.c - (x + bw / 2) * m.scale, stride * w.r - (y + bh / 2) * m.scale);
    };
    return wins.reduce((best, w) => (score(w) < score(best) ? w : best));
  });
  return [...pos, ...Array.from({ length: pos.length }, () => val.negative())];
}
